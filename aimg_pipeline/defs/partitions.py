"""One Dagster partition per epoch, and the ordering between epochs.

Dynamic partitions, because epochs have an arbitrary length (no cron expresses "every N
seconds from genesis") and because only closed, final epochs should appear: the demo driver
and the epoch sensor add each epoch's key once the chain has finalized it. Keys are
``NNNNN_YYYY-MM-DDTHH:MMZ`` (epoch number and UTC start), so they sort in epoch order and
the UI shows both.

Dagster allows self-dependencies only for time-window partitions, so the order that
opening balances and cumulative claims need is kept here: backfills run one epoch per run
(ingestion and decoding of many epochs proceed in parallel), and a step that needs the
previous epoch waits while a run that covers that epoch is still in flight, then fails with
a clear message if the previous epoch's data is still missing.
"""

import time

import dagster as dg
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from aimg_pipeline.lib.calendar import EpochCalendar
from aimg_pipeline.warehouse import Warehouse

epoch_partitions = dg.DynamicPartitionsDefinition(name="epochs")

# each backfill run takes one epoch; the steps that chain epochs wait for their predecessor
epoch_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)


def epochs_of(context: dg.AssetExecutionContext, calendar: EpochCalendar) -> list[int]:
    """The epochs a run covers, in order (a run may cover a range of epochs)."""
    return sorted(calendar.epoch_of_key(key) for key in context.partition_keys)


def _run_covers(run: dg.DagsterRun, key: str) -> bool:
    tags = run.tags
    if tags.get(PARTITION_NAME_TAG) == key:
        return True
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    return bool(start and end and start <= key <= end)  # keys sort in epoch order


def await_previous_epoch(
    context: dg.AssetExecutionContext,
    calendar: EpochCalendar,
    warehouse: Warehouse,
    table: str,
    epochs: list[int],
    timeout_seconds: float = 3600,
    poll_seconds: float = 1.0,
) -> None:
    """Before computing ``epochs``, make sure ``table`` holds the epoch just before them."""
    previous = epochs[0] - 1
    if previous < 0:
        return
    key = calendar.partition_key(previous)
    deadline = time.monotonic() + timeout_seconds
    announced = False
    while True:
        in_flight = [
            run for run in context.instance.get_runs(
                dg.RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES))
            if run.run_id != context.run.run_id and _run_covers(run, key)
        ]
        if not in_flight:
            break
        if not announced:
            context.log.info(f"waiting for run {in_flight[0].run_id} to finish epoch {previous}")
            announced = True
        if time.monotonic() > deadline:
            raise dg.Failure(f"gave up waiting {timeout_seconds:.0f} s for epoch {previous} "
                             f"(run {in_flight[0].run_id}) before computing epoch {epochs[0]}")
        time.sleep(poll_seconds)
    if not warehouse.has(table, previous):
        raise dg.Failure(
            f"epoch {epochs[0]} needs {table} of epoch {previous}, which is not materialized "
            f"and no run is computing it: materialize epoch {previous} first (or backfill "
            "the epochs in one go)"
        )
