"""Assembling an epoch's release from the warehouse, re-checked against the chain, and
publishing it (the step the ``publish/distribution`` asset and the CLI share)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from aimg_pipeline import __version__
from aimg_pipeline.ingest.chain import ChainClient, ChainError
from aimg_pipeline.lib.policy import Config
from aimg_pipeline.publish.artifacts import ALLOCATION_FIELDS, EpochRelease, build_artifacts
from aimg_pipeline.publish.folder import PublishResult, publish
from aimg_pipeline.publish.layout import FOLDER_MODE, MANIFEST
from aimg_pipeline.rewards.emissions import epoch_emission
from aimg_pipeline.warehouse import Warehouse

# the manifest's input row counts: table -> the warehouse tables it counts (quarantine: every
# rejected log, by decoding or as a duplicate contributionId)
INPUT_TABLES = {"raw_logs": ("raw_logs",), "position_changes": ("position_changes",),
                "votes": ("votes",), "contributions": ("contributions",),
                "quarantine": ("quarantine", "contribution_quarantine")}


class ReorgError(ChainError):
    """Blocks the epoch was computed from are no longer on the chain."""


def check_blocks(client: ChainClient, warehouse: Warehouse, epoch: int) -> None:
    """Refuse to go on if any block hash the epoch was computed from has changed.

    The stored hashes are the epoch's boundary blocks (``epochs``) and the block of every
    ingested log (``raw_logs``); the chain's current hashes are read fresh (no cache) in
    JSON-RPC batches, so an epoch with logs in 100,000 blocks costs 1,000 requests, not
    100,000. A block the chain no longer has counts as changed.
    """
    stored: dict[int, str] = {}
    bounds = warehouse.read("epochs", epoch).to_pylist()[0]
    for side in ("first", "last"):
        if bounds[f"{side}_block_hash"]:
            stored[bounds[f"{side}_block"]] = bounds[f"{side}_block_hash"]
    logs = warehouse.read("raw_logs", epoch, columns=["block_number", "block_hash"])
    logs = logs.group_by(["block_number", "block_hash"]).aggregate([]).to_pydict()
    for number, block_hash in zip(logs["block_number"], logs["block_hash"], strict=True):
        if stored.setdefault(number, block_hash) != block_hash:
            raise ReorgError(f"epoch {epoch}: the stored data name two hashes for block "
                             f"{number} ({stored[number]}, {block_hash}); re-materialize it")
    now = client.blocks(stored, fresh=True)
    changed = []
    for number in sorted(stored):
        block = now[number]
        if block is None:
            changed.append(f"block {number}: stored {stored[number]}, now missing on the chain")
        elif block.hash != stored[number]:
            changed.append(f"block {number}: stored {stored[number]}, chain now {block.hash}")
    if changed:
        numbers = ", ".join(c.split(":")[0].removeprefix("block ") for c in changed[:50])
        if len(changed) > 50:
            numbers += f" (and {len(changed) - 50} more)"
        raise ReorgError(
            f"epoch {epoch} was computed from blocks that changed on the chain (reorg); "
            f"changed blocks: {numbers}. "
            + "; ".join(changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10
                                         else "")
            + ". Nothing was published; re-materialize the epoch from raw/raw_logs on to "
            "ingest the new blocks."
        )


def assemble(config: Config, warehouse: Warehouse, epoch: int) -> EpochRelease:
    bounds = warehouse.read("epochs", epoch).to_pylist()[0]
    policy = config.policy_for(epoch)
    emissions = warehouse.read("epoch_emissions", epoch).to_pydict()
    # Kept as the table (2.3M rows at 1M claims): it only becomes allocations.csv text.
    allocations = warehouse.read("allocations", epoch).select(list(ALLOCATION_FIELDS))
    claims = warehouse.read("claims", epoch).to_pydict()
    return EpochRelease(
        epoch=epoch,
        window_start=bounds["start_ts"],
        window_end=bounds["end_ts"],
        blocks={k: bounds[k] for k in ("from_block", "to_block", "first_block", "last_block",
                                       "first_block_hash", "last_block_hash")},
        policy_version=policy.version,
        policy_hash=policy.digest,
        code_version=__version__,
        input_rows={name: sum(pq.read_metadata(warehouse.path(t, epoch)).num_rows
                              for t in tables) for name, tables in INPUT_TABLES.items()},
        emission=epoch_emission(config, epoch),
        by_channel={c: int(a) for c, a in zip(emissions["channel"], emissions["amount"],
                                               strict=True)},
        allocations=allocations,
        claims={a: int(v) for a, v in zip(claims["account"], claims["cumulative_amount"],
                                           strict=True)},
    )


def publish_epoch(
    config: Config,
    warehouse: Warehouse,
    client: ChainClient | None,
    root: Path,
    epoch: int,
    republish_reason: str | None = None,
) -> PublishResult:
    """Re-check the chain (when a client is given), build the files, publish, record it."""
    if client is not None:
        check_blocks(client, warehouse, epoch)
    release = assemble(config, warehouse, epoch)
    # The large files are spooled to disk, not held in memory; spooled in the publish root
    # (created as publish would), publish links them into the epoch folder, no second copy.
    root = Path(root)
    root.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    files = build_artifacts(release, spool=root)
    del release  # the claims dict and allocations table: not needed while publishing
    manifest = json.loads(files[MANIFEST])
    result = publish(root, epoch, files, republish_reason)
    warehouse.write("distributions", epoch, {
        "epoch": [epoch], "merkle_root": [result.merkle_root],
        "total": [manifest["total"]], "account_count": [manifest["accounts"]],
        "artifact_path": [str(result.folder)], "republished": [result.status == "republished"],
    })
    return result
