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
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import compress
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from aimg_pipeline.lib.merkle import MerkleError, StandardMerkleTree, verify_proof
from aimg_pipeline.lib.merkle import to_checksum_address as fast_checksum
from aimg_pipeline.lib.merkle_json import claims_json, parse_tree_json, tree_json

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
    # channel, pool, account, weight, amount, reason: rows, or the warehouse's table of them
    # (string columns; weight and amount decimal integers), which is not turned into 2.3M
    # Python tuples at 1M claims only to be written out as text again
    allocations: list[tuple[str, str, str, int, int, str]] | pa.Table
    claims: Mapping[str, int]  # lowercase account -> cumulative amount


def _claims_json(epoch: int, tree: StandardMerkleTree, total: int) -> Iterator[bytes]:
    """claims.json in pieces: exactly ``_json`` of ``{"epoch", "merkle_root", "total",
    "claims": {account: {"amount", "proof"}}}`` (indent 2), without building that dict.

    At 1M claims the document is ~1.6 GB of text; ``json.dumps`` of the nested dict needs the
    dict (20M proof strings) and the text at once. Every string in it is hex, a decimal or
    an EIP-55 address, so nothing needs JSON escaping; ``lib.merkle_json`` lays the
    fixed-width proof lines out as array rows. ``test_fast_paths`` checks the bytes against
    ``json.dumps``.
    """
    return claims_json(epoch, tree, total)


def _tree_json(tree: StandardMerkleTree) -> Iterator[bytes]:
    """merkle_tree.json in pieces: exactly ``_json(tree.dump())`` (see ``_claims_json``)."""
    return tree_json(tree)


def _join(pieces: Iterator[bytes | str]) -> bytes:
    """Join piece by piece: ``b"".join(list(...))`` holds the pieces and the result at once
    (3 GB at 1M claims); ``BytesIO.getvalue`` hands over its buffer without a copy."""
    buffer = io.BytesIO()
    for piece in pieces:
        buffer.write(piece if isinstance(piece, bytes) else piece.encode())
    return buffer.getvalue()


class Artifact:
    """A large file's bytes kept in an anonymous temporary file instead of memory.

    At 1M claims ``claims.json`` alone is ~1.6 GB; holding it (and the tree and the CSV) as
    ``bytes`` while the folder is written and verified took the process past 6 GB. The
    pieces are hashed and spooled once. Spooled in ``directory`` (the publish root), the
    unnamed file can later be linked into the epoch folder instead of copied (``link_to``):
    2.3 GB not written twice at 1M claims; a crash leaves nothing behind either way.
    """

    def __init__(self, pieces: Iterator[bytes | str], directory: Path | None = None) -> None:
        self._file = _spool_file(directory)
        digest, size = hashlib.sha256(), 0
        # A second thread hashes and writes each piece (both release the GIL) while the
        # next one is being rendered.
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending: Future[None] | None = None
            for piece in pieces:
                data = piece.encode() if isinstance(piece, str) else piece
                if pending is not None:
                    pending.result()
                pending = writer.submit(self._absorb, digest, data)
                size += len(data)
            if pending is not None:
                pending.result()
        self._file.flush()
        self.sha256, self.size = digest.hexdigest(), size

    def _absorb(self, digest: Any, data: bytes) -> None:
        digest.update(data)
        self._file.write(data)

    def write_to(self, handle: Any) -> None:
        self._file.seek(0)
        shutil.copyfileobj(self._file, handle, 8 << 20)

    def link_to(self, path: Path) -> bool:
        """Give the spooled file the name ``path`` (same filesystem only); False if not
        possible here (then ``write_to`` copies it)."""
        try:  # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd: os.link uses it given a dir fd
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.link(f"/proc/self/fd/{self._file.fileno()}", path.name, dst_dir_fd=folder,
                        follow_symlinks=True)
            finally:
                os.close(folder)
        except OSError:
            return False
        return True

    def read_bytes(self) -> bytes:
        self._file.seek(0)
        return self._file.read()

    def same_as(self, path: Path) -> bool:
        return path.stat().st_size == self.size and _file_sha256(path) == self.sha256


def _spool_file(directory: Path | None) -> Any:
    """An unnamed read-write file: in ``directory`` if it can be linked later (Linux
    ``O_TMPFILE`` without ``O_EXCL``), else ``tempfile.TemporaryFile``."""
    flag = getattr(os, "O_TMPFILE", 0)
    if directory is not None and flag:
        try:
            fd = os.open(directory, flag | os.O_RDWR, 0o600)
        except OSError:  # not supported by this filesystem
            pass
        else:
            return open(fd, "w+b")  # noqa: SIM115 (lives as long as the artifact)
    return tempfile.TemporaryFile()  # noqa: SIM115


def _data(value: bytes | Artifact) -> bytes:
    return value.read_bytes() if isinstance(value, Artifact) else value


def _digest(value: bytes | Artifact) -> str:
    return value.sha256 if isinstance(value, Artifact) else sha256(value)


ALLOCATION_FIELDS = ("channel", "pool", "account", "weight", "amount", "reason")
_CSV_HEADER = ",".join(("epoch", *ALLOCATION_FIELDS)) + "\n"
_CSV_BLOCK = 65_536  # rows: ~10 MB of text
_CANONICAL_INT = r"^(0|-?[1-9][0-9]*)$"  # exactly the strings str(int) gives


def _csv_pieces(release: EpochRelease, known: dict[str, str]) -> Iterator[bytes | str]:
    """allocations.csv in blocks of rows: exactly what ``csv.writer`` (``\\n`` line ends)
    writes, pools and accounts checksummed (``known`` caches the checksums).

    Fields are words, decimals and addresses, which ``csv.writer`` writes as ``str`` does,
    so each block's lines are joined by Arrow (string columns, C++: ~10x ``writerows``) and
    then checked: no null and no text ``None`` (``csv.writer`` writes ``None`` empty), no
    quote or ``\\r``, and exactly 6 commas and one line break per row (none inside a field).
    A block that fails goes through ``csv.writer`` instead.
    """
    yield _CSV_HEADER
    columns = _csv_columns(release.allocations)
    for i in (1, 2):  # pools and accounts, checksummed once per distinct value
        encoded = columns[i].dictionary_encode()
        names = encoded.dictionary.to_pylist()
        for name in set(names) - known.keys():
            known[name] = _checksum(name)
        columns[i] = pa.array([known[name] for name in names], pa.string()).take(
            encoded.indices)
    epoch = pa.scalar(str(release.epoch))
    for start in range(0, len(columns[0]), _CSV_BLOCK):
        block = [column.slice(start, _CSV_BLOCK) for column in columns]
        lines = pc.binary_join_element_wise(
            pc.binary_join_element_wise(epoch, *block, ","), "", "\n")
        rows = len(lines)
        data = b""
        if lines.null_count == 0:
            offsets = np.frombuffer(lines.buffers()[1], np.int32)  # string, not large_string
            first, last = offsets[lines.offset], offsets[lines.offset + rows]
            data = lines.buffers()[2][first:last].to_pybytes()
        if (lines.null_count or data.count(b",") != 6 * rows or data.count(b"\n") != rows
                or b'"' in data or b"\r" in data or b"None" in data):
            table = io.StringIO()
            csv.writer(table, lineterminator="\n").writerows(
                [release.epoch, *row] for row in zip(*(c.to_pylist() for c in block),
                                                     strict=True))
            yield table.getvalue()
        else:
            yield data


def _csv_columns(allocations: list[tuple[Any, ...]] | pa.Table) -> list[pa.Array]:
    """The six allocation fields as string arrays, each value what ``csv.writer`` would be
    given as text: ``str`` of it (a null stands for ``None``), weights and amounts as
    ``str(int(...))`` of the table's text."""
    if isinstance(allocations, pa.Table):
        columns = [allocations[name].combine_chunks().cast(pa.string())
                   for name in ALLOCATION_FIELDS]
        for i in (3, 4):  # the table's decimal text: canonical unless proven otherwise
            if columns[i].null_count or not pc.all(
                    pc.match_substring_regex(columns[i], _CANONICAL_INT)).as_py():
                columns[i] = pa.array([str(int(v)) for v in columns[i].to_pylist()], pa.string())
        return columns
    return [pa.array([None if v is None else str(v) for v in map(itemgetter(i), allocations)],
                     pa.string()) for i in range(len(ALLOCATION_FIELDS))]


def build_files(release: EpochRelease) -> dict[str, bytes]:
    """The epoch's files, byte for byte; the same release always gives the same bytes."""
    return {name: _data(value) for name, value in build_artifacts(release).items()}


def build_artifacts(release: EpochRelease,
                    spool: Path | None = None) -> dict[str, bytes | Artifact]:
    """``build_files`` with the three large files spooled to temporary files (what the
    pipeline publishes: memory stays flat at 1M claims); the manifest stays ``bytes``.
    Spooled in ``spool`` (the publish root), ``publish`` links them into place."""
    if not release.claims:
        raise PublishError(f"epoch {release.epoch} has no claims to publish")
    # The tree checksums the (lowercase) accounts itself, with its fast keccak: eth_utils'
    # to_checksum_address costs ~100 µs a call, minutes for 1M claims.
    claims = sorted(release.claims.items())
    tree = StandardMerkleTree.of(claims)
    total = sum(release.claims.values())
    known = dict(zip([account for account, _ in claims], tree._accounts, strict=True))
    del claims
    # allocations.csv is built by a second thread (mostly Arrow and hashing, which release
    # the GIL) while this one renders the two JSON files.
    with ThreadPoolExecutor(max_workers=1) as side:
        allocations = side.submit(Artifact, _csv_pieces(release, known), spool)
        files: dict[str, bytes | Artifact] = {
            "merkle_tree.json": Artifact(_tree_json(tree), spool),
            "claims.json": Artifact(_claims_json(release.epoch, tree, total), spool),
            "allocations.csv": allocations.result(),
        }
    root = tree.root
    del tree
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
        "merkle_root": root,
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
    """One artifact, flushed to disk and made read-only (a seam the crash tests cut); a
    spooled artifact on this filesystem is linked into place rather than copied."""
    path = folder / name
    if isinstance(data, Artifact) and data.link_to(path):
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    else:
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


def _file_equals(path: Path, pieces: Iterator[bytes]) -> bool:
    """Whether the file holds exactly the concatenated pieces (read piece by piece into one
    reused buffer)."""
    buffer = bytearray()
    with open(path, "rb") as handle:
        for piece in pieces:
            if len(buffer) != len(piece):
                buffer = bytearray(len(piece))
            if handle.readinto(buffer) != len(piece) or buffer != piece:
                return False
        return handle.read(1) == b""


_TOTAL = re.compile(rb'\A\{\n  "epoch": [0-9]+,\n  "merkle_root": "0x[0-9a-f]{64}",\n'
                    rb'  "total": "(0|[1-9][0-9]*)",\n  "claims": \{')
# A claim entry's head, for the array scan: the regular expression
# rb'\n    "(0x[0-9a-fA-F]{40})": \{\n      "amount": "(0|[1-9][0-9]*)",\n' in pieces; the "{"
# is at _BRACE_AT of an entry's window.
_ENTRY_OPEN = np.frombuffer(b'\n    "0x', np.uint8)
_ENTRY_AMOUNT = np.frombuffer(b'": {\n      "amount": "', np.uint8)
_ENTRY_CLOSE = np.frombuffer(b'",\n', np.uint8)
_AMOUNT_DIGITS = 80  # looked at after "amount": " (a uint256 has at most 78)
_BRACE_AT = len(_ENTRY_OPEN) + 40 + 3
_AMOUNT_AT = len(_ENTRY_OPEN) + 40 + len(_ENTRY_AMOUNT)
_ENTRY_WINDOW = _AMOUNT_AT + _AMOUNT_DIGITS + len(_ENTRY_CLOSE)


def _scan_entries(data: bytes | memoryview, amounts: dict[str, int]) -> None:
    """Add the claim entries (see ``_ENTRY_OPEN``) of ``data`` that start within its first
    ``len(data) - _ENTRY_WINDOW + 1`` start positions to ``amounts``, on arrays.

    Every entry has one ``{``, and nothing else in the claims layout has one (but the
    document's first): the text around each ``{`` is compared with the entry's pieces.
    """
    text = np.frombuffer(data, np.uint8)
    starts = np.flatnonzero(text == ord("{")) - _BRACE_AT
    starts = starts[(starts >= 0) & (starts <= len(text) - _ENTRY_WINDOW)]
    if not len(starts):
        return
    window = text[starts[:, None] + np.arange(_ENTRY_WINDOW)]
    account = window[:, len(_ENTRY_OPEN):len(_ENTRY_OPEN) + 40] | 0x20  # hex letters lowercase
    digits = window[:, _AMOUNT_AT:]
    is_digit = (digits >= ord("0")) & (digits <= ord("9"))
    length = is_digit.argmin(axis=1)  # the first non-digit (0 if none: rejected below)
    rows = np.arange(len(window))
    ok = ((window[:, :len(_ENTRY_OPEN)] == _ENTRY_OPEN).all(axis=1)
          & (window[:, len(_ENTRY_OPEN) + 40:_AMOUNT_AT] == _ENTRY_AMOUNT).all(axis=1)
          & (((account >= ord("0")) & (account <= ord("9")))
             | ((account >= ord("a")) & (account <= ord("f")))).all(axis=1)
          & (length > 0) & ((length == 1) | (digits[:, 0] != ord("0"))))
    for k, byte in enumerate(_ENTRY_CLOSE.tolist()):
        ok &= digits[rows, np.minimum(length + k, digits.shape[1] - 1)] == byte
    chosen = np.flatnonzero(ok)
    if not len(chosen):
        return
    names = window[chosen, len(_ENTRY_OPEN) - 2:len(_ENTRY_OPEN) + 40].tobytes().decode("ascii")
    numbers = digits[chosen, :_AMOUNT_DIGITS].copy()
    numbers[np.arange(_AMOUNT_DIGITS) >= length[chosen, None]] = ord(" ")
    amounts.update(zip([names[i:i + 42] for i in range(0, len(names), 42)],
                       map(int, numbers.tobytes().split()), strict=True))


def _claim_amounts(path: Path, manifest: Mapping[str, Any],
                   digest: Any = None) -> tuple[dict[str, Any], dict[str, int]]:
    """``({"total": ...}, {account: amount})`` of a claims.json, without parsing its proofs
    (and ``digest.update`` with every byte of it, when given: one read for both).

    A file in the layout ``build_files`` writes is scanned in 8 MiB blocks for its
    ``"account": {"amount": ...`` entries (``_scan_entries``); the result is trusted only when
    the count and sum agree with the file's own header and its manifest (``accounts``,
    ``total``). Anything else is parsed with ``json.loads``, as before.
    """
    amounts: dict[str, int] = {}
    total: str | None = None
    scanning = True
    block = 8 << 20
    buffer = bytearray(_ENTRY_WINDOW + block)  # one buffer: the carried tail, then a block
    view = memoryview(buffer)
    kept = 0
    with open(path, "rb", buffering=0) as handle:
        while got := handle.readinto(view[kept:kept + block]):
            if digest is not None:
                digest.update(view[kept:kept + got])
            if not scanning:
                continue
            end = kept + got
            if total is None:
                head = _TOTAL.match(buffer, 0, end)
                if head is None:
                    scanning = False
                    continue
                total = head.group(1).decode()
            _scan_entries(view[:end], amounts)
            kept = min(end, _ENTRY_WINDOW - 1)  # entries starting there are not scanned yet
            buffer[:kept] = buffer[end - kept:end]
    if scanning and total is not None:
        _scan_entries(bytes(view[:kept]) + bytes(_ENTRY_WINDOW), amounts)  # zeros match nothing
    if (total is not None and len(amounts) == manifest.get("accounts")
            and str(sum(amounts.values())) == total == manifest.get("total")):
        return {"total": total}, amounts
    document = json.loads(path.read_bytes())
    return document, {a: int(c["amount"]) for a, c in document["claims"].items()}


def _nonzero(amounts: dict[str, int]) -> dict[str, int]:
    """``amounts`` without its zero entries (itself when it has none, the usual case)."""
    return {a: v for a, v in amounts.items() if v} if 0 in amounts.values() else amounts


def _load_tree(folder: Path) -> StandardMerkleTree:
    """The tree of ``merkle_tree.json``: read straight from the bytes ``build_files``
    writes, else ``json.loads`` + ``StandardMerkleTree.load`` (same checks, and their
    messages)."""
    try:
        data = (folder / "merkle_tree.json").read_bytes()
    except OSError as exc:
        raise VerifyError(f"{folder}: cannot read merkle_tree.json ({exc})") from None
    tree = parse_tree_json(data)
    if tree is not None:
        return tree
    del data
    return StandardMerkleTree.load(_read_json(folder, "merkle_tree.json"))


_Sums = tuple[int, dict[str, int], bool, list[str]]


def _allocation_sums(path: Path, number: int, by_account: dict[str, int] | None) -> _Sums:
    """``(rows, amount by channel, no amount negative, problems)`` of allocations.csv; each
    row's amount is also added to its account in ``by_account`` when given."""
    fast = _allocation_sums_arrow(path, number, by_account)
    return fast if fast is not None else _allocation_sums_csv(path, number, by_account)


def _allocation_sums_arrow(path: Path, number: int,
                           by_account: dict[str, int] | None) -> _Sums | None:
    """``_allocation_sums`` through pyarrow's CSV reader (C++, several times ``csv.reader``'s
    speed), only where it must read what ``csv.reader`` reads: no quote or carriage return
    in the file (so a row is its line split at commas), the first line a header with
    distinct names, every row as long as the header (else pyarrow refuses), every epoch the
    expected one and every amount a canonical decimal. Anything else: None, and
    ``_allocation_sums_csv`` reads it (and names the rows at fault)."""
    data = path.read_bytes()
    if b'"' in data or b"\r" in data:
        return None
    try:
        header = data[:data.find(b"\n")].decode().split(",")
    except UnicodeDecodeError:
        return None
    columns = ["epoch", "channel", "account", "amount"]
    if not data.find(b"\n") > 0 or len(set(header)) != len(header) or \
            not set(columns) <= set(header):
        return None
    try:
        table = pacsv.read_csv(pa.py_buffer(data), convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), include_columns=columns))
    except (pa.ArrowException, ValueError):
        return None
    del data
    if table.num_rows and not (
            pc.all(pc.equal(table["epoch"], str(number))).as_py()
            and pc.all(pc.match_substring_regex(table["amount"], "^(0|[1-9][0-9]*)$")).as_py()):
        return None
    amounts = list(map(int, table["amount"].to_pylist()))
    if by_account is not None:
        get = by_account.get
        for account, amount in zip(table["account"].to_pylist(), amounts, strict=True):
            by_account[account] = get(account, 0) + amount
    by_channel: dict[str, int] = {}
    channels = table["channel"].combine_chunks().dictionary_encode()
    codes = channels.indices.to_numpy(zero_copy_only=False)
    for code, channel in enumerate(channels.dictionary.to_pylist()):
        by_channel[channel] = sum(compress(amounts, (codes == code).tolist()))
    return table.num_rows, by_channel, True, []


def _allocation_sums_csv(path: Path, number: int, by_account: dict[str, int] | None) -> _Sums:
    problems: list[str] = []
    by_channel: dict[str, int] = {}
    accounts: dict[str, int] = {} if by_account is None else by_account
    rows = 0
    nonnegative = True
    with open(path, newline="") as handle:
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
                nonnegative = nonnegative and amount >= 0
            by_channel[row[i_channel]] = by_channel.get(row[i_channel], 0) + amount
            accounts[row[i_account]] = accounts.get(row[i_account], 0) + amount
    return rows, by_channel, nonnegative, problems


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


def _hash_problems(folder: Path, manifest: Mapping[str, Any]) -> list[str]:
    """The manifest's file list and sha256s against the files."""
    problems: list[str] = []
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
    return problems


def _previous_folder(folder: Path, number: int) -> Path:
    return folder.parent / f"epoch-{number - 1:05d}"


def _previous_claims(folder: Path, number: Any) -> tuple[Any, str, dict[str, Any],
                                                        dict[str, int]] | None:
    """The previous epoch's manifest, its claims.json's sha256, header and amounts, when
    ``verify`` will compare with them (else None)."""
    if not isinstance(number, int) or number <= 0:
        return None
    previous_folder = _previous_folder(folder, number)
    if not (previous_folder / "claims.json").exists():
        return None
    before_manifest = _read_json(previous_folder, MANIFEST)
    digest = hashlib.sha256()
    before, previous = _claim_amounts(previous_folder / "claims.json", before_manifest, digest)
    return before_manifest, digest.hexdigest(), before, previous


def _verify(folder: Path, epoch: int | None) -> dict[str, Any]:
    manifest = _read_json(folder, MANIFEST)
    # A second thread hashes the files and reads the previous epoch's claims (sha256 and
    # file reads release the GIL) while this one rebuilds the tree: ~4 GB of hashing at 1M
    # claims. Results are used, and errors raised, in the order of the checks below.
    with ThreadPoolExecutor(max_workers=1) as background:
        hashed = background.submit(_hash_problems, folder, manifest)
        before_epoch = background.submit(_previous_claims, folder, manifest.get("epoch"))
        sums = background.submit(_expected_claims, folder, manifest.get("epoch"), before_epoch)
        try:
            try:
                tree: StandardMerkleTree | Exception = _load_tree(folder)
            except Exception as exc:  # reported after the hash problems, as before
                tree = exc
            problems = hashed.result()
            if problems:
                raise VerifyError(f"{folder}: " + "; ".join(problems))
            return _verify_content(folder, epoch, manifest, tree, before_epoch, sums)
        finally:  # a failed check does not wait for work not started yet
            before_epoch.cancel()
            sums.cancel()


def _expected_claims(folder: Path, number: Any,
                     before_epoch: Future[Any]) -> tuple[dict[str, int] | None, _Sums]:
    """allocations.csv's sums, and what each account must claim: its previous claim (none in
    epoch 0) plus its allocations; None when there is no previous epoch to start from."""
    expected: dict[str, int] | None = None
    if isinstance(number, int) and number == 0:
        expected = {}
    else:
        try:
            scanned = before_epoch.result()
        except Exception:  # the main thread raises it, in its place among the checks
            scanned = None
        if scanned is not None:
            expected = dict(scanned[3])
    return expected, _allocation_sums(folder / "allocations.csv", number, expected)


def _verify_content(folder: Path, epoch: int | None, manifest: Any,
                    tree: StandardMerkleTree | Exception, before_epoch: Future[Any],
                    sums: Future[tuple[dict[str, int] | None, _Sums]]) -> dict[str, Any]:
    problems: list[str] = []
    number = manifest["epoch"]
    named = _FOLDER_NAME.match(folder.name)
    if epoch is not None and number != epoch:
        problems.append(f"manifest is for epoch {number}, expected {epoch}")
    if named and int(named.group(1)) != number:
        problems.append(f"folder {folder.name} holds epoch {number}")

    if isinstance(tree, MerkleError | ValueError | KeyError | TypeError):
        raise VerifyError(f"{folder}: merkle_tree.json is not a valid tree: {tree}") from None
    if isinstance(tree, Exception):
        raise tree
    if tree.root != manifest.get("merkle_root"):
        problems.append(f"tree root {tree.root} != manifest root {manifest.get('merkle_root')}")
    root = tree.root
    unique = len(set(tree._accounts)) == len(tree)
    if not unique:
        problems.append("the tree lists an account more than once")

    if unique and _file_equals(folder / "claims.json",
                               _claims_json(number, tree, sum(tree._amounts))):
        # claims.json is byte for byte the canonical rendering of this (fully validated)
        # tree: every account checksummed, amounts equal to the tree's values, every proof
        # the tree's own path, epoch/root/total as rendered. Checking that by rendering
        # saves parsing ~1.6 GB of JSON at 1M claims; any other file takes the full checks.
        claims_doc = {"epoch": number, "merkle_root": root, "claims": {}}
        claims = dict(zip(tree._accounts, tree._amounts, strict=True))
        claims_doc["total"] = str(sum(claims.values()))
        canonical = True
    else:
        claims_doc = _read_json(folder, "claims.json")
        claims = {a: int(c["amount"]) for a, c in claims_doc["claims"].items()}
        canonical = False
    if claims_doc.get("epoch") != number:
        problems.append(f"claims.json is for epoch {claims_doc.get('epoch')}, manifest {number}")
    if claims_doc.get("merkle_root") != tree.root:
        problems.append("claims.json merkle_root differs from the tree root")
    if not canonical:  # (the tree's accounts are EIP-55 and its values distinct, above)
        not_checksummed = [a for a in claims if fast_checksum(a.lower()) != a]
        if not_checksummed:
            problems.append(f"{len(not_checksummed)} accounts are not EIP-55 checksummed "
                            f"(first: {not_checksummed[0]})")
        if {(a, int(v)) for a, v in tree.values} != set(claims.items()):
            problems.append("claims.json accounts/amounts differ from the tree's values")
        bad = [a for a, c in claims_doc["claims"].items()
               if not verify_proof(tree.root, a, int(c["amount"]), c["proof"])]
        if bad:
            problems.append(f"{len(bad)} proofs do not verify (first: {bad[0]})")
    del tree  # ~0.5 GB at 1M claims
    total = sum(claims.values())
    if str(total) != claims_doc.get("total") or str(total) != manifest.get("total"):
        problems.append(f"claims sum to {total}, files say {claims_doc.get('total')} / "
                        f"{manifest.get('total')}")
    if manifest.get("accounts") != len(claims):
        problems.append(f"{len(claims)} claims, manifest says {manifest.get('accounts')}")

    # The background thread read the previous epoch's claims and added each account's
    # allocations to its previous claim: what it must claim now. An error reading them is
    # raised where the checks against them come, as before.
    previous_folder = _previous_folder(folder, number)
    compare_previous = number > 0 and (previous_folder / "claims.json").exists()
    scanned, failure = None, None
    if compare_previous:
        try:
            scanned = before_epoch.result() or _previous_claims(folder, number)
        except Exception as exc:  # re-raised below, where the old order raised it
            failure = exc
    expected, (rows, by_channel, nonnegative, row_problems) = sums.result()
    if (expected is not None) != (number == 0 or scanned is not None):  # the folder changed
        expected = {} if number == 0 else dict(scanned[3]) if scanned is not None else None
        rows, by_channel, nonnegative, row_problems = _allocation_sums(
            folder / "allocations.csv", number, expected)
    problems += row_problems
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

    # Claims as expected: equal to the previous claim plus the allocations, accounts at zero
    # counting as absent on both sides.
    matches = expected is not None and _nonzero(expected) == _nonzero(claims)
    checked_previous = False
    if compare_previous:
        checked_previous = True
        if failure is not None:
            raise failure
        assert scanned is not None
        before_manifest, digest, before, previous = scanned
        if digest != before_manifest.get("files", {}).get("claims.json"):
            problems.append(f"{previous_folder.name}/claims.json does not match its own "
                            "manifest: the previous epoch's folder cannot be trusted")
        # With every claim as expected and no allocation negative, none can have gone down.
        lower = [] if matches and nonnegative else [
            a for a, amount in previous.items() if claims.get(a, 0) < amount]
        if lower:
            problems.append(
                f"{len(lower)} cumulative amounts went down since epoch {number - 1} "
                f"(first: {lower[0]} {previous[lower[0]]} -> {claims.get(lower[0], 0)})")
        if total != int(before["total"]) + emission:
            problems.append(f"total {total} != previous total {before['total']} + emission "
                            f"{emission}")
    if expected is not None and not matches:
        expected = _nonzero(expected)
        wrong = sorted(a for a in set(expected) | set(claims)
                       if expected.get(a, 0) != claims.get(a, 0))
        problems.append(
            f"{len(wrong)} claims differ from the previous epoch's claim plus this "
            f"epoch's allocations (first: {wrong[0]} expected {expected.get(wrong[0], 0)}, "
            f"claims.json {claims.get(wrong[0], 0)})")
    if problems:
        raise VerifyError(f"{folder}: " + "; ".join(problems))
    return {"epoch": number, "merkle_root": root, "accounts": len(claims),
            "total": total, "checked_previous": checked_previous}
