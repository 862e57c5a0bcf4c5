"""Publishing an epoch folder atomically and immutably (SPEC 7).

The folder is written to a hidden temporary folder beside it, verified by
``aimg_pipeline.verify`` (which shares no code with the rendering), and renamed into place,
so it appears whole or not at all; a crash leaves at most a hidden ``.epoch-NNNNN.<pid>.tmp``
that the next publish of that epoch removes. Published files are read-only (0444) in a
0755 folder whatever the umask. An existing folder is never overwritten: identical content
is a no-op, different content is refused with what changed, unless republished with a
reason, which copies the old folder to ``archive/`` and swaps the new one in atomically.
Epoch ``e`` is published only after ``e-1``.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aimg_pipeline.publish.layout import (
    ARCHIVE,
    FILE_MODE,
    FOLDER_MODE,
    MANIFEST,
    PublishError,
    epoch_folder,
    json_file,
    sha256,
)
from aimg_pipeline.publish.spool import Artifact, file_bytes
from aimg_pipeline.verify import VerifyError, verify


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


def _names(folder: Path) -> set[str]:
    """The folder's files, by path relative to it (proof shards are in ``proofs/``)."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _read_folder(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in sorted(_names(folder))}


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
    if _names(folder) != set(files):
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
    if not path.parent.is_dir():
        path.parent.mkdir()
        os.chmod(path.parent, FOLDER_MODE)  # whatever the umask: every signer reads it
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
                    f"({describe_changes(old, {n: file_bytes(v) for n, v in files.items()})}); "
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
            for name in sorted(set(files) - {MANIFEST}):
                _write_file(temporary, name, files[name])
            _write_file(temporary, MANIFEST, files[MANIFEST])
            for directory in {(temporary / name).parent for name in files}:
                _fsync_dir(directory)
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
    return {**files, MANIFEST: json_file(manifest)}
