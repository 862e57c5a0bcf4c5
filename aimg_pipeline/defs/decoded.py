"""Decoded layer: position changes, votes and contributions, and what was quarantined."""

import dagster as dg

from aimg_pipeline.defs.partitions import epoch_backfill_policy, epoch_partitions, epochs_of
from aimg_pipeline.defs.resources import AimgSettings
from aimg_pipeline.transform import decode_epoch

TABLES = ("position_changes", "votes", "contributions", "quarantine")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["decoded", name], group_name="decoded", kinds={"duckdb", "parquet"},
            deps=[["raw", "raw_logs"]], partitions_def=epoch_partitions,
        )
        for name in TABLES
    ],
    check_specs=[dg.AssetCheckSpec(
        "no_quarantined_logs", asset=["decoded", "quarantine"],
        description="Warns when logs could not be used (reasons in the quarantine table).",
    )],
    partitions_def=epoch_partitions,
    backfill_policy=epoch_backfill_policy,
)
def decoded(context: dg.AssetExecutionContext, settings: AimgSettings):
    """Classify every raw log in SQL, then decode it or quarantine it with the reason."""
    config, warehouse = settings.config(), settings.warehouse()
    results = [decode_epoch(config, warehouse, e) for e in epochs_of(context, config.calendar())]
    for name in TABLES:
        yield dg.MaterializeResult(
            asset_key=["decoded", name],
            metadata={"rows": sum(getattr(r, name) for r in results)},
        )
    reasons: dict[str, int] = {}
    for result in results:
        for reason, count in result.quarantine_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
    yield dg.AssetCheckResult(
        check_name="no_quarantined_logs",
        asset_key=["decoded", "quarantine"],
        passed=not reasons,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined": sum(reasons.values()),
                  "reasons": dg.MetadataValue.json(reasons)},
    )
