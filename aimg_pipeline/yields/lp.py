"""``lp_earnings``: per epoch, pool and LP holder, the holder's share of the pool's fees by
LP-token-seconds (SPEC 6.1, exact, per token side) next to its liquidity emission
(docs/economics.md, "Yield")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import Any

from aimg_pipeline.lib.apportion import apportion_in_order
from aimg_pipeline.warehouse import Warehouse, run_sql


def write_lp_earnings(warehouse: Warehouse, epoch: int,
                      pools: Sequence[Mapping[str, Any]]) -> int:
    """Compute and write ``lp_earnings`` for ``epoch`` from its ``pool_yield`` rows; returns
    the row count. A pool without LP-token-seconds has no rows (its fees stay unshared)."""
    for table in ("position_snapshots", "allocations"):
        warehouse.read_schema(table, epoch)
    con = warehouse.connect({"epoch_snapshots": warehouse.path("position_snapshots", epoch),
                             "epoch_allocations": warehouse.path("allocations", epoch)})
    try:
        holders = run_sql(con, "lp_holders").to_pydict()
        earned = con.execute(
            "SELECT pool, account, amount FROM epoch_allocations "
            "WHERE channel = 'liquidity' AND reason = 'earned'").fetchall()
    finally:
        con.close()
    emission = {(pool, account): int(amount) for pool, account, amount in earned}
    fees = {r["pool"]: (r["fees0"], r["fees1"]) for r in pools}
    columns: dict[str, list[Any]] = {name: [] for name in (
        "epoch", "pool", "pool_name", "account", "lp_token_seconds", "fees0", "fees1",
        "emissions")}
    rows = zip(holders["pool"], holders["pool_name"], holders["account"],
               holders["lp_token_seconds"], strict=True)
    for pool, group in groupby(rows, key=lambda r: r[0]):
        members = list(group)
        weights = [int(r[3]) for r in members]
        fees0, fees1 = fees.get(pool, (0, 0))
        parts0, parts1 = apportion_in_order(fees0, weights), apportion_in_order(fees1, weights)
        columns["epoch"] += [epoch] * len(members)
        columns["pool"] += [pool] * len(members)
        columns["pool_name"] += [r[1] for r in members]
        columns["account"] += [r[2] for r in members]
        columns["lp_token_seconds"] += [r[3] for r in members]
        columns["fees0"] += [str(p) for p in parts0]
        columns["fees1"] += [str(p) for p in parts1]
        columns["emissions"] += [str(emission.get((pool, r[2]), 0)) for r in members]
    return warehouse.write("lp_earnings", epoch, columns)
