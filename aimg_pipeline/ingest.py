"""Ingestion: one epoch's logs into ``raw_logs``, verbatim, plus its blocks (table ``epochs``).

Two sources give identical tables: a JSON-RPC endpoint (``ingest_epoch``, below) and Parquet
files in cryo's ``logs`` layout (``aimg_pipeline.filesource``). Only closed and final epochs
are read (SPEC 3). What an epoch reads is its ``LogScope``: the contracts in force under its
policy version, in its blocks; epoch 0 from the configured ``start_block``, because balances
opened before genesis earn from the first second of epoch 0; and a position token that comes
into force at a later epoch (an agent added by a new policy version) has its history read
with that epoch, so its opening balances are whole while earlier epochs stay exactly as
they were published.

The same log delivered twice (a provider answering overlapping ranges, overlapping files)
is stored once; two *different* logs at one (block, log index) mean the source lies, and
ingestion stops naming them.

For reorg safety every stored log carries the hash of its block, checked against the block
the chain serves at ingestion time, and ``epochs`` records the boundary blocks' hashes;
``release.check_blocks`` re-checks all of them before publishing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aimg_pipeline.chain import ChainClient, ChainError, EpochBlocks
from aimg_pipeline.events import TOPIC0
from aimg_pipeline.lib.calendar import EpochWindow
from aimg_pipeline.lib.config import Config
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


def watched_addresses(config: Config, epoch: int) -> list[str]:
    """Every contract whose logs feed the epoch: the position tokens, governors and the
    contribution registry in force under its policy version."""
    addresses = set(config.position_tokens(epoch))
    addresses.update(agent.governor for agent in config.agents_at(epoch))
    addresses.add(config.contribution_registry)
    return sorted(addresses)


@dataclass(frozen=True)
class LogScope:
    """The logs an epoch reads: ``addresses`` in blocks ``from_block..to_block`` (the
    epoch's own blocks; epoch 0 from ``start_block``), plus ``history`` — the position
    tokens first in force at this epoch — in blocks ``start_block..from_block - 1``."""

    from_block: int
    to_block: int
    addresses: list[str]
    start_block: int
    history: list[str]

    @property
    def ranges(self) -> list[tuple[int, int, list[str]]]:
        """(first block, last block, addresses) of each part with blocks to read."""
        parts = [(self.start_block, self.from_block - 1, self.history),
                 (self.from_block, self.to_block, self.addresses)]
        return [(lo, hi, addresses) for lo, hi, addresses in parts if lo <= hi and addresses]

    @property
    def lowest_block(self) -> int:
        """The first block any part reads (where block and log coverage must start)."""
        return self.start_block if self.history else self.from_block


def log_scope(config: Config, epoch: int, blocks: EpochBlocks) -> LogScope:
    """What epoch ``epoch`` (with boundary ``blocks``) reads; see ``LogScope``."""
    from_block = config.start_block if epoch == 0 else blocks.first
    history = [] if epoch == 0 else sorted(
        set(config.position_tokens(epoch)) - set(config.position_tokens(epoch - 1)))
    return LogScope(from_block, blocks.last, watched_addresses(config, epoch),
                    config.start_block, history)


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


def watched_topics() -> list[str]:
    """topic0 of every event the pipeline reads (SPEC 2)."""
    return sorted(TOPIC0.values())


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


def ingest_epoch(
    client: ChainClient,
    config: Config,
    warehouse: Warehouse,
    epoch: int,
    progress: Callable[[str], None] = lambda message: None,
) -> IngestResult:
    """Fetch, check and store one epoch's raw logs and boundary blocks from JSON-RPC."""
    started = time.monotonic()
    if config.chain_id is not None and (served := client.chain_id()) != config.chain_id:
        raise ChainError(
            f"{client.redacted_url} serves chain id {served}, the config expects "
            f"{config.chain_id}"
        )
    window = config.calendar().window(epoch)
    final = client.require_final(window, config.confirmations)
    blocks = client.epoch_blocks(window, final)
    scope = log_scope(config, epoch, blocks)

    rows: dict[str, list] = {name: [] for name in RAW_COLUMNS}
    total_blocks = sum(hi - lo + 1 for lo, hi, _ in scope.ranges)
    meter = Progress(epoch, total_blocks, progress)
    done = 0
    for lo, hi, addresses in scope.ranges:
        for chunk in client.get_logs(addresses, watched_topics(), lo, hi):
            _append_chunk(client, rows, chunk.logs, chunk.from_block, chunk.to_block)
            meter.update(done + chunk.to_block - lo + 1, len(rows["data"]))
        done += hi - lo + 1
    meter.update(total_blocks, len(rows["data"]), done=True)
    table = pa.table({name: rows[name] for name in RAW_COLUMNS},
                     schema=TABLES["raw_logs"][0].remove(0))
    count, dropped = store_epoch(warehouse, epoch, window, blocks, scope.from_block,
                                 scope.to_block, table)
    return IngestResult(epoch, blocks, scope.from_block, scope.to_block, count,
                        time.monotonic() - started, duplicates_dropped=dropped)


def _append_chunk(
    client: ChainClient, rows: dict[str, list], logs: list[dict], from_block: int, to_block: int
) -> None:
    """Check a chunk's logs against the range and their blocks (read in one batch), then
    append them verbatim (hex lowercased)."""
    numbers = set()
    for log in logs:
        number = int(log["blockNumber"], 16)
        if not from_block <= number <= to_block:
            raise ChainError(f"eth_getLogs returned a log of block {number}, "
                             f"outside the requested {from_block}..{to_block}")
        if log.get("removed"):
            raise ChainError(f"eth_getLogs returned a removed (reorged) log in block {number}")
        numbers.add(number)
    blocks = client.blocks(numbers)
    for log in logs:
        number = int(log["blockNumber"], 16)
        block = blocks[number]
        if block is None:
            raise ChainError(f"block {number} of a returned log is missing on the chain (reorg?)")
        if log["blockHash"].lower() != block.hash:
            raise ChainError(
                f"log in block {number} has block hash {log['blockHash']}, but the chain's "
                f"block {number} is {block.hash}: the chain reorganized during ingestion; "
                "re-materialize the epoch")
        topics = [t.lower() for t in log["topics"]] + [None] * (4 - len(log["topics"]))
        if len(topics) > 4:
            raise ChainError(f"log {log['logIndex']} in block {number} has {len(topics)} topics")
        rows["block_number"].append(number)
        rows["block_hash"].append(block.hash)
        rows["block_timestamp"].append(block.timestamp)
        rows["transaction_hash"].append(log["transactionHash"].lower())
        rows["transaction_index"].append(int(log["transactionIndex"], 16))
        rows["log_index"].append(int(log["logIndex"], 16))
        rows["address"].append(log["address"].lower())
        for i in range(4):
            rows[f"topic{i}"].append(topics[i])
        rows["data"].append(log["data"].lower())


def gap_before(config: Config, warehouse: Warehouse, epoch: int) -> str | None:
    """Why epoch ``epoch``'s blocks do not start right after epoch ``epoch - 1``'s, or None.

    SPEC 3: ``first block(e) = last block(e-1) + 1`` for every source (epoch 0 starts at
    ``start_block``); blocks in between would be read by no epoch. Needs the previous
    epoch's ``epochs`` row, which the epoch-ordered steps have.
    """
    row = warehouse.read("epochs", epoch).to_pylist()[0]
    if epoch == 0:
        expected, after = config.start_block, "deployment.start_block"
    else:
        previous = warehouse.read("epochs", epoch - 1).to_pylist()[0]
        expected, after = previous["to_block"] + 1, f"epoch {epoch - 1}'s last block + 1"
    if row["from_block"] == expected:
        return None
    return (f"epoch {epoch} starts at block {row['from_block']}, not at {expected} "
            f"({after}): blocks {min(expected, row['from_block'])}.."
            f"{max(expected, row['from_block']) - 1} are "
            + ("read by no epoch" if row["from_block"] > expected else "read twice")
            + "; re-materialize the epochs from raw/raw_logs")
