"""Storing an epoch's logs: ``raw_logs`` (verbatim, sorted, each log once) and its ``epochs``
row. Both sources (JSON-RPC, cryo files) end here, so their tables cannot differ in order,
types or columns.

The same log delivered twice (a provider answering overlapping ranges, overlapping files)
is stored once; two *different* logs at one (block, log index) mean the source lies, and
ingestion stops naming them. For reorg safety every stored log carries the hash of its block
and ``epochs`` the boundary blocks' hashes; ``publish.release.check_blocks`` re-checks them
before publishing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aimg_pipeline.ingest.chain import ChainError, EpochBlocks
from aimg_pipeline.lib.calendar import EpochWindow
from aimg_pipeline.warehouse import TABLES, Warehouse

RAW_COLUMNS = (
    "block_number", "block_hash", "block_timestamp", "transaction_hash", "transaction_index",
    "log_index", "address", "topic0", "topic1", "topic2", "topic3", "data",
)


@dataclass(frozen=True)
class IngestResult:
    epoch: int
    blocks: EpochBlocks
    from_block: int
    to_block: int
    log_count: int
    seconds: float
    source: str = "rpc"
    duplicates_dropped: int = 0  # the same log delivered more than once, stored once


class Progress:
    """Reports blocks done / total and logs/s, at most every ``every`` seconds or each 10 %.

    Long backfills need a sign of life in the Dagster logs and on the CLI, but one line per
    ``eth_getLogs`` chunk would flood them; the last line (``done``) is always reported.
    """

    def __init__(self, epoch: int, total_blocks: int, emit: Callable[[str], None],
                 every: float = 10.0) -> None:
        self.epoch, self.total, self.emit, self.every = epoch, total_blocks, emit, every
        self.started = self._last = time.monotonic()
        self._last_decile = 0

    def update(self, blocks_done: int, logs: int, done: bool = False) -> None:
        if blocks_done >= self.total and not done:
            return  # the closing line follows
        now = time.monotonic()
        decile = 10 * blocks_done // self.total if self.total else 10
        if not (done or decile > self._last_decile or now - self._last >= self.every):
            return
        self._last, self._last_decile = now, decile
        rate = logs / max(now - self.started, 1e-9)
        pct = 100 * blocks_done // self.total if self.total else 100
        self.emit(f"epoch {self.epoch}: blocks {blocks_done:,}/{self.total:,} ({pct}%), "
                  f"{logs:,} logs, {rate:,.0f} logs/s" + (", done" if done else ""))


def drop_repeated_logs(logs: pa.Table, before: dict | None = None) -> tuple[pa.Table, int]:
    """``logs`` (sorted by block and log index) with each log once, and how many repeats went.

    A repeat is a row equal to the row before it with the same (block, log index) — the
    same log delivered twice; ``before`` is the last row of the previous piece of a stream.
    A row with the same position but other content raises ChainError: one chain cannot
    hold both.
    """
    if logs.num_rows == 0:
        return logs, 0
    number = logs["block_number"].to_numpy()
    index = logs["log_index"].to_numpy()
    same = np.zeros(logs.num_rows, dtype=bool)
    same[1:] = (number[1:] == number[:-1]) & (index[1:] == index[:-1])
    if before is not None:
        same[0] = (before["block_number"], before["log_index"]) == (number[0], index[0])
    if not same.any():
        return logs, 0
    columns = logs.column_names
    for i in np.flatnonzero(same).tolist():
        row = logs.slice(i, 1).to_pylist()[0]
        previous = before if i == 0 else logs.slice(i - 1, 1).to_pylist()[0]
        if row != previous:
            differ = sorted(k for k in columns if row[k] != previous[k])
            raise ChainError(
                f"two different logs at block {row['block_number']}, log index "
                f"{row['log_index']} (they differ in {', '.join(differ)}): the source "
                "answered inconsistently; nothing was stored")
    return logs.filter(pc.invert(pa.array(same))), int(same.sum())


def last_row(logs: pa.Table) -> dict:
    """The last row of a sorted piece, for ``drop_repeated_logs`` of the next piece."""
    return logs.slice(logs.num_rows - 1, 1).to_pylist()[0]


def store_epoch(
    warehouse: Warehouse,
    epoch: int,
    window: EpochWindow,
    blocks: EpochBlocks,
    from_block: int,
    to_block: int,
    logs: pa.Table,
) -> tuple[int, int]:
    """Write the epoch's ``raw_logs`` (sorted by block and log index, each log once) and its
    ``epochs`` row; returns (rows stored, repeated logs dropped)."""
    logs = logs.select(list(RAW_COLUMNS))
    logs = logs.append_column("epoch", pa.array([epoch] * logs.num_rows, pa.int64()))
    logs = logs.cast(pa.schema([(f.name, TABLES["raw_logs"][0].field(f.name).type)
                                for f in logs.schema]))
    logs = logs.sort_by([("block_number", "ascending"), ("log_index", "ascending")])
    logs, dropped = drop_repeated_logs(logs)
    count = warehouse.write("raw_logs", epoch, logs)
    write_epoch_row(warehouse, epoch, window, blocks, from_block, to_block, count)
    return count, dropped


def write_epoch_row(
    warehouse: Warehouse,
    epoch: int,
    window: EpochWindow,
    blocks: EpochBlocks,
    from_block: int,
    to_block: int,
    count: int,
) -> None:
    """The epoch's row in ``epochs``: window, block range, boundary blocks and hashes."""
    warehouse.write("epochs", epoch, {
        "epoch": [epoch], "start_ts": [window.start], "end_ts": [window.end],
        "from_block": [from_block], "to_block": [to_block],
        "first_block": [blocks.first], "last_block": [blocks.last],
        "first_block_hash": [blocks.first_hash], "last_block_hash": [blocks.last_hash],
        "log_count": [count],
    })
