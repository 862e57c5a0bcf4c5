"""Snapshot layer: balances and balance-seconds per position token and holder."""

import time

import dagster as dg

from aimg_pipeline.defs.partitions import (
    epoch_partitions,
    epochs_of,
    needs_previous_epoch,
)
from aimg_pipeline.defs.resources import AimgSettings, ChainResource
from aimg_pipeline.defs.tables import column_schema
from aimg_pipeline.ingest.scope import gap_before
from aimg_pipeline.snapshots.balances import snapshot_epoch
from aimg_pipeline.snapshots.reconcile import reconcile_epoch


@dg.asset(
    key_prefix="snapshots",
    group_name="snapshots",
    kinds={"duckdb", "parquet"},
    deps=[["decoded", "position_changes"]],
    metadata=column_schema("position_snapshots"),
    partitions_def=epoch_partitions,
    check_specs=[
        dg.AssetCheckSpec(
            "no_negative_balances", asset=["snapshots", "position_snapshots"],
            partitions_def=epoch_partitions, blocking=True,
            description="A balance below zero means logs are missing or wrong.",
        ),
        dg.AssetCheckSpec(
            "contiguous_blocks", asset=["snapshots", "position_snapshots"],
            partitions_def=epoch_partitions, blocking=True,
            description="The epoch's first block is the previous epoch's last block + 1 "
            "(epoch 0: deployment.start_block): no block is read by no epoch, or by two.",
        ),
        dg.AssetCheckSpec(
            "reconciled_with_chain", asset=["snapshots", "position_snapshots"],
            partitions_def=epoch_partitions, blocking=True,
            description="At the epoch's last block, each token's totalSupply equals the sum of "
            "closing balances and holders' balanceOf equals their closing balance (eth_call).",
        ),
    ],
    description="Opening/closing balance and balance-seconds of every holder of every vault "
    "and pool; the opening balance is the previous epoch's closing balance.",
)
@needs_previous_epoch("position_snapshots")
def position_snapshots(
    context: dg.AssetExecutionContext, settings: AimgSettings, chain: ChainResource
):
    started = time.monotonic()
    config, warehouse, client = settings.config(), settings.warehouse(), chain.client()
    epochs = epochs_of(context, settings)
    results = [snapshot_epoch(config, warehouse, e) for e in epochs]
    checks = [reconcile_epoch(client, config, warehouse, e) for e in epochs]
    negative = [n for r in results for n in r.negative]
    gaps = [g for e in epochs if (g := gap_before(config, warehouse, e))]
    mismatches = [m for c in checks for m in c.mismatches]
    yield dg.MaterializeResult(metadata={
        "epoch": epochs[-1],
        "rows": sum(r.rows for r in results),
        "holders": results[-1].holders,
        "seconds": round(time.monotonic() - started, 3),
    })
    yield dg.AssetCheckResult(
        check_name="no_negative_balances", passed=not negative,
        metadata={"negative": len(negative), "first": str(negative[0]) if negative else "none"},
    )
    yield dg.AssetCheckResult(
        check_name="contiguous_blocks", passed=not gaps,
        metadata={"problem": "; ".join(gaps) if gaps else "none"},
    )
    not_callable = sorted({t for c in checks for t in c.not_callable})
    yield dg.AssetCheckResult(
        check_name="reconciled_with_chain", passed=not mismatches,
        metadata={
            "block": checks[-1].block,
            "tokens_checked": sum(c.tokens_checked for c in checks),
            "holders_checked": sum(c.holders_checked for c in checks),
            "rpc_requests": sum(c.requests for c in checks),
            "mismatches": len(mismatches),
            "first_mismatch": mismatches[0] if mismatches else "none",
            # registered before their code exists (or not ERC-20): nothing to compare
            "not_callable": ", ".join(not_callable) if not_callable else "none",
        },
    )
