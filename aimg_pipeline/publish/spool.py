"""Large artifact files kept in anonymous temporary files instead of memory.

At 1M claims ``claims.json`` alone is ~1.6 GB; holding it (and the tree and the CSV) as
``bytes`` while the folder is written and verified took the process past 6 GB. Each file is
hashed and spooled once, in the publish root, and later linked into the epoch folder
(``O_TMPFILE`` + ``linkat``) instead of copied.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aimg_pipeline.publish.layout import file_sha256, sha256

_THREADED = 4 << 20  # bytes: a file this large is written on a second thread


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
        pieces = iter(pieces)
        # A small file (a proof shard of a small epoch) is written here, whole; a large
        # one's pieces are hashed and written by a second thread (both release the GIL)
        # while the next piece is being rendered.
        head: list[bytes] = []
        for piece in pieces:
            head.append(_bytes(piece))
            size += len(head[-1])
            if size >= _THREADED:
                break
        if size < _THREADED:  # every piece was read
            self._absorb(digest, b"".join(head))
        else:
            with ThreadPoolExecutor(max_workers=1) as writer:
                pending: Future[None] = writer.submit(self._absorb, digest, b"".join(head))
                del head
                for piece in pieces:
                    data = _bytes(piece)
                    pending.result()
                    pending = writer.submit(self._absorb, digest, data)
                    size += len(data)
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
        return path.stat().st_size == self.size and file_sha256(path) == self.sha256


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


def _bytes(piece: bytes | str) -> bytes:
    return piece.encode() if isinstance(piece, str) else piece


def file_bytes(value: bytes | Artifact) -> bytes:
    return value.read_bytes() if isinstance(value, Artifact) else value


def file_digest(value: bytes | Artifact) -> str:
    return value.sha256 if isinstance(value, Artifact) else sha256(value)
