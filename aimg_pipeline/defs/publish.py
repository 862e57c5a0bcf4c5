"""Publish layer: the epoch's immutable distribution folder and its row in `distributions`."""

import dagster as dg

from aimg_pipeline.defs.partitions import (
    await_previous_epoch,
    epoch_backfill_policy,
    epoch_partitions,
    epochs_of,
)
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
    backfill_policy=epoch_backfill_policy,
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
    epochs = epochs_of(context, policy_config.calendar())
    await_previous_epoch(context, policy_config.calendar(), warehouse, "distributions", epochs)
    for epoch in epochs:
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
