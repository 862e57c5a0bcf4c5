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
It reads columnar (DuckDB over the files, streamed to the warehouse in record batches), so
tens of millions of logs never pass through Python one by one nor sit in memory at once.

What it refuses, naming the blocks: an epoch the files do not reach past (not final in the
files), a block range with no ``logs`` file, blocks missing from or duplicated in the
``blocks`` files, files mixing binary and ``--hex`` columns.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from aimg_pipeline.chain import ChainError, EpochBlocks, EpochNotFinalError, _utc
from aimg_pipeline.ingest import (
    RAW_COLUMNS,
    IngestResult,
    Progress,
    watched_addresses,
    watched_topics,
    write_epoch_row,
)
from aimg_pipeline.lib.config import Config
from aimg_pipeline.warehouse import TABLES, Warehouse, run_sql

FILE_NAME = re.compile(
    r"^(?P<network>.+)__(?P<dataset>logs|blocks)__(?P<start>\d+)_to_(?P<end>\d+)\.parquet$")
BATCH_ROWS = 500_000


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


def _layout(files: list[CryoFile], columns: tuple[str, ...]) -> None:
    """Refuse files lacking a column, or mixing binary and text (``--hex``) layouts."""
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
                     f"block {bounds['max_block']} at {_utc(bounds['max_timestamp'])}")
            raise EpochNotFinalError(
                f"epoch {epoch} ({_utc(window.start)} to {_utc(window.end)}) is not final in "
                f"the files of {self.directory}: they reach {reach}; it is final at "
                f"{_utc(window.end)} once files holding a block at or after that time are added")
        last = bounds["last_block"] if bounds["last_block"] is not None else -1
        first = bounds["first_block"]
        from_block = config.start_block if epoch == 0 else first
        to_block = last
        self._check_blocks(con, block_files, from_block, max(to_block, first))
        blocks = EpochBlocks(first, last, None, None)
        if first <= last:
            blocks = EpochBlocks(first, last, self._hash(con, block_files, first),
                                 self._hash(con, block_files, last))

        total = max(0, to_block - from_block + 1)
        meter = Progress(epoch, total, progress)
        count = 0
        if total:
            log_files = _overlapping(files["logs"], from_block, to_block)
            if gaps := _gaps(log_files, from_block, to_block):
                raise FileSourceError(
                    f"epoch {epoch}: no logs file in {self.directory} covers blocks "
                    + ", ".join(f"{a}..{b}" for a, b in gaps))
            _layout(log_files, ("block_number", "transaction_hash", "transaction_index",
                                "log_index", "address", "topic0", "topic1", "topic2",
                                "topic3", "data"))
            count = self._write_logs(con, warehouse, epoch, meter, from_block, to_block,
                                     block_files, [str(f.path) for f in log_files],
                                     watched_addresses(config), watched_topics())
        meter.update(total, count, done=True)
        write_epoch_row(warehouse, epoch, window, blocks, from_block, to_block, count)
        return IngestResult(epoch, blocks, from_block, to_block, count,
                            time.monotonic() - started, source=self.describe())

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
                    meter: Progress, from_block: int, to_block: int, block_files: list[str],
                    log_files: list[str], addresses: list[str], topics: list[str]) -> int:
        """Stream the query's record batches into the epoch's raw_logs file (atomically)."""
        schema = TABLES["raw_logs"][0]
        text = (Path(__file__).resolve().parent.parent / "sql" / "cryo_logs.sql").read_text()
        reader = con.sql(text, params={
            "block_files": block_files, "log_files": log_files, "from_block": from_block,
            "to_block": to_block, "addresses": addresses, "topics": topics,
        }).to_arrow_reader(BATCH_ROWS)
        target = warehouse.path("raw_logs", epoch)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        count = 0
        try:
            with pq.ParquetWriter(temporary, schema, compression="zstd") as writer:
                for batch in reader:
                    if batch.num_rows == 0:
                        continue
                    if batch.column("block_hash").null_count:
                        numbers = pa.compute.filter(batch.column("block_number"),
                                                    batch.column("block_hash").is_null())
                        raise FileSourceError(
                            f"logs of blocks {sorted(set(numbers.to_pylist()))[:10]} have no "
                            "row in the blocks files")
                    table = pa.Table.from_batches([batch]).select(list(RAW_COLUMNS))
                    table = table.append_column(
                        "epoch", pa.array([epoch] * table.num_rows, pa.int64()))
                    writer.write_table(table.select(schema.names).cast(schema))
                    count += table.num_rows
                    last_block = batch.column("block_number")[-1].as_py()
                    meter.update(last_block - from_block + 1, count)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return count
