"""The epoch sensor: each epoch is requested once the chain has finalized its window."""

import dagster as dg

from aimg_pipeline.defs.partitions import epoch_partitions
from aimg_pipeline.defs.resources import AimgSettings, ChainResource
from aimg_pipeline.ingest.chain import ChainError


@dg.sensor(
    minimum_interval_seconds=60,
    asset_selection=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Adds the partition of every newly final epoch and requests one run per epoch "
    "(in order; each epoch waits for its predecessor). Open epochs are left alone; partition "
    "keys that are no closed epoch (added by hand) are removed.",
)
def epoch_sensor(
    context: dg.SensorEvaluationContext, settings: AimgSettings, chain: ChainResource
) -> dg.SensorResult | dg.SkipReason:
    config = settings.config()
    calendar = config.calendar()
    try:
        final = chain.client().final_block(config.confirmations)
    except ChainError as exc:
        return dg.SkipReason(f"chain unavailable: {exc}")
    closed = calendar.closed_through(final.timestamp)
    existing = set(context.instance.get_dynamic_partitions(epoch_partitions.name))
    valid = {calendar.partition_key(e) for e in range(closed)}
    new = [calendar.partition_key(e) for e in range(closed)
           if calendar.partition_key(e) not in existing]
    # keys added by hand that are no epoch of this calendar, or an epoch still open: the
    # assets refuse them; removing them keeps the partition list to what can be computed
    stray = sorted(existing - valid)
    if stray:
        context.log.warning(f"removing partitions that are no closed epoch: {', '.join(stray)}")
    if not new and stray:
        return dg.SensorResult(
            dynamic_partitions_requests=[epoch_partitions.build_delete_request(stray)])
    if not new:
        following = calendar.window(closed)
        return dg.SkipReason(
            f"no newly final epoch: the chain is final through block {final.number}; "
            f"next is {following.describe()}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=key, run_key=key) for key in new],
        dynamic_partitions_requests=[epoch_partitions.build_add_request(new)]
        + ([epoch_partitions.build_delete_request(stray)] if stray else []),
    )
