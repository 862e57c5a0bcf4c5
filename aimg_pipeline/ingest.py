"""Ingestion: one epoch's logs into ``raw_logs``, verbatim, plus its blocks (table ``epochs``).

Two sources give identical tables: a JSON-RPC endpoint (``ingest_epoch``, below) and Parquet
files in cryo's ``logs`` layout (``aimg_pipeline.filesource``). Only closed and final epochs
are read (SPEC 3). Epoch 0 also reads the blocks before genesis (from the configured
``start_block``), because balances opened before genesis earn from the first second of
epoch 0.

For reorg safety every stored log carries the hash of its block, checked against the block
the chain serves at ingestion time, and ``epochs`` records the boundary blocks' hashes;
``release.check_blocks`` re-checks all of them before publishing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

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


def watched_addresses(config: Config) -> list[str]:
    """Every contract whose logs feed the pipeline: position tokens, governors, registry."""
    addresses = set(config.position_tokens())
    addresses.update(agent.governor for agent in config.agents)
    addresses.add(config.contribution_registry)
    return sorted(addresses)


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
) -> int:
    """Write the epoch's ``raw_logs`` (sorted by block and log index) and its ``epochs`` row.

    Both sources end here, so their tables cannot differ in order, types or columns.
    """
    logs = logs.select(list(RAW_COLUMNS))
    logs = logs.append_column("epoch", pa.array([epoch] * logs.num_rows, pa.int64()))
    logs = logs.cast(pa.schema([(f.name, TABLES["raw_logs"][0].field(f.name).type)
                                for f in logs.schema]))
    logs = logs.sort_by([("block_number", "ascending"), ("log_index", "ascending")])
    count = warehouse.write("raw_logs", epoch, logs)
    write_epoch_row(warehouse, epoch, window, blocks, from_block, to_block, count)
    return count


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
    from_block = config.start_block if epoch == 0 else blocks.first
    to_block = blocks.last

    rows: dict[str, list] = {name: [] for name in RAW_COLUMNS}
    total_blocks = max(0, to_block - from_block + 1)
    meter = Progress(epoch, total_blocks, progress)
    if total_blocks:
        for chunk in client.get_logs(watched_addresses(config), watched_topics(),
                                     from_block, to_block):
            _append_chunk(client, rows, chunk.logs, chunk.from_block, chunk.to_block)
            meter.update(chunk.to_block - from_block + 1, len(rows["data"]))
    meter.update(total_blocks, len(rows["data"]), done=True)
    table = pa.table({name: rows[name] for name in RAW_COLUMNS},
                     schema=TABLES["raw_logs"][0].remove(0))
    count = store_epoch(warehouse, epoch, window, blocks, from_block, to_block, table)
    return IngestResult(epoch, blocks, from_block, to_block, count, time.monotonic() - started)


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
