"""One account's claim in a published epoch, read from its proof shard (issue 18).

What a wallet or a frontend asks for: the amount and the proof of one address. At 1M
claimants ``claims.json`` is ~1.6 GB, while a shard (``proofs/xx.json``, the accounts whose
address starts with ``xx``) is ~1/256 of it. The shard is checked against the sha256 the
manifest lists before anything is read from it, and since the published layout is written
byte for byte by one renderer, a claim is found by searching for its exact opening text
instead of parsing the whole shard.

Kept free of Dagster and numpy: ``aimg proof`` answers in a few tens of milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from aimg_pipeline.lib.eip55 import to_checksum_address
from aimg_pipeline.publish.layout import MANIFEST, PROOF_SHARD, epoch_folder, shard_prefix


class ClaimNotFound(LookupError):
    """The epoch is not published, or the account has no claim in it (HTTP 404)."""


class ShardError(RuntimeError):
    """A published shard is missing or does not match its manifest hash (HTTP 500)."""


Verified = MutableMapping[tuple[str, int, int, int], str]
"""Shards already hashed, by (path, inode, size, mtime): a published file never changes in
place, so a server hashes each one once."""


def _manifest(folder: Path, epoch: int) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise ClaimNotFound(f"epoch {epoch} is not published") from None
    if manifest.get("epoch") != epoch:
        raise ShardError(f"{folder / MANIFEST} is for epoch {manifest.get('epoch')!r}")
    return manifest


def _shard(path: Path, expected: str, verified: Verified | None) -> mmap.mmap:
    """The shard mapped read-only, once its sha256 is the manifest's."""
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            view = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (FileNotFoundError, ValueError) as exc:  # ValueError: an empty file
        raise ShardError(f"{path} is listed in the manifest but cannot be read: {exc}") from None
    key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if verified is None or verified.get(key) != expected:
        if hashlib.sha256(view).hexdigest() != expected:
            view.close()
            raise ShardError(f"{path} does not match the sha256 in its manifest")
        if verified is not None:
            verified[key] = expected
    return view


def find_claim(published: Path, epoch: int, address: str,
               verified: Verified | None = None) -> dict[str, Any]:
    """``{"account", "epoch", "amount", "proof", "merkle_root"}`` of ``address`` in epoch
    ``epoch`` under the ``published`` root; ``amount`` a decimal string, as in claims.json.

    ``AddressError`` for a malformed address, ``ClaimNotFound`` when the epoch or the claim
    does not exist, ``ShardError`` when the published files are not what the manifest says.
    """
    account = to_checksum_address(address)
    folder = epoch_folder(published, epoch)
    manifest = _manifest(folder, epoch)
    layout = manifest.get("proof_shards")
    if layout != PROOF_SHARD:
        raise ClaimNotFound(f"epoch {epoch} was published without proof shards "
                            f"(format {manifest.get('format')!r}): see its claims.json")
    name = PROOF_SHARD.format(prefix=shard_prefix(account))
    expected = manifest.get("files", {}).get(name)
    if expected is None:  # no claimant has this prefix
        raise ClaimNotFound(f"no claim for {account} in epoch {epoch}")
    view = _shard(folder / name, expected, verified)
    with view:
        opening = b'\n    "' + account.encode() + b'": {'
        start = view.find(opening)
        if start < 0:
            raise ClaimNotFound(f"no claim for {account} in epoch {epoch}")
        body = start + len(opening) - 1
        claim = json.loads(view[body:view.find(b"}", body) + 1])
    return {"account": account, "epoch": epoch, "amount": claim["amount"],
            "proof": claim["proof"], "merkle_root": manifest["merkle_root"]}
