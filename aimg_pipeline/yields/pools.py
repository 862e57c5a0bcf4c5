"""``pool_yield``: per epoch and registered pool, the swaps, volumes and fees, the reserves
and their time-weighted averages, the price and TVL in $AIMG, the emissions and the APRs
(docs/economics.md, "Yield"). Sums run in DuckDB (``sql/pool_swap_totals.sql``,
``sql/pool_reserve_seconds.sql``, ``sql/yield_emissions.sql``); the per-pool arithmetic is
``lib.yields``. The opening reserves are the previous epoch's closing reserves, so epoch
``e`` needs ``pool_yield`` of ``e - 1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aimg_pipeline.lib import yields
from aimg_pipeline.lib.policy import Config, Pool
from aimg_pipeline.warehouse import Warehouse, run_sql


@dataclass(frozen=True)
class PoolYieldResult:
    rows: list[dict[str, Any]]  # as written, big integers as int
    # pools with a Swap in the window but no Sync among the epoch's logs: a V2 pair emits a
    # Sync with every Swap, so logs are missing and the reserves (price, TVL) are stale
    swaps_without_sync: list[str]


def epoch_emissions_by_pool(warehouse: Warehouse, epoch: int) -> dict[tuple[str, str], int]:
    """(channel, vault or pool) -> the epoch's staking/liquidity emission earned by holders."""
    warehouse.read_schema("allocations", epoch)
    con = warehouse.connect({"epoch_allocations": warehouse.path("allocations", epoch)})
    try:
        table = run_sql(con, "yield_emissions").to_pydict()
    finally:
        con.close()
    return {(c, p): int(a) for c, p, a in zip(table["channel"], table["pool"], table["amount"],
                                               strict=True)}


def _opening(warehouse: Warehouse, epoch: int) -> pa.Table:
    """The previous epoch's closing reserves (pool, reserve0, reserve1), where it had any."""
    schema = pa.schema([("pool", pa.string()), ("reserve0", pa.string()),
                        ("reserve1", pa.string())])
    if epoch == 0:
        return schema.empty_table()
    previous = warehouse.read("pool_yield", epoch - 1).select(["pool", "reserve0", "reserve1"])
    return previous.filter(pc.is_valid(previous["reserve0"])).cast(schema)


def _row(pool: Pool, tokens: tuple[str, str] | None, aimg: str, seconds: int,
         swaps: dict[str, Any], reserves: dict[str, Any], emissions: int) -> dict[str, Any]:
    """One pool's row from its sums (every formula: docs/economics.md)."""
    volume0, volume1 = int(swaps.get("volume0", 0)), int(swaps.get("volume1", 0))
    fees = (yields.fee(volume0, pool.fee_bps), yields.fee(volume1, pool.fee_bps))
    reserve_seconds = (
        yields.from_limbs(reserves.get("seconds0_low", 0), reserves.get("seconds0_high", 0)),
        yields.from_limbs(reserves.get("seconds1_low", 0), reserves.get("seconds1_high", 0)))
    twa = (reserve_seconds[0] // seconds, reserve_seconds[1] // seconds)
    closing = reserves.get("reserve0"), reserves.get("reserve1")
    row: dict[str, Any] = {
        "pool": pool.address, "pool_name": pool.name, "agent": pool.agent,
        "token0": tokens[0] if tokens else None, "token1": tokens[1] if tokens else None,
        "fee_bps": pool.fee_bps, "swaps": swaps.get("swaps", 0),
        "volume0": volume0, "volume1": volume1, "fees0": fees[0], "fees1": fees[1],
        "reserve0": None if closing[0] is None else int(closing[0]),
        "reserve1": None if closing[1] is None else int(closing[1]),
        "reserve_seconds0": reserve_seconds[0], "reserve_seconds1": reserve_seconds[1],
        "twa_reserve0": twa[0], "twa_reserve1": twa[1],
        "price_aimg": None, "tvl_aimg": None, "emissions": emissions, "fees_aimg": None,
        "fee_apr": None, "emission_apr": None, "total_apr": None, "note": None,
    }
    if tokens is None:
        row["note"] = "token0()/token1() not callable at the epoch's last block"
        return row
    if aimg not in tokens:
        row["note"] = "not paired with $AIMG"
        return row
    side = tokens.index(aimg)  # the $AIMG side; the other side is the agent's token
    if not (twa[0] and twa[1]):
        row["note"] = "no reserves over the window"
        return row
    fees_aimg = fees[side] + yields.in_aimg(fees[1 - side], twa[side], twa[1 - side])
    tvl = 2 * twa[side]
    row.update(
        price_aimg=yields.ratio(twa[side], twa[1 - side]), tvl_aimg=tvl, fees_aimg=fees_aimg,
        fee_apr=yields.apr(fees_aimg, tvl, seconds),
        emission_apr=yields.apr(emissions, tvl, seconds),
        total_apr=yields.apr(fees_aimg + emissions, tvl, seconds))
    return row


def write_pool_yield(config: Config, warehouse: Warehouse, epoch: int,
                     tokens: Mapping[str, tuple[str, str] | None]) -> PoolYieldResult:
    """Compute and write ``pool_yield`` for ``epoch``; ``tokens`` is each pool's pair
    (``chain_reads.pair_tokens``)."""
    window = config.calendar().window(epoch)
    seconds = window.end - window.start
    for table in ("swaps", "syncs"):
        warehouse.read_schema(table, epoch)  # a clear error when decoding has not run
    con = warehouse.connect({"epoch_swaps": warehouse.path("swaps", epoch),
                             "epoch_syncs": warehouse.path("syncs", epoch)})
    try:
        con.register("opening_reserves", _opening(warehouse, epoch))
        swaps = {r["pool"]: r for r in run_sql(con, "pool_swap_totals",
                                               start=window.start).to_pylist()}
        reserves = {r["pool"]: r for r in run_sql(con, "pool_reserve_seconds", start=window.start,
                                                  end=window.end).to_pylist()}
    finally:
        con.close()
    emissions = epoch_emissions_by_pool(warehouse, epoch)
    pools = sorted((p for a in config.agents_at(epoch) for p in a.pools), key=lambda p: p.address)
    rows = [_row(p, tokens.get(p.address), config.aimg_token, seconds, swaps.get(p.address, {}),
                 reserves.get(p.address, {}), emissions.get(("liquidity", p.address), 0))
            for p in pools]
    warehouse.write_rows("pool_yield", epoch, [{"epoch": epoch, **r} for r in rows])
    silent = [r["pool_name"] for r in rows
              if r["swaps"] and not reserves.get(r["pool"], {}).get("epoch_syncs")]
    return PoolYieldResult(rows, silent)
