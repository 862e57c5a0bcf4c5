"""Files read in blocks: one buffer per file that the readers parse in place, every byte
sha256'd on another thread from the same blocks (``Hasher``), and a reader run one block ahead
of what consumes it (``ahead``)."""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Malformed


class Hasher:
    """sha256 of the files, fed the blocks the readers read (one read per file), on another
    thread (hashlib releases the GIL); each block is given back once hashed."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        self.digests: dict[str, Any] = {}
        self.complete: set[str] = set()  # fed the whole file (not cut short by an error)

    def start(self, name: str) -> Any:
        digest = self.digests[name] = hashlib.sha256()
        return digest

    def feed(self, digest: Any, data: memoryview) -> Future[None]:
        return self.pool.submit(digest.update, data)

    def whole_file(self, path: Path) -> Future[str]:
        def run() -> str:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                while block := handle.read(8 << 20):
                    digest.update(block)
            return digest.hexdigest()
        return self.pool.submit(run)


FRONT = 128  # readable bytes before a block's data (right-aligned decimal windows)
_BACK = 256  # and after it (windows past a token's end)
BLOCK = 32 << 20  # bytes read at a time
_MAX_ENTRY = 256 << 20  # one claim (or tree value) this large is not one


class Blocks:
    """A file read in blocks of ``BLOCK`` bytes (a smaller file: its size and one) into one
    buffer, each new block placed after what the previous one left over (``keep``); every
    byte is fed to the hasher once. The data sits at ``buf[FRONT:hi]``, with spaces
    (whitespace to any reader) before and after it, so that fixed-width windows may run past
    a string's ends."""

    def __init__(self, path: Path, hasher: Hasher) -> None:
        self.path, self.hasher = path, hasher
        self.digest = hasher.start(path.name)
        # a small file (a proof shard of a small epoch) gets a buffer its size, not 32 MiB:
        # filling 256 such buffers took longer than reading the shards
        try:
            self.block = min(BLOCK, path.stat().st_size + 1)
        except OSError:  # reported when it is opened
            self.block = BLOCK
        self.buf = bytearray(b" ") * (FRONT + self.block + _BACK)
        self.carry, self.base, self.dirty, self.hi = 0, -FRONT, FRONT, FRONT
        self.final = False
        self.pending: Future[None] | None = None
        self.handle: Any = None

    def __enter__(self) -> Blocks:
        self.handle = open(self.path, "rb", buffering=0)  # noqa: SIM115 (closed in __exit__)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pending is not None:
            self.pending.result()
        if self.final and exc[0] is None:
            self.hasher.complete.add(self.path.name)
        self.handle.close()

    def read(self) -> np.ndarray:
        """The next block (after what was kept) as an array over the whole buffer."""
        if self.pending is not None:
            self.pending.result()  # the hasher is done with the buffer
        carry, block = self.carry, self.block
        if FRONT + carry + block + _BACK > len(self.buf):
            grown = bytearray(b" ") * (FRONT + carry + block + _BACK)
            grown[FRONT:FRONT + carry] = self.buf[FRONT:FRONT + carry]
            self.buf, self.dirty = grown, FRONT + carry
        view = memoryview(self.buf)
        got = 0
        while got < block:
            n = self.handle.readinto(view[FRONT + carry + got:FRONT + carry + block])
            if not n:
                break
            got += n
        self.final = got < block
        self.pending = self.hasher.feed(self.digest, view[FRONT + carry:FRONT + carry + got])
        self.hi = hi = FRONT + carry + got
        if hi < self.dirty:  # the previous block's bytes beyond this one's data
            self.buf[hi:self.dirty] = b" " * (self.dirty - hi)
        self.dirty = hi
        return np.frombuffer(self.buf, np.uint8)

    def keep(self, cut: int) -> None:
        """Carry ``buf[cut:hi]`` over to the next block (``FRONT``: all of this one)."""
        if self.pending is not None:
            self.pending.result()
        self.carry = self.hi - cut
        if self.carry > _MAX_ENTRY:
            raise Malformed(f"an entry near byte {self.base + cut} is over "
                            f"{_MAX_ENTRY >> 20} MiB")
        if cut != FRONT:
            self.buf[FRONT:FRONT + self.carry] = self.buf[cut:self.hi]
            self.base += cut - FRONT


def ahead(make: Callable[[], Generator[Any, None, Any]], depth: int = 2
           ) -> Generator[Any, None, Any]:
    """The items of ``make()``, produced on another thread up to ``depth`` items ahead of the
    consumer (numpy releases the GIL in its large operations, so producing and consuming
    overlap on two cores); its return value and exceptions are passed on."""
    results: queue.Queue[tuple[str, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            items = make()
            try:
                while not stop.is_set():
                    try:
                        item = next(items)
                    except StopIteration as done:
                        results.put(("done", done.value))
                        return
                    while not stop.is_set():
                        try:
                            results.put(("item", item), timeout=0.1)
                            break
                        except queue.Full:
                            continue
            finally:
                items.close()
        except BaseException as exc:  # noqa: BLE001 (re-raised in the consumer)
            results.put(("error", exc))

    thread = threading.Thread(target=produce, name="aimg-verify-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = results.get()
            if kind == "item":
                yield value
            elif kind == "done":
                return value
            else:
                raise value
    finally:
        stop.set()
        while thread.is_alive():  # let the producer see the stop and end
            with contextlib.suppress(queue.Empty):
                results.get(timeout=0.1)
        thread.join()
