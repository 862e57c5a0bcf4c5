"""One Dagster partition per epoch.

Dynamic partitions, because epochs have an arbitrary length (no cron expresses "every N
seconds from genesis") and because only closed, final epochs should appear: the demo driver
and the epoch sensor add each epoch's key once the chain has finalized it. Keys are
``NNNNN_YYYY-MM-DDTHH:MMZ`` (epoch number and UTC start), so they sort in epoch order and
the UI shows both.
"""

import dagster as dg

from aimg_pipeline.lib.calendar import EpochCalendar

epoch_partitions = dg.DynamicPartitionsDefinition(name="epochs")


def epochs_of(context: dg.AssetExecutionContext, calendar: EpochCalendar) -> list[int]:
    """The epochs a run covers, in order (a single-run backfill covers a range)."""
    return sorted(calendar.epoch_of_key(key) for key in context.partition_keys)
