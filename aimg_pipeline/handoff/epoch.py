"""One epoch's hand-off on disk: the guard read from the chain and assessed, its result in
``AIMG_HOME/handoff/epoch-NNNNN/guard.json`` and the treasury's ``safe-tx.json`` beside it.

This folder is not the published one: the top-up depends on the chain's state when the
guard runs, so both files are rewritten (atomically) each time it runs again, while the
published folder never changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aimg_pipeline.handoff.guard import PENDING, Guard, assess
from aimg_pipeline.handoff.onchain import read_distributor
from aimg_pipeline.handoff.safe_batch import safe_batch
from aimg_pipeline.ingest.chain import ChainClient
from aimg_pipeline.lib.eip55 import to_checksum_address
from aimg_pipeline.lib.policy import Config
from aimg_pipeline.publish.layout import MANIFEST
from aimg_pipeline.warehouse import Warehouse

GUARD_FILE, SAFE_TX_FILE = "guard.json", "safe-tx.json"


def handoff_folder(home: Path, epoch: int) -> Path:
    return Path(home) / "handoff" / f"epoch-{epoch:05d}"


def published_roots(published: Path) -> dict[int, str]:
    """Epoch -> merkle root of every epoch folder under ``published``."""
    roots = {}
    for manifest in sorted(Path(published).glob(f"epoch-[0-9]*/{MANIFEST}")):
        roots[int(manifest.parent.name[6:])] = json.loads(manifest.read_text())["merkle_root"]
    return roots


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(temporary, path)


def guard_epochs(config: Config, warehouse: Warehouse, client: ChainClient, home: Path,
                 epochs: list[int]) -> list[Guard]:
    """Read the registry's distributor at the chain's final block (the published roots and
    that block read once for all ``epochs``), assess each epoch's published claims against
    it, and write each epoch's ``guard.json``."""
    assert config.distributor is not None
    roots = published_roots(Path(home) / "published")
    if missing := [e for e in epochs if e not in roots]:
        raise ValueError(f"epoch {missing[0]} is not published under {Path(home) / 'published'}")
    block = client.final_block(config.confirmations).number
    guards = []
    for epoch in epochs:
        table = warehouse.read("claims", epoch, ["account", "cumulative_amount"])
        accounts = table.column("account").to_pylist()
        amounts = [int(v) for v in table.column("cumulative_amount").to_pylist()]
        state = read_distributor(client, config.distributor, config.aimg_token, accounts, block)
        guard = assess(epoch, roots, state.root, block, list(zip(accounts, amounts, strict=True)),
                       state.claimed, state.balance, config.max_top_up)
        # the batch of an earlier guard run is stale now: only safe_tx, after this guard's
        # checks passed, may write one again
        (handoff_folder(home, epoch) / SAFE_TX_FILE).unlink(missing_ok=True)
        _write_json(handoff_folder(home, epoch) / GUARD_FILE,
                    {"distributor": config.distributor} | guard.summary())
        guards.append(guard)
    return guards


def write_safe_tx(config: Config, home: Path, epoch: int, chain_id: int) -> dict[str, Any] | None:
    """``safe-tx.json`` from the epoch's ``guard.json``: None (and no file) when the guard
    blocked or there is nothing to send."""
    folder = handoff_folder(home, epoch)
    guard = json.loads((folder / GUARD_FILE).read_text())
    path = folder / SAFE_TX_FILE
    root = guard["root"] if guard["state"] == PENDING else None
    top_up = int(guard["top_up"])
    if guard["problems"] or (root is None and top_up == 0):
        path.unlink(missing_ok=True)  # a stale batch must not be signed
        return None
    assert config.distributor is not None
    batch = safe_batch(chain_id=chain_id, epoch=epoch,
                       created_at_ms=config.calendar().window(epoch).end * 1000,
                       safe=to_checksum_address(config.treasury), distributor=to_checksum_address(
                           config.distributor), token=to_checksum_address(config.aimg_token),
                       root=root, top_up=top_up)
    _write_json(path, batch)
    return batch
