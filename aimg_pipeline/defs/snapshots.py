"""Snapshot layer: balances and balance-seconds per position token and holder."""

import dagster as dg

from aimg_pipeline.defs.partitions import epoch_partitions, epochs_of
from aimg_pipeline.defs.resources import AimgSettings
from aimg_pipeline.transform import snapshot_epoch


@dg.asset(
    key_prefix="snapshots",
    group_name="snapshots",
    kinds={"duckdb", "parquet"},
    deps=[["decoded", "position_changes"]],
    partitions_def=epoch_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(
        "no_negative_balances", asset=["snapshots", "position_snapshots"], blocking=True,
        description="A balance below zero means logs are missing or wrong.",
    )],
    description="Opening/closing balance and balance-seconds of every holder of every vault "
    "and pool; the opening balance is the previous epoch's closing balance.",
)
def position_snapshots(context: dg.AssetExecutionContext, settings: AimgSettings):
    config, warehouse = settings.config(), settings.warehouse()
    results = [snapshot_epoch(config, warehouse, e) for e in epochs_of(context, config.calendar())]
    negative = [n for r in results for n in r.negative]
    yield dg.MaterializeResult(metadata={
        "rows": sum(r.rows for r in results), "holders": results[-1].holders,
    })
    yield dg.AssetCheckResult(
        check_name="no_negative_balances", passed=not negative,
        metadata={"negative": len(negative),
                  "first": str(negative[0]) if negative else "none"},
    )
