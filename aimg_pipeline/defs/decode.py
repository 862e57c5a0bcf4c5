"""Decoded layer: position changes, votes, contributions, pool swaps and syncs, and what was
quarantined.

Decoding reads one epoch's raw logs and nothing else, so backfills decode many epochs at
once, in any order. Only ``contributions`` chains epochs: a contributionId accepted in any
earlier epoch makes a later one a duplicate, so it runs after the previous epoch's.
"""

import dagster as dg

from aimg_pipeline.decode.contributions import accept_contributions
from aimg_pipeline.decode.logs import decode_epoch
from aimg_pipeline.defs.partitions import (
    epoch_partitions,
    epochs_of,
    needs_previous_epoch,
)
from aimg_pipeline.defs.resources import AimgSettings
from aimg_pipeline.defs.tables import column_schema

TABLES = ("position_changes", "votes", "contribution_events", "swaps", "syncs", "quarantine")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["decoded", name], group_name="decoded", kinds={"duckdb", "parquet"},
            deps=[["raw", "raw_logs"]], partitions_def=epoch_partitions,
            metadata=column_schema(name),
        )
        for name in TABLES
    ],
    check_specs=[dg.AssetCheckSpec(
        "no_quarantined_logs", asset=["decoded", "quarantine"], partitions_def=epoch_partitions,
        description="Warns when logs could not be used (reasons in the quarantine table).",
    )],
    partitions_def=epoch_partitions,
)
def decoded(context: dg.AssetExecutionContext, settings: AimgSettings):
    """Classify every raw log in SQL, then decode it or quarantine it with the reason."""
    config, warehouse = settings.config(), settings.warehouse()
    results = [decode_epoch(config, warehouse, e) for e in epochs_of(context, settings)]
    for name in TABLES:
        metadata = {"rows": sum(getattr(r, name) for r in results)}
        if name == "votes":
            metadata["before_genesis_ignored"] = sum(r.before_window for r in results)
        if name == "position_changes":
            metadata["duplicate_logs_dropped"] = sum(r.duplicate_logs for r in results)
        yield dg.MaterializeResult(asset_key=["decoded", name], metadata=metadata)
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


@dg.asset(
    key_prefix="decoded",
    group_name="decoded",
    kinds={"duckdb", "parquet"},
    deps=[["decoded", "contribution_events"]],
    metadata=column_schema("contributions", "contribution_quarantine"),
    partitions_def=epoch_partitions,
    check_specs=[dg.AssetCheckSpec(
        "no_duplicate_contributions", asset=["decoded", "contributions"],
        partitions_def=epoch_partitions,
        description="Warns when a contributionId was accepted again (the repeat is "
        "quarantined: it never pays twice).",
    )],
    description="Accepted contributions: the epoch's contribution events whose id was not "
    "accepted before (in an earlier epoch, or earlier in this one), weighted by score × kind "
    "multiplier. Repeats go to the quarantine view.",
)
@needs_previous_epoch("contributions")
def contributions(context: dg.AssetExecutionContext, settings: AimgSettings):
    config, warehouse = settings.config(), settings.warehouse()
    epochs = epochs_of(context, settings)
    results = [accept_contributions(config, warehouse, e) for e in epochs]
    duplicates = sum(r.duplicates for r in results)
    yield dg.MaterializeResult(metadata={
        "rows": sum(r.accepted for r in results), "duplicates_quarantined": duplicates})
    yield dg.AssetCheckResult(
        check_name="no_duplicate_contributions", passed=not duplicates,
        severity=dg.AssetCheckSeverity.WARN, metadata={"duplicates": duplicates})
