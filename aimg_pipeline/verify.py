"""``aimg verify``: check a published epoch folder on its own (SPEC 7 and 9).

Independence is the point of this module. It imports nothing from the code that builds and
publishes the folder (``publish``, ``lib.merkle``, ``lib.merkle_json`` or any other module of
the project): the files are read with its own JSON reader; keccak256 comes from a public API
(safe-pysha3's ``sha3.keccak_256``, else pycryptodome's ``Crypto.Hash.keccak.new``); EIP-55,
the ABI encoding and OpenZeppelin's ``StandardMerkleTree`` for ``["address", "uint256"]``
leaves (``@openzeppelin/merkle-tree`` 1.0.8: ``src/core.ts``, ``src/hashes.ts``,
``src/standard.ts``, ``src/merkletree.ts``) are written out again here. A bug in the renderer
therefore cannot also sit in the check meant to catch it. The tree is rebuilt from the dump's
*values* only, and every proof in ``claims.json`` is checked against that rebuilt root;
nothing is skipped because a file looks like what the publisher writes.

Checks (every problem is reported, together, in one ``VerifyError`` naming the folder):

* ``manifest.json`` lists ``merkle_tree.json``, ``claims.json`` and ``allocations.csv``; every
  listed file exists and has the listed sha256; the folder name ``epoch-NNNNN`` (when it has
  that form) and the ``epoch`` argument agree with the manifest's epoch.
* ``merkle_tree.json`` is a ``standard-v1`` dump with leafEncoding ``["address", "uint256"]``:
  accounts EIP-55, amounts canonical decimals below 2**256, no account twice; the root rebuilt
  from the values equals ``tree[0]`` and the manifest's ``merkle_root``; the dump's ``tree``
  array equals the rebuilt one; each value's ``treeIndex`` points at its leaf, where the
  sorted-leaf layout puts it.
* ``claims.json``: epoch and root as in the manifest and the rebuilt tree, accounts EIP-55,
  amounts canonical decimal strings, its (account, amount) pairs exactly the dump's values,
  and every proof verifying against the rebuilt root with ``MerkleProof.verify`` semantics
  (how, and why that is the same thing: ``_ClaimCheck``).
* totals: claims sum = ``claims.json`` total = manifest total; claim count = manifest
  ``accounts``; ``allocations.csv`` (header ``epoch,channel,pool,account,weight,amount,
  reason``) has ``allocation_rows`` rows, all for this epoch, none negative, summing to the
  emission and per channel to ``totals_by_channel``.
* against ``../epoch-{n-1:05d}`` when it lies beside the folder: its ``claims.json`` and
  ``merkle_tree.json`` match its own manifest's sha256s; no cumulative amount went down;
  total = previous total + emission; each account's claim = its previous claim + its
  allocations this epoch (accounts at 0 count as absent). The previous claims are read from
  that epoch's tree dump (see ``previous``). For epoch 0 the claims must equal the
  allocations.

Scale: at 1M claims ``claims.json`` is ~1.6 GB (20 proof elements a claim); ``json.loads``
would make many GB of Python objects of it. The JSON files are read in blocks, with bounded
memory, by one of two readers that give the same columns: ``_canonical_claims`` and
``_canonical_dump`` for the published layout (``json.dumps(indent=2)``: fixed bytes checked
at computed offsets), and ``_JsonReader``, a tokenizer on numpy arrays for any other JSON
whitespace and key order (no backslash escapes: no string in these files needs one, they
are hex, decimals, addresses and key names). Values become columns (hex as byte rows,
amounts as base-10**8 limbs) folded, block by block, into one row per account of the tree;
nothing is kept per proof element. Each file is read once and hashed from the same blocks on
another thread; the previous epoch's files and allocations.csv are read on a third while
this one rebuilds the tree, half of whose keccak calls run in a helper process
(``_Keccak``), and claims.json is read one block ahead of its checks (``_ahead``). At 1M
claims this takes about 21 s and 1.1 GiB on two cores.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import json
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["ARTIFACTS", "MANIFEST", "VerifyError", "keccak256", "verify"]

MANIFEST = "manifest.json"
TREE_FILE = "merkle_tree.json"
CLAIMS_FILE = "claims.json"
ALLOCATIONS_FILE = "allocations.csv"
ARTIFACTS = (TREE_FILE, CLAIMS_FILE, ALLOCATIONS_FILE)
CSV_HEADER = ("epoch", "channel", "pool", "account", "weight", "amount", "reason")
_FOLDER_NAME = re.compile(r"^epoch-(\d{5})$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")
_FOLD_SAMPLE = 4096  # claims whose proofs are also hash-folded in full (all, below that)


class VerifyError(RuntimeError):
    """A published folder does not hold up on its own."""


class _Malformed(ValueError):
    """A file cannot be read as what it must be; the message says where and why."""


# --------------------------------------------------------------------------------------------
# keccak256 through a public API
# --------------------------------------------------------------------------------------------

_EMPTY_KECCAK = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"

try:  # safe-pysha3 (a dev dependency): C keccak, ~4x pycryptodome's per-call speed
    import sha3 as _pysha3

    if _pysha3.keccak_256(b"").hexdigest() != _EMPTY_KECCAK:  # never SHA3-256 by mistake
        _pysha3 = None
except ImportError:
    _pysha3 = None


def keccak256(data: bytes) -> bytes:
    """The Ethereum keccak256 digest of ``data`` (original Keccak padding, not SHA3-256)."""
    if _pysha3 is not None:
        return _pysha3.keccak_256(data).digest()
    from Crypto.Hash import keccak

    return keccak.new(digest_bits=256, data=data).digest()


def _keccak_rows(data: bytes | memoryview, width: int) -> bytes:
    """keccak256 of every ``width``-byte record of ``data``, the digests concatenated: the
    one per-item Python loop of the verification (about 4 calls per claim)."""
    records = np.frombuffer(data, f"V{width}")
    out = []
    for start in range(0, len(records), 1 << 16):  # bytes objects for 64K records at a time
        chunk = records[start:start + (1 << 16)].tolist()
        if _pysha3 is not None:
            k = _pysha3.keccak_256
            out.append(b"".join(map(k.digest, map(k, chunk))))  # no Python frame per call
        else:
            from Crypto.Hash import keccak

            new = keccak.new
            out.append(b"".join([new(digest_bits=256, data=record).digest()
                                 for record in chunk]))
    return b"".join(out)


if keccak256(b"").hex() != _EMPTY_KECCAK:  # pragma: no cover - a broken hash library
    raise ImportError("keccak256 self-test failed")

# A helper process running _keccak_rows over what it is sent: (width, size) as two 8-byte
# little-endian numbers, then size bytes; it answers with the digests.
_HELPER = r"""
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
_SPLIT = 200_000  # records: below this, hashing stays in this process


class _Keccak:
    """``_keccak_rows`` on two cores: a large batch is split, the second half hashed by a
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
                self.process = subprocess.Popen([sys.executable, "-c", _HELPER],
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
        if n < _SPLIT or self._helper() is None:
            return _keccak_rows(data, width)
        half = n // 2 * width
        try:
            self._ask(data[half:], width)
        except OSError:
            self.close()
            self.usable = False
            return _keccak_rows(data, width)
        mine = _keccak_rows(data[:half], width)
        try:
            return mine + self._answer((n - n // 2) * 32)
        except OSError:
            self.close()
            self.usable = False
            return mine + _keccak_rows(data[half:], width)

    def close(self) -> None:
        if self.process is not None:
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe is not None:
                    pipe.close()
            self.process.wait()
            self.process = None


# --------------------------------------------------------------------------------------------
# rows of bytes: gathering, hex, decimal limbs
# --------------------------------------------------------------------------------------------

_LIMB = 10**8
_LIMBS = 10  # 80 decimal digits: a uint256 has at most 78
_LIMB_DIGITS = 8  # one uint64 of ASCII digits (see _decimals)
_UINT256_DIGITS = 78
_LIMB_TYPE = np.uint32  # stored limbs (< 10**8); sums are taken in int64


def _rows(arr: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """``arr[s:s + width]`` for every start, as one (m, width) array (one row copy each)."""
    return sliding_window_view(arr, width)[starts]


_ALL_TRUE = {1: np.uint8(1), 2: np.uint16(0x0101), 4: np.uint32(0x01010101),
             8: np.uint64(0x0101010101010101)}


def _same_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise equality of two (m, k) arrays: ``(a == b).all(axis=1)``, which numpy reduces
    slowly over short rows, taken instead through each bool row's bytes as one integer."""
    equal = a == b
    k = equal.shape[1]
    if k in _ALL_TRUE:
        return np.ascontiguousarray(equal).view(f"u{k}").ravel() == _ALL_TRUE[k]
    return equal.all(axis=1)


def _hex_valid(rows: np.ndarray) -> np.ndarray:
    """Which rows are hex digits only (either case)."""
    low = rows | 0x20  # lowers A-F, leaves digits; nothing else lands on 0-9 or a-f
    return (((rows >= 0x30) & (rows <= 0x39)) | ((low >= 0x61) & (low <= 0x66))).all(axis=1)


def _unhex(rows: np.ndarray) -> np.ndarray:
    """(m, 2k) valid hex text (either case) -> (m, k) bytes."""
    m, w = rows.shape
    raw = binascii.unhexlify(np.ascontiguousarray(rows).tobytes())
    return np.frombuffer(raw, np.uint8).reshape(m, w // 2)


_HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)


def _decimals(arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Decimal texts ``arr[s:s + n]`` as base-10**8 limbs, most significant first:
    ``((m, 10) int64, valid (m,))``, valid meaning 1 to 78 digits and no leading zero (what
    ``str(int)`` writes). ``arr`` must be readable 80 bytes before every text's end.

    Each text is read right-aligned and '0'-padded into 8-byte words, and each word of 8 ASCII
    digits checked and converted on the word itself (the SWAR steps of simdjson's
    ``is_made_of_eight_digits_fast`` and ``parse_eight_digits_unrolled``): a few integer
    operations per 8 digits, for only as many words as the longest text needs.
    """
    m = len(starts)
    limbs = np.zeros((m, _LIMBS), np.int64)
    if m == 0:
        return limbs, np.ones(0, bool)
    clipped = np.clip(lengths, 0, _LIMBS * _LIMB_DIGITS)
    used = max(1, -(-int(clipped.max()) // _LIMB_DIGITS))
    width = used * _LIMB_DIGITS
    rows = _rows(arr, starts + lengths - width, width)
    lead = rows[np.arange(m), np.clip(width - clipped, 0, width - 1)]
    rows = np.where(np.arange(width) < (width - clipped)[:, None], np.uint8(0x30), rows)
    words = rows.view("<u8")  # byte 0 (the most significant digit) lowest
    digits = ((words & _HIGH_NIBBLES)
              | (((words + np.uint64(0x0606060606060606)) & _HIGH_NIBBLES) >> np.uint64(4))
              ) == np.uint64(0x3333333333333333)
    valid = ((lengths >= 1) & (lengths <= _UINT256_DIGITS) & digits.all(axis=1)
             & ((lengths == 1) | (lead != 0x30)))
    words = ((words & np.uint64(0x0F0F0F0F0F0F0F0F)) * np.uint64(2561)) >> np.uint64(8)
    words = ((words & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(6553601)) >> np.uint64(16)
    words = ((words & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(42949672960001)
             ) >> np.uint64(32)
    limbs[:, _LIMBS - used:] = words
    return limbs, valid


def _normalize(limbs: np.ndarray) -> np.ndarray:
    """Carry int64 sums of limbs back into ``[0, 10**8)`` per limb (in place; returned)."""
    for j in range(_LIMBS - 1, 0, -1):
        carry = limbs[:, j] // _LIMB
        if carry.any():
            limbs[:, j] -= carry * _LIMB
            limbs[:, j - 1] += carry
    return limbs


def _int(limbs: np.ndarray) -> int:
    """One row of limbs (or a column sum, carries not yet taken) as a Python int."""
    value = 0
    for limb in limbs.tolist():
        value = value * _LIMB + int(limb)
    return value


def _greater(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise ``a > b`` for normalized limbs."""
    differ = a != b
    first = differ.argmax(axis=1)
    rows = np.arange(len(a))
    return differ.any(axis=1) & (a[rows, first] > b[rows, first])


def _uint256_words(limbs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m, 32) big-endian bytes of each amount (its ABI ``uint256`` word), and which fit in
    256 bits: long divisions by 2**32 of the base-10**8 digits, on whole columns, skipping
    the leading limbs that are zero everywhere."""
    m = len(limbs)
    words = np.zeros((m, 8), dtype=">u4")
    if m == 0:
        return words.view(np.uint8).reshape(0, 32), np.ones(0, bool)
    nonzero = np.flatnonzero(limbs.any(axis=0))
    lead = int(nonzero[0]) if len(nonzero) else _LIMBS
    rest = limbs[:, lead:].astype(np.uint64)
    for w in range(7, -1, -1):
        if not rest.any():
            break
        remainder = np.zeros(m, np.uint64)
        for j in range(rest.shape[1]):
            current = remainder * np.uint64(_LIMB) + rest[:, j]
            rest[:, j] = current >> np.uint64(32)
            remainder = current & np.uint64(0xFFFFFFFF)
        words[:, w] = remainder
    return words.view(np.uint8).reshape(m, 32), ~rest.any(axis=1)


def _sum_into(total: np.ndarray, where: np.ndarray, limbs: np.ndarray) -> None:
    """``total[where[i]] += limbs[i]`` (int64 limbs, repeated indices added up), only over
    the limb columns that are not zero everywhere."""
    for j in np.flatnonzero(limbs.any(axis=0)).tolist():
        column = np.zeros(len(total), np.int64)
        np.add.at(column, where, limbs[:, j])
        total[:, j] += column


# --------------------------------------------------------------------------------------------
# hashing on a second thread
# --------------------------------------------------------------------------------------------


class _Hasher:
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


# --------------------------------------------------------------------------------------------
# JSON, read in blocks on arrays
# --------------------------------------------------------------------------------------------

# token kinds
_OBJ, _END_OBJ, _ARR, _END_ARR, _COLON, _COMMA, _STR, _NUM = range(1, 9)
_BAD, _ESCAPE = 9, 10
_PLAIN = 0x80  # class of the bytes strings and numbers are made of (0: whitespace; the
# others are below 0x80: the structural characters, a quote, a backslash, anything else)
_KIND_NAMES = {_OBJ: "'{'", _END_OBJ: "'}'", _ARR: "'['", _END_ARR: "']'", _COLON: "':'",
               _COMMA: "','", _STR: "a string", _NUM: "a number"}
_OBJECT, _ARRAY = 1, 2  # container types
# what the grammar expects after a token
_START, _FIRST, _AFTER_KEY, _VALUE, _SEP, _NEXT, _END = range(7)

_CLASS = bytearray([_BAD]) * 256
for _c in b" \t\n\r":
    _CLASS[_c] = 0
for _c in b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_+-.":
    _CLASS[_c] = _PLAIN
for _c, _k in zip(b'{}[]:,"\\', (_OBJ, _END_OBJ, _ARR, _END_ARR, _COLON, _COMMA, _STR, _ESCAPE),
                  strict=True):
    _CLASS[_c] = _k
_CLASS_TABLE = bytes(_CLASS)
_SUB = 1 << 20  # bytes classified at a time (cache-sized: twice the speed of 32 MB at once)

_VALUE_KINDS = (_STR, _NUM, _OBJ, _ARR)
_ALLOWED = np.zeros((7, 3, 9), dtype=bool)  # [state before, container type, kind]
_ALLOWED[_START, 0, [_OBJ, _ARR]] = True
_ALLOWED[_FIRST, _OBJECT, [_STR, _END_OBJ]] = True
_ALLOWED[_FIRST, _ARRAY, [*_VALUE_KINDS, _END_ARR]] = True
_ALLOWED[_AFTER_KEY, _OBJECT, _COLON] = True
_ALLOWED[_VALUE, _OBJECT, _VALUE_KINDS] = True
_ALLOWED[_SEP, _OBJECT, [_COMMA, _END_OBJ]] = True
_ALLOWED[_SEP, _ARRAY, [_COMMA, _END_ARR]] = True
_ALLOWED[_NEXT, _OBJECT, _STR] = True
_ALLOWED[_NEXT, _ARRAY, _VALUE_KINDS] = True
_ALLOWED_FLAT = _ALLOWED.reshape(-1)
_STATE_AFTER = np.array([0, _FIRST, _SEP, _FIRST, _SEP, _VALUE, _NEXT, _SEP, _SEP], np.uint8)
_DELTA = np.array([0, 1, -1, 1, -1, 0, 0, 0, 0], np.int64)
_KEY_BEFORE = np.zeros(7, bool)
_KEY_BEFORE[[_FIRST, _NEXT]] = True  # a string in an object after these is a key

_FRONT = 128  # readable bytes before a block's data (right-aligned decimal windows)
_BACK = 256  # and after it (windows past a token's end)
_BLOCK = 32 << 20
_MAX_ENTRY = 256 << 20  # one claim (or tree value) this large is not one


class _Blocks:
    """A file read in blocks of ``_BLOCK`` bytes into one buffer, each new block placed after
    what the previous one left over (``keep``); every byte is fed to the hasher once. The data
    sits at ``buf[_FRONT:hi]``, with spaces (whitespace to any reader) before and after it, so
    that fixed-width windows may run past a string's ends."""

    def __init__(self, path: Path, hasher: _Hasher) -> None:
        self.path, self.hasher = path, hasher
        self.digest = hasher.start(path.name)
        self.buf = bytearray(b" ") * (_FRONT + _BLOCK + _BACK)
        self.carry, self.base, self.dirty, self.hi = 0, -_FRONT, _FRONT, _FRONT
        self.final = False
        self.pending: Future[None] | None = None
        self.handle: Any = None

    def __enter__(self) -> _Blocks:
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
        carry = self.carry
        if _FRONT + carry + _BLOCK + _BACK > len(self.buf):
            grown = bytearray(b" ") * (_FRONT + carry + _BLOCK + _BACK)
            grown[_FRONT:_FRONT + carry] = self.buf[_FRONT:_FRONT + carry]
            self.buf, self.dirty = grown, _FRONT + carry
        view = memoryview(self.buf)
        got = 0
        while got < _BLOCK:
            n = self.handle.readinto(view[_FRONT + carry + got:_FRONT + carry + _BLOCK])
            if not n:
                break
            got += n
        self.final = got < _BLOCK
        self.pending = self.hasher.feed(self.digest, view[_FRONT + carry:_FRONT + carry + got])
        self.hi = hi = _FRONT + carry + got
        if hi < self.dirty:  # the previous block's bytes beyond this one's data
            self.buf[hi:self.dirty] = b" " * (self.dirty - hi)
        self.dirty = hi
        return np.frombuffer(self.buf, np.uint8)

    def keep(self, cut: int) -> None:
        """Carry ``buf[cut:hi]`` over to the next block (``_FRONT``: all of this one)."""
        if self.pending is not None:
            self.pending.result()
        self.carry = self.hi - cut
        if self.carry > _MAX_ENTRY:
            raise _Malformed(f"an entry near byte {self.base + cut} is over "
                             f"{_MAX_ENTRY >> 20} MiB")
        if cut != _FRONT:
            self.buf[_FRONT:_FRONT + self.carry] = self.buf[cut:self.hi]
            self.base += cut - _FRONT


@dataclass
class _Block:
    """One block's tokens in document order, positions indexing ``arr``. ``depth`` is the
    depth of the container a token is in (for ``{``/``[`` the one holding it, for ``}``/``]``
    the one they close); ``key`` marks the strings that are object keys; ``member`` is the
    top-level member (its index in the schema + 1) whose value holds the token."""

    arr: np.ndarray
    kind: np.ndarray
    start: np.ndarray
    end: np.ndarray
    depth: np.ndarray
    key: np.ndarray
    number: np.ndarray
    base: int  # file offset of arr[0]
    # the strings of the arrays of strings only, which are not tokens (see _pure_arrays):
    # their positions, and the token index of their array's '['
    item_start: np.ndarray
    item_end: np.ndarray
    item_array: np.ndarray
    member: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def items(self, depth: int, member: int) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of the strings that are elements of the arrays at ``depth`` of
        ``member``'s value, in document order, whether tokens or items."""
        mine = np.flatnonzero((self.depth[self.item_array] + 1 == depth)
                              & (self.member[self.item_array] == member))
        tokens = np.flatnonzero((self.kind == _STR) & (self.depth == depth)
                                & (self.member == member) & ~self.key)
        if not len(tokens):
            return self.item_start[mine], self.item_end[mine]
        starts = np.concatenate([self.item_start[mine], self.start[tokens]])
        ends = np.concatenate([self.item_end[mine], self.end[tokens]])
        order = np.argsort(starts, kind="stable")
        return starts[order], ends[order]

    def text(self, i: int) -> str:
        return bytes(self.arr[self.start[i] + 1:self.end[i] - 1]).decode("ascii")

    def offset(self, i: int) -> int:
        return self.base + int(self.start[i])


class _JsonReader:
    """A JSON file of one schema, streamed as ``_Block`` s of tokens.

    Bytes are classified in C (``bytes.translate``; ``np.flatnonzero`` finds the structural
    characters and quotes); everything after that works on tokens: quotes paired into strings
    (a backslash is refused, so every quote opens or closes one), depth by a running sum, and
    the grammar by a table of (state before, container type, token). That table is exact here
    because the schema fixes the container type at each depth: the parse stack then follows
    from the depth, and the state after a token from its kind and the token before it.

    Whitespace between tokens is checked by counting: the bytes that are neither whitespace
    nor structural must be the strings' contents plus the numbers, and numbers can only be
    object member values (the gap after a ``:``: the only place one is looked for). Strings
    hold no whitespace here (every string read is checked as hex, a decimal, an address or a
    key), so the count is exact; when it is off, every gap is scanned to say where.

    A block ends after a ``,``, ``{``, ``[``, ``}`` or ``]`` at depth <= ``cut_depth``: in both
    files between two claims / tree values, so a block holds whole entries. The top-level
    object's handful of members are read in Python (``top``); every file byte goes to the
    hasher.
    """

    def __init__(self, path: Path, containers: tuple[int, ...], members: dict[str, int],
                 cut_depth: int, hasher: _Hasher) -> None:
        self.path = path
        self.containers = np.array([0, *containers, 0], np.uint8)
        self.max_depth = len(containers)
        self.members = members  # top-level key -> the kind its value must be
        self.codes = {name: i + 1 for i, name in enumerate(members)}
        self.cut_depth = cut_depth
        self.hasher = hasher
        self.top: dict[str, tuple[int, Any]] = {}
        self._pending: str | None = None
        self._member = 0

    def blocks(self) -> Iterator[_Block]:
        depth, state = 0, _START
        with _Blocks(self.path, self.hasher) as blocks:
            while True:
                arr = blocks.read()
                parsed = self._tokens(blocks.buf, arr, blocks.hi, blocks.base, depth, state,
                                      blocks.final)
                if parsed is None:  # no place to end a block yet: read more onto this one
                    blocks.keep(_FRONT)
                    continue
                block, cut, depth, state = parsed
                block.member = self._members(block)
                yield block
                del block, arr
                if blocks.final:
                    return
                blocks.keep(cut)

    def _tokens(self, buf: bytearray, arr: np.ndarray, hi: int, base: int, depth: int,
                state: int, final: bool) -> tuple[_Block, int, int, int] | None:
        positions, codes, plain = [], [], 0
        for lo in range(_FRONT, hi, _SUB):
            classes = np.frombuffer(buf[lo:min(lo + _SUB, hi)].translate(_CLASS_TABLE), np.uint8)
            where = np.flatnonzero(classes.view(np.int8) > 0)  # not whitespace (0), not plain
            plain += np.count_nonzero(classes) - len(where)
            codes.append(classes[where])
            where += lo
            positions.append(where)
        pos = np.concatenate(positions) if positions else np.zeros(0, np.int64)
        code = np.concatenate(codes) if codes else np.zeros(0, np.uint8)
        bad = np.flatnonzero(code >= _BAD)
        if len(bad):
            at = int(pos[bad[0]])
            if code[bad[0]] == _ESCAPE:
                raise _Malformed(f"backslash at byte {base + at}: JSON escapes are not accepted "
                                 "(every string in this file is hex, a decimal, an address or "
                                 "a key name)")
            raise _Malformed(f"unexpected byte {bytes(arr[at:at + 1])!r} at byte {base + at}")
        quotes = np.flatnonzero(code == _STR)
        limit = len(pos)
        if len(quotes) % 2:
            if final:
                raise _Malformed(f"unterminated string at byte {base + int(pos[quotes[-1]])}")
            limit = int(quotes[-1])
            quotes = quotes[:-1]
        opens, closes = quotes[0::2], quotes[1::2]
        inner = np.flatnonzero(closes != opens + 1)
        if len(inner):
            at = int(pos[opens[inner[0]] + 1])
            raise _Malformed(f"{bytes(arr[at:at + 1]).decode()!r} inside a string at byte "
                             f"{base + at} (strings here are hex, decimals, addresses, keys)")
        keep = np.ones(limit, dtype=bool)
        keep[closes] = False
        runs, inside = _pure_arrays(code[:limit])
        keep[inside] = False
        kept = np.flatnonzero(keep)
        ends = pos[:limit] + 1
        ends[opens] = pos[closes] + 1
        start, end, kind = pos.take(kept), ends.take(kept), code.take(kept)
        # the arrays' items: every third special from the '[' on is an open quote
        sizes = (runs[1] - runs[0]) // 3
        first_quote = np.repeat(runs[0] + 1 - 3 * (np.cumsum(sizes) - sizes), sizes) + \
            3 * np.arange(int(sizes.sum()))
        item_start, item_end = pos[first_quote], pos[first_quote + 1] + 1
        item_array = np.repeat(runs[0], sizes)  # special index of the '[', for now
        item_array = np.searchsorted(kept, item_array)  # now its token index
        number = np.zeros(len(kind), np.int64)
        colons = np.flatnonzero(kind[:-1] == _COLON)
        if len(colons):  # numbers: only as member values, i.e. right after a ':'
            where, first, length = _gap_contents(arr, end[colons], start[colons + 1] - end[colons],
                                                 base)
            if len(where):
                values = _integers(arr, first, length, base)
                at = colons[where] + 1
                start = np.insert(start, at, first)
                end = np.insert(end, at, first + length)
                kind = np.insert(kind, at, _NUM)
                number = np.insert(number, at, values)
                item_array += np.searchsorted(at, item_array, side="right")
        if not len(kind):
            if final:
                raise _Malformed("no JSON document" if state == _START
                                 else f"truncated at byte {base + hi}")
            return None
        delta = _DELTA.take(kind)
        after = np.cumsum(delta)
        after += depth
        level = after - delta
        if after.min() < 0:
            raise _Malformed("unbalanced brackets")
        level_c = np.minimum(level, self.max_depth + 1)
        ctype = self.containers.take(level_c)
        states = _STATE_AFTER.take(kind)
        closing_all = np.flatnonzero(after == 0)
        states[closing_all] = _END
        before = np.empty(len(kind), np.uint8)
        before[0] = state
        before[1:] = states[:-1]
        key = (kind == _STR) & (ctype == _OBJECT) & _KEY_BEFORE.take(before)
        states[key] = _AFTER_KEY
        before[1:] = states[:-1]
        ok = _ALLOWED_FLAT.take((before.astype(np.int64) * 3 + ctype) * 9 + kind)
        opening = np.flatnonzero(delta > 0)
        if len(opening):
            inner_type = self.containers.take(np.minimum(level_c[opening] + 1, self.max_depth + 1))
            ok[opening] &= inner_type == np.where(kind[opening] == _OBJ, _OBJECT, _ARRAY)
        wrong = np.flatnonzero(~ok)
        if len(wrong):
            i = int(wrong[0])
            where_text = ("after the document" if before[i] == _END
                          else f"at depth {level[i]}")
            raise _Malformed(f"unexpected {_KIND_NAMES[int(kind[i])]} at byte "
                             f"{base + int(start[i])} ({where_text}; not this file's layout)")
        if final:
            if states[-1] != _END:
                raise _Malformed(f"truncated at byte {base + hi}")
            cut = len(kind) - 1
        else:
            can = np.flatnonzero(((delta != 0) | (kind == _COMMA)) & (after <= self.cut_depth))
            if not len(can):
                return None
            cut = int(can[-1])
        n = cut + 1
        boundary = int(end[cut])
        # the plain bytes up to the cut: the contents of the strings before it, and numbers
        strings = opens[:np.searchsorted(pos[opens], boundary)]
        expected = int(np.sum(ends[strings] - pos[strings] - 2))
        mine = kind[:n] == _NUM
        expected += int(np.sum((end[:n] - start[:n])[mine]))
        if boundary < hi and not final:  # read again with the next block (at the end: must
            # be whitespace, so it stays counted)
            tail = np.frombuffer(bytes(buf[boundary:hi]).translate(_CLASS_TABLE), np.uint8)
            plain -= int(np.count_nonzero(tail == _PLAIN))
        if plain != expected:
            _locate_stray(arr, start[:n], end[:n], kind[:n], hi if final else None, base)
        items = item_array < n
        block = _Block(arr, kind[:n], start[:n], end[:n], level[:n], key[:n], number[:n], base,
                       item_start[items], item_end[items], item_array[items])
        return block, boundary, int(after[cut]), int(states[cut])

    def _members(self, block: _Block) -> np.ndarray:
        """Read the top-level members (depth 1, a handful of tokens) and say, per token, which
        member's value holds it."""
        top = np.flatnonzero(block.depth == 1)
        opens = []
        for i in top.tolist():
            kind = int(block.kind[i])
            if block.key[i]:
                name = block.text(i)
                if name not in self.members:
                    raise _Malformed(f"unexpected key {name[:40]!r} at byte {block.offset(i)}")
                if name in self.top or name == self._pending:
                    raise _Malformed(f"key {name!r} twice")
                self._pending = name
            elif kind in _VALUE_KINDS:
                name = self._pending or ""
                self._pending = None
                if kind != self.members[name]:
                    raise _Malformed(f"{name!r} must be {_KIND_NAMES[self.members[name]]}, "
                                     f"not {_KIND_NAMES[kind]}")
                value: Any = None
                if kind == _STR:
                    value = block.text(i)
                elif kind == _NUM:
                    value = int(block.number[i])
                self.top[name] = (kind, value)
                if kind in (_OBJ, _ARR):
                    opens.append((i, self.codes[name]))
        if not opens:
            return np.full(len(block.kind), self._member, np.int64)
        at = np.array([i for i, _ in opens])
        codes = np.array([c for _, c in opens])
        j = np.searchsorted(at, np.arange(len(block.kind)), side="right") - 1
        member = np.where(j >= 0, codes[np.maximum(j, 0)], self._member)
        self._member = int(codes[-1])
        return member

    def finish(self) -> None:
        missing = [m for m in self.members if m not in self.top]
        if missing:
            raise _Malformed(f"no {', '.join(repr(m) for m in missing)}")


def _pure_arrays(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The arrays of strings, found among the specials (quotes and structural characters):
    ``[``, then quote, quote (``,`` quote, quote)*, then ``]``. Proofs, the dump's ``tree`` and
    its [account, amount] pairs are such arrays, and their strings would be four fifths of
    all tokens: they are taken out of the token stream (the grammar sees ``[ ]``) and handed
    over as items instead. Returns the (``[``, ``]``) special indices of each non-empty one
    (2, r) and the indices of the specials inside them."""
    empty = np.zeros((2, 0), np.int64), np.zeros(0, np.int64)
    opens = np.flatnonzero(code == _ARR)
    closes = np.flatnonzero(code == _END_ARR)
    if not len(opens) or not len(closes):
        return empty
    following = np.searchsorted(closes, opens)
    has = following < len(closes)
    a, b = opens[has], closes[following[has]]
    next_open = np.append(opens[1:], len(code))[has]
    span = b - a - 1
    chosen = (next_open > b) & (span > 0) & ((span + 1) % 3 == 0)  # no '[' inside
    a, b = a[chosen], b[chosen]
    for check in (True, False):
        if not len(a):
            return empty
        lengths = b - a - 1
        offsets = np.cumsum(lengths) - lengths
        run = np.repeat(np.arange(len(a)), lengths)
        inside = np.arange(int(lengths.sum())) - offsets[run] + (a + 1)[run]
        if not check:
            break
        phase = (inside - (a + 1)[run]) % 3
        bad = code[inside] != np.where(phase == 2, _COMMA, _STR)
        if not bad.any():
            break
        good = np.ones(len(a), bool)
        good[run[bad]] = False  # not an array of strings after all: left to the grammar
        a, b = a[good], b[good]
    return np.stack([a, b]), inside


def _gap_contents(arr: np.ndarray, gap_start: np.ndarray, gap_len: np.ndarray, base: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the gaps holding more than whitespace: (gap index, content start, content length),
    the content being one run of non-whitespace bytes (anything else is malformed). Gaps are
    looked at through 16- then 128-byte windows (indented JSON's gaps are short); longer
    ones one by one."""
    where: list[np.ndarray] = []
    first: list[np.ndarray] = []
    length: list[np.ndarray] = []
    todo = np.flatnonzero(gap_len > 0)
    for width in (16, 128):
        chosen = todo[gap_len[todo] <= width]
        todo = todo[gap_len[todo] > width]
        if not len(chosen):
            continue
        rows = _rows(arr, gap_start[chosen], width)
        mask = (rows > 0x20) & (np.arange(width) < gap_len[chosen][:, None])
        hit = np.flatnonzero(mask.any(axis=1))
        if not len(hit):
            continue
        mask = mask[hit]
        lo = mask.argmax(axis=1)
        hi = width - mask[:, ::-1].argmax(axis=1)
        split = np.flatnonzero(mask.sum(axis=1) != hi - lo)
        if len(split):
            at = int(gap_start[chosen[hit[split[0]]]])
            raise _Malformed(f"unexpected {bytes(arr[at:at + width]).strip()[:30]!r} near byte "
                             f"{base + at}")
        where.append(chosen[hit])
        first.append(gap_start[chosen[hit]] + lo)
        length.append(hi - lo)
    for i in todo.tolist():
        s, n = int(gap_start[i]), int(gap_len[i])
        text = bytes(arr[s:s + n])
        content = text.strip(b" \t\n\r")
        if not content:
            continue
        if len(content.split()) != 1:
            raise _Malformed(f"unexpected {content[:30]!r} near byte {base + s}")
        where.append(np.array([i]))
        first.append(np.array([s + text.index(content)]))
        length.append(np.array([len(content)]))
    if not where:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    indices = np.concatenate(where)
    order = np.argsort(indices, kind="stable")
    return indices[order], np.concatenate(first)[order], np.concatenate(length)[order]


def _integers(arr: np.ndarray, first: np.ndarray, length: np.ndarray, base: int) -> np.ndarray:
    """The numbers found in gaps: only non-negative integers of up to 18 digits without a
    leading zero are accepted (the only numbers here are an epoch and tree indices)."""
    rows = _rows(arr, first + length - 18, 18)
    inside = np.arange(18) >= (18 - np.minimum(length, 18))[:, None]
    digit = (rows >= 0x30) & (rows <= 0x39)
    lead = rows[np.arange(len(rows)), np.clip(18 - length, 0, 17)]
    valid = (length <= 18) & (digit | ~inside).all(axis=1) & ((length == 1) | (lead != 0x30))
    if not valid.all():
        i = int(np.flatnonzero(~valid)[0])
        at = int(first[i])
        text = bytes(arr[at:at + min(int(length[i]), 30)])
        raise _Malformed(f"unexpected value {text!r} at byte {base + at} (the only numbers "
                         "here are non-negative integers)")
    return (np.where(inside, rows - 0x30, 0).astype(np.int64)
            * 10 ** np.arange(17, -1, -1, dtype=np.int64)).sum(axis=1)


def _locate_stray(arr: np.ndarray, start: np.ndarray, end: np.ndarray, kind: np.ndarray,
                  tail: int | None, base: int) -> None:
    """The count of non-whitespace bytes did not add up: find where, and raise."""
    gap_start = np.concatenate([[_FRONT], end[:-1]]) if len(end) else np.array([_FRONT])
    gap_len = start - gap_start[:len(start)]
    if tail is not None:
        gap_start = np.append(gap_start[:len(start)], end[-1] if len(end) else _FRONT)
        gap_len = np.append(gap_len, tail - gap_start[-1])
    _, first, _ = _gap_contents(arr, gap_start, gap_len, base)
    if len(first):  # numbers are tokens by now: anything between tokens is out of place
        at = int(first[0])
        raise _Malformed(f"unexpected {bytes(arr[at:at + 20]).split()[0][:20]!r} at byte "
                         f"{base + at}")
    strings = np.flatnonzero(kind == _STR)
    for i in strings.tolist():
        text = bytes(arr[start[i] + 1:end[i] - 1])
        if len(text.split()) != 1 or text != text.strip():
            raise _Malformed(f"whitespace inside the string at byte {base + int(start[i])}")
    raise _Malformed("the bytes outside strings do not add up")  # pragma: no cover


def _quoted(block: _Block, start: int, end: int) -> str:
    return bytes(block.arr[start + 1:min(end - 1, start + 91)]).decode("ascii")


def _string_rows(block: _Block, starts: np.ndarray, ends: np.ndarray, width: int,
                 prefix: bytes, what: str) -> np.ndarray:
    """The contents of strings (quote to quote at ``starts``/``ends``) that must be ``prefix``
    + ``width`` characters, as (m, width) rows after the prefix."""
    ok = ends - starts - 2 == len(prefix) + width
    if prefix:
        heads = _rows(block.arr, starts + 1, len(prefix))
        ok &= (heads == np.frombuffer(prefix, np.uint8)).all(axis=1)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise _Malformed(f"{what} {_quoted(block, starts[i], ends[i])!r} at byte "
                         f"{block.base + int(starts[i])} is not {prefix.decode()} and {width} "
                         "characters")
    return _rows(block.arr, starts + 1 + len(prefix), width)


def _string_decimals(block: _Block, starts: np.ndarray, ends: np.ndarray,
                     what: str) -> np.ndarray:
    """Limbs of strings that must hold canonical decimals."""
    limbs, valid = _decimals(block.arr, starts + 1, ends - starts - 2)
    if not valid.all():
        i = int(np.flatnonzero(~valid)[0])
        raise _Malformed(f"{what} {_quoted(block, starts[i], ends[i])!r} at byte "
                         f"{block.base + int(starts[i])} is not a decimal string below 10**78 "
                         "without leading zeros")
    return limbs


def _key_is(block: _Block, tokens: np.ndarray, name: bytes) -> np.ndarray:
    lengths = block.end[tokens] - block.start[tokens] - 2
    rows = _rows(block.arr, block.start[tokens] + 1, len(name))
    return (lengths == len(name)) & (rows == np.frombuffer(name, np.uint8)).all(axis=1)


def _owners(entries: np.ndarray, places: np.ndarray) -> np.ndarray:
    """Index of the entry (the last of ``entries`` before it) each place belongs to (token
    indices or byte positions, both sorted)."""
    return np.searchsorted(entries, places, side="right") - 1


def _members_once(block: _Block, entries: np.ndarray, member_keys: np.ndarray,
                  names: tuple[bytes, bytes], what: str) -> list[np.ndarray]:
    """For objects whose keys must be exactly ``names`` (in any order): each name's key
    token, per entry in order."""
    owner = _owners(entries, member_keys)
    found = []
    known = np.zeros(len(member_keys), bool)
    for name in names:
        hit = _key_is(block, member_keys, name)
        known |= hit
        wrong = np.flatnonzero(np.bincount(owner[hit], minlength=len(entries)) != 1)
        if len(wrong):
            raise _Malformed(f"{what} at byte {block.offset(int(entries[wrong[0]]))} does not "
                             f"have exactly one {name.decode()!r}")
        found.append(member_keys[hit])
    if not known.all():
        i = int(member_keys[np.flatnonzero(~known)[0]])
        raise _Malformed(f"unexpected key {block.text(i)[:40]!r} in {what} at byte "
                         f"{block.offset(i)}")
    return found


def _expect_kind(block: _Block, tokens: np.ndarray, kind: int, what: str) -> None:
    wrong = np.flatnonzero(block.kind[tokens] != kind)
    if len(wrong):
        i = int(tokens[wrong[0]])
        raise _Malformed(f"{what} at byte {block.offset(i)} is "
                         f"{_KIND_NAMES[int(block.kind[i])]}, not {_KIND_NAMES[kind]}")


def _expect_none(block: _Block, mask: np.ndarray, rule: str) -> None:
    wrong = np.flatnonzero(mask)
    if len(wrong):
        raise _Malformed(f"{rule}: {_KIND_NAMES[int(block.kind[wrong[0]])]} at byte "
                         f"{block.offset(int(wrong[0]))}")


def _stack(parts: list[np.ndarray], width: int, dtype: Any) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros((0, width), dtype)


# --------------------------------------------------------------------------------------------
# accounts
# --------------------------------------------------------------------------------------------


def _mix(raw: np.ndarray) -> np.ndarray:
    """A 64-bit key of each 20-byte account, all of its bytes mixed in (vanity addresses share
    long prefixes), for bucketing only: matches are confirmed on the full bytes."""
    raw = np.ascontiguousarray(raw)
    w0 = raw[:, :8].copy().view(np.uint64).ravel()
    w1 = raw[:, 8:16].copy().view(np.uint64).ravel()
    w2 = raw[:, 16:20].copy().view(np.uint32).ravel().astype(np.uint64)
    key = w0 * np.uint64(0x9E3779B97F4A7C15)
    key ^= w1 * np.uint64(0xC2B2AE3D27D4EB4F)
    key ^= w2 * np.uint64(0x165667B19E3779F9)
    key ^= key >> np.uint64(29)
    return key


class _Accounts:
    """Exact lookup of 20-byte accounts among the tree's ``raw`` (n, 20): a bucket table on
    the top bits of ``_mix`` (about half an account a bucket), probed on whole arrays; a
    sorted search would cost a cache miss per step at 1M accounts."""

    def __init__(self, raw: np.ndarray) -> None:
        n = len(raw)
        key = _mix(raw)
        self.order = np.argsort(key, kind="stable")
        self.key = key[self.order]
        self.raw = np.ascontiguousarray(raw[self.order])
        self.bits = max(1, n.bit_length() + 1)
        self.shift = np.uint64(64 - self.bits)
        counts = np.bincount((self.key >> self.shift).astype(np.int64),
                             minlength=1 << self.bits)
        self.bucket = np.concatenate([[0], np.cumsum(counts)])
        same = np.flatnonzero((self.key[1:] == self.key[:-1])
                              & (self.raw[1:] == self.raw[:-1]).all(axis=1))
        self.duplicates = np.sort(self.order[same + 1])  # values repeating an account

    def find(self, raw: np.ndarray) -> np.ndarray:
        """Index of each account (row of ``raw``) among the tree's values, -1 if absent."""
        found = np.full(len(raw), -1, np.int64)
        if not len(raw):
            return found
        key = _mix(raw)
        bucket = (key >> self.shift).astype(np.int64)
        at = self.bucket[bucket]
        stop = self.bucket[bucket + 1]
        todo = np.flatnonzero(at < stop)
        while len(todo):
            candidate = at[todo]
            hit = (self.key[candidate] == key[todo]) & (self.raw[candidate] == raw[todo]).all(1)
            found[todo[hit]] = self.order[candidate[hit]]
            at[todo] += 1
            todo = todo[~hit & (at[todo] < stop[todo])]
        return found


def _checksummed(hex40: np.ndarray,
                 hasher: Callable[[memoryview, int], bytes] = _keccak_rows) -> np.ndarray:
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


def _address(hex40: np.ndarray) -> str:
    return "0x" + np.ascontiguousarray(hex40).tobytes().decode("ascii")


# --------------------------------------------------------------------------------------------
# merkle_tree.json
# --------------------------------------------------------------------------------------------


@dataclass
class _Dump:
    """merkle_tree.json as columns."""

    nodes: np.ndarray  # (m, 64) hex text of the dump's `tree`, without 0x
    accounts: np.ndarray  # (n, 40) account texts as written, without 0x
    limbs: np.ndarray  # (n, 10) amounts
    tree_index: np.ndarray  # (n,)
    leaf_encoding: list[str]
    format: str


def _read_dump(path: Path, hasher: _Hasher) -> _Dump:
    reader = _JsonReader(path, (_OBJECT, _ARRAY, _OBJECT, _ARRAY),
                         {"format": _STR, "leafEncoding": _ARR, "tree": _ARR, "values": _ARR},
                         2, hasher)
    leaf, tree, values = reader.codes["leafEncoding"], reader.codes["tree"], reader.codes["values"]
    nodes, accounts, limbs, indices, encoding = [], [], [], [], []
    for block in reader.blocks():
        kind, depth, member = block.kind, block.depth, block.member
        listed = (depth >= 2) & (kind != _COMMA) & (kind != _END_ARR) & (kind != _STR)
        _expect_none(block, listed & ((member == leaf) | (member == tree)),
                     "leafEncoding and tree hold strings only")
        starts, ends = block.items(2, leaf)
        encoding += [_quoted(block, a, b)[:40] for a, b in zip(starts.tolist(), ends.tolist(),
                                                               strict=True)]
        starts, ends = block.items(2, tree)
        if len(starts):
            nodes.append(_string_rows(block, starts, ends, 64, b"0x", "tree node"))
        inside = member == values
        _expect_none(block, inside & (depth == 2) & ((kind == _STR) | (kind == _NUM)),
                     "values holds only objects")
        entries = np.flatnonzero(inside & (kind == _OBJ) & (depth == 2))
        if not len(entries):
            continue
        keys = np.flatnonzero(inside & block.key & (depth == 3))
        value_keys, index_keys = _members_once(block, entries, keys, (b"value", b"treeIndex"),
                                               "a tree value")
        _expect_kind(block, value_keys + 2, _ARR, "a value")
        _expect_kind(block, index_keys + 2, _NUM, "a treeIndex")
        _expect_none(block, inside & (depth == 4) & (kind != _COMMA) & (kind != _END_ARR)
                     & (kind != _STR), "a value holds strings only")
        starts, ends = block.items(4, values)
        owner = _owners(block.start[entries], starts)
        wrong = np.flatnonzero(np.bincount(owner, minlength=len(entries)) != 2)
        if len(wrong):
            raise _Malformed(f"the value at byte {block.offset(int(entries[wrong[0]]))} is not "
                             "[account, amount]")
        accounts.append(_string_rows(block, starts[0::2], ends[0::2], 40, b"0x", "account"))
        limbs.append(_string_decimals(block, starts[1::2], ends[1::2], "amount")
                     .astype(_LIMB_TYPE))
        indices.append(block.number[index_keys + 2])
    reader.finish()
    return _Dump(_stack(nodes, 64, np.uint8), _stack(accounts, 40, np.uint8),
                 _stack(limbs, _LIMBS, _LIMB_TYPE),
                 np.concatenate(indices) if indices else np.zeros(0, np.int64),
                 encoding, reader.top["format"][1])


@dataclass
class _Rebuilt:
    """The StandardMerkleTree of a dump's values, built here."""

    nodes: np.ndarray  # (2n-1, 32); emptied once the tree is checked
    hex: np.ndarray  # (2n-1, 64) lowercase hex text of the nodes
    position: np.ndarray  # (n,) tree index of each value's leaf
    root: str
    root_bytes: bytes


def _rebuild(raw: np.ndarray, words: np.ndarray,
             hasher: Callable[[memoryview, int], bytes] = _keccak_rows) -> _Rebuilt:
    """OpenZeppelin's ``StandardMerkleTree.of(values, ["address", "uint256"])``.

    leaf = keccak256(keccak256(abi.encode(account, amount))) (``standardLeafHash``); leaves
    sorted ascending by bytes (``prepare``: a stable sort of the hashes); sorted leaf i at
    ``tree[2n - 2 - i]``; then for k = n-2 .. 0, ``tree[k] = keccak256(sort(tree[2k+1],
    tree[2k+2]))`` (``makeMerkleTree``, ``standardNodeHash``); a value's treeIndex is where its
    leaf went. Internal nodes are hashed one heap level at a time, deepest first: the children
    of a level's nodes all lie in deeper levels or among the leaves.
    """
    n = len(raw)
    encoded = np.zeros((n, 64), np.uint8)  # abi.encode: two words, the address left-padded
    encoded[:, 12:32] = raw
    encoded[:, 32:] = words
    once = hasher(memoryview(encoded.reshape(-1)), 64)
    del encoded
    leaves = np.frombuffer(hasher(memoryview(once), 32), np.uint8).reshape(n, 32)
    del once
    order = _byte_order(leaves)
    nodes = np.empty((2 * n - 1, 32), np.uint8)
    nodes[n - 1:] = leaves[order[::-1]]
    position = np.empty(n, np.int64)
    position[order] = 2 * n - 2 - np.arange(n)
    level = (n - 1).bit_length() - 1 if n > 1 else -1
    while level >= 0:
        lo, hi = (1 << level) - 1, min((1 << (level + 1)) - 1, n - 1)
        left, right = nodes[2 * lo + 1:2 * hi:2], nodes[2 * lo + 2:2 * hi + 1:2]
        swap = _less(right, left)[:, None]
        pairs = np.concatenate([np.where(swap, right, left), np.where(swap, left, right)],
                               axis=1)
        nodes[lo:hi] = np.frombuffer(hasher(memoryview(pairs.reshape(-1)), 64),
                                     np.uint8).reshape(-1, 32)
        level -= 1
    text = np.frombuffer(binascii.hexlify(nodes.tobytes()), np.uint8).reshape(2 * n - 1, 64)
    return _Rebuilt(nodes, text, position, "0x" + nodes[0].tobytes().hex(), nodes[0].tobytes())


def _words(rows: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rows).view(">u8").astype(np.uint64)


def _less(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise bytes ``a < b`` for (m, 32) rows (OpenZeppelin's ``compare``)."""
    aw, bw = _words(a), _words(b)
    less = np.zeros(len(a), bool)
    equal = np.ones(len(a), bool)
    for w in range(4):
        less |= equal & (aw[:, w] < bw[:, w])
        equal &= aw[:, w] == bw[:, w]
    return less


def _byte_order(rows: np.ndarray) -> np.ndarray:
    """A stable ascending sort of (n, 32) rows by their bytes."""
    w = _words(rows)
    order = np.argsort(w[:, 0], kind="stable")
    first = w[order, 0]
    if (first[1:] == first[:-1]).any():  # equal first 8 bytes: sort by all 32
        order = np.lexsort((w[:, 3], w[:, 2], w[:, 1], w[:, 0]))
    return order


# --------------------------------------------------------------------------------------------
# claims.json
# --------------------------------------------------------------------------------------------


@dataclass
class _ClaimsTop:
    """What every claims.json reading gives: the top-level members, count and sum."""

    top: dict[str, tuple[int, Any]]
    count: int
    total: int


@dataclass
class _ClaimRows:
    """A block's claims as columns, independent of the buffer they were read from (so that
    the next block can be read meanwhile)."""

    hex40: np.ndarray  # (m, 40) account texts without 0x, as written
    limbs: np.ndarray  # (m, 10) amounts
    count: np.ndarray  # (m,) proof elements of each claim
    text: np.ndarray  # (e, 64) the 64 characters after "0x" of each element (may be a view)
    shaped: np.ndarray | None  # (e,) the element is "0x" + 64 characters (None: all are)


_Sink = Callable[[_ClaimRows], None]


def _read_claims(path: Path, hasher: _Hasher, sink: _Sink) -> _ClaimsTop:
    """Stream claims.json through the general reader; hand each block's claims to
    ``sink``."""
    reader = _JsonReader(path, (_OBJECT, _OBJECT, _OBJECT, _ARRAY),
                         {"epoch": _NUM, "merkle_root": _STR, "total": _STR, "claims": _OBJ},
                         2, hasher)
    code = reader.codes["claims"]
    count = 0
    sums = np.zeros(_LIMBS, np.int64)
    for block in reader.blocks():
        kind, depth = block.kind, block.depth
        strings = np.flatnonzero((kind == _STR) & (depth >= 2) & (block.member == code))
        keyed = block.key[strings]
        keys = strings[keyed & (depth[strings] == 2)]
        if not len(keys):
            continue
        _expect_kind(block, keys + 2, _OBJ, "a claim")
        members = strings[keyed & (depth[strings] == 3)]
        amount_keys, proof_keys = _members_once(block, keys, members, (b"amount", b"proof"),
                                                "a claim")
        _expect_kind(block, amount_keys + 2, _STR, "an amount")
        _expect_kind(block, proof_keys + 2, _ARR, "a proof")
        hex40 = _string_rows(block, block.start[keys], block.end[keys], 40, b"0x", "account")
        valid = _hex_valid(hex40)
        if not valid.all():
            i = int(keys[np.flatnonzero(~valid)[0]])
            raise _Malformed(f"account {block.text(i)!r} at byte {block.offset(i)} is not hex")
        values = amount_keys + 2
        limbs = _string_decimals(block, block.start[values], block.end[values], "amount")
        starts, ends = block.items(4, code)
        arr = block.arr
        shaped = ((ends - starts == 68) & (arr[starts + 1] == 0x30) & (arr[starts + 2] == 0x78))
        count_of = np.bincount(_owners(block.start[keys], starts), minlength=len(keys))
        sums += limbs.sum(axis=0)
        count += len(keys)
        sink(_ClaimRows(hex40, limbs, count_of, _rows(arr, starts + 3, 64), shaped))
    reader.finish()
    return _ClaimsTop(reader.top, count, _int(sums))


class _ClaimCheck:
    """claims.json against the rebuilt tree, block by block: each claim's account looked up
    among the tree's values, its amount, spelling and proof compared.

    The proofs: ``MerkleProof.verify(proof, root, leaf)`` folds ``leaf`` with each element by
    the sorted-pair hash and compares the result with the root. Here each claim's proof is
    compared element by element with the sibling path of its leaf in the rebuilt tree: the
    claim's (account, amount) must be a value of the tree, whose leaf sits at ``t``; with
    ``u = t + 1`` the proof must have ``floor(log2 u)`` elements, element j being node
    ``((u >> j) ^ 1) - 1`` (OpenZeppelin's ``getProof``). Under keccak256's collision
    resistance the two are equivalent:

    * if the proof is that path, folding it recomputes the path's nodes up to the root (that
      is how the rebuilt tree was computed): it verifies;
    * if a proof verifies, then going down from the root, each step's (running hash,
      element) pair is a preimage of a node of the rebuilt tree, hence equal to that node's
      children (else a collision): the elements are the siblings along a path from the root.
      The fold starts at the claim's leaf, which must then be a leaf node of that path (an
      internal node hashes 64 bytes, a leaf 32: equal only by a collision), and distinct
      values have distinct leaves: the path is the one of the claim's own value.

    So a claim whose (account, amount) is not a value of the tree fails, as its leaf is in no
    tree position. Hex digits are compared without regard to case (they denote the same
    bytes32). Besides, a random sample of ``_FOLD_SAMPLE`` claims (all of them in smaller
    epochs) is hash-folded in full from its own account, amount and proof text, without the
    lookup; a sampled claim fails if either check fails, and a disagreement between the two is
    reported (it would be a bug here).
    """

    def __init__(self, dump: _Dump, index: _Accounts, rebuilt: _Rebuilt) -> None:
        self.dump, self.index, self.rebuilt = dump, index, rebuilt
        self.table = rebuilt.hex.view(np.uint64)  # (2n-1, 8): a node's hex text
        n = len(dump.accounts)
        self.sample = (np.arange(n) if n <= _FOLD_SAMPLE
                       else np.sort(np.random.default_rng().choice(n, _FOLD_SAMPLE,
                                                                   replace=False)))
        self.claimed = np.zeros((n, _LIMBS), _LIMB_TYPE)  # the claim of each value's account
        self.times = np.zeros(n, np.int64)  # claims of each value's account
        self.seen = 0
        self.bad: dict[str, tuple[int, str]] = {}  # problem -> (count, first account)
        self.strange = 0  # proof elements that are not 0x + 64 hex digits
        self.gathered: list[tuple[int, str, bytes, int, list[bytes], bool]] = []

    def _count(self, what: str, rows: np.ndarray, hex40: np.ndarray) -> None:
        if len(rows):
            count, first = self.bad.get(what, (0, _address(hex40[rows[0]])))
            self.bad[what] = (count + len(rows), first)

    def __call__(self, rows: _ClaimRows) -> None:
        hex40, limbs, count = rows.hex40, rows.limbs, rows.count
        m = len(hex40)
        n = len(self.dump.accounts)
        # claims are usually in the order of the tree's values: try that first (exactly)
        value = np.minimum(np.arange(self.seen, self.seen + m), n - 1)
        same_case = _same_rows(self.dump.accounts[value].view(np.uint64),
                               np.ascontiguousarray(hex40).view(np.uint64))
        elsewhere = np.flatnonzero(~same_case)
        if len(elsewhere):
            value[elsewhere] = self.index.find(_unhex(hex40[elsewhere]))
            looked = value[elsewhere] >= 0
            same_case[elsewhere[looked]] = (self.dump.accounts[value[elsewhere[looked]]]
                                            == hex40[elsewhere[looked]]).all(axis=1)
        found = value >= 0
        at = np.maximum(value, 0)
        same_amount = found & (self.dump.limbs[at] == limbs).all(axis=1)
        self._count("absent", np.flatnonzero(~found), hex40)
        self._count("amount", np.flatnonzero(found & ~same_amount), hex40)
        others = np.flatnonzero(~same_case)  # spelled unlike the (checked) tree: check alone
        self._count("case", others[~_checksummed(hex40[others])], hex40)
        np.add.at(self.times, value[found], 1)
        self.claimed[value[found]] = limbs[found]
        # the proofs
        u = self.rebuilt.position[at] + 1
        depth = np.floor(np.log2(u)).astype(np.int64)
        depth += (np.left_shift(1, depth + 1) <= u).astype(np.int64)
        depth -= (np.left_shift(1, depth) > u).astype(np.int64)
        first_element = np.cumsum(count) - count
        ok = same_amount & (count == depth)
        text = rows.text
        if len(text):
            j = np.arange(len(text)) - np.repeat(first_element, count)
            node = np.maximum(((np.repeat(u, count) >> np.minimum(j, 62)) ^ 1) - 1, 0)
            same = _same_rows(text.view(np.uint64), self.table.take(node, axis=0))
            other = np.flatnonzero(~same)  # not the node, or not in lowercase
            if len(other):
                odd = np.ascontiguousarray(text[other])
                hex_text = _hex_valid(odd)
                if rows.shaped is not None:
                    hex_text &= rows.shaped[other]
                self.strange += int((~hex_text).sum())
                same[other] = (_same_rows((odd | 0x20).view(np.uint64),
                                          self.table.take(node[other], axis=0)) & hex_text)
            good = same if rows.shaped is None else same & rows.shaped
            has = np.flatnonzero(count > 0)
            ok[has] &= np.logical_and.reduceat(good, first_element[has])
        self._count("proof", np.flatnonzero(~ok), hex40)
        first = int(np.searchsorted(self.sample, self.seen))
        last = int(np.searchsorted(self.sample, self.seen + m))
        for s in self.sample[first:last].tolist():
            i = s - self.seen
            elements = range(first_element[i], first_element[i] + count[i])
            proof = [b"0x" + text[e].tobytes() if rows.shaped is None or rows.shaped[e]
                     else b"" for e in elements]
            self.gathered.append((s, _address(hex40[i]), hex40[i].tobytes(), _int(limbs[i]),
                                  proof, bool(ok[i])))
        self.seen += m

    def fold(self) -> None:
        """Hash-fold the sampled claims' proofs in full (``MerkleProof.verify``) and combine
        with the sibling comparison."""
        root = self.rebuilt.root_bytes
        for _, account, hex40, amount, proof, compared in self.gathered:
            verified = _fold(hex40, amount, proof) == root
            if verified != compared:
                count, first = self.bad.get("disagree", (0, account))
                self.bad["disagree"] = (count + 1, first)
                if compared:  # the fold says no: the claim fails
                    count, first = self.bad.get("proof", (0, account))
                    self.bad["proof"] = (count + 1, first)


def _fold(hex40: bytes, amount: int, proof: list[bytes]) -> bytes | None:
    """``MerkleProof.processProof`` of a claim from its own text: the leaf of (account,
    amount) folded with each proof element by the sorted-pair keccak; None if a part is not
    what Solidity would take (a 20-byte address, a uint256, 32-byte elements)."""
    try:
        raw = binascii.unhexlify(hex40)
        word = amount.to_bytes(32, "big")
    except (binascii.Error, ValueError, OverflowError):
        return None
    node = keccak256(keccak256(bytes(12) + raw + word))
    for element in proof:
        if len(element) != 66 or not element.startswith(b"0x"):
            return None
        try:
            sibling = binascii.unhexlify(element[2:])
        except binascii.Error:
            return None
        node = keccak256(node + sibling if node <= sibling else sibling + node)
    return node


# --------------------------------------------------------------------------------------------
# the published layout, read on templates
# --------------------------------------------------------------------------------------------
#
# The publisher writes both JSON files as ``json.dumps(document, indent=2) + "\n"``. In that
# layout every byte but the values' own text is fixed: a claim is ``_C_OPEN`` account
# ``_C_BRACE`` digits ``_C_PROOF`` then 78-byte proof lines and ``_C_CLOSE``, one after the
# other, separated by ``,``. Reading such a file means comparing those fixed bytes at computed
# offsets (consecutive claims must tile the text exactly) and taking the values from between
# them: no byte classification, no tokens. The whole text is accounted for, so what is read is
# exactly what the general reader (``_JsonReader``) reads from the same bytes. Anything else
# (other whitespace, key order, a value the templates do not expect) makes these readers
# return None, and the general reader reads the file instead.

_C_HEAD = re.compile(rb'\{\n  "epoch": (0|[1-9][0-9]{0,17}),\n  "merkle_root": '
                     rb'"([0-9A-Za-z]{0,200})",\n  "total": "([0-9]{1,100})",\n  "claims": \{')
_C_OPEN = b'\n    "'  # a claim's start; the account (42 characters) follows
_C_BRACE = b'": {\n      "amount": "'  # after the account; the amount's digits follow
_C_PROOF = b'",\n      "proof": ['  # after the digits; proof lines, or _C_EMPTY, follow
_C_LINE = b'\n        "0x'  # a proof line: this, 64 hex digits, '"', then ',' or (last) '\n'
_C_LINE_SIZE = len(_C_LINE) + 64 + 2
_C_CLOSE = b'      ]\n    }'  # after the last proof line
_C_EMPTY = b']\n    }'  # an empty proof
_C_TAIL = b'\n  }\n}\n'
_C_AMOUNT_AT = len(_C_OPEN) + 42 + len(_C_BRACE)  # from a claim's start
_C_BRACE_AT = len(_C_OPEN) + 42 + 3  # the claim's '{'

_T_HEAD = (b'{\n  "format": "standard-v1",\n  "leafEncoding": [\n    "address",\n    "uint256"'
           b'\n  ],\n  "tree": [')
_T_ROW = b'\n    "0x'  # a node: this, 64 hex digits, '"', then ',' or (last) '\n'
_T_ROW_SIZE = len(_T_ROW) + 64 + 2
_T_VALUES = b'  ],\n  "values": ['  # after the last node's '\n'
_V_OPEN = b'\n    {\n      "value": [\n        "'  # a value's start; its '{' at 5
_V_MID = b'",\n        "'  # after the account; the amount's digits follow
_V_AFTER = b'"\n      ],\n      "treeIndex": '  # after the digits; the index follows
_V_CLOSE = b'\n    }'
_V_TAIL = b'\n  ]\n}\n'
_V_AMOUNT_AT = len(_V_OPEN) + 42 + len(_V_MID)


def _matches(arr: np.ndarray, starts: np.ndarray, template: bytes) -> np.ndarray:
    """Which places hold ``template``: compared 8 bytes at a time as integers."""
    words = -(-len(template) // 8)
    rows = _rows(arr, starts, 8 * words).view(np.uint64)
    want = np.frombuffer(template.ljust(8 * words, b"\0"), np.uint64)
    mask = np.frombuffer((b"\xff" * len(template)).ljust(8 * words, b"\0"), np.uint64)
    ok = ((rows[:, 0] ^ want[0]) & mask[0]) == 0
    for k in range(1, words):
        ok &= ((rows[:, k] ^ want[k]) & mask[k]) == 0
    return ok


def _digit_run(arr: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """How many digits follow each start (up to ``width - 1``)."""
    window = _rows(arr, starts, width)
    return ((window - 0x30) > 9).argmax(axis=1)  # the first non-digit (uint8 wraps below '0')


class _NotCanonical(Exception):
    """The file is not in the published layout: the general reader must read it."""


def _canonical_claims(path: Path, hasher: _Hasher) -> Generator[_ClaimRows, None, _ClaimsTop]:
    """``_read_claims`` for the published layout, as a generator of each block's claims that
    returns the document's top level; raises ``_NotCanonical`` on anything else."""
    with _Blocks(path, hasher) as blocks:
        arr = blocks.read()
        head = _C_HEAD.match(bytes(arr[_FRONT:_FRONT + 512]))
        if head is None:
            raise _NotCanonical
        top: dict[str, tuple[int, Any]] = {
            "epoch": (_NUM, int(head.group(1))), "merkle_root": (_STR, head.group(2).decode()),
            "total": (_STR, head.group(3).decode()), "claims": (_OBJ, None)}
        body = _FRONT + head.end()
        count = 0
        sums = np.zeros(_LIMBS, np.int64)
        want = np.frombuffer(bytes(4) + _C_LINE, np.uint64)
        mask = np.frombuffer(bytes(4) + b"\xff" * 12, np.uint64)
        while True:
            hi, final = blocks.hi, blocks.final
            starts = np.flatnonzero(arr[body:hi] == 0x7B)  # one '{' a claim, none elsewhere
            starts += body - _C_BRACE_AT
            if not len(starts) or starts[0] != body:
                raise _NotCanonical
            if final:  # each claim ends where the next begins (less the ','), the last at the tail
                if bytes(arr[hi - len(_C_TAIL):hi]) != _C_TAIL:
                    raise _NotCanonical
                ends = np.append(starts[1:] - 1, hi - len(_C_TAIL))
            elif len(starts) > 1:
                ends = starts[1:] - 1
            else:  # no whole claim in this block yet
                blocks.keep(body)
                arr, body = blocks.read(), _FRONT
                continue
            m = len(ends)
            s = starts[:m]
            ok = _matches(arr, s, _C_OPEN) & _matches(arr, s + len(_C_OPEN) + 42, _C_BRACE)
            ok &= (arr[s + len(_C_OPEN)] == 0x30) & (arr[s + len(_C_OPEN) + 1] == 0x78)
            digits = _digit_run(arr, s + _C_AMOUNT_AT, 80)
            after = s + _C_AMOUNT_AT + digits
            ok &= (digits > 0) & _matches(arr, after, _C_PROOF)
            first = after + len(_C_PROOF)
            rest = ends - first
            empty = rest == len(_C_EMPTY)
            lines = np.maximum((rest - len(_C_CLOSE)) // _C_LINE_SIZE, 0)
            ok &= np.where(empty, _matches(arr, first, _C_EMPTY),
                           (lines >= 1) & ((rest - len(_C_CLOSE)) % _C_LINE_SIZE == 0)
                           & _matches(arr, first + _C_LINE_SIZE * lines, _C_CLOSE))
            between = m - 1 if final else m  # claims followed by a ','
            ok[:between] &= arr[ends[:between]] == 0x2C
            if not ok.all():
                raise _NotCanonical
            lines[empty] = 0
            offsets = np.cumsum(lines) - lines
            line = (np.repeat(first - _C_LINE_SIZE * offsets, lines)
                    + _C_LINE_SIZE * np.arange(int(lines.sum())))
            separator = np.full(len(line), 0x2C, np.uint8)  # ',' but after each proof's last
            separator[(offsets + lines - 1)[~empty]] = 0x0A
            rows = _rows(arr, line - 4, _C_LINE_SIZE + 10)  # 4 bytes, the line, 6 bytes
            head_words = rows[:, :16].view(np.uint64)
            if not (((((head_words[:, 0] ^ want[0]) & mask[0]) == 0)
                     & (head_words[:, 1] == want[1]) & (rows[:, 80] == 0x22)
                     & (rows[:, 81] == separator)).all()):
                raise _NotCanonical
            hex40 = _rows(arr, s + len(_C_OPEN) + 2, 40)
            limbs, valid = _decimals(arr, s + _C_AMOUNT_AT, digits)
            if not (_hex_valid(hex40).all() and valid.all()):
                raise _NotCanonical
            count += m
            sums += limbs.sum(axis=0)
            yield _ClaimRows(hex40, limbs, lines, rows[:, 16:80], None)
            if final:
                return _ClaimsTop(top, count, _int(sums))
            blocks.keep(int(starts[m]))
            arr, body = blocks.read(), _FRONT


def _ahead(make: Callable[[], Generator[Any, None, Any]], depth: int = 2
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


def _canonical_dump(path: Path, hasher: _Hasher, nodes_too: bool = True) -> _Dump | None:
    """``_read_dump`` for the published layout (None: not in it). The nodes are rows of
    ``_T_ROW_SIZE`` bytes, read as a reshaped view of the block (and checked, but not kept,
    without ``nodes_too``)."""
    row_head = np.frombuffer(_T_ROW, np.uint64)[0]
    with _Blocks(path, hasher) as blocks:
        arr = blocks.read()
        if bytes(arr[_FRONT:_FRONT + len(_T_HEAD)]) != _T_HEAD:
            return None
        at = _FRONT + len(_T_HEAD)
        nodes: list[np.ndarray] = []
        while True:  # the nodes
            k = (blocks.hi - at) // _T_ROW_SIZE
            rows = arr[at:at + k * _T_ROW_SIZE].reshape(k, _T_ROW_SIZE)
            last = np.flatnonzero(rows[:, -1] != 0x2C)  # ',' after all nodes but the last
            if len(last):
                rows = rows[:last[0] + 1]
                if rows[-1, -1] != 0x0A:
                    return None
            heads = np.ascontiguousarray(rows[:, :len(_T_ROW)]).view(np.uint64).ravel()
            if not ((heads == row_head).all() and (rows[:, -2] == 0x22).all()):
                return None
            if nodes_too:
                nodes.append(rows[:, len(_T_ROW):len(_T_ROW) + 64].copy())
            at += len(rows) * _T_ROW_SIZE
            if len(last):
                break
            if blocks.final:
                return None
            blocks.keep(at)
            arr, at = blocks.read(), _FRONT
        if blocks.hi - at < 4096 and not blocks.final:
            blocks.keep(at)
            arr, at = blocks.read(), _FRONT
        if bytes(arr[at:at + len(_T_VALUES)]) != _T_VALUES:
            return None
        at += len(_T_VALUES)
        accounts, amounts, indices = [], [], []
        while True:  # the values
            hi, final = blocks.hi, blocks.final
            starts = np.flatnonzero(arr[at:hi] == 0x7B)  # one '{' a value, none elsewhere
            starts += at - 5
            m = len(starts) if final else len(starts) - 1  # the last one may be cut off
            if not len(starts) or starts[0] != at:
                return None
            if m == 0:
                blocks.keep(at)
                arr, at = blocks.read(), _FRONT
                continue
            s = starts[:m]
            ok = _matches(arr, s, _V_OPEN) & _matches(arr, s + len(_V_OPEN) + 42, _V_MID)
            ok &= (arr[s + len(_V_OPEN)] == 0x30) & (arr[s + len(_V_OPEN) + 1] == 0x78)
            digits = _digit_run(arr, s + _V_AMOUNT_AT, 80)
            index_at = s + _V_AMOUNT_AT + digits + len(_V_AFTER)
            ok &= (digits > 0) & _matches(arr, s + _V_AMOUNT_AT + digits, _V_AFTER)
            index_digits = _digit_run(arr, index_at, 20)
            ends = index_at + index_digits + len(_V_CLOSE)
            ok &= ((index_digits > 0) & (index_digits <= 18)
                   & ((index_digits == 1) | (arr[index_at] != 0x30))
                   & _matches(arr, index_at + index_digits, _V_CLOSE))
            following = np.append(starts[1:], -1)[:m]  # where the next value must begin
            ok &= np.where(following >= 0, (ends + 1 == following) & (arr[ends] == 0x2C), True)
            if final and bytes(arr[int(ends[-1]):hi]) != _V_TAIL:
                return None
            if not ok.all():
                return None
            hex40 = _rows(arr, s + len(_V_OPEN) + 2, 40)
            limbs, valid = _decimals(arr, s + _V_AMOUNT_AT, digits)
            if not (_hex_valid(hex40).all() and valid.all()):
                return None
            accounts.append(hex40)
            amounts.append(limbs.astype(_LIMB_TYPE))
            window = _rows(arr, index_at + index_digits - 18, 18)
            inside = np.arange(18) >= (18 - index_digits)[:, None]
            indices.append((np.where(inside, window - 0x30, 0).astype(np.int64)
                            * 10 ** np.arange(17, -1, -1, dtype=np.int64)).sum(axis=1))
            if final:
                break
            blocks.keep(int(starts[m]))
            arr, at = blocks.read(), _FRONT
        return _Dump(_stack(nodes, 64, np.uint8), _stack(accounts, 40, np.uint8),
                     _stack(amounts, _LIMBS, _LIMB_TYPE), np.concatenate(indices),
                     ["address", "uint256"], "standard-v1")


@dataclass
class _Previous:
    """The previous epoch's claims, one row per account of this epoch's tree, plus those of
    its accounts this epoch's tree lacks."""

    amounts: np.ndarray  # (n, 10) limbs
    outside: list[tuple[str, int]]  # (account, amount > 0) not in this epoch's tree
    total: int


def _previous_amounts(dump: _Dump, index: _Accounts, n: int) -> _Previous:
    where = index.find(_unhex(dump.accounts))
    mine = where >= 0
    amounts = np.zeros((n, _LIMBS), _LIMB_TYPE)
    amounts[where[mine]] = dump.limbs[mine]
    outside = [(_address(dump.accounts[i]), _int(dump.limbs[i]))
               for i in np.flatnonzero(~mine & dump.limbs.any(axis=1)).tolist()]
    return _Previous(amounts, outside, _int(dump.limbs.astype(np.int64).sum(axis=0)))


# --------------------------------------------------------------------------------------------
# allocations.csv
# --------------------------------------------------------------------------------------------


@dataclass
class _Allocations:
    rows: int
    by_channel: dict[str, int]
    per_account: np.ndarray | None  # (n, 10) int64 limb sums per account of the tree
    outside: dict[str, int]  # account not in the tree -> its allocations (> 0)
    problems: list[str]


def _read_allocations(path: Path, epoch: int, index: _Accounts | None, n: int) -> _Allocations:
    """allocations.csv through pyarrow's streaming CSV reader (C++; quoting as the csv module
    writes it), amounts turned into limbs and summed per channel and per account."""
    with open(path, "rb") as handle:
        header = handle.readline().rstrip(b"\r\n").decode("utf-8", "replace")
    if tuple(header.split(",")) != CSV_HEADER:
        raise _Malformed(f"header is {header[:120]!r}, expected {','.join(CSV_HEADER)!r}")
    reader = pacsv.open_csv(
        path, read_options=pacsv.ReadOptions(block_size=16 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(CSV_HEADER, pa.string()),
            include_columns=["epoch", "channel", "account", "amount"]))
    problems: list[str] = []
    rows = 0
    by_channel: dict[str, np.ndarray] = {}
    per_account = np.zeros((n, _LIMBS), np.int64) if index is not None else None
    outside: dict[str, int] = {}
    wanted = str(epoch)
    bad_amounts, negative, first_bad = 0, 0, ""
    for batch in reader:
        m = batch.num_rows
        if not m:
            continue
        epochs = batch.column("epoch")
        same = pc.equal(epochs, wanted)
        if not pc.all(same).as_py():
            bad = int(np.flatnonzero(~same.to_numpy(zero_copy_only=False))[0])
            problems.append(f"{ALLOCATIONS_FILE} row {rows + bad + 1} is for epoch "
                            f"{epochs[bad].as_py()!r}, not {epoch}")
        amount = _arrow_text(batch.column("amount"))
        limbs, valid = _decimals(amount.arr, amount.starts, amount.lengths)
        if not valid.all():
            bad = np.flatnonzero(~valid)
            texts = batch.column("amount").take(pa.array(bad)).to_pylist()
            bad_amounts += len(bad)
            negative += sum(1 for t in texts if t.startswith("-") and _DECIMAL.match(t[1:]))
            first_bad = first_bad or f"row {rows + int(bad[0]) + 1}: {texts[0]!r}"
            limbs[bad] = 0
        account = _arrow_text(batch.column("account"))
        heads = _rows(account.arr, account.starts, 42)
        ok = ((account.lengths == 42) & (heads[:, 0] == 0x30) & (heads[:, 1] == 0x78)
              & _hex_valid(heads[:, 2:]))
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            problems.append(f"{ALLOCATIONS_FILE} row {rows + bad + 1}: account "
                            f"{batch.column('account')[bad].as_py()!r} is not an address")
        channels = batch.column("channel").dictionary_encode()
        codes = channels.indices.to_numpy(zero_copy_only=False)
        for c, name in enumerate(channels.dictionary.to_pylist()):
            total = limbs[codes == c].sum(axis=0)
            by_channel[name] = by_channel.get(name, np.zeros(_LIMBS, np.int64)) + total
        if index is not None and per_account is not None:
            raw = _unhex(np.where(ok[:, None], heads[:, 2:], 0x30))
            where = np.where(ok, index.find(raw), -1)
            mine = where >= 0
            _sum_into(per_account, where[mine], limbs[mine])
            for i in np.flatnonzero(~mine & ok & limbs.any(axis=1)).tolist():
                name = _address(heads[i, 2:] | 0x20)
                outside[name] = outside.get(name, 0) + _int(limbs[i])
        rows += m
    if bad_amounts:
        problems.append(f"{ALLOCATIONS_FILE}: {bad_amounts} amounts are not non-negative "
                        f"decimals ({negative} negative; first: {first_bad})")
    if per_account is not None:
        _normalize(per_account)
    return _Allocations(rows, {c: _int(v) for c, v in by_channel.items()}, per_account,
                        outside, problems)


@dataclass
class _Text:
    """An Arrow string column as (buffer, start, length); the buffer readable 80 bytes before
    each text's end (``_decimals``' right-aligned windows) and 42 past its start."""

    arr: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray


def _arrow_text(column: pa.Array | pa.ChunkedArray) -> _Text:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    array = column.cast(pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], np.int64)[array.offset:
                                                         array.offset + len(array) + 1]
    data = array.buffers()[2]
    body = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    pad = np.full(96, 0x20, np.uint8)
    arr = np.concatenate([pad, body[offsets[0]:offsets[-1]], pad])
    return _Text(arr, offsets[:-1] - offsets[0] + len(pad), np.diff(offsets))


# --------------------------------------------------------------------------------------------
# the verification
# --------------------------------------------------------------------------------------------


def verify(folder: Path, epoch: int | None = None) -> dict[str, Any]:
    """Check a published epoch folder on its own; raise VerifyError listing every problem.

    Needs only the folder and, when it lies beside it, the previous epoch's folder. Returns
    ``{"epoch", "merkle_root", "accounts", "total", "checked_previous"}``. Malformed files
    (bad JSON, missing keys, wrong types) are reported as problems, never as a traceback.
    """
    folder = Path(folder)
    try:
        return _Verification(folder, epoch).run()
    except VerifyError:
        raise
    except (_Malformed, KeyError, ValueError, TypeError, AttributeError, IndexError,
            OverflowError, OSError, pa.ArrowException) as exc:
        raise VerifyError(f"{folder}: malformed artifacts ({type(exc).__name__}: {exc})") \
            from None


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise _Malformed(f"cannot read {path.name} ({exc})") from None
    if not isinstance(manifest, dict):
        raise _Malformed(f"{path.name} is not a JSON object")
    return manifest


def _plain_name(name: object) -> bool:
    return isinstance(name, str) and "/" not in name and name not in ("", ".", "..")


class _Verification:
    """One run of ``verify``: the checks in order, problems collected in ``problems``."""

    def __init__(self, folder: Path, epoch: int | None) -> None:
        self.folder = folder
        self.epoch = epoch
        self.problems: list[str] = []

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def field(self, manifest: dict[str, Any], name: str, kind: type) -> Any:
        """A manifest field of the given type (str: a canonical decimal), else a problem."""
        value = manifest.get(name)
        good = type(value) is kind if kind is int else isinstance(value, kind)
        if good and kind is str and not _DECIMAL.match(value):
            good = False
        if not good:
            wanted = "a decimal string" if kind is str else kind.__name__
            self.fail(f"manifest {name} is {value!r}, not {wanted}")
            return None
        return value

    def run(self) -> dict[str, Any]:
        """Every check; the report, or VerifyError with every problem found."""
        folder = self.folder
        try:
            manifest = _read_manifest(folder / MANIFEST)
        except _Malformed as exc:
            raise VerifyError(f"{folder}: {exc}") from None
        number = self.field(manifest, "epoch", int)
        named = _FOLDER_NAME.match(folder.name)
        if number is not None:
            if self.epoch is not None and number != self.epoch:
                self.fail(f"manifest is for epoch {number}, expected {self.epoch}")
            if named and int(named.group(1)) != number:
                self.fail(f"folder {folder.name} holds epoch {number}")
        root_listed = manifest.get("merkle_root")
        if not isinstance(root_listed, str):
            self.fail(f"manifest merkle_root is {root_listed!r}")
            root_listed = None
        total_listed = self.field(manifest, "total", str)
        accounts_listed = self.field(manifest, "accounts", int)
        emission_text = self.field(manifest, "emission", str)
        by_channel = manifest.get("totals_by_channel")
        if not isinstance(by_channel, dict) or not all(
                isinstance(v, str) and _DECIMAL.match(v) for v in by_channel.values()):
            self.fail(f"manifest totals_by_channel is {by_channel!r}, not channel -> decimal")
            by_channel = None
        allocation_rows = self.field(manifest, "allocation_rows", int)
        listed = manifest.get("files")
        if not isinstance(listed, dict):
            self.fail(f"manifest files is {listed!r}, not file -> sha256")
            listed = {}
        for name in ARTIFACTS:
            if name not in listed:
                self.fail(f"manifest does not list {name}")
        for name, digest in listed.items():
            if not _plain_name(name):
                self.fail(f"manifest lists {name!r}, which is not a file of the folder")
            elif not isinstance(digest, str) or not _SHA256.match(digest):
                self.fail(f"manifest sha256 of {name} is {digest!r}")

        # Hashing threads (fed the JSON files' blocks as they are parsed, or reading whole
        # files), and one more reading the previous epoch's folder and this epoch's
        # allocations while this thread rebuilds the tree (keccak holds the GIL, one call at a
        # time; half of them run in a helper process) and checks the claims: the readers spend
        # most of their time in numpy, pyarrow and hashlib, which release it.
        with ThreadPoolExecutor(max_workers=3) as pool, \
                ThreadPoolExecutor(max_workers=1) as side:
            hasher = _Hasher(pool)
            others = {name: hasher.whole_file(folder / name) for name in listed
                      if _plain_name(name) and name not in (TREE_FILE, CLAIMS_FILE)
                      and (folder / name).is_file()}
            dump, raw, words = self.read_tree(hasher)
            index = _Accounts(raw) if dump is not None else None
            n = len(dump.accounts) if dump is not None else 0
            aside = side.submit(self.read_aside, hasher, number, index, n)
            rebuilt = self.check_tree(dump, raw, words, index) if dump is not None else None
            del raw, words
            claims = self.claims(hasher, dump, rebuilt, index)
            previous, allocations, problems = aside.result()
            self.problems += problems
            digests = {name: d.hexdigest() for name, d in hasher.digests.items()
                       if name in hasher.complete}
            for name in (TREE_FILE, CLAIMS_FILE):  # a file whose parse stopped early
                if name not in digests and name in listed and (folder / name).is_file():
                    others[name] = hasher.whole_file(folder / name)
            digests.update({name: f.result() for name, f in others.items()})
        for name, digest in listed.items():
            if not _plain_name(name):
                continue
            if not (folder / name).is_file():
                self.fail(f"{name} is missing")
            elif digests.get(name) != digest:
                self.fail(f"{name} does not match its sha256 in the manifest")
        for name in ARTIFACTS:
            if name not in listed and not (folder / name).is_file():
                self.fail(f"{name} is missing")

        root = rebuilt.root if rebuilt is not None else None
        if root is not None and root_listed is not None and root != root_listed:
            self.fail(f"tree root {root} (rebuilt from the values) != manifest root "
                      f"{root_listed}")
        if claims is not None:
            self.check_claims(claims, number, root, total_listed, accounts_listed)
        emission = int(emission_text) if emission_text is not None else None
        if allocations is not None:
            self.check_allocations(allocations, emission, by_channel, allocation_rows)
        checked_previous = self.check_cumulative(number, claims, allocations, previous,
                                                 emission)
        if self.problems:
            raise VerifyError(f"{folder}: " + "; ".join(self.problems))
        assert claims is not None and root is not None
        return {"epoch": number, "merkle_root": root, "accounts": claims[0].count,
                "total": claims[0].total, "checked_previous": checked_previous}

    # -- merkle_tree.json --------------------------------------------------------------------

    def read_tree(self, hasher: _Hasher
                  ) -> tuple[_Dump | None, np.ndarray | None, np.ndarray | None]:
        """merkle_tree.json read and its values checked: (dump, raw accounts (n, 20), amounts as
        ABI words (n, 32)), or Nones when there is no tree to rebuild."""
        path = self.folder / TREE_FILE
        if not path.is_file():
            return None, None, None
        try:
            dump = _canonical_dump(path, hasher) or _read_dump(path, hasher)
        except (_Malformed, OSError) as exc:
            self.fail(f"{TREE_FILE} is not a valid standard-v1 dump: {exc}")
            return None, None, None
        problems = []
        if dump.format != "standard-v1":
            problems.append(f"format {dump.format!r}, expected 'standard-v1'")
        if dump.leaf_encoding != ["address", "uint256"]:
            problems.append(f"leafEncoding {dump.leaf_encoding!r}, expected "
                            "['address', 'uint256']")
        n = len(dump.accounts)
        if n == 0:
            problems.append("no values (an empty tree is not allowed)")
        valid = _hex_valid(dump.accounts)
        if not valid.all():
            bad = int(np.flatnonzero(~valid)[0])
            problems.append(f"values[{bad}]: account {_address(dump.accounts[bad])!r} is not hex")
        words, fits = _uint256_words(dump.limbs)
        if not fits.all():
            problems.append(f"values[{int(np.flatnonzero(~fits)[0])}]: amount of 2**256 or more")
        if problems:
            self.fail(f"{TREE_FILE} is not a valid standard-v1 dump: " + "; ".join(problems))
            return None, None, None
        return dump, _unhex(dump.accounts), words

    def check_tree(self, dump: _Dump, raw: np.ndarray, words: np.ndarray,
                   index: _Accounts) -> _Rebuilt:
        """Rebuild the tree from the dump's values and compare it with the dump."""
        n = len(dump.accounts)
        keccak = _Keccak()
        try:
            checksummed = _checksummed(dump.accounts, keccak.rows)
            rebuilt = _rebuild(raw, words, keccak.rows)
        finally:
            keccak.close()
        if not checksummed.all():
            bad = np.flatnonzero(~checksummed)
            self.fail(f"{TREE_FILE}: {len(bad)} accounts are not EIP-55 checksummed (first: "
                      f"{_address(dump.accounts[bad[0]])})")
        if len(index.duplicates):
            self.fail(f"the tree lists an account more than once (first: "
                      f"{_address(dump.accounts[index.duplicates[0]])})")
        if len(dump.nodes) != 2 * n - 1:
            self.fail(f"{TREE_FILE}: tree has {len(dump.nodes)} nodes, {n} values need "
                      f"{2 * n - 1}")
        else:
            if dump.nodes[0].tobytes() != rebuilt.hex[0].tobytes():
                self.fail(f"{TREE_FILE}: tree[0] 0x{dump.nodes[0].tobytes().decode()} is not "
                          f"the root rebuilt from the values ({rebuilt.root})")
            differ = np.flatnonzero(~_same_rows(dump.nodes.view(np.uint64),
                                                rebuilt.hex.view(np.uint64)))
            if len(differ):
                self.fail(f"{TREE_FILE}: {len(differ)} nodes of the tree array differ from the "
                          f"tree rebuilt from the values (first: tree[{differ[0]}])")
            # each value's treeIndex must point at its leaf (the text of the rebuilt leaf)
            inside = (dump.tree_index >= 0) & (dump.tree_index < len(dump.nodes))
            at = np.where(inside, dump.tree_index, 0)
            leaf = np.zeros(n, bool)
            for lo in range(0, n, 1 << 17):  # in slices: two 64-byte rows a value
                part = slice(lo, lo + (1 << 17))
                leaf[part] = _same_rows(dump.nodes.view(np.uint64).take(at[part], axis=0),
                                        rebuilt.hex.view(np.uint64).take(
                                            rebuilt.position[part], axis=0))
            misplaced = np.flatnonzero(~inside | ~leaf)
            if len(misplaced):
                self.fail(f"{TREE_FILE}: {len(misplaced)} values' treeIndex does not point at "
                          f"their leaf (first: values[{misplaced[0]}])")
        moved = np.flatnonzero(dump.tree_index != rebuilt.position)
        if len(moved):
            self.fail(f"{TREE_FILE}: {len(moved)} values have a treeIndex other than where the "
                      f"sorted-leaf layout puts them (first: values[{moved[0]}] at "
                      f"{dump.tree_index[moved[0]]}, rebuilt at {rebuilt.position[moved[0]]})")
        # ~220 MB at 1M claims, no longer needed (proofs are compared with the hex text)
        dump.nodes = rebuilt.nodes = np.zeros((0, 64), np.uint8)
        return rebuilt

    # -- claims.json -------------------------------------------------------------------------

    def claims(self, hasher: _Hasher, dump: _Dump | None, rebuilt: _Rebuilt | None,
               index: _Accounts | None) -> tuple[_ClaimsTop, _ClaimCheck | None] | None:
        """claims.json read (the published layout's reader, else the general one from the
        top) and checked claim by claim against the rebuilt tree."""
        path = self.folder / CLAIMS_FILE
        if not path.is_file():
            return None
        unchecked: list[np.ndarray] = []

        def spelling(rows: _ClaimRows) -> None:  # no tree to check against: EIP-55 only
            unchecked.append(rows.hex40[~_checksummed(rows.hex40)])

        def fresh() -> _ClaimCheck | None:
            unchecked.clear()
            if dump is not None and rebuilt is not None and index is not None:
                return _ClaimCheck(dump, index, rebuilt)
            return None

        try:
            check = fresh()
            sink: _Sink = check or spelling
            try:
                claims = _ahead(lambda: _canonical_claims(path, hasher))
                while True:
                    try:
                        sink(next(claims))
                    except StopIteration as done:
                        top = done.value
                        break
                    if check is not None and check.strange:
                        claims.close()  # a proof element that is not hex: the general reader
                        raise _NotCanonical  # judges what the file says there
            except _NotCanonical:  # not the published layout: the general reader, from the top
                check = fresh()
                top = _read_claims(path, hasher, check or spelling)
        except (_Malformed, OSError) as exc:
            self.fail(f"{CLAIMS_FILE} is not a valid claims file: {exc}")
            return None
        if check is None:
            self.fail(f"{CLAIMS_FILE}: proofs not checked, the tree could not be rebuilt")
            wrong = _stack(unchecked, 40, np.uint8)
            if len(wrong):
                self.fail(f"{len(wrong)} accounts are not EIP-55 checksummed (first: "
                          f"{_address(wrong[0])})")
        else:
            check.fold()
        return top, check

    def check_claims(self, claims: tuple[_ClaimsTop, _ClaimCheck | None], number: int | None,
                     root: str | None, total_listed: str | None,
                     accounts_listed: int | None) -> None:
        """claims.json's header and totals, and what its claims' checks found."""
        top, check = claims
        epoch, claims_root, claims_total = (top.top[k][1] for k in ("epoch", "merkle_root",
                                                                     "total"))
        if number is not None and epoch != number:
            self.fail(f"{CLAIMS_FILE} is for epoch {epoch}, manifest {number}")
        if root is not None and claims_root != root:
            self.fail(f"{CLAIMS_FILE} merkle_root differs from the tree root")
        if str(top.total) != claims_total or str(top.total) != total_listed:
            self.fail(f"claims sum to {top.total}, files say {claims_total} / {total_listed}")
        if accounts_listed != top.count:
            self.fail(f"{top.count} claims, manifest says {accounts_listed}")
        if check is None:
            return
        bad = check.bad
        if "case" in bad:
            self.fail(f"{bad['case'][0]} accounts are not EIP-55 checksummed (first: "
                      f"{bad['case'][1]})")
        twice = np.flatnonzero(check.times > 1)
        if len(twice):
            self.fail(f"{CLAIMS_FILE} lists {len(twice)} accounts more than once (first: "
                      f"{_address(check.dump.accounts[twice[0]])})")
        unclaimed = np.flatnonzero(check.times == 0)
        absent, amounts = bad.get("absent", (0, "")), bad.get("amount", (0, ""))
        if absent[0] or amounts[0] or len(unclaimed):
            first = absent[1] or amounts[1] or _address(check.dump.accounts[unclaimed[0]])
            self.fail(f"{CLAIMS_FILE} accounts/amounts differ from the tree's values: "
                      f"{absent[0]} accounts are not in the tree, {amounts[0]} amounts differ, "
                      f"{len(unclaimed)} values have no claim (first: {first})")
        if "proof" in bad:
            self.fail(f"{bad['proof'][0]} proofs do not verify (first: {bad['proof'][1]})")
        if "disagree" in bad:
            self.fail(f"internal error: hash-folding and the sibling-path comparison disagree "
                      f"on {bad['disagree'][0]} proofs (first: {bad['disagree'][1]})")

    # -- allocations.csv ---------------------------------------------------------------------

    def check_allocations(self, allocations: _Allocations, emission: int | None,
                          by_channel: dict[str, str] | None, rows: int | None) -> None:
        """allocations.csv against the manifest: rows, emission, totals per channel."""
        self.problems += allocations.problems
        if rows is not None and rows != allocations.rows:
            self.fail(f"{ALLOCATIONS_FILE} has {allocations.rows} rows, manifest {rows}")
        sums = allocations.by_channel
        allocated = sum(sums.values())
        if emission is not None and allocated != emission:
            self.fail(f"allocations sum to {allocated}, emission is {emission}")
        if by_channel is not None:
            for channel in sorted(set(by_channel) | set(sums)):
                listed = int(by_channel.get(channel, 0))
                if sums.get(channel, 0) != listed:
                    self.fail(f"channel {channel}: allocations {sums.get(channel, 0)} != "
                              f"manifest {listed}")

    # -- the previous epoch ------------------------------------------------------------------

    def read_aside(self, hasher: _Hasher, number: int | None, index: _Accounts | None, n: int
                   ) -> tuple[_Previous | None, _Allocations | None,
                              list[str]]:
        """On the side thread: the previous epoch's claims and this epoch's allocations, with
        the problems found reading them (not added to ``problems`` from this thread)."""
        problems: list[str] = []
        previous = self.previous(hasher, number, index, n, problems)
        allocations = None
        if (self.folder / ALLOCATIONS_FILE).is_file() and number is not None:
            try:
                allocations = _read_allocations(self.folder / ALLOCATIONS_FILE, number, index, n)
            except (_Malformed, pa.ArrowException, OSError, UnicodeDecodeError) as exc:
                problems.append(f"{ALLOCATIONS_FILE} cannot be read: {exc}")
        return previous, allocations, problems

    def previous(self, hasher: _Hasher, number: int | None, index: _Accounts | None, n: int,
                 problems: list[str]) -> _Previous | None:
        """The previous epoch's claims when its folder lies beside this one (None if not, or
        if it cannot be read: then a problem says why).

        They are read from its ``merkle_tree.json``: the values its root commits to, which the
        distributor pays against, and which that epoch's own verification holds equal to its
        ``claims.json``. Both files must match that folder's manifest; the dump is a sixth of
        the size of the claims (no proofs).
        """
        if number is None or number <= 0:
            return None
        folder = self.folder.parent / f"epoch-{number - 1:05d}"
        if not (folder / CLAIMS_FILE).is_file():
            return None
        self.compare_previous = True
        try:
            manifest = _read_manifest(folder / MANIFEST)
        except _Malformed as exc:
            problems.append(f"{folder.name}: {exc}")
            return None
        if index is None:
            return None  # nothing to compare with: the tree of this epoch is broken
        own = _Hasher(hasher.pool)
        claims_digest = own.whole_file(folder / CLAIMS_FILE)
        try:
            dump = (_canonical_dump(folder / TREE_FILE, own, nodes_too=False)
                    or _read_dump(folder / TREE_FILE, own))
        except (_Malformed, OSError) as exc:
            problems.append(f"{folder.name}/{TREE_FILE} is not a valid standard-v1 dump: {exc}")
            return None
        listed = manifest.get("files")
        listed = listed if isinstance(listed, dict) else {}
        for name, digest in ((TREE_FILE, own.digests[TREE_FILE].hexdigest()),
                             (CLAIMS_FILE, claims_digest.result())):
            if listed.get(name) != digest:
                problems.append(f"{folder.name}/{name} does not match its own manifest: the "
                                "previous epoch's folder cannot be trusted")
        if not _hex_valid(dump.accounts).all():
            problems.append(f"{folder.name}/{TREE_FILE} holds an account that is not hex")
            return None
        return _previous_amounts(dump, index, n)

    compare_previous = False

    def check_cumulative(self, number: int | None,
                         claims: tuple[_ClaimsTop, _ClaimCheck | None] | None,
                         allocations: _Allocations | None,
                         previous: _Previous | None,
                         emission: int | None) -> bool:
        """Claims = previous claims + this epoch's allocations, account by account (zero
        counting as absent); none lower than before; total = previous total + emission.
        Returns whether the previous epoch's folder was compared with."""
        check = claims[1] if claims is not None else None
        if number is None or check is None or allocations is None \
                or allocations.per_account is None:
            return self.compare_previous
        if number > 0 and previous is None:
            return self.compare_previous  # nothing to start from: claims not recomputable
        claimed = check.claimed
        accounts = check.dump.accounts
        expected = allocations.per_account
        outside = dict(allocations.outside)
        if previous is not None:
            before = previous
            lower = np.flatnonzero(_greater(before.amounts, claimed))
            gone = before.outside
            if len(lower) or gone:
                i = int(lower[0]) if len(lower) else -1
                first = (f"{_address(accounts[i])} {_int(before.amounts[i])} -> "
                         f"{_int(claimed[i])}" if i >= 0 else f"{gone[0][0]} {gone[0][1]} -> 0")
                self.fail(f"{len(lower) + len(gone)} cumulative amounts went down since epoch "
                          f"{number - 1} (first: {first})")
            for account, amount in gone:
                key = account.lower()
                outside[key] = outside.get(key, 0) + amount
            previous_total = before.total
            if emission is not None and claims is not None \
                    and claims[0].total != previous_total + emission:
                self.fail(f"total {claims[0].total} != previous total {previous_total} + "
                          f"emission {emission}")
            expected = expected + before.amounts
            _normalize(expected)
        wrong = np.flatnonzero((expected != claimed).any(axis=1))
        extra = sorted(a for a, v in outside.items() if v)
        if len(wrong) or extra:
            if len(wrong):
                i = int(wrong[0])
                first = (f"{_address(accounts[i])} expected {_int(expected[i])}, "
                         f"{CLAIMS_FILE} {_int(claimed[i])}")
            else:
                first = f"{extra[0]} expected {outside[extra[0]]}, {CLAIMS_FILE} 0"
            self.fail(f"{len(wrong) + len(extra)} claims differ from the previous epoch's claim "
                      f"plus this epoch's allocations (first: {first})")
        return self.compare_previous
