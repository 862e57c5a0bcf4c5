"""Ingesting an epoch from a JSON-RPC endpoint: its boundary blocks, then its scope's logs
chunk by chunk (``chain.ChainClient`` retries, splits rejected ranges and batches blocks),
each log checked against the block the chain serves, then stored (``store``).

Only closed and final epochs are read (SPEC 3). The cryo file source
(``ingest.files``) stores identical tables from exported Parquet files.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pyarrow as pa

from aimg_pipeline.ingest.chain import ChainClient, ChainError
from aimg_pipeline.ingest.scope import log_scope, watched_topics
from aimg_pipeline.ingest.store import RAW_COLUMNS, IngestResult, Progress, store_epoch
from aimg_pipeline.lib.policy import Config
from aimg_pipeline.warehouse import TABLES, Warehouse


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
