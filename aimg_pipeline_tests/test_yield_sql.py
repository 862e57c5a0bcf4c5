"""The yield sums in DuckDB at the extremes of their types: Swap inputs near 2^128 (whose sums
exceed HUGEINT and UHUGEINT) and uint112 reserves held for a whole epoch (reserve-seconds
beyond HUGEINT). Expected values are computed here with Python ints from the definitions in
docs/economics.md (each Sync holds until the next, volumes are sums of the inputs)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from aimg_pipeline.warehouse import run_sql

U128, U112 = 2**128 - 1, 2**112 - 1
START, END = 1_000_000, 1_000_000 + 7 * 86_400  # a weekly window


def _con(**tables: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    return con


def test_swap_volumes_beyond_128_bits_are_exact() -> None:
    p, q = "0x" + "01" * 20, "0x" + "02" * 20
    swaps = [  # (pool, timestamp, amount0_in, amount1_in)
        (p, START - 1, U128, U128),  # before the window: no volume
        (p, START, U128, 0), (p, START + 5, U128, 1), (p, END - 1, U128 - 6, 2**127),
        (q, START + 1, 0, 3),
    ]
    table = pa.table({
        "pool": [s[0] for s in swaps], "block_timestamp": [s[1] for s in swaps],
        "amount0_in": [str(s[2]) for s in swaps], "amount1_in": [str(s[3]) for s in swaps]})
    rows = run_sql(_con(epoch_swaps=table), "pool_swap_totals", start=START).to_pylist()
    assert rows == [
        {"pool": p, "swaps": 3, "volume0": str(3 * U128 - 6), "volume1": str(1 + 2**127)},
        {"pool": q, "swaps": 1, "volume0": "0", "volume1": "3"},
    ]


def test_reserve_seconds_beyond_huge_int_and_closing_reserves() -> None:
    p = "0x" + "01" * 20
    opening = pa.table({"pool": [p], "reserve0": [str(U112)], "reserve1": ["7"]})
    # (block, log index, timestamp, reserve0, reserve1); out of order on purpose
    syncs = [(10, 3, START + 100, 5, U112), (9, 0, START - 50, U112 - 1, 1),
             (10, 1, START + 100, 6, 6)]
    table = pa.table({
        "pool": [p] * 3, "block_number": [s[0] for s in syncs],
        "log_index": [s[1] for s in syncs], "block_timestamp": [s[2] for s in syncs],
        "reserve0": [str(s[3]) for s in syncs], "reserve1": [str(s[4]) for s in syncs]})
    (row,) = run_sql(_con(epoch_syncs=table, opening_reserves=opening), "pool_reserve_seconds",
                     start=START, end=END).to_pylist()
    # path: opening (U112, 7) from START, the pre-window Sync (U112-1, 1) also from START
    # (it follows the carried-in reserves, so it is what holds), then at START+100 two
    # Syncs in one block: (6, 6) for 0 s, then (5, U112) until END
    seconds0 = (U112 - 1) * 100 + 5 * (END - START - 100)
    seconds1 = 1 * 100 + U112 * (END - START - 100)
    assert seconds1 > 2**127  # beyond HUGEINT
    low = {k: int(row[f"seconds{k}_low"]) for k in "01"}
    high = {k: int(row[f"seconds{k}_high"]) for k in "01"}
    assert (low["0"] + (high["0"] << 64), low["1"] + (high["1"] << 64)) == (seconds0, seconds1)
    assert (row["reserve0"], row["reserve1"], row["epoch_syncs"]) == ("5", str(U112), 3)
