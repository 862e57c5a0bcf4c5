"""keccak256 through a public API, many records at a time (half of a large batch in a helper
process), and the EIP-55 checksum built on it.

keccak256 is safe-pysha3's ``sha3.keccak_256``, else pycryptodome's ``Crypto.Hash.keccak.new``;
either is checked against the digest of ``b""`` on import (never SHA3-256 by mistake).
"""

from __future__ import annotations

import binascii
import contextlib
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

_EMPTY_KECCAK = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"

# _digest(_new(data)) is keccak256(data). safe-pysha3 (a dev dependency): C keccak, ~4x
# pycryptodome's per-call speed.
_new: Callable[[bytes], Any]
_digest: Callable[[Any], bytes]
try:
    import sha3

    if sha3.keccak_256(b"").hexdigest() != _EMPTY_KECCAK:  # never SHA3-256 by mistake
        raise ImportError("sha3.keccak_256 is not keccak256")
    _new, _digest = sha3.keccak_256, sha3.keccak_256.digest
except ImportError:
    from Crypto.Hash import keccak as _keccak

    def _new(data: bytes) -> Any:
        return _keccak.new(digest_bits=256, data=data)

    _digest = _keccak.Keccak_Hash.digest


def keccak256(data: bytes) -> bytes:
    """The Ethereum keccak256 digest of ``data`` (original Keccak padding, not SHA3-256)."""
    return _digest(_new(data))


def keccak_rows(data: bytes | memoryview, width: int) -> bytes:
    """keccak256 of every ``width``-byte record of ``data``, the digests concatenated: the
    one per-item Python loop of the verification (about 4 calls per claim)."""
    records = np.frombuffer(data, f"V{width}")
    out = []
    for start in range(0, len(records), 1 << 16):  # bytes objects for 64K records at a time
        chunk = records[start:start + (1 << 16)].tolist()
        out.append(b"".join(map(_digest, map(_new, chunk))))  # no Python frame per call
    return b"".join(out)


if keccak256(b"").hex() != _EMPTY_KECCAK:  # pragma: no cover - a broken hash library
    raise ImportError("keccak256 self-test failed")

# A helper process running keccak_rows over what it is sent: (width, size) as two 8-byte
# little-endian numbers, then size bytes; it answers with the digests.
HELPER = r"""
import sys
try:
    import sha3
    new = sha3.keccak_256
    def digest(data):
        return new(data).digest()
except ImportError:
    from Crypto.Hash import keccak
    def digest(data):
        return keccak.new(digest_bits=256, data=data).digest()
source, sink = sys.stdin.buffer, sys.stdout.buffer
while len(head := source.read(16)) == 16:
    width, size = int.from_bytes(head[:8], "little"), int.from_bytes(head[8:], "little")
    data = source.read(size)
    sink.write(b"".join([digest(data[i:i + width]) for i in range(0, size, width)]))
    sink.flush()
"""
SPLIT = 200_000  # records: below this, hashing stays in this process


class Keccak:
    """``keccak_rows`` on two cores: a large batch is split, the second half hashed by a
    helper process (the same interpreter and public keccak API, started once per
    verification) while this one hashes the first. Each keccak call holds the GIL, so threads
    could not share the work; meanwhile the other threads' numpy, pyarrow and hashlib work
    also gets the GIL more often. The helper answers a known digest before it is used; if it
    cannot be started or fails, everything is hashed here."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.usable = bool(sys.executable)

    def _ask(self, data: memoryview, width: int) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(width.to_bytes(8, "little") + len(data).to_bytes(8, "little"))
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def _answer(self, size: int) -> bytes:
        assert self.process is not None and self.process.stdout is not None
        answer = self.process.stdout.read(size)
        if len(answer) != size:
            raise OSError("the keccak helper stopped")
        return answer

    def _helper(self) -> subprocess.Popen[bytes] | None:
        if self.process is None and self.usable:
            try:
                self.process = subprocess.Popen([sys.executable, "-c", HELPER],
                                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                stderr=subprocess.DEVNULL)
                self._ask(memoryview(b"abc"), 3)
                if self._answer(32) != keccak256(b"abc"):
                    raise OSError("the keccak helper computes something else")
            except OSError:
                self.close()
                self.usable = False
        return self.process

    def rows(self, data: bytes | memoryview, width: int) -> bytes:
        data = memoryview(data)
        n = len(data) // width
        if n < SPLIT or self._helper() is None:
            return keccak_rows(data, width)
        half = n // 2 * width
        try:
            self._ask(data[half:], width)
        except OSError:
            self.close()
            self.usable = False
            return keccak_rows(data, width)
        mine = keccak_rows(data[:half], width)
        try:
            return mine + self._answer((n - n // 2) * 32)
        except OSError:
            self.close()
            self.usable = False
            return mine + keccak_rows(data[half:], width)

    def close(self) -> None:
        if self.process is not None:
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe is not None:
                    # a helper that died: flushing its stdin again breaks the pipe again
                    with contextlib.suppress(OSError):
                        pipe.close()
            self.process.wait()
            self.process = None


def eip55_checksummed(hex40: np.ndarray,
                      hasher: Callable[[memoryview, int], bytes] = keccak_rows) -> np.ndarray:
    """EIP-55: which (m, 40) address texts (without ``0x``) are their checksummed form. A hex
    letter is uppercase exactly when the matching nibble of keccak256(lowercase text) is >= 8,
    i.e. when that digest's hex digit is one of 8-9a-f (>= '8' in ASCII)."""
    if not len(hex40):
        return np.ones(0, bool)
    lower = np.ascontiguousarray(hex40 | 0x20)
    digest = np.frombuffer(binascii.hexlify(hasher(memoryview(lower.reshape(-1)), 40)),
                           np.uint8)
    high = digest.reshape(len(hex40), 64)[:, :40] >= 0x38
    expected = np.where((lower >= 0x61) & high, lower - 0x20, lower)
    return (expected == hex40).all(axis=1)
