"""Published distribution artifacts (SPEC 7 and 9): build, publish immutably.

An epoch folder ``epoch-NNNNN`` holds ``merkle_tree.json`` (OpenZeppelin standard-v1),
``claims.json``, ``allocations.csv`` and ``manifest.json`` (sha256 of every other file). It
is written to a hidden temporary folder beside it, verified by ``aimg_pipeline.verify``
(which shares no code with the rendering here), and renamed into place, so it appears whole
or not at all; a crash leaves at most a hidden ``.epoch-NNNNN.<pid>.tmp``
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
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aimg_pipeline.lib.merkle import StandardMerkleTree
from aimg_pipeline.lib.merkle import to_checksum_address as fast_checksum
from aimg_pipeline.lib.merkle_json import claims_json, tree_json
from aimg_pipeline.verify import VerifyError, verify

ARTIFACTS = ("merkle_tree.json", "claims.json", "allocations.csv")
MANIFEST = "manifest.json"
FORMAT = "aimg-distribution-v1"
ARCHIVE = "archive"
FILE_MODE = 0o444  # published files: nobody edits them in place
FOLDER_MODE = 0o755  # readable by every signer; writable only by the publisher's user


class PublishError(RuntimeError):
    """Publishing was refused: it would overwrite, skip an epoch, or publish bad data."""


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
