"""Published distribution artifacts (SPEC 7 and 9): build, publish immutably, verify.

An epoch folder ``epoch-NNNNN`` holds ``merkle_tree.json`` (OpenZeppelin standard-v1),
``claims.json``, ``allocations.csv`` and ``manifest.json`` (sha256 of every other file). It
is written to a hidden temporary folder beside it, verified, and renamed into place, so it
appears whole or not at all; a crash leaves at most a hidden ``.epoch-NNNNN.<pid>.tmp``
that the next publish of that epoch removes. Published files are read-only (0444) in a
0755 folder whatever the umask. An existing folder is never overwritten: identical content
is a no-op, different content is refused with what changed, unless republished with a
reason, which copies the old folder to ``archive/`` and swaps the new one in atomically.
"""

from __future__ import annotations

import csv
import ctypes
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aimg_pipeline.lib.merkle import MerkleError, StandardMerkleTree, verify_proof
from aimg_pipeline.lib.merkle import to_checksum_address as fast_checksum

ARTIFACTS = ("merkle_tree.json", "claims.json", "allocations.csv")
MANIFEST = "manifest.json"
FORMAT = "aimg-distribution-v1"
ARCHIVE = "archive"
FILE_MODE = 0o444  # published files: nobody edits them in place
FOLDER_MODE = 0o755  # readable by every signer; writable only by the publisher's user
_FOLDER_NAME = re.compile(r"^epoch-(\d{5})$")


class PublishError(RuntimeError):
    """Publishing was refused: it would overwrite, skip an epoch, or publish bad data."""


class VerifyError(RuntimeError):
    """A published folder does not hold up on its own."""


def epoch_folder(root: Path, epoch: int) -> Path:
    """``root/epoch-NNNNN``: the one place epoch ``epoch`` is published."""
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= 99_999:
        raise PublishError(f"epoch {epoch!r} is outside 0..99999")
    return Path(root) / f"epoch-{epoch:05d}"


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def _checksum(value: str) -> str:
    """EIP-55 form of an address (lib.merkle's, ~50x faster than eth_utils'); names as they are."""
    return fast_checksum(value.lower()) if value.startswith("0x") and len(value) == 42 else value


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256(data: bytes) -> str:
    """Hex sha256, as listed in the manifest."""
    return hashlib.sha256(data).hexdigest()


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


def _claims_json(epoch: int, tree: StandardMerkleTree, total: int) -> Iterator[str]:
    """claims.json in pieces: exactly ``_json`` of ``{"epoch", "merkle_root", "total",
    "claims": {account: {"amount", "proof"}}}`` (indent 2), without building that dict.

    At 1M claims the document is ~1.6 GB of text; ``json.dumps`` of the nested dict needs the
    dict (20M proof strings) and the text at once. Every string in it is hex, a decimal or
    an EIP-55 address, so nothing needs JSON escaping. ``test_publish`` checks the bytes
    against ``json.dumps``.
    """
    yield (f'{{\n  "epoch": {json.dumps(epoch)},\n  "merkle_root": "{tree.root}",\n'
           f'  "total": "{total}",\n  "claims": {{')
    nodes = tree._hex_nodes()
    sep = "\n"
    for (account, amount), k in zip(tree._values, tree._tree_index, strict=True):
        proof = []
        while k > 0:
            proof.append(nodes[k + 1 if k & 1 else k - 1])
            k = (k - 1) >> 1
        inner = '[\n        "' + '",\n        "'.join(proof) + '"\n      ]' if proof else "[]"
        yield (f'{sep}    "{account}": {{\n      "amount": "{amount}",\n'
               f'      "proof": {inner}\n    }}')
        sep = ",\n"
    yield "\n  }\n}\n"


def _tree_json(tree: StandardMerkleTree) -> Iterator[str]:
    """merkle_tree.json in pieces: exactly ``_json(tree.dump())`` (see ``_claims_json``)."""
    yield '{\n  "format": "standard-v1",\n  "leafEncoding": [\n    "address",\n    "uint256"\n  ],'
    nodes = tree._hex_nodes()
    yield '\n  "tree": [\n    "' + '",\n    "'.join(nodes) + '"\n  ],\n  "values": ['
    sep = "\n"
    for (account, amount), ti in zip(tree._values, tree._tree_index, strict=True):
        yield (f'{sep}    {{\n      "value": [\n        "{account}",\n        "{amount}"\n      ],'
               f'\n      "treeIndex": {ti}\n    }}')
        sep = ",\n"
    yield "\n  ]\n}\n"


def _join(pieces: Iterator[str]) -> bytes:
    """Encode piece by piece: ``"".join(...).encode()`` holds the text twice (3 GB at 1M
    claims); ``BytesIO.getvalue`` hands over its buffer without a copy."""
    buffer = io.BytesIO()
    for piece in pieces:
        buffer.write(piece.encode())
    return buffer.getvalue()


class Artifact:
    """A large file's bytes kept in an anonymous temporary file instead of memory.

    At 1M claims ``claims.json`` alone is ~1.6 GB; holding it (and the tree and the CSV) as
    ``bytes`` while the folder is written and verified took the process past 6 GB. The
    pieces are encoded, hashed and spooled once; ``publish`` copies them into place.
    """

    def __init__(self, pieces: Iterator[str]) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the artifact)
        digest, size = hashlib.sha256(), 0
        for piece in pieces:
            data = piece.encode()
            digest.update(data)
            self._file.write(data)
            size += len(data)
        self._file.flush()
        self.sha256, self.size = digest.hexdigest(), size

    def write_to(self, handle: Any) -> None:
        self._file.seek(0)
        shutil.copyfileobj(self._file, handle, 8 << 20)

    def read_bytes(self) -> bytes:
        self._file.seek(0)
        return self._file.read()

    def same_as(self, path: Path) -> bool:
        return path.stat().st_size == self.size and _file_sha256(path) == self.sha256


def _data(value: bytes | Artifact) -> bytes:
    return value.read_bytes() if isinstance(value, Artifact) else value


def _digest(value: bytes | Artifact) -> str:
    return value.sha256 if isinstance(value, Artifact) else sha256(value)


def _csv_pieces(release: EpochRelease, checksum: Any) -> Iterator[str]:
    """allocations.csv in blocks of 10,000 rows (``csv.writer``, ``\\n`` line ends)."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["epoch", "channel", "pool", "account", "weight", "amount", "reason"])
    rows = release.allocations
    for start in range(0, len(rows), 10_000):
        writer.writerows([release.epoch, channel, checksum(pool), checksum(account), weight,
                          amount, reason]
                         for channel, pool, account, weight, amount, reason
                         in rows[start:start + 10_000])
        yield table.getvalue()
        table.seek(0)
        table.truncate()
    yield table.getvalue()


def build_files(release: EpochRelease) -> dict[str, bytes]:
    """The epoch's files, byte for byte; the same release always gives the same bytes."""
    return {name: _data(value) for name, value in build_artifacts(release).items()}


def build_artifacts(release: EpochRelease) -> dict[str, bytes | Artifact]:
    """``build_files`` with the three large files spooled to temporary files (what the
    pipeline publishes: memory stays flat at 1M claims); the manifest stays ``bytes``."""
    if not release.claims:
        raise PublishError(f"epoch {release.epoch} has no claims to publish")
    # The tree checksums the (lowercase) accounts itself, with its fast keccak: eth_utils'
    # to_checksum_address costs ~100 µs a call, minutes for 1M claims.
    tree = StandardMerkleTree.of(sorted(release.claims.items()))
    total = sum(release.claims.values())
    checksummed = {a: c for (a, _), (c, _) in zip(sorted(release.claims.items()), tree._values,
                                                    strict=True)}

    def checksum(value: str) -> str:
        known = checksummed.get(value)
        if known is None:
            known = checksummed[value] = _checksum(value)
        return known

    files: dict[str, bytes | Artifact] = {
        "merkle_tree.json": Artifact(_tree_json(tree)),
        "claims.json": Artifact(_claims_json(release.epoch, tree, total)),
        "allocations.csv": Artifact(_csv_pieces(release, checksum)),
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
        "allocation_rows": len(release.allocations),
        "merkle_root": tree.root,
        "total": str(total),
        "accounts": len(release.claims),
        "files": {name: _digest(data) for name, data in files.items()},
    }
    files[MANIFEST] = _json(manifest)
    return files


@contextmanager
def _publish_lock(root: Path) -> Iterator[None]:
    """One publisher at a time per publish root (two runs of one epoch cannot interleave)."""
    root.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)  # never world-writable
    fd = os.open(root / ".publish.lock", os.O_WRONLY | os.O_CREAT, 0o644)
    with open(fd, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_folder(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_changes(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> str:
    """What differs between two versions of an epoch folder, for a person to read.

    Names the files that differ, every manifest field that changed (old -> new), and how
    many accounts' claims appeared, disappeared or changed amount, with an example.
    """
    changed = sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))
    parts = [f"files that differ: {', '.join(changed) or 'none'}"]
    try:
        before, after = json.loads(old[MANIFEST]), json.loads(new[MANIFEST])
    except (KeyError, ValueError):
        return parts[0]
    fields: list[str] = []
    for key in sorted(set(before) | set(after) - {"files", "republished"}):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            fields += [f"{key}.{k}: {_short(a.get(k))} -> {_short(b.get(k))}"
                       for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        else:
            fields.append(f"{key}: {_short(a)} -> {_short(b)}")
    if fields:
        parts.append("manifest " + "; ".join(fields))
    try:
        a_claims = {k: v["amount"] for k, v in json.loads(old["claims.json"])["claims"].items()}
        b_claims = {k: v["amount"] for k, v in json.loads(new["claims.json"])["claims"].items()}
    except (KeyError, ValueError, TypeError):
        return "; ".join(parts)
    added = sorted(set(b_claims) - set(a_claims))
    removed = sorted(set(a_claims) - set(b_claims))
    moved = sorted(a for a in set(a_claims) & set(b_claims) if a_claims[a] != b_claims[a])
    if added:
        parts.append(f"{len(added)} new accounts (first: {added[0]})")
    if removed:
        parts.append(f"{len(removed)} accounts gone (first: {removed[0]})")
    if moved:
        parts.append(f"{len(moved)} claim amounts changed (first: {moved[0]} "
                     f"{a_claims[moved[0]]} -> {b_claims[moved[0]]})")
    return "; ".join(parts)


@dataclass(frozen=True)
class PublishResult:
    """Where the epoch is, what happened (published/unchanged/republished) and its root."""

    folder: Path
    status: str  # "published", "unchanged", "republished"
    merkle_root: str
    archived: Path | None = None
    report: dict[str, Any] | None = None  # verify()'s report when this call wrote the folder


def _same_content(folder: Path, files: Mapping[str, bytes | Artifact]) -> bool:
    """The published folder holds exactly these files with exactly these bytes."""
    names = {p.name for p in folder.iterdir() if p.is_file()}
    if names != set(files):
        return False
    for name, value in files.items():
        path = folder / name
        if isinstance(value, Artifact):
            if not value.same_as(path):
                return False
        elif path.read_bytes() != value:
            return False
    return True


def _write_file(folder: Path, name: str, data: bytes | Artifact) -> None:
    """One artifact, flushed to disk and made read-only (a seam the crash tests cut)."""
    path = folder / name
    with open(path, "wb") as handle:
        if isinstance(data, Artifact):
            data.write_to(handle)
        else:
            handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, FILE_MODE)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def _archive_copy(root: Path, folder: Path) -> Path:
    """Copy the published folder to ``archive/epoch-NNNNN.k`` (k = 1, 2, ...), atomically."""
    archive = root / ARCHIVE
    archive.mkdir(mode=FOLDER_MODE, exist_ok=True)
    n = 1
    while (archive / f"{folder.name}.{n}").exists():
        n += 1
    target = archive / f"{folder.name}.{n}"
    staging = archive / f".{target.name}.{os.getpid()}.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(folder, staging)
    os.rename(staging, target)
    return target


def publish(
    root: Path, epoch: int, files: Mapping[str, bytes | Artifact],
    republish_reason: str | None = None
) -> PublishResult:
    """Write one epoch folder atomically, never overwriting silently.

    Refuses an epoch whose predecessor is not published, and different content for an
    already published epoch unless ``republish_reason`` is given; then the old folder is
    archived and the new manifest records the reason and both roots.
    """
    root = Path(root)
    folder = epoch_folder(root, epoch)
    with _publish_lock(root):
        if epoch > 0 and not (epoch_folder(root, epoch - 1) / MANIFEST).is_file():
            raise PublishError(
                f"epoch {epoch} cannot be published before epoch {epoch - 1}: "
                f"{epoch_folder(root, epoch - 1)} is not published; publish the epochs in order"
            )
        for stale in root.glob(f".{folder.name}.*.tmp"):  # left by a crashed publisher
            shutil.rmtree(stale, ignore_errors=True)
        status = "published"
        old_manifest: dict[str, Any] = {}
        if folder.exists():
            old_manifest_bytes = (folder / MANIFEST).read_bytes() if (
                folder / MANIFEST).is_file() else None
            try:
                old_manifest = json.loads(old_manifest_bytes or b"{}")
            except ValueError:
                old_manifest = {}
            compared = dict(files)
            if old_manifest.get("republished"):  # compare against the content, not the note
                compared = _with_republish_note(files, old_manifest["republished"])
            if _same_content(folder, compared):
                return PublishResult(folder, "unchanged", old_manifest["merkle_root"])
            if not republish_reason:
                old = _read_folder(folder)  # only to say what changed
                raise PublishError(
                    f"epoch {epoch} is already published at {folder} with different content "
                    f"({describe_changes(old, {n: _data(v) for n, v in files.items()})}); "
                    "published epochs are immutable: "
                    "republish explicitly with a reason (aimg materialize --republish-reason, "
                    "or the republish_reason config of publish/distribution) to archive the "
                    "old folder and publish the new one"
                )
            status = "republished"
            new_root = json.loads(files[MANIFEST])["merkle_root"]
            files = _with_republish_note(files, {
                "reason": republish_reason,
                "previous_root": old_manifest.get("merkle_root"),
                "new_root": new_root,
                "previous_manifest_sha256": sha256(old_manifest_bytes or b""),
            })
        temporary = root / f".{folder.name}.{os.getpid()}.tmp"
        temporary.mkdir(mode=0o700)
        try:
            for name in (*ARTIFACTS, MANIFEST):
                _write_file(temporary, name, files[name])
            _fsync_dir(temporary)
            report = verify(temporary, epoch=epoch)
        except VerifyError as exc:
            shutil.rmtree(temporary, ignore_errors=True)
            raise PublishError(f"epoch {epoch} failed verification, nothing published: {exc}") \
                from None
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        os.chmod(temporary, FOLDER_MODE)
        archived = None
        if status == "republished":
            archived = _archive_copy(root, folder)
            if _exchange(temporary, folder):  # new folder in place, old one now at temporary
                shutil.rmtree(temporary)
            else:  # no atomic swap here: the epoch is briefly absent (documented)
                retired = root / f".{folder.name}.{os.getpid()}.old.tmp"
                os.rename(folder, retired)
                os.rename(temporary, folder)
                shutil.rmtree(retired)
        else:
            os.rename(temporary, folder)
        _fsync_dir(root)
    return PublishResult(folder, status, json.loads(files[MANIFEST])["merkle_root"], archived,
                         report)


def _with_republish_note(files: Mapping[str, bytes | Artifact],
                         note: dict[str, Any]) -> dict[str, bytes | Artifact]:
    manifest = json.loads(files[MANIFEST])
    manifest["republished"] = note
    return {**files, MANIFEST: _json(manifest)}


def _file_sha256(path: Path) -> str:
    """sha256 of a file read in 8 MiB blocks (a 1M-claim claims.json is ~1.6 GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def _pieces_sha256(pieces: Iterator[str]) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece.encode())
    return digest.hexdigest()


_CLAIM_ENTRY = re.compile(rb'\n    "(0x[0-9a-fA-F]{40})": \{\n      "amount": "(0|[1-9][0-9]*)",\n')
_TOTAL = re.compile(rb'\A\{\n  "epoch": [0-9]+,\n  "merkle_root": "0x[0-9a-f]{64}",\n'
                    rb'  "total": "(0|[1-9][0-9]*)",\n  "claims": \{')


def _claim_amounts(path: Path, manifest: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                     dict[str, int]]:
    """``({"total": ...}, {account: amount})`` of a claims.json, without parsing its proofs.

    A file in the layout ``build_files`` writes is scanned in 64 MiB blocks for its
    ``"account": {"amount": ...`` entries; the result is trusted only when the count and sum
    agree with the file's own header and its manifest (``accounts``, ``total``). Anything
    else is parsed with ``json.loads``, as before.
    """
    amounts: dict[str, int] = {}
    total: str | None = None
    carry = b""
    with open(path, "rb") as handle:
        while block := handle.read(64 << 20):
            data = carry + block
            if total is None:
                head = _TOTAL.match(data)
                if head is None:
                    break
                total = head.group(1).decode()
            cut = data.rfind(b'\n    "0x')
            cut = len(data) if cut <= 0 else cut
            for match in _CLAIM_ENTRY.finditer(data, 0, cut):
                amounts[match.group(1).decode()] = int(match.group(2))
            carry = data[cut:]
    if carry:
        for match in _CLAIM_ENTRY.finditer(carry):
            amounts[match.group(1).decode()] = int(match.group(2))
    if (total is not None and len(amounts) == manifest.get("accounts")
            and str(sum(amounts.values())) == total == manifest.get("total")):
        return {"total": total}, amounts
    document = json.loads(path.read_bytes())
    return document, {a: int(c["amount"]) for a, c in document["claims"].items()}


def _read_json(folder: Path, name: str) -> Any:
    try:
        return json.loads((folder / name).read_text())
    except (OSError, ValueError) as exc:
        raise VerifyError(f"{folder}: cannot read {name} ({exc})") from None


def verify(folder: Path, epoch: int | None = None) -> dict[str, Any]:
    """Check a published epoch folder on its own; raise VerifyError listing every problem.

    Needs only the folder (and, when it lies beside it, the previous epoch's folder): the
    manifest's file hashes, the tree rebuilt from the dump against the root, every proof,
    checksummed accounts, totals against the allocations and the emission, and against the
    previous epoch: no cumulative amount lower, and each account's claim equal to its previous
    claim plus its allocations in this epoch.
    """
    folder = Path(folder)
    try:
        return _verify(folder, epoch)
    except VerifyError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError, OSError) as exc:
        raise VerifyError(f"{folder}: malformed artifacts ({type(exc).__name__}: {exc})") \
            from None


def _verify(folder: Path, epoch: int | None) -> dict[str, Any]:
    problems: list[str] = []
    manifest = _read_json(folder, MANIFEST)
    listed = manifest.get("files", {})
    for name in ARTIFACTS:
        if name not in listed:
            problems.append(f"manifest does not list {name}")
    for name, digest in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif _file_sha256(path) != digest:
            problems.append(f"{name} does not match its sha256 in the manifest")
    if problems:
        raise VerifyError(f"{folder}: " + "; ".join(problems))

    number = manifest["epoch"]
    named = _FOLDER_NAME.match(folder.name)
    if epoch is not None and number != epoch:
        problems.append(f"manifest is for epoch {number}, expected {epoch}")
    if named and int(named.group(1)) != number:
        problems.append(f"folder {folder.name} holds epoch {number}")

    try:
        tree = StandardMerkleTree.load(_read_json(folder, "merkle_tree.json"))
    except (MerkleError, ValueError, KeyError, TypeError) as exc:
        raise VerifyError(f"{folder}: merkle_tree.json is not a valid tree: {exc}") from None
    if tree.root != manifest.get("merkle_root"):
        problems.append(f"tree root {tree.root} != manifest root {manifest.get('merkle_root')}")
    tree_accounts = [a for a, _ in tree.values]
    if len(set(tree_accounts)) != len(tree_accounts):
        problems.append("the tree lists an account more than once")

    if len(set(tree_accounts)) == len(tree_accounts) and listed.get("claims.json") == \
            _pieces_sha256(_claims_json(number, tree, sum(a for _, a in tree.values))):
        # claims.json is byte for byte the canonical rendering of this (fully validated)
        # tree: every account checksummed, amounts equal to the tree's values, every proof
        # the tree's own path, epoch/root/total as rendered. Checking that by hashing saves
        # parsing ~1.6 GB of JSON at 1M claims; any other file takes the full checks below.
        claims_doc = {"epoch": number, "merkle_root": tree.root, "claims": {}}
        claims = dict(tree.values)
        claims_doc["total"] = str(sum(claims.values()))
    else:
        claims_doc = _read_json(folder, "claims.json")
        claims = {a: int(c["amount"]) for a, c in claims_doc["claims"].items()}
    if claims_doc.get("epoch") != number:
        problems.append(f"claims.json is for epoch {claims_doc.get('epoch')}, manifest {number}")
    if claims_doc.get("merkle_root") != tree.root:
        problems.append("claims.json merkle_root differs from the tree root")
    not_checksummed = [a for a in claims if fast_checksum(a.lower()) != a]
    if not_checksummed:
        problems.append(f"{len(not_checksummed)} accounts are not EIP-55 checksummed "
                        f"(first: {not_checksummed[0]})")
    if {(a, int(v)) for a, v in tree.values} != set(claims.items()):
        problems.append("claims.json accounts/amounts differ from the tree's values")
    bad = [a for a, c in claims_doc["claims"].items()  # empty when canonical (above)
           if not verify_proof(tree.root, a, int(c["amount"]), c["proof"])]
    if bad:
        problems.append(f"{len(bad)} proofs do not verify (first: {bad[0]})")
    total = sum(claims.values())
    if str(total) != claims_doc.get("total") or str(total) != manifest.get("total"):
        problems.append(f"claims sum to {total}, files say {claims_doc.get('total')} / "
                        f"{manifest.get('total')}")
    if manifest.get("accounts") != len(claims):
        problems.append(f"{len(claims)} claims, manifest says {manifest.get('accounts')}")

    by_channel: dict[str, int] = {}
    by_account: dict[str, int] = {}
    rows = 0
    with open(folder / "allocations.csv", newline="") as handle:
        reader = csv.reader(handle)  # csv.DictReader's per-row dict: ~2x slower at 2M rows
        header = next(reader, [])
        at = {name: header.index(name) for name in ("epoch", "channel", "account", "amount")}
        i_epoch, i_channel, i_account, i_amount = (at["epoch"], at["channel"], at["account"],
                                                   at["amount"])
        for row in reader:
            if not row:  # DictReader skipped blank lines too
                continue
            rows += 1
            if len(row) <= max(at.values()):
                raise ValueError(f"allocations.csv row {rows} has only {len(row)} fields")
            amount = int(row[i_amount])
            if amount < 0 or int(row[i_epoch]) != number:
                problems.append(f"allocations.csv row {rows} is for epoch {row[i_epoch]} "
                                f"or negative ({amount})")
            by_channel[row[i_channel]] = by_channel.get(row[i_channel], 0) + amount
            by_account[row[i_account]] = by_account.get(row[i_account], 0) + amount
    if "allocation_rows" in manifest and manifest["allocation_rows"] != rows:
        problems.append(f"allocations.csv has {rows} rows, manifest {manifest['allocation_rows']}")
    emission = int(manifest["emission"])
    if sum(by_channel.values()) != emission:
        problems.append(f"allocations sum to {sum(by_channel.values())}, emission is {emission}")
    for channel in sorted(set(manifest["totals_by_channel"]) | set(by_channel)):
        listed_amount = int(manifest["totals_by_channel"].get(channel, 0))
        if by_channel.get(channel, 0) != listed_amount:
            problems.append(f"channel {channel}: allocations {by_channel.get(channel, 0)} "
                            f"!= manifest {listed_amount}")

    previous_folder = folder.parent / f"epoch-{number - 1:05d}"
    checked_previous = False
    previous: dict[str, int] | None = {} if number == 0 else None
    if number > 0 and (previous_folder / "claims.json").exists():
        checked_previous = True
        before_manifest = _read_json(previous_folder, MANIFEST)
        path = previous_folder / "claims.json"
        if _file_sha256(path) != before_manifest.get("files", {}).get("claims.json"):
            problems.append(f"{previous_folder.name}/claims.json does not match its own "
                            "manifest: the previous epoch's folder cannot be trusted")
        before, previous = _claim_amounts(path, before_manifest)
        lower = [a for a, amount in previous.items() if claims.get(a, 0) < amount]
        if lower:
            problems.append(
                f"{len(lower)} cumulative amounts went down since epoch {number - 1} "
                f"(first: {lower[0]} {previous[lower[0]]} -> {claims.get(lower[0], 0)})")
        if total != int(before["total"]) + emission:
            problems.append(f"total {total} != previous total {before['total']} + emission "
                            f"{emission}")
    if previous is not None:
        expected = dict(previous)
        for account, amount in by_account.items():
            expected[account] = expected.get(account, 0) + amount
        expected = {a: v for a, v in expected.items() if v}
        wrong = sorted(a for a in set(expected) | set(claims)
                       if expected.get(a, 0) != claims.get(a, 0))
        if wrong:
            problems.append(
                f"{len(wrong)} claims differ from the previous epoch's claim plus this epoch's "
                f"allocations (first: {wrong[0]} expected {expected.get(wrong[0], 0)}, "
                f"claims.json {claims.get(wrong[0], 0)})")
    if problems:
        raise VerifyError(f"{folder}: " + "; ".join(problems))
    return {"epoch": number, "merkle_root": tree.root, "accounts": len(claims),
            "total": total, "checked_previous": checked_previous}
