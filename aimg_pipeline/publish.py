"""Published distribution artifacts (SPEC 7 and 9): build, publish immutably, verify.

An epoch folder ``epoch-NNNNN`` holds ``merkle_tree.json`` (OpenZeppelin standard-v1),
``claims.json``, ``allocations.csv`` and ``manifest.json`` (sha256 of every other file). It
is written to a temporary folder and renamed into place, so it appears whole or not at all;
an existing folder is never overwritten: identical content is a no-op, different content is
refused unless republished with a reason, which archives the old folder first.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import shutil
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from aimg_pipeline.lib.merkle import MerkleError, StandardMerkleTree, verify_proof

ARTIFACTS = ("merkle_tree.json", "claims.json", "allocations.csv")
MANIFEST = "manifest.json"
FORMAT = "aimg-distribution-v1"


class PublishError(RuntimeError):
    """Publishing was refused: it would overwrite, skip an epoch, or publish bad data."""


class VerifyError(RuntimeError):
    """A published folder does not hold up on its own."""


def epoch_folder(root: Path, epoch: int) -> Path:
    if not isinstance(epoch, int) or not 0 <= epoch <= 99_999:
        raise PublishError(f"epoch {epoch!r} is outside 0..99999")
    return Path(root) / f"epoch-{epoch:05d}"


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def _checksum(value: str) -> str:
    return to_checksum_address(value) if value.startswith("0x") and len(value) == 42 else value


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class EpochRelease:
    """Everything a published epoch is built from (all amounts exact integers)."""

    epoch: int
    window_start: int
    window_end: int
    blocks: Mapping[str, Any]  # first/last block numbers and hashes, ingest range
    policy_version: str
    policy_hash: str
    code_version: str
    input_rows: Mapping[str, int]
    emission: int
    by_channel: Mapping[str, int]
    allocations: list[tuple[str, str, str, int, int, str]]  # channel, pool, account, w, amt, why
    claims: Mapping[str, int]  # lowercase account -> cumulative amount


def build_files(release: EpochRelease) -> dict[str, bytes]:
    """The epoch's files, byte for byte; the same release always gives the same bytes."""
    values = [(to_checksum_address(a), amount) for a, amount in release.claims.items()]
    if not values:
        raise PublishError(f"epoch {release.epoch} has no claims to publish")
    tree = StandardMerkleTree.of(values)
    proofs = tree.proofs()
    total = sum(release.claims.values())
    claims = {
        "epoch": release.epoch,
        "merkle_root": tree.root,
        "total": str(total),
        "claims": {
            account: {"amount": str(amount), "proof": proof}
            for (account, amount), proof in zip(values, proofs, strict=True)
        },
    }
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["epoch", "channel", "pool", "account", "weight", "amount", "reason"])
    for channel, pool, account, weight, amount, reason in release.allocations:
        writer.writerow([release.epoch, channel, _checksum(pool), _checksum(account),
                         weight, amount, reason])
    files = {
        "merkle_tree.json": _json(tree.dump()),
        "claims.json": _json(claims),
        "allocations.csv": table.getvalue().encode(),
    }
    manifest = {
        "format": FORMAT,
        "epoch": release.epoch,
        "window": {
            "start": release.window_start, "end": release.window_end,
            "start_utc": _utc(release.window_start), "end_utc": _utc(release.window_end),
        },
        "blocks": dict(release.blocks),
        "policy": {"version": release.policy_version, "hash": release.policy_hash},
        "code_version": release.code_version,
        "input_rows": dict(release.input_rows),
        "emission": str(release.emission),
        "totals_by_channel": {c: str(a) for c, a in release.by_channel.items()},
        "merkle_root": tree.root,
        "total": str(total),
        "accounts": len(values),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    files[MANIFEST] = _json(manifest)
    return files


@contextmanager
def _publish_lock(root: Path):
    """One publisher at a time per publish root (two runs of one epoch cannot interleave)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".publish.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_folder(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _difference(old: dict[str, bytes], new: dict[str, bytes]) -> str:
    changed = sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))
    text = f"files that differ: {', '.join(changed)}"
    try:
        before, after = json.loads(old[MANIFEST]), json.loads(new[MANIFEST])
    except (KeyError, ValueError):
        return text
    for key in ("merkle_root", "total", "emission", "accounts"):
        if before.get(key) != after.get(key):
            text += f"; {key} {before.get(key)} -> {after.get(key)}"
    return text


@dataclass(frozen=True)
class PublishResult:
    folder: Path
    status: str  # "published", "unchanged", "republished"
    merkle_root: str


def publish(
    root: Path, epoch: int, files: dict[str, bytes], republish_reason: str | None = None
) -> PublishResult:
    """Write one epoch folder atomically, never overwriting silently."""
    root = Path(root)
    folder = epoch_folder(root, epoch)
    if epoch > 0 and not (epoch_folder(root, epoch - 1) / MANIFEST).exists():
        raise PublishError(
            f"epoch {epoch} cannot be published before epoch {epoch - 1}: "
            f"{epoch_folder(root, epoch - 1)} does not exist"
        )
    with _publish_lock(root):
        status = "published"
        if folder.exists():
            old = _read_folder(folder)
            old_manifest = json.loads(old.get(MANIFEST, b"{}"))
            compared = dict(files)
            if old_manifest.get("republished"):  # compare against the content, not the note
                compared = _with_republish_note(files, old_manifest["republished"])
            if old == compared:
                return PublishResult(folder, "unchanged", old_manifest["merkle_root"])
            if not republish_reason:
                raise PublishError(
                    f"epoch {epoch} is already published at {folder} with different content "
                    f"({_difference(old, files)}); published epochs are immutable: republish "
                    "explicitly with a reason to archive the old folder and publish the new one"
                )
            files = _with_republish_note(files, {
                "reason": republish_reason,
                "previous_root": old_manifest.get("merkle_root"),
            })
            status = "republished"
        temporary = root / f".{folder.name}.{os.getpid()}.tmp"
        if temporary.exists():
            shutil.rmtree(temporary)
        temporary.mkdir(mode=0o755)
        for name, data in files.items():
            with open(temporary / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        try:
            verify(temporary)
        except VerifyError as exc:
            shutil.rmtree(temporary)
            raise PublishError(f"epoch {epoch} failed verification, nothing published: {exc}") \
                from None
        if status == "republished":
            archive = root / "archive"
            archive.mkdir(exist_ok=True)
            n = 1
            while (archive / f"{folder.name}.{n}").exists():
                n += 1
            os.rename(folder, archive / f"{folder.name}.{n}")
        os.rename(temporary, folder)
    return PublishResult(folder, status, json.loads(files[MANIFEST])["merkle_root"])


def _with_republish_note(files: dict[str, bytes], note: dict[str, Any]) -> dict[str, bytes]:
    manifest = json.loads(files[MANIFEST])
    manifest["republished"] = note
    return {**files, MANIFEST: _json(manifest)}


def verify(folder: Path) -> dict[str, Any]:
    """Check a published epoch folder on its own; raise VerifyError listing every problem."""
    folder = Path(folder)
    problems: list[str] = []
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise VerifyError(f"{folder / MANIFEST}: cannot read manifest ({exc})") from None
    listed = manifest.get("files", {})
    for name in ARTIFACTS:
        if name not in listed:
            problems.append(f"manifest does not list {name}")
    for name, digest in listed.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{name} does not match its sha256 in the manifest")
    if problems:
        raise VerifyError(f"{folder}: " + "; ".join(problems))

    try:
        tree = StandardMerkleTree.load(json.loads((folder / "merkle_tree.json").read_text()))
    except (MerkleError, ValueError, KeyError, TypeError) as exc:
        raise VerifyError(f"{folder}: merkle_tree.json is not a valid tree: {exc}") from None
    if tree.root != manifest.get("merkle_root"):
        problems.append(f"tree root {tree.root} != manifest root {manifest.get('merkle_root')}")

    claims_doc = json.loads((folder / "claims.json").read_text())
    claims = {a: int(c["amount"]) for a, c in claims_doc["claims"].items()}
    if claims_doc.get("merkle_root") != tree.root:
        problems.append("claims.json merkle_root differs from the tree root")
    if {(a, int(v)) for a, v in tree.values} != set(claims.items()):
        problems.append("claims.json accounts/amounts differ from the tree's values")
    bad = [a for a, c in claims_doc["claims"].items()
           if not verify_proof(tree.root, a, int(c["amount"]), c["proof"])]
    if bad:
        problems.append(f"{len(bad)} proofs do not verify (first: {bad[0]})")
    total = sum(claims.values())
    if str(total) != claims_doc.get("total") or str(total) != manifest.get("total"):
        problems.append(f"claims sum to {total}, files say {claims_doc.get('total')} / "
                        f"{manifest.get('total')}")

    by_channel: dict[str, int] = {}
    with open(folder / "allocations.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            by_channel[row["channel"]] = by_channel.get(row["channel"], 0) + int(row["amount"])
    emission = int(manifest["emission"])
    if sum(by_channel.values()) != emission:
        problems.append(f"allocations sum to {sum(by_channel.values())}, emission is {emission}")
    for channel, amount in manifest["totals_by_channel"].items():
        if by_channel.get(channel, 0) != int(amount):
            problems.append(f"channel {channel}: allocations {by_channel.get(channel, 0)} "
                            f"!= manifest {amount}")

    epoch = manifest["epoch"]
    previous_folder = folder.parent / f"epoch-{epoch - 1:05d}"
    checked_previous = False
    if epoch > 0 and (previous_folder / "claims.json").exists():
        checked_previous = True
        before = json.loads((previous_folder / "claims.json").read_text())
        lower = [a for a, c in before["claims"].items() if claims.get(a, 0) < int(c["amount"])]
        if lower:
            problems.append(f"{len(lower)} cumulative amounts went down since epoch "
                            f"{epoch - 1} (first: {lower[0]})")
        if total != int(before["total"]) + emission:
            problems.append(f"total {total} != previous total {before['total']} + emission "
                            f"{emission}")
    if problems:
        raise VerifyError(f"{folder}: " + "; ".join(problems))
    return {"epoch": epoch, "merkle_root": tree.root, "accounts": len(claims),
            "total": total, "checked_previous": checked_previous}
