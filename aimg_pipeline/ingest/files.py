"""A file source for history: ingest an epoch from Parquet files in cryo's layout.

Backfilling years of history through ``eth_getLogs`` is slow and rate-limited; data providers
and ``cryo`` export the same logs as Parquet. This source reads a directory of

* ``{network}__logs__{start:08}_to_{end:08}.parquet`` (cryo's ``logs`` dataset, inclusive
  block ranges): ``block_number``, ``transaction_index``, ``log_index``, ``transaction_hash``,
  ``address``, ``topic0``..``topic3`` (NULL when absent), ``data`` (binary, or ``0x`` text
  with ``cryo --hex``), other columns ignored;
* ``{network}__blocks__{start:08}_to_{end:08}.parquet`` (cryo's ``blocks`` dataset):
  ``block_number``, ``block_hash``, ``timestamp`` (cryo logs carry no timestamp)

and stores exactly the ``raw_logs`` JSON-RPC ingestion stores for the same blocks (same
columns, lowercase ``0x`` text, order by block and log index), plus the same ``epochs`` row.
It reads columnar, so tens of millions of logs never pass through Python one by one nor sit
in memory at once. Binary files whose logs are in (block, log index) order, as cryo writes
them, are taken in that order: each row group filtered and converted to hex text in numpy on
a worker thread, block hash and timestamp looked up by position, written in file order (at
10M logs the sort and join of the general path, and DuckDB's string functions, cost most of
ingestion). Other files (``--hex`` text, or found out of order) go through
``sql/cryo_logs.sql`` in DuckDB, which joins and sorts; both give the same rows.

What it refuses, naming the blocks: an epoch the files do not reach past (not final in the
files), a block range with no ``logs`` file, blocks missing from or duplicated in the
``blocks`` files — including the blocks just outside the epoch, because the epoch's first
and last block are only known once the block before the first and the block after the last
are seen (blocks 4-6 missing across a boundary would otherwise move the boundary and drop
their logs) — and files mixing binary and ``--hex`` columns. Overlapping ``logs`` files are
fine: each log is stored once (``ingest.drop_repeated_logs``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aimg_pipeline.ingest.chain import ChainError, EpochBlocks, EpochNotFinalError
from aimg_pipeline.ingest.scope import LogScope, log_scope, watched_topics
from aimg_pipeline.ingest.store import (
    RAW_COLUMNS,
    IngestResult,
    Progress,
    drop_repeated_logs,
    last_row,
    write_epoch_row,
)
from aimg_pipeline.lib.calendar import EpochWindow, utc_text
from aimg_pipeline.lib.columnar import hex_text, in_order
from aimg_pipeline.lib.policy import Config
from aimg_pipeline.warehouse import SQL_DIR, TABLES, Warehouse, run_sql

FILE_NAME = re.compile(
    r"^(?P<network>.+)__(?P<dataset>logs|blocks)__(?P<start>\d+)_to_(?P<end>\d+)\.parquet$")
BATCH_ROWS = 500_000
LOG_COLUMNS = ("block_number", "transaction_hash", "transaction_index", "log_index", "address",
               "topic0", "topic1", "topic2", "topic3", "data")
INTEGERS = ("block_number", "transaction_index", "log_index")


class FileSourceError(ChainError):
    """The files cannot give a complete, unambiguous epoch."""


@dataclass(frozen=True)
class CryoFile:
    path: Path
    network: str
    dataset: str
    start: int
    end: int


def scan(directory: Path, network: str | None = None) -> dict[str, list[CryoFile]]:
    """The directory's cryo ``logs`` and ``blocks`` files, by dataset, in block order."""
    found: dict[str, list[CryoFile]] = {"logs": [], "blocks": []}
    networks = set()
    for path in sorted(Path(directory).iterdir()):
        match = FILE_NAME.match(path.name)
        if match is None or (network is not None and match["network"] != network):
            continue
        networks.add(match["network"])
        found[match["dataset"]].append(CryoFile(
            path, match["network"], match["dataset"], int(match["start"]), int(match["end"])))
    if len(networks) > 1:
        raise FileSourceError(f"{directory} holds files of several networks "
                              f"({', '.join(sorted(networks))}); choose one")
    for files in found.values():
        files.sort(key=lambda f: (f.start, f.end))
    return found


def _overlapping(files: list[CryoFile], lo: int, hi: int) -> list[CryoFile]:
    return [f for f in files if f.end >= lo and f.start <= hi]


def _gaps(files: list[CryoFile], lo: int, hi: int) -> list[tuple[int, int]]:
    """Block ranges within [lo, hi] that no file covers (by the files' names)."""
    gaps, covered = [], lo
    for f in files:
        if f.start > covered:
            gaps.append((covered, min(hi, f.start - 1)))
        covered = max(covered, f.end + 1)
        if covered > hi:
            break
    if covered <= hi:
        gaps.append((covered, hi))
    return gaps


def _layout(files: list[CryoFile], columns: tuple[str, ...]) -> str:
    """``binary`` or ``text`` (``--hex``); refuses files lacking a column or mixing both."""
    kinds = set()
    for f in files:
        schema = pq.read_schema(f.path)
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise FileSourceError(f"{f.path.name} lacks the column(s) {', '.join(missing)}")
        hashed = schema.field(columns[1]).type
        kinds.add("binary" if pa.types.is_binary(hashed) or pa.types.is_large_binary(hashed)
                  or pa.types.is_fixed_size_binary(hashed) else "text")
    if len(kinds) > 1:
        raise FileSourceError("the files mix binary and --hex (text) columns: "
                              + ", ".join(f.path.name for f in files[:5]))
    return kinds.pop() if kinds else "binary"


class FileSource:
    """Epochs from one directory of cryo-layout Parquet files."""

    def __init__(self, directory: str | Path, network: str | None = None) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileSourceError(f"log file directory {self.directory} does not exist")
        self.network = network

    def describe(self) -> str:
        return f"files: {self.directory}"

    def ingest_epoch(
        self,
        config: Config,
        warehouse: Warehouse,
        epoch: int,
        progress: Callable[[str], None] = lambda message: None,
    ) -> IngestResult:
        """Read, check and store one epoch's raw logs and boundary blocks from the files."""
        started = time.monotonic()
        files = scan(self.directory, self.network)
        if not files["blocks"]:
            raise FileSourceError(f"no cryo blocks files (*__blocks__*.parquet) in "
                                  f"{self.directory}: logs carry no timestamps without them")
        window = config.calendar().window(epoch)
        con = warehouse.limit_memory(duckdb.connect())  # a 10M-log ORDER BY spills, not swells
        run_sql(con, "cryo_macros")
        _layout(files["blocks"], ("block_number", "block_hash", "timestamp"))
        block_files = [str(f.path) for f in files["blocks"]]
        bounds = run_sql(con, "cryo_block_bounds", start=window.start, end=window.end,
                         block_files=block_files).to_pylist()[0]
        if bounds["max_timestamp"] is None or bounds["max_timestamp"] < window.end:
            reach = ("no block" if bounds["max_block"] is None else
                     f"block {bounds['max_block']} at {utc_text(bounds['max_timestamp'])}")
            raise EpochNotFinalError(
                f"epoch {epoch} ({utc_text(window.start)} to {utc_text(window.end)}) is not "
                f"final in the files of {self.directory}: they reach {reach}; it is final at "
                f"{utc_text(window.end)} once files holding a block at or after that time are "
                "added")
        last = bounds["last_block"] if bounds["last_block"] is not None else -1
        first = bounds["first_block"]
        self._check_boundaries(con, block_files, epoch, window, config.start_block, first, last)
        blocks = EpochBlocks(first, last, None, None)
        if first <= last:
            blocks = EpochBlocks(first, last, self._hash(con, block_files, first),
                                 self._hash(con, block_files, last))
        scope = log_scope(config, epoch, blocks)
        self._check_blocks(con, block_files, scope.lowest_block, max(scope.to_block, first))

        total = sum(hi - lo + 1 for lo, hi, _ in scope.ranges)
        meter = Progress(epoch, total, progress)
        count = dropped = 0
        if scope.ranges:
            lowest = min(lo for lo, _, _ in scope.ranges)
            log_files = _overlapping(files["logs"], lowest, scope.to_block)
            gaps = [gap for lo, hi, _ in scope.ranges for gap in _gaps(log_files, lo, hi)]
            if gaps:
                raise FileSourceError(
                    f"epoch {epoch}: no logs file in {self.directory} covers blocks "
                    + ", ".join(f"{a}..{b}" for a, b in gaps))
            layout = _layout(log_files, LOG_COLUMNS)
            count, dropped = self._write_logs(con, warehouse, epoch, meter, scope, block_files,
                                              [str(f.path) for f in log_files], layout,
                                              watched_topics())
        meter.update(total, count, done=True)
        write_epoch_row(warehouse, epoch, window, blocks, scope.from_block, scope.to_block,
                        count)
        return IngestResult(epoch, blocks, scope.from_block, scope.to_block, count,
                            time.monotonic() - started, source=self.describe(),
                            duplicates_dropped=dropped)

    def _check_boundaries(self, con: duckdb.DuckDBPyConnection, block_files: list[str],
                          epoch: int, window: EpochWindow, start_block: int, first: int | None,
                          last: int) -> None:
        """The epoch's boundary blocks are proven by their neighbours, or an error names
        the blocks missing around them (SPEC 3: first block(e) = last block(e-1) + 1).

        The block before the first (from epoch 1 on; epoch 0 reads from ``start_block``)
        must be in the files with a timestamp before the window, and the block after the
        last must be there with one at or after its end.
        """
        present = run_sql(con, "cryo_neighbours", block_files=block_files,
                          first=first, last=last).to_pylist()[0]
        problems = []
        if epoch > 0 and first is not None and first > start_block \
                and present["before_first"] is None:
            below = present["highest_below_first"]
            missing = f"{(below + 1) if below is not None else start_block}..{first - 1}"
            problems.append(f"blocks {missing} (just before block {first}, the first found at "
                            f"or after {utc_text(window.start)})")
        if present["after_last"] is None:
            above = present["lowest_above_last"]
            missing = f"{last + 1}..{above - 1}" if above is not None else f"{last + 1}.."
            problems.append(f"blocks {missing} (just after block {last}, the last found "
                            f"before {utc_text(window.end)})")
        if problems:
            raise FileSourceError(
                f"epoch {epoch}: the blocks files of {self.directory} lack "
                + " and ".join(problems)
                + ": the epoch's boundary cannot be placed, so its logs would be incomplete;"
                " add the missing blocks files")

    def _hash(self, con: duckdb.DuckDBPyConnection, block_files: list[str], number: int) -> str:
        rows = run_sql(con, "cryo_blocks_in_range", block_files=block_files,
                       from_block=number, to_block=number)
        return rows["block_hash"][0].as_py()

    def _check_blocks(self, con: duckdb.DuckDBPyConnection, block_files: list[str],
                      lo: int, hi: int) -> None:
        """Every block lo..hi is in the blocks files exactly once, or an error names them."""
        counts = run_sql(con, "cryo_block_coverage", block_files=block_files,
                         from_block=lo, to_block=hi).to_pylist()[0]
        if counts["row_count"] != counts["block_count"]:
            raise FileSourceError(f"the blocks files of {self.directory} hold some of the "
                                  f"blocks {lo}..{hi} more than once")
        if counts["block_count"] != hi - lo + 1:
            missing = run_sql(con, "cryo_missing_blocks", block_files=block_files,
                              from_block=lo, to_block=hi)["block_number"].to_pylist()
            raise FileSourceError(
                f"the blocks files of {self.directory} lack "
                f"{hi - lo + 1 - counts['block_count']} block(s) of {lo}..{hi}, first {missing}")

    def _write_logs(self, con: duckdb.DuckDBPyConnection, warehouse: Warehouse, epoch: int,
                    meter: Progress, scope: LogScope, block_files: list[str],
                    log_files: list[str], layout: str, topics: list[str]) -> tuple[int, int]:
        """Write the epoch's raw_logs file (atomically); returns (rows, repeats dropped).

        Binary files whose logs come in (block, log index) order, as cryo writes them, are
        converted piece by piece in file order (no sort, no join); other files, or files
        found out of order (overlapping files among them), go through
        ``sql/cryo_logs.sql``, which sorts.
        """
        lowest = scope.lowest_block
        if layout == "binary":
            blocks = run_sql(con, "cryo_blocks_in_range", block_files=block_files,
                             from_block=lowest, to_block=scope.to_block)
            try:
                with warehouse.writer("raw_logs", epoch) as writer:
                    return _in_file_order(writer.write_table, epoch, meter, scope, blocks,
                                          log_files, topics), 0
            except _NeedsSql:
                pass  # the SQL below sorts them
        with warehouse.writer("raw_logs", epoch) as writer:
            return self._sorted_in_sql(con, writer.write_table, epoch, meter, scope,
                                       block_files, log_files, topics)

    def _sorted_in_sql(self, con: duckdb.DuckDBPyConnection, write: Callable[[pa.Table], None],
                       epoch: int, meter: Progress, scope: LogScope, block_files: list[str],
                       log_files: list[str], topics: list[str]) -> tuple[int, int]:
        """Stream sql/cryo_logs.sql's record batches (sorted, blocks joined) into ``write``,
        each log once; returns (rows written, repeats dropped)."""
        schema = TABLES["raw_logs"][0]
        text = (SQL_DIR / "cryo_logs.sql").read_text()
        reader = con.sql(text, params={
            "block_files": block_files, "log_files": log_files,
            "from_block": scope.from_block, "to_block": scope.to_block,
            "addresses": scope.addresses, "history_from": scope.start_block,
            "history_to": scope.from_block - 1, "history": scope.history or [""],
            "topics": topics,
        }).to_arrow_reader(BATCH_ROWS)
        count = dropped = 0
        before = None
        for batch in reader:
            if batch.num_rows == 0:
                continue
            if batch.column("block_hash").null_count:
                _no_block_row(batch.column("block_number"), batch.column("block_hash"))
            table = pa.Table.from_batches([batch]).select(list(RAW_COLUMNS))
            table = table.append_column(
                "epoch", pa.array([epoch] * table.num_rows, pa.int64()))
            table, repeats = drop_repeated_logs(table.select(schema.names).cast(schema), before)
            dropped += repeats
            if table.num_rows:
                before = last_row(table)
                write(table)
            count += table.num_rows
            last_block = batch.column("block_number")[-1].as_py()
            meter.update(last_block - scope.lowest_block + 1, count)
        return count, dropped


class _NeedsSql(Exception):
    """The files cannot be taken in their own order (unsorted, unusual column types)."""


@dataclass(frozen=True)
class _Piece:
    logs: pa.Table  # raw_logs rows, in the file's order
    first: tuple[int, int]  # (block_number, log_index) of the first and last row
    last: tuple[int, int]
    ordered: bool  # strictly increasing within the piece


def _no_block_row(numbers: pa.Array | pa.ChunkedArray,
                  hashes: pa.Array | pa.ChunkedArray) -> None:
    missing = pc.filter(numbers, hashes.is_null())
    raise FileSourceError(f"logs of blocks {sorted(set(missing.to_pylist()))[:10]} have no "
                          "row in the blocks files")


def _watched(values: list[str]) -> pa.Array:
    """The watched ``0x`` hex strings as the bytes binary files hold.

    ``cryo_hex(column) IN values`` is ``column IN`` these bytes: cryo_hex is ``0x`` +
    lowercase hex, so a value in any other form matches no log and is left out.
    """
    out = []
    for value in values:
        digits = value[2:]
        if (value[:2] == "0x" and len(digits) % 2 == 0 and digits == digits.lower()
                and all(c in "0123456789abcdef" for c in digits)):
            out.append(bytes.fromhex(digits))
    return pa.array(out, pa.binary())


def _in_file_order(write: Callable[[pa.Table], None], epoch: int, meter: Progress,
                   scope: LogScope, blocks: pa.Table, log_files: list[str],
                   topics: list[str]) -> int:
    """raw_logs from binary cryo files in their own order, two row groups at a time.

    Each row group is filtered and converted on a worker thread (hex text in numpy, the
    block hash and timestamp looked up by position: ``blocks`` holds every block of the
    range once, in order), and written in file order. Raises _NeedsSql, and whatever
    ``write`` received must be discarded, when the logs are not strictly in (block_number,
    log_index) order, which the SQL path's ORDER BY would then establish.
    """
    from_block, to_block = scope.lowest_block, scope.to_block
    numbers = blocks["block_number"].to_numpy()
    if len(numbers) != to_block - from_block + 1 or not (
            numbers == np.arange(from_block, to_block + 1)).all():
        raise _NeedsSql  # not one row per block: leave it to the SQL's join
    lookup = (blocks["block_hash"].combine_chunks(), blocks["block_timestamp"].combine_chunks())
    parts = [(lo, hi, _watched(addresses)) for lo, hi, addresses in scope.ranges]
    watched_topics = _watched(topics)
    for path in log_files:
        schema = pq.read_schema(path)
        if not all(_binary(schema.field(c).type) for c in LOG_COLUMNS if c not in INTEGERS) \
                or not all(pa.types.is_integer(schema.field(c).type) for c in INTEGERS):
            raise _NeedsSql  # cryo_hex's other cases (text in a binary layout) are SQL's
    pieces = [(path, group) for path in log_files
              for group in _row_groups(path, from_block, to_block)]

    def convert(piece: tuple[str, int]) -> _Piece | None:
        return _convert(*piece, epoch, from_block, lookup, parts, watched_topics)

    count, last = 0, None
    for piece in in_order(pieces, convert):
        if piece is None:
            continue
        if not piece.ordered or (last is not None and piece.first <= last):
            raise _NeedsSql
        last = piece.last
        if piece.logs["block_hash"].null_count:
            _no_block_row(piece.logs["block_number"], piece.logs["block_hash"])
        write(piece.logs)
        count += piece.logs.num_rows
        meter.update(piece.last[0] - from_block + 1, count)
    return count


def _binary(kind: pa.DataType) -> bool:
    return (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
            or pa.types.is_fixed_size_binary(kind))


def _row_groups(path: str, from_block: int, to_block: int) -> list[int]:
    """The file's row groups that may hold blocks from_block..to_block (by their statistics)."""
    metadata = pq.read_metadata(path)
    column = metadata.schema.to_arrow_schema().get_field_index("block_number")
    groups = []
    for index in range(metadata.num_row_groups):
        stats = metadata.row_group(index).column(column).statistics
        if (stats is not None and stats.has_min_max
                and (stats.max < from_block or stats.min > to_block)):
            continue
        groups.append(index)
    return groups


def _convert(path: str, group: int, epoch: int, from_block: int,
             lookup: tuple[pa.Array, pa.Array], parts: list[tuple[int, int, pa.Array]],
             topics: pa.Array) -> _Piece | None:
    """One row group of a binary logs file: its logs that a part of the scope watches
    (``parts``: first block, last block, addresses as bytes), as raw_logs rows; ``lookup``
    holds the hash and timestamp of every block from ``from_block`` on."""
    schema = pq.read_schema(path)
    # few distinct values: read as dictionaries, matched and converted once per value
    dictionary = [c for c in ("address", "topic0")
                  if not pa.types.is_fixed_size_binary(schema.field(c).type)]
    logs = pq.ParquetFile(path, read_dictionary=dictionary).read_row_group(
        group, columns=list(LOG_COLUMNS)).combine_chunks()
    if logs.num_rows == 0:
        return None
    number = pc.cast(logs["block_number"], pa.int64())
    address = logs["address"].chunk(0)
    keep = pa.array(np.zeros(logs.num_rows, dtype=bool))
    for lo, hi, addresses in parts:
        inside = pc.and_(pc.greater_equal(number, lo), pc.less_equal(number, hi))
        keep = pc.or_(keep, pc.and_(inside, _is_in(address, addresses)))
    keep = pc.and_(keep, _is_in(logs["topic0"].chunk(0), topics))
    logs = logs.filter(pc.fill_null(keep, False))
    if logs.num_rows == 0:
        return None
    number = pc.cast(logs["block_number"], pa.int64())
    index = pc.cast(logs["log_index"], pa.int64())
    if index.null_count:
        raise _NeedsSql  # the SQL orders NULLs
    block, position = number.to_numpy(), index.to_numpy()
    ordered = bool(((block[1:] > block[:-1])
                    | ((block[1:] == block[:-1]) & (position[1:] > position[:-1]))).all())
    rows = pa.array(block - from_block)
    table = pa.table({
        "epoch": pa.array(np.full(logs.num_rows, epoch, np.int64)),
        "block_number": number,
        "block_hash": lookup[0].take(rows),
        "block_timestamp": lookup[1].take(rows),
        "transaction_hash": hex_text(logs["transaction_hash"].chunk(0)),
        "transaction_index": pc.cast(logs["transaction_index"], pa.int64()),
        "log_index": index,
        **{c: hex_text(logs[c].chunk(0))
           for c in ("address", "topic0", "topic1", "topic2", "topic3", "data")},
    }, schema=TABLES["raw_logs"][0])
    return _Piece(table, (int(block[0]), int(position[0])), (int(block[-1]), int(position[-1])),
                  ordered)


def _is_in(column: pa.Array, values: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        return _is_in(column.dictionary, values).take(column.indices)
    return pc.is_in(column.cast(pa.binary()), value_set=values)
