"""The published folder's layout (SPEC 7, 9): where an epoch is published, what its files are
called, their modes, and the JSON and hashing every file of it is written with.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from aimg_pipeline.lib.integers import is_int

ARTIFACTS = ("merkle_tree.json", "claims.json", "allocations.csv")


MANIFEST = "manifest.json"


FORMAT = "aimg-distribution-v2"  # v1: the same without proof shards


PROOF_SHARD = "proofs/{prefix}.json"
"""A proof shard: the claims of the accounts whose address (lowercase, after ``0x``) starts
with ``prefix`` (two hex digits), in claims.json's own format, ``total`` being theirs. Only
prefixes that have claims get a file; the manifest lists every shard written."""


def shard_prefix(account: str) -> str:
    """The shard an account's claim is in: the first two hex digits of its address."""
    return account[2:4].lower()


ARCHIVE = "archive"


FILE_MODE = 0o444  # published files: nobody edits them in place


FOLDER_MODE = 0o755  # readable by every signer; writable only by the publisher's user


class PublishError(RuntimeError):
    """Publishing was refused: it would overwrite, skip an epoch, or publish bad data."""


def epoch_folder(root: Path, epoch: int) -> Path:
    """``root/epoch-NNNNN``: the one place epoch ``epoch`` is published."""
    if not is_int(epoch) or not 0 <= epoch <= 99_999:
        raise PublishError(f"epoch {epoch!r} is outside 0..99999")
    return Path(root) / f"epoch-{epoch:05d}"


def json_file(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def sha256(data: bytes) -> str:
    """Hex sha256, as listed in the manifest."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file read in 8 MiB blocks (a 1M-claim claims.json is ~1.6 GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()
