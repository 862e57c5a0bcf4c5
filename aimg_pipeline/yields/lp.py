"""``lp_earnings``: per epoch, pool and LP holder, the holder's share of the pool's fees by
LP-token-seconds (SPEC 6.1, exact, per token side) next to its liquidity emission
(docs/economics.md, "Yield").

At 10M logs a measured epoch has ~1.5M LP holders, so the holders stay Arrow columns from
``sql/lp_holders.sql`` (which also joins in their emissions) to the written file; only the
weights pass through Python ints, for the apportionment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import Any

import pyarrow as pa

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
        holders = run_sql(con, "lp_holders")
    finally:
        con.close()
    fees = {r["pool"]: (r["fees0"], r["fees1"]) for r in pools}
    weights = [int(w) for w in holders["lp_token_seconds"].to_pylist()]
    shares0: list[str] = []
    shares1: list[str] = []
    start = 0
    for pool, group in groupby(holders["pool"].to_pylist()):
        end = start + sum(1 for _ in group)
        fees0, fees1 = fees.get(pool, (0, 0))
        shares0 += map(str, apportion_in_order(fees0, weights[start:end]))
        shares1 += map(str, apportion_in_order(fees1, weights[start:end]))
        start = end
    table = (holders.append_column("fees0", pa.array(shares0, pa.string()))
             .append_column("fees1", pa.array(shares1, pa.string()))
             .append_column("epoch", pa.array([epoch] * holders.num_rows, pa.int64())))
    return warehouse.write("lp_earnings", epoch, table)
