"""One Dagster partition per epoch, and the one rule that orders epochs.

Dynamic partitions, because epochs have an arbitrary length (no cron expresses "every N
seconds from genesis") and because only closed, final epochs should appear: the demo driver
and the epoch sensor add each epoch's key once the chain has finalized it. Keys are
``NNNNN_YYYY-MM-DDTHH:MMZ`` (epoch number and UTC start), so they sort in epoch order and
the UI shows both.

The rule, stated here and enforced here only: **epoch e needs epoch e-1** wherever an asset
reads the previous epoch's data — opening balances (snapshots), accepted contribution ids
(contributions), cumulative claims (claims), the previous published folder (publish). Such an
asset's function is decorated with ``@needs_previous_epoch(table)``. Dagster allows
self-dependencies only for time-window partitions, so the order is kept at run time:
backfills run one epoch per run (ingestion and decoding of many epochs proceed in parallel),
and a step that needs the previous epoch waits while a run computing that epoch is in
flight, then fails with a clear message if the previous epoch's data is still missing.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

import dagster as dg

from aimg_pipeline.lib.calendar import EpochCalendar

epoch_partitions = dg.DynamicPartitionsDefinition(name="epochs")

# No BackfillPolicy: a backfill then launches one run per epoch tagged with its partition
# (a multi_run(1) policy launches one-key *ranges*, whose asset-check results Dagster
# records without a partition); the steps that chain epochs wait for their predecessor.

# A run that may still be computing an epoch: one that holds a worker. A queued run does not
# count (it may be queued behind the very run that would wait for it).
_IN_FLIGHT = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
              dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.SUSPENDED]
# the run tags Dagster sets on a run of one partition, or of a range of partitions
_PARTITION_TAG = "dagster/partition"
_RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")

WAIT_SECONDS = 3600.0  # for a run computing the previous epoch
POLL_SECONDS = 1.0


def _epochs(context: dg.AssetExecutionContext, calendar: EpochCalendar) -> list[int]:
    """The epochs of a run's partition keys, in order; a key this calendar would not make
    (typed into the UI by hand) fails the step before anything is written."""
    try:
        return sorted(calendar.epoch_of_key(key) for key in context.partition_keys)
    except ValueError as exc:
        raise dg.Failure(f"{exc}; delete that partition (the epoch sensor removes such keys)"
                         ) from None


def epochs_of(context: dg.AssetExecutionContext, settings: Any,
              ingested: bool = True) -> list[int]:
    """The epochs a run covers, in order (a run may cover a range of epochs).

    Only ``raw_logs`` (``ingested=False``) may take an epoch the warehouse does not know:
    it writes an epoch's block range only once the chain has closed and finalized it. Every
    other asset refuses an epoch without that range, so nothing is written for an open
    epoch, whoever added its partition.
    """
    epochs = _epochs(context, settings.config().calendar())
    if ingested:
        warehouse = settings.warehouse()
        if missing := [e for e in epochs if not warehouse.has("epochs", e)]:
            raise dg.Failure(
                f"epoch {missing[0]} has not been ingested as closed and final (raw/raw_logs "
                f"records its blocks only then): nothing is written for it")
    return epochs


def _run_covers(run: dg.DagsterRun, key: str) -> bool:
    tags = run.tags
    if tags.get(_PARTITION_TAG) == key:
        return True
    start, end = (tags.get(tag) for tag in _RANGE_TAGS)
    return bool(start and end and start <= key <= end)  # keys sort in epoch order


def needs_previous_epoch(table: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate an epoch asset's function that reads ``table`` of the epoch before its own.

    Before the function runs, the epoch just before the run's first epoch must have its
    ``table`` materialized: the step waits (up to ``WAIT_SECONDS``) while a run computing
    that epoch is in flight, then fails, naming the epoch, if it is still missing. The asset
    function must take the ``settings`` resource (``AimgSettings``).
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wait(context: dg.AssetExecutionContext, settings: Any) -> None:
            calendar, warehouse = settings.config().calendar(), settings.warehouse()
            first = epochs_of(context, settings)[0]  # refuses an open epoch first
            if first == 0:
                return
            key = calendar.partition_key(first - 1)
            deadline, announced = time.monotonic() + WAIT_SECONDS, False
            while in_flight := [
                run for run in context.instance.get_runs(dg.RunsFilter(statuses=_IN_FLIGHT))
                if run.run_id != context.run.run_id and _run_covers(run, key)
            ]:
                if not announced:
                    context.log.info(f"waiting for run {in_flight[0].run_id} to finish "
                                     f"epoch {first - 1}")
                    announced = True
                if time.monotonic() > deadline:
                    raise dg.Failure(f"gave up waiting {WAIT_SECONDS:.0f} s for epoch "
                                     f"{first - 1} (run {in_flight[0].run_id}) before "
                                     f"computing epoch {first}")
                time.sleep(POLL_SECONDS)
            if not warehouse.has(table, first - 1):
                raise dg.Failure(
                    f"epoch {first} needs {table} of epoch {first - 1}, which is not "
                    f"materialized and no run is computing it: materialize epoch "
                    f"{first - 1} first (or backfill the epochs in one go)")

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def generator(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Any:
                wait(context, kwargs["settings"])
                yield from fn(context, *args, **kwargs)
            return generator

        @functools.wraps(fn)
        def function(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Any:
            wait(context, kwargs["settings"])
            return fn(context, *args, **kwargs)
        return function

    return decorate
