"""The analytics store: one Parquet file per table and epoch, DuckDB views over them.

Why not tables inside one DuckDB file: DuckDB admits one writing process per file and then
refuses readers in other processes, so analysts could not query during a backfill and
concurrent runs would hit lock errors. Here every write is one epoch's file of one table,
written to a temporary name and renamed into place (atomic, so a crash never leaves half a
file visible and two runs never share a file), and ``analytics.duckdb`` holds only views
that read the Parquet files; the pipeline never opens it for writing while it runs.

Integers that can exceed 64 bits (amounts, balances, weights) are stored in Parquet as
decimal strings, because DuckDB writes HUGEINT to Parquet as DOUBLE; the views cast them to
DuckDB ``BIGNUM`` (arbitrary precision: exact for sum, +, -, comparison).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from aimg_pipeline.lib.integers import is_int

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

_S, _I, _B, _D = pa.string(), pa.int64(), pa.bool_(), pa.float64()

# name -> (columns, big-integer columns exposed as BIGNUM). Every table has `epoch`.
TABLES: dict[str, tuple[pa.Schema, tuple[str, ...]]] = {
    "raw_logs": (pa.schema([
        ("epoch", _I), ("block_number", _I), ("block_hash", _S), ("block_timestamp", _I),
        ("transaction_hash", _S), ("transaction_index", _I), ("log_index", _I),
        ("address", _S), ("topic0", _S), ("topic1", _S), ("topic2", _S), ("topic3", _S),
        ("data", _S),
    ]), ()),
    "epochs": (pa.schema([
        ("epoch", _I), ("start_ts", _I), ("end_ts", _I), ("from_block", _I), ("to_block", _I),
        ("first_block", _I), ("last_block", _I), ("first_block_hash", _S),
        ("last_block_hash", _S), ("log_count", _I),
    ]), ()),
    "position_changes": (pa.schema([
        ("epoch", _I), ("pool", _S), ("pool_name", _S), ("token_kind", _S), ("account", _S),
        ("block_number", _I), ("block_timestamp", _I), ("log_index", _I), ("delta", _S),
    ]), ("delta",)),
    "position_snapshots": (pa.schema([
        ("epoch", _I), ("pool", _S), ("pool_name", _S), ("token_kind", _S), ("account", _S),
        ("opening_balance", _S), ("closing_balance", _S), ("balance_seconds", _S),
    ]), ("opening_balance", "closing_balance", "balance_seconds")),
    "votes": (pa.schema([
        ("epoch", _I), ("agent", _S), ("governor", _S), ("voter", _S), ("proposal_id", _S),
        ("support", _I), ("weight", _S), ("block_number", _I), ("log_index", _I),
    ]), ("weight",)),
    "contributions": (pa.schema([
        ("epoch", _I), ("agent", _S), ("contributor", _S), ("contribution_id", _S),
        ("kind", _I), ("score", _S), ("weight", _S), ("block_number", _I), ("log_index", _I),
    ]), ("score", "weight")),
    # every well-formed ContributionAccepted of the epoch's window, before the contributions
    # step removes the ids accepted earlier (which needs every earlier epoch)
    "contribution_events": (pa.schema([
        ("epoch", _I), ("agent", _S), ("contributor", _S), ("contribution_id", _S),
        ("kind", _I), ("score", _S), ("block_number", _I), ("transaction_hash", _S),
        ("log_index", _I),
    ]), ("score",)),
    # a registered pool's Swap and Sync logs (analytics: the yield tables), any timestamp
    "swaps": (pa.schema([
        ("epoch", _I), ("pool", _S), ("block_number", _I), ("block_timestamp", _I),
        ("log_index", _I), ("sender", _S), ("recipient", _S), ("amount0_in", _S),
        ("amount1_in", _S), ("amount0_out", _S), ("amount1_out", _S),
    ]), ("amount0_in", "amount1_in", "amount0_out", "amount1_out")),
    "syncs": (pa.schema([
        ("epoch", _I), ("pool", _S), ("block_number", _I), ("block_timestamp", _I),
        ("log_index", _I), ("reserve0", _S), ("reserve1", _S),
    ]), ("reserve0", "reserve1")),
    "quarantine": (pa.schema([
        ("epoch", _I), ("reason", _S), ("block_number", _I), ("transaction_hash", _S),
        ("log_index", _I), ("address", _S), ("topic0", _S),
    ]), ()),
    # the duplicate contributionIds the contributions step rejected; the `quarantine` view
    # shows them with the logs decoding rejected
    "contribution_quarantine": (pa.schema([
        ("epoch", _I), ("reason", _S), ("block_number", _I), ("transaction_hash", _S),
        ("log_index", _I), ("address", _S), ("topic0", _S),
    ]), ()),
    "epoch_emissions": (pa.schema([
        ("epoch", _I), ("channel", _S), ("amount", _S), ("policy_version", _S),
    ]), ("amount",)),
    "allocations": (pa.schema([
        ("epoch", _I), ("channel", _S), ("pool", _S), ("account", _S), ("weight", _S),
        ("amount", _S), ("reason", _S), ("via", _S),
    ]), ("weight", "amount")),
    "recipients": (pa.schema([
        ("epoch", _I), ("account", _S), ("amount", _S), ("is_contract", _B),
        ("code_kind", _S), ("code_hash", _S),
    ]), ("amount",)),
    "claims": (pa.schema([
        ("epoch", _I), ("account", _S), ("cumulative_amount", _S),
    ]), ("cumulative_amount",)),
    # yield (docs/economics.md): display figures (prices, APRs) are DOUBLE, amounts exact
    "pool_yield": (pa.schema([
        ("epoch", _I), ("pool", _S), ("pool_name", _S), ("agent", _S), ("token0", _S),
        ("token1", _S), ("fee_bps", _I), ("swaps", _I), ("volume0", _S), ("volume1", _S),
        ("fees0", _S), ("fees1", _S), ("reserve0", _S), ("reserve1", _S),
        ("reserve_seconds0", _S), ("reserve_seconds1", _S), ("twa_reserve0", _S),
        ("twa_reserve1", _S), ("price_aimg", _D), ("tvl_aimg", _S), ("emissions", _S),
        ("fees_aimg", _S), ("fee_apr", _D), ("emission_apr", _D), ("total_apr", _D),
        ("note", _S),
    ]), ("volume0", "volume1", "fees0", "fees1", "reserve0", "reserve1", "reserve_seconds0",
         "reserve_seconds1", "twa_reserve0", "twa_reserve1", "tvl_aimg", "emissions",
         "fees_aimg")),
    "vault_yield": (pa.schema([
        ("epoch", _I), ("vault", _S), ("vault_name", _S), ("agent", _S), ("asset", _S),
        ("share_seconds", _S), ("twa_shares", _S), ("total_assets", _S), ("price_aimg", _D),
        ("staked_aimg", _S), ("emissions", _S), ("emission_apr", _D), ("note", _S),
    ]), ("share_seconds", "twa_shares", "total_assets", "staked_aimg", "emissions")),
    "lp_earnings": (pa.schema([
        ("epoch", _I), ("pool", _S), ("pool_name", _S), ("account", _S),
        ("lp_token_seconds", _S), ("fees0", _S), ("fees1", _S), ("emissions", _S),
    ]), ("lp_token_seconds", "fees0", "fees1", "emissions")),
    "distributions": (pa.schema([
        ("epoch", _I), ("merkle_root", _S), ("total", _S), ("account_count", _I),
        ("artifact_path", _S), ("republished", _B),
    ]), ("total",)),
}


# views that also show another table's rows (same columns): what analysts call `quarantine`
# is every rejected log, whichever step rejected it
VIEW_UNIONS: dict[str, tuple[str, ...]] = {"quarantine": ("contribution_quarantine",)}


# What DuckDB raises instead of wrapping when a value leaves HUGEINT (a cast, a sum, a
# product), and what error() in a *_hugeint SQL file raises: a HUGEINT fast path could not
# give its answer, and its exact fallback (Python integers) computes it instead.
NOT_HUGEINT = (duckdb.ConversionException, duckdb.OutOfRangeException,
               duckdb.InvalidInputException)


class WarehouseError(RuntimeError):
    """A table file is missing or does not have the documented schema."""


def sql_literal(path: str | Path) -> str:
    """One of our own strings (a path of the warehouse, a setting) as a SQL string literal:
    DuckDB takes no parameter where a view names its files or a SET its value."""
    return "'" + str(path).replace("'", "''") + "'"


class Warehouse:
    """Reads and writes the per-epoch Parquet tables under ``AIMG_HOME/warehouse``."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.root = self.home / "warehouse"

    def path(self, table: str, epoch: int) -> Path:
        if table not in TABLES:
            raise WarehouseError(f"unknown table {table!r}")
        if not is_int(epoch) or not 0 <= epoch <= 99_999:
            raise WarehouseError(f"epoch {epoch!r} is outside 0..99999")  # names files: strict
        return self.root / table / f"epoch={epoch:05d}.parquet"

    def has(self, table: str, epoch: int) -> bool:
        return self.path(table, epoch).exists()

    def write(self, table: str, epoch: int, data: pa.Table | Mapping[str, list[Any]]) -> int:
        """Atomically replace one epoch's rows of a table; returns the row count."""
        schema, _ = TABLES[table]
        if not isinstance(data, pa.Table):
            data = pa.table({name: data[name] for name in schema.names}, schema=schema)
        data = data.select(schema.names).cast(schema)
        if data.num_rows and pa.compute.any(pa.compute.not_equal(data["epoch"], epoch)).as_py():
            raise WarehouseError(f"{table}: rows for another epoch than {epoch}")
        with self._staged(table, epoch) as temporary:
            pq.write_table(data, temporary, compression="zstd")
        return data.num_rows

    def write_rows(self, table: str, epoch: int, rows: Sequence[Mapping[str, Any]]) -> int:
        """``write`` for rows as dicts whose big integers are Python ints (or None)."""
        schema, big = TABLES[table]
        return self.write(table, epoch, {
            name: [None if r[name] is None else str(r[name]) for r in rows] if name in big
            else [r[name] for r in rows] for name in schema.names})

    @contextmanager
    def _staged(self, table: str, epoch: int) -> Iterator[Path]:
        """A temporary path beside one epoch's file: renamed over it when the block ends
        normally, removed in any case (a crash never leaves half a file under the real name)."""
        target = self.path(table, epoch)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            yield temporary
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    @contextmanager
    def writer(self, table: str, epoch: int) -> Iterator[pq.ParquetWriter]:
        """A Parquet writer for one epoch's file of a table, for results written in pieces.

        Tens of millions of rows never sit in memory at once: the caller writes record
        batches or tables of the table's schema as they come (zstd). The file replaces the
        epoch's file atomically when the block ends normally; an exception leaves the old
        file (or none) and removes the temporary one. The caller fills ``epoch`` itself.
        """
        with (self._staged(table, epoch) as temporary,
              pq.ParquetWriter(temporary, TABLES[table][0], compression="zstd") as writer):
            yield writer

    def _existing(self, table: str, epoch: int) -> Path:
        """One epoch's file, or an error saying it is not materialized."""
        path = self.path(table, epoch)
        if not path.exists():
            raise WarehouseError(
                f"{table} for epoch {epoch} is not materialized ({path} missing); "
                "materialize the epochs in order"
            )
        return path

    def read_schema(self, table: str, epoch: int) -> pa.Schema:
        """The schema of one epoch's file, or the same error as ``read`` when it is missing."""
        return pq.read_schema(self._existing(table, epoch))

    def read(self, table: str, epoch: int, columns: Sequence[str] | None = None) -> pa.Table:
        """One epoch's file; ``columns`` reads only those (Parquet is columnar: a reader of
        two ``raw_logs`` columns does not pay for ``data`` and the topics)."""
        return pq.read_table(self._existing(table, epoch), schema=TABLES[table][0],
                             columns=list(columns) if columns is not None else None)

    def read_rows(self, table: str, epoch: int) -> list[dict[str, Any]]:
        """One epoch's rows as dicts, big integers as Python ints (for small tables)."""
        _, big = TABLES[table]
        return [{k: int(v) if k in big and v is not None else v for k, v in row.items()}
                for row in self.read(table, epoch).to_pylist()]

    def ensure_empty_files(self) -> None:
        """One zero-row file per table, so views work before the first epoch lands."""
        for table, (schema, _) in TABLES.items():
            empty = self.root / table / "_empty.parquet"
            if not empty.exists():
                empty.parent.mkdir(parents=True, exist_ok=True)
                temporary = empty.with_name(f"._empty.{os.getpid()}.tmp")
                pq.write_table(schema.empty_table(), temporary)
                os.replace(temporary, empty)

    def view_sql(self, table: str) -> str:
        """The SELECT behind a table's view: every epoch file, big integers as BIGNUM (and
        the rows of the tables ``VIEW_UNIONS`` adds to it)."""
        schema, big = TABLES[table]
        columns = ", ".join(
            f"CAST({c} AS BIGNUM) AS {c}" if c in big else c for c in schema.names
        )
        return " UNION ALL ".join(
            f"SELECT {columns} FROM read_parquet("
            f"{sql_literal(str(self.root / name / '*.parquet'))}, union_by_name = true)"
            for name in (table, *VIEW_UNIONS.get(table, ())))

    def connect(self, files: Mapping[str, Path] | None = None) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB with a view per table, for the pipeline's own SQL.

        DuckDB's memory is capped (``AIMG_DUCKDB_MEMORY``, default 2GB) and spills to
        ``AIMG_HOME/tmp/duckdb``: without a cap it takes up to 80 % of the machine's RAM for
        sorts and joins of a 10M-log epoch (SPEC 10 asks for under 4 GiB in all).
        """
        self.ensure_empty_files()
        con = self.limit_memory(duckdb.connect())
        for macros in ("u128_macros", "abi_macros"):
            con.execute((SQL_DIR / f"{macros}.sql").read_text())
        for table in TABLES:
            con.execute(f"CREATE VIEW {table} AS {self.view_sql(table)}")
        for name, path in (files or {}).items():  # our view names over our quoted paths
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({sql_literal(path)})")
        return con

    def limit_memory(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        """Cap a DuckDB connection's memory and let it spill under ``AIMG_HOME/tmp/duckdb``."""
        spill = self.home / "tmp" / "duckdb"
        spill.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {sql_literal(spill)}")
        memory = os.environ.get("AIMG_DUCKDB_MEMORY", "2GB")
        con.execute(f"SET memory_limit = {sql_literal(memory)}")
        return con

    def write_query(self, table: str, epoch: int, con: duckdb.DuckDBPyConnection, name: str,
                    **params: Any) -> int:
        """Atomically replace one epoch's rows of a table with the result of ``sql/<name>.sql``.

        DuckDB writes the Parquet file itself (``COPY``), so a result of tens of millions of
        rows streams to disk instead of becoming an Arrow table in Python first. Columns are
        cast to the table's schema; a row of another epoch fails the query.
        """
        schema, _ = TABLES[table]
        types = {pa.int64(): "BIGINT", pa.string(): "VARCHAR", pa.bool_(): "BOOLEAN",
                 pa.float64(): "DOUBLE"}
        columns = ", ".join(
            "CASE WHEN epoch = $epoch THEN epoch ELSE error('row of another epoch') END::BIGINT"
            " AS epoch" if f.name == "epoch" else f"CAST({f.name} AS {types[f.type]}) AS {f.name}"
            for f in schema
        )
        text = (SQL_DIR / f"{name}.sql").read_text()
        with self._staged(table, epoch) as temporary:
            return con.execute(
                f"COPY (SELECT {columns} FROM ({text})) TO {sql_literal(temporary)} "
                "(FORMAT parquet, COMPRESSION zstd)", {**params, "epoch": epoch}).fetchone()[0]


def run_sql(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> pa.Table:
    """Run ``sql/<name>.sql`` with named parameters ($name) and return the result as Arrow."""
    text = (SQL_DIR / f"{name}.sql").read_text()
    return con.sql(text, params=params).to_arrow_table()
