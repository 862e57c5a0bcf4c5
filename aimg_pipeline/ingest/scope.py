"""What an epoch reads from the chain: its contracts, its blocks, and the history of a
position token that comes into force with it.

The contracts are those in force under the epoch's policy version (``Config.agents_at``):
their position tokens, governors and the contribution registry. Epoch 0 reads from
``deployment.start_block``, because balances opened before genesis earn from the first
second of epoch 0; a vault or pool first in force at a later epoch (an agent added by a new
policy version) has its logs read from ``start_block`` with that epoch, so its opening
balances are whole while earlier epochs keep exactly the inputs they were published with.
Consecutive epochs' blocks are contiguous (SPEC 3); ``gap_before`` says when they are not.
"""

from __future__ import annotations

from dataclasses import dataclass

from aimg_pipeline.ingest.chain import EpochBlocks
from aimg_pipeline.lib.events import TOPIC0
from aimg_pipeline.lib.policy import Config
from aimg_pipeline.warehouse import Warehouse


def watched_addresses(config: Config, epoch: int) -> list[str]:
    """Every contract whose logs feed the epoch: the position tokens, governors and the
    contribution registry in force under its policy version."""
    addresses = set(config.position_tokens(epoch))
    addresses.update(agent.governor for agent in config.agents_at(epoch))
    addresses.add(config.contribution_registry)
    return sorted(addresses)


def watched_topics() -> list[str]:
    """topic0 of every event the pipeline reads (SPEC 2)."""
    return sorted(TOPIC0.values())


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
