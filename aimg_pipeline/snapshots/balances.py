"""Position snapshots: each holder's opening and closing balance and balance-seconds per
position token (SPEC 6.3), the opening balance being the previous epoch's closing one.

DuckDB reads the position changes and the previous snapshot and computes every row in
HUGEINT (``sql/position_sums.sql`` then ``sql/position_snapshots_hugeint.sql``), exactly or
not at all — except balance-seconds, which a balance above ~2^107 pushes past HUGEINT over a
week: those rows are multiplied out in Python ints. When any other value leaves HUGEINT
(amounts near 2^127) DuckDB raises, and the exact fallback (``sql/position_snapshots.sql``:
64-bit limbs recombined as Python integers) computes the same table. One function, one
contract: ``snapshot_epoch``.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from aimg_pipeline.lib.policy import Config
from aimg_pipeline.warehouse import NOT_HUGEINT, SQL_DIR, TABLES, Warehouse, run_sql


@dataclass(frozen=True)
class SnapshotResult:
    rows: int
    holders: int
    negative: list[tuple[str, str, int]]  # (pool, account, closing) that went below zero


def _snapshot_hugeint(con: duckdb.DuckDBPyConnection, epoch: int, start: int,
                      end: int) -> pa.Table:
    """The snapshot rows computed in HUGEINT (every realistic epoch), or a NOT_HUGEINT error.

    A balance-seconds beyond HUGEINT (a balance above ~2^107 for a week) is the one value
    real amounts reach: the SQL leaves it NULL with its two parts and it is multiplied out
    here, row by row, instead of sending the whole epoch to the limb path.

    Two statements (sql/position_sums.sql, then sql/position_snapshots_hugeint.sql) so the
    15M-row aggregate has released its memory before the join and sort run.
    """
    # Row order of the temporary table is irrelevant (the last query sorts), and keeping it
    # costs memory and time in DuckDB's parallel insert.
    con.execute("SET preserve_insertion_order = false")
    con.execute((SQL_DIR / "position_sums.sql").read_text(), {"start": start, "end": end})
    con.execute("SET preserve_insertion_order = true")
    table = run_sql(con, "position_snapshots_hugeint", epoch=epoch, start=start, end=end)
    large = pc.is_valid(table["large_previous"])
    seconds = table["balance_seconds"]
    if pc.any(large).as_py():  # the rows whose balance-seconds left HUGEINT: Python ints
        parts = table.filter(large).select(["large_previous", "large_timed"]).to_pydict()
        exact = [str(int(p) * (end - start) + int(t))
                 for p, t in zip(parts["large_previous"], parts["large_timed"], strict=True)]
        seconds = pc.replace_with_mask(seconds.combine_chunks(), large.combine_chunks(),
                                       pa.array(exact, pa.string()))
    return table.drop_columns(["balance_seconds", "large_previous", "large_timed"]).append_column(
        "balance_seconds", seconds)


def _snapshot_limbs(con: duckdb.DuckDBPyConnection, epoch: int, start: int,
                    end: int) -> pa.Table:
    """The snapshot rows for any values: 64-bit limbs in SQL, recombined with Python ints."""
    table = run_sql(con, "position_snapshots", start=start, end=end)

    # Rows the SQL could finish in HUGEINT come with fast_* filled; the others are
    # recombined here from the 64-bit limbs with Python integers.
    slow_mask = pc.is_null(table["fast_seconds"])
    slow = table.filter(slow_mask).to_pydict()
    length = end - start
    opening, closing, seconds = [], [], []
    for i in range(len(slow["pool"])):
        def limbs(name: str, i: int = i) -> int:
            return (int(slow[f"{name}_hi"][i]) << 64) + int(slow[f"{name}_lo"][i])

        open_balance = int(slow["previous_closing"][i]) + limbs("before")
        close_balance = open_balance + limbs("window")
        opening.append(str(open_balance))
        closing.append(str(close_balance))
        seconds.append(str(open_balance * length + limbs("timed")))

    def column(fast: str, computed: list[str]) -> pa.Array:
        values = table[fast].combine_chunks()
        if not computed:
            return values
        return pc.replace_with_mask(values, slow_mask.combine_chunks(),
                                    pa.array(computed, pa.string()))

    return pa.table({
        "epoch": pa.array([epoch] * table.num_rows, pa.int64()), "pool": table["pool"],
        "pool_name": table["pool_name"], "token_kind": table["token_kind"],
        "account": table["account"], "opening_balance": column("fast_opening", opening),
        "closing_balance": column("fast_closing", closing),
        "balance_seconds": column("fast_seconds", seconds),
    })


def snapshot_epoch(config: Config, warehouse: Warehouse, epoch: int) -> SnapshotResult:
    """Opening/closing balances and balance-seconds per position token and account.

    DuckDB reads both files itself (15M position changes as Arrow in Python took 2.5 GB) and
    computes every row in HUGEINT, exactly or not at all: when a value leaves HUGEINT (only
    amounts near 2^127) it raises, and the general limb path computes the same table.
    """
    window = config.calendar().window(epoch)
    columns = ["pool", "pool_name", "token_kind", "account", "closing_balance"]
    if epoch > 0:
        warehouse.read_schema("position_snapshots", epoch - 1)  # clear error when missing
    warehouse.read_schema("position_changes", epoch)
    files = {"epoch_position_changes": warehouse.path("position_changes", epoch)}
    if epoch > 0:
        files["previous_snapshots"] = warehouse.path("position_snapshots", epoch - 1)

    def connect() -> duckdb.DuckDBPyConnection:
        con = warehouse.connect(files)
        if epoch == 0:
            con.register("previous_snapshots",
                         TABLES["position_snapshots"][0].empty_table().select(columns))
        return con

    con = connect()
    try:
        try:
            result = _snapshot_hugeint(con, epoch, window.start, window.end)
        except NOT_HUGEINT:
            con.close()  # a fresh connection: the fast path's temporary table is memory
            con = connect()
            result = _snapshot_limbs(con, epoch, window.start, window.end)
        con.register("snapshot_rows", result)  # DuckDB's parallel count: half of Arrow's
        holders = con.sql("SELECT count(DISTINCT account) FROM snapshot_rows").fetchall()[0][0]
    finally:
        con.close()

    rows = warehouse.write("position_snapshots", epoch, result)
    below = result.filter(pc.or_(pc.starts_with(result["opening_balance"], "-"),
                                 pc.starts_with(result["closing_balance"], "-")))
    negative = [(pool, account, int(closing_balance)) for pool, account, closing_balance in zip(
        below["pool"].to_pylist(), below["account"].to_pylist(),
        below["closing_balance"].to_pylist(), strict=True)]
    return SnapshotResult(rows, holders, negative)
