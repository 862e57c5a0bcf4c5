"""Publish layer: the epoch's immutable distribution folder and its row in `distributions`."""

import dagster as dg

from aimg_pipeline.defs.partitions import epoch_partitions, epochs_of
from aimg_pipeline.defs.resources import AimgSettings, ChainResource
from aimg_pipeline.publish import verify
from aimg_pipeline.release import publish_epoch


class PublishConfig(dg.Config):
    """Set a reason to replace an already published epoch whose content changed."""

    republish_reason: str = ""


@dg.asset(
    key_prefix="publish",
    group_name="publish",
    kinds={"json", "csv"},
    deps=[["rewards", "claims"]],
    partitions_def=epoch_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(
        "verified", asset=["publish", "distribution"], blocking=True,
        description="`aimg verify` on the published folder: hashes, root, every proof, "
        "totals, cumulative amounts never lower than the previous epoch's.",
    )],
    description="merkle_tree.json (OpenZeppelin standard-v1), claims.json, allocations.csv "
    "and manifest.json under AIMG_HOME/published/epoch-NNNNN.",
)
def distribution(
    context: dg.AssetExecutionContext,
    config: PublishConfig,
    settings: AimgSettings,
    chain: ChainResource,
):
    policy_config, warehouse = settings.config(), settings.warehouse()
    client = chain.client()
    for epoch in epochs_of(context, policy_config.calendar()):
        result = publish_epoch(
            policy_config, warehouse, client, settings.publish_root, epoch,
            republish_reason=config.republish_reason or None,
        )
        context.log.info(f"epoch {epoch}: {result.status} {result.folder}")
        report = verify(result.folder)
    yield dg.MaterializeResult(metadata={
        "epoch": report["epoch"],
        "status": result.status,
        "merkle_root": result.merkle_root,
        "accounts": report["accounts"],
        "total": str(report["total"]),
        "path": dg.MetadataValue.path(str(result.folder)),
    })
    yield dg.AssetCheckResult(check_name="verified", passed=True, metadata={
        "checked_previous_epoch": report["checked_previous"]})
