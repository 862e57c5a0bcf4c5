"""``analytics.duckdb``: the analysts' database, views over the warehouse's Parquet files.

What an analyst's tools need, and what each view gives them (docs/analytics.md):

* **Exact integers every tool loads.** A big integer (amount, balance, weight) is its exact
  decimal text (``VARCHAR``), as stored: pandas (``.df()``), polars, Arrow, the DuckDB CLI
  and BI tools read it exactly, where any numeric type above 64 bits becomes a float in
  pandas or fails (DuckDB ``HUGEINT``/``DECIMAL`` → float64, ``BIGNUM``/``UHUGEINT`` →
  "unsupported type"). Exact SQL arithmetic casts: ``sum(amount::BIGNUM)``,
  ``amount::HUGEINT``. Each token amount also has a ``<column>_tokens`` companion: the
  amount in whole tokens (÷ 10^18, ``DOUBLE``) for reading, sorting and charts.
* **Times** as ``TIMESTAMPTZ`` beside the unix seconds (``block_time``, ``start_time``,
  ``end_time``).
* **Addresses** are stored lowercase; the ``addr(text)`` macro lowercases a pasted
  checksummed address: ``WHERE account = addr('0x717DfA…')``.
* **A file every client opens**: written in DuckDB's v1.0.0 storage format, which DuckDB
  1.0 and later (the ``duckdb-cli`` from PyPI included) read.
* **Its own files**: the views name the Parquet files relative to ``AIMG_HOME``, so a copied
  home reads its own data. DuckDB resolves relative paths against the working directory or
  ``file_search_path`` (a view cannot name its own database file: table functions refuse
  subqueries), so open it from ``AIMG_HOME`` (``cd $AIMG_HOME && duckdb -readonly
  analytics.duckdb``) or with ``connect`` below.

The pipeline's own SQL uses ``Warehouse.connect`` (``BIGNUM`` views, absolute paths); this
module is only what analysts open.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb

from aimg_pipeline.warehouse import TABLES, VIEW_UNIONS, Warehouse, sql_literal

FILE_NAME = "analytics.duckdb"
STORAGE_VERSION = "v1.0.0"

# big-integer columns that are token amounts (18 decimals), per table
TOKEN_COLUMNS: dict[str, tuple[str, ...]] = {
    "position_changes": ("delta",),
    "position_snapshots": ("opening_balance", "closing_balance"),
    "votes": ("weight",),
    "epoch_emissions": ("amount",),
    "allocations": ("amount",),
    "claims": ("cumulative_amount",),
    "recipients": ("amount",),
    "distributions": ("total",),
    "swaps": ("amount0_in", "amount1_in", "amount0_out", "amount1_out"),
    "syncs": ("reserve0", "reserve1"),
    "pool_yield": ("volume0", "volume1", "fees0", "fees1", "reserve0", "reserve1",
                   "twa_reserve0", "twa_reserve1", "tvl_aimg", "emissions", "fees_aimg"),
    "vault_yield": ("twa_shares", "total_assets", "staked_aimg", "emissions"),
    "lp_earnings": ("fees0", "fees1", "emissions"),
}
TIME_COLUMNS = {"block_timestamp": "block_time", "start_ts": "start_time", "end_ts": "end_time"}
MACROS = ("CREATE MACRO addr(address) AS lower(trim(address))",)


def view_sql(table: str) -> str:
    """The SELECT behind one analytics view (and the tables ``VIEW_UNIONS`` adds to it)."""
    schema, _ = TABLES[table]
    columns = list(schema.names)
    columns += [f"CAST({c} AS DOUBLE) / 1e18 AS {c}_tokens" for c in TOKEN_COLUMNS.get(table, ())]
    columns += [f"to_timestamp({c}) AS {name}" for c, name in TIME_COLUMNS.items()
                if c in schema.names]
    return " UNION ALL ".join(
        f"SELECT {', '.join(columns)} FROM read_parquet('warehouse/{name}/*.parquet', "
        "union_by_name = true)" for name in (table, *VIEW_UNIONS.get(table, ())))


def ensure(warehouse: Warehouse) -> Path:
    """(Re)build ``AIMG_HOME/analytics.duckdb`` when its definitions changed.

    Built in a temporary file and renamed into place, so a reader that has the old file
    open keeps reading it and the next reader opens the new one.
    """
    warehouse.ensure_empty_files()
    ddl = [*MACROS, *(f"CREATE VIEW {table} AS {view_sql(table)}" for table in TABLES)]
    digest = hashlib.sha256(f"{STORAGE_VERSION}\n{chr(10).join(ddl)}".encode()).hexdigest()
    target, stamp = warehouse.home / FILE_NAME, warehouse.home / ".analytics.version"
    if target.exists() and stamp.exists() and stamp.read_text() == digest:
        return target
    temporary = warehouse.home / f".analytics.{os.getpid()}.duckdb.tmp"
    temporary.unlink(missing_ok=True)
    # views are bound when created: their relative paths must resolve, against the home
    con = duckdb.connect(config={"file_search_path": str(warehouse.home.resolve())})
    try:
        con.execute(f"ATTACH {sql_literal(temporary)} AS analytics "
                    f"(STORAGE_VERSION {sql_literal(STORAGE_VERSION)})")
        con.execute("USE analytics")
        for statement in ddl:
            con.execute(statement)
    finally:
        con.close()
    os.replace(temporary, target)
    stamp.write_text(digest)
    return target


def connect(home: Path | str) -> duckdb.DuckDBPyConnection:
    """``AIMG_HOME/analytics.duckdb``, read-only, its views reading that home's files
    wherever the caller runs."""
    home = Path(home).resolve()
    return duckdb.connect(str(home / FILE_NAME), read_only=True,
                          config={"file_search_path": str(home)})
