"""Ingestion: one epoch's logs from the chain into ``raw_logs``, verbatim, plus its blocks.

Only closed and final epochs are read (SPEC 3). Epoch 0 also reads the blocks before genesis
(from the configured ``start_block``), because balances opened before genesis earn from the
first second of epoch 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from aimg_pipeline.chain import ChainClient, ChainError, EpochBlocks
from aimg_pipeline.events import TOPIC0
from aimg_pipeline.lib.config import Config
from aimg_pipeline.warehouse import Warehouse


@dataclass(frozen=True)
class IngestResult:
    epoch: int
    blocks: EpochBlocks
    from_block: int
    to_block: int
    log_count: int
    seconds: float


def watched_addresses(config: Config) -> list[str]:
    """Every contract whose logs feed the pipeline: position tokens, governors, registry."""
    addresses = set(config.position_tokens())
    addresses.update(agent.governor for agent in config.agents)
    addresses.add(config.contribution_registry)
    return sorted(addresses)


def ingest_epoch(
    client: ChainClient,
    config: Config,
    warehouse: Warehouse,
    epoch: int,
    progress: Callable[[str], None] = lambda message: None,
) -> IngestResult:
    """Fetch, check and store one epoch's raw logs and boundary blocks."""
    started = time.monotonic()
    if config.chain_id is not None and client.chain_id() != config.chain_id:
        raise ChainError(
            f"{client.redacted_url} serves chain id {client.chain_id()}, "
            f"the config expects {config.chain_id}"
        )
    window = config.calendar().window(epoch)
    final = client.require_final(window, config.confirmations)
    blocks = client.epoch_blocks(window, final)
    from_block = config.start_block if epoch == 0 else blocks.first
    to_block = blocks.last

    rows: dict[str, list] = {name: [] for name in (
        "block_number", "block_hash", "block_timestamp", "transaction_hash",
        "transaction_index", "log_index", "address", "topic0", "topic1", "topic2", "topic3",
        "data",
    )}
    total_blocks = max(0, to_block - from_block + 1)
    if total_blocks:
        for chunk in client.get_logs(
            watched_addresses(config), list(TOPIC0.values()), from_block, to_block
        ):
            for log in chunk:
                _append_log(client, rows, log, from_block, to_block)
            if chunk:
                done = int(chunk[-1]["blockNumber"], 16) - from_block + 1
                rate = len(rows["data"]) / max(time.monotonic() - started, 1e-9)
                progress(f"epoch {epoch}: blocks {done}/{total_blocks}, "
                         f"{len(rows['data'])} logs, {rate:,.0f} logs/s")

    count = len(rows["data"])
    rows["epoch"] = [epoch] * count
    warehouse.write("raw_logs", epoch, rows)
    warehouse.write("epochs", epoch, {
        "epoch": [epoch], "start_ts": [window.start], "end_ts": [window.end],
        "from_block": [from_block], "to_block": [to_block],
        "first_block": [blocks.first], "last_block": [blocks.last],
        "first_block_hash": [blocks.first_hash], "last_block_hash": [blocks.last_hash],
        "log_count": [count],
    })
    return IngestResult(epoch, blocks, from_block, to_block, count, time.monotonic() - started)


def _append_log(
    client: ChainClient, rows: dict[str, list], log: dict, from_block: int, to_block: int
) -> None:
    """Check one log against the range and its block, then append it verbatim (lowercased)."""
    number = int(log["blockNumber"], 16)
    if not from_block <= number <= to_block:
        raise ChainError(f"eth_getLogs returned a log of block {number}, "
                         f"outside the requested {from_block}..{to_block}")
    if log.get("removed"):
        raise ChainError(f"eth_getLogs returned a removed (reorged) log in block {number}")
    block = client.block(number)
    if log["blockHash"].lower() != block.hash:
        raise ChainError(f"log in block {number} has block hash {log['blockHash']}, "
                         f"but the chain's block {number} is {block.hash} (reorg?)")
    topics = [t.lower() for t in log["topics"]] + [None] * (4 - len(log["topics"]))
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
