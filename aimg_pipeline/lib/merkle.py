"""OpenZeppelin ``StandardMerkleTree`` for ``["address", "uint256"]`` leaves, in Python.

This is a byte-for-byte reimplementation of ``@openzeppelin/merkle-tree`` 1.0.8
(``src/standard.ts``, ``src/merkletree.ts``, ``src/core.ts``, ``src/hashes.ts``) restricted to the
one leaf encoding the distribution uses. Matching it exactly matters because the published
``standard-v1`` dump must load in the JS library, and its proofs must pass both the JS
``verify`` and Solidity's ``MerkleProof.verify`` in the distributor contract.

The construction, as in the library:

* ``leaf = keccak256(keccak256(abi.encode(account, amount)))`` (double hashing prevents a
  64-byte leaf preimage from being passed off as an internal node);
* leaves are sorted ascending by hash (a stable sort, so equal leaves keep their input order);
* the tree is a flat array of ``2n - 1`` nodes; sorted leaf ``i`` is stored at
  ``tree[len - 1 - i]`` and ``tree[k] = hashPair(tree[2k + 1], tree[2k + 2])`` where
  ``hashPair(a, b) = keccak256(min(a, b) ++ max(a, b))`` (commutative, so proofs carry no
  left/right flags);
* ``values`` keep the caller's order and record where each value's leaf sits (``treeIndex``).

Deliberate differences from the JS library, all on the strict side: addresses are validated
(20 bytes; mixed case must be a valid EIP-55 checksum) and always stored and dumped in EIP-55
form, amounts must be ``int`` in ``[0, 2**256)`` and are dumped as decimal strings, and
``load`` also checks that the dump is exactly what ``of`` would produce for its values. A
dump made by this module is therefore identical to what the JS library dumps for the same
values given as ``[checksummed address, decimal string]``.

Speed: a tree for N claims needs about 4N keccak calls (checksum, two leaf hashes, one
internal node). The C keccak of ``safe-pysha3`` is used when it is installed (~0.75 µs a
call, measured); otherwise: pycryptodome's public ``keccak.new`` costs ~4 µs per call,
almost all of it Python-side object setup, so the hot path drives pycryptodome's own
compiled keccak through its ctypes handle with one reusable state per thread (~1.1 µs per
call). If that private handle ever disappears or disagrees with the public API, the public API
is used instead. ``of`` and ``load`` run the keccak calls in tight loops and everything around
them (address parsing and checksums, ABI encoding, sorting, pairing, comparing) on numpy arrays
of all values at once; the nodes are kept as one (2n - 1, 32) byte array. The one-value-at-a-
time code remains as the reference: it runs whenever the array code finds an invalid value, so
errors name it exactly as before.
"""

from __future__ import annotations

import binascii
import ctypes
import gc
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from Crypto.Hash import keccak as _keccak

__all__ = [
    "FORMAT",
    "LEAF_ENCODING",
    "MerkleError",
    "StandardMerkleTree",
    "hash_pair",
    "leaf_hash",
    "to_checksum_address",
    "verify_proof",
]

FORMAT = "standard-v1"
LEAF_ENCODING: tuple[str, str] = ("address", "uint256")
_UINT256_LIMIT = 1 << 256

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_NODE_RE = re.compile(r"0x[0-9a-f]{64}")
_DECIMAL_RE = re.compile(r"0|[1-9][0-9]*")
_PAD12 = bytes(12)

# Masks for the branch-free EIP-55 computation in ``_checksum_from_lower``: one byte per hex
# character of the 40-character address.
_MASK_40 = int.from_bytes(b"\x40" * 40, "big")
_MASK_08 = int.from_bytes(b"\x08" * 40, "big")


class MerkleError(ValueError):
    """Invalid input to, or an invalid or tampered dump of, a Merkle tree."""


# --------------------------------------------------------------------------------------------
# keccak256
# --------------------------------------------------------------------------------------------

Hasher = Callable[[bytes], bytes]


def _public_keccak(data: bytes) -> bytes:
    """keccak256 through pycryptodome's public API (slow but always available)."""
    return _keccak.new(digest_bits=256, data=data).digest()


def _make_fast_hasher() -> Hasher:
    """Return a keccak256 function bound to its own native pycryptodome state.

    ctypes releases the GIL during each native call, so a state must never be shared across
    threads; callers get one per thread through ``_hasher()``.
    """
    lib = _keccak._raw_keccak_lib  # the CDLL pycryptodome itself uses (ctypes backend)
    if not isinstance(lib, ctypes.CDLL):  # e.g. pycryptodome running on its cffi backend
        raise TypeError("pycryptodome keccak is not on the ctypes backend")
    state = ctypes.c_void_p()
    # capacity 512 bits (= keccak256), 24 rounds; same arguments as Keccak_Hash.__init__.
    if lib.keccak_init(ctypes.byref(state), ctypes.c_size_t(64), ctypes.c_ubyte(24)):
        raise RuntimeError("keccak_init failed")
    reset, absorb, digest = lib.keccak_reset, lib.keccak_absorb, lib.keccak_digest
    out = ctypes.create_string_buffer(32)
    size_32 = ctypes.c_size_t(32)
    pad = ctypes.c_ubyte(0x01)  # original Keccak padding, not SHA-3's 0x06
    size_t = ctypes.c_size_t

    def keccak256(data: bytes) -> bytes:
        reset(state)
        absorb(state, data, size_t(len(data)))
        digest(state, out, size_32, pad)
        return out.raw

    weakref.finalize(keccak256, lib.keccak_destroy, state)
    return keccak256


_local = threading.local()
_fast_ok: bool | None = None


def _hasher() -> Hasher:
    """Return this thread's keccak256 function (fast native path if it passes a self-test)."""
    h = getattr(_local, "keccak", None)
    if h is not None:
        return h
    global _fast_ok
    h = _public_keccak
    samples = (b"", b"abc", bytes(range(64)), b"\xff" * 200)
    try:  # safe-pysha3 (C, ~0.75 µs a hash here) when installed: twice the ctypes path's speed
        import sha3

        keccak_256 = sha3.keccak_256

        def pysha3(data: bytes) -> bytes:
            return keccak_256(data).digest()

        if all(pysha3(s) == _public_keccak(s) for s in samples):
            _local.keccak, _local.native = pysha3, keccak_256
            return pysha3
    except Exception:  # not installed or broken: the pycryptodome paths below
        pass
    if _fast_ok is not False:
        try:
            fast = _make_fast_hasher()
            if all(fast(s) == _public_keccak(s) for s in samples):
                h, _fast_ok = fast, True
            else:
                _fast_ok = False
        except Exception:  # private pycryptodome internals changed: use the public API
            _fast_ok = False
    _local.keccak, _local.native = h, None
    return h


def _keccak_rows(data: bytes, width: int, twice: bool = False) -> bytes:
    """keccak256 of every ``width``-byte record of ``data`` (``twice``: of its digest), the
    32-byte digests concatenated in order.

    The bulk form of ``_hasher()`` for the vectorised tree code: one list comprehension over
    the records, calling safe-pysha3's type directly when it is in use (no wrapper call per
    hash: ~0.8 µs a hash instead of ~1.2 µs).
    """
    h = _hasher()
    native = getattr(_local, "native", None)
    spans = range(0, len(data), width)
    if native is not None:
        if twice:
            return b"".join([native(native(data[i:i + width]).digest()).digest() for i in spans])
        return b"".join([native(data[i:i + width]).digest() for i in spans])
    if twice:
        return b"".join([h(h(data[i:i + width])) for i in spans])
    return b"".join([h(data[i:i + width]) for i in spans])


# --------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------


def _checksum_from_lower(hex40: str, h: Hasher) -> str:
    """EIP-55 checksum of a lowercase 40-hex-digit address (no ``0x``).

    A character is uppercased when it is a letter and the matching nibble of
    ``keccak256(hex40)`` is >= 8. Done on 320-bit integers (one byte per character) instead of
    a per-character loop because it runs once per claim and dominated the leaf cost.
    """
    text = int.from_bytes(hex40.encode("ascii"), "big")
    nibbles = int.from_bytes(h(hex40.encode("ascii")).hex()[:40].encode("ascii"), "big")
    # As ASCII hex digits, nibble >= 8 is '8'/'9' (bit 0x08 set) or 'a'..'f' (bit 0x40 set);
    # a letter in the address has bit 0x40 set and a digit never does.
    high = ((nibbles & _MASK_08) << 3) | (nibbles & _MASK_40)
    upper = (high & text & _MASK_40) >> 1  # 0x20 where the letter must become uppercase
    return "0x" + (text ^ upper).to_bytes(40, "big").decode("ascii")


def _parse_address(account: object, h: Hasher) -> tuple[str, bytes]:
    """Validate an address and return (EIP-55 form, 20 raw bytes)."""
    if not isinstance(account, str) or not _ADDRESS_RE.fullmatch(account):
        raise MerkleError(f"invalid address {account!r}: expected 0x followed by 40 hex digits")
    lower = account[2:].lower()
    checksummed = _checksum_from_lower(lower, h)
    body = account[2:]
    if body != lower and body != body.upper() and account != checksummed:
        raise MerkleError(
            f"invalid address {account!r}: mixed case but not a valid EIP-55 checksum "
            f"(expected {checksummed})"
        )
    return checksummed, bytes.fromhex(lower)


def _check_amount(amount: object) -> int:
    """Validate a uint256 amount; ``bool`` is rejected although it is an ``int`` subclass."""
    if type(amount) is not int:
        raise MerkleError(f"invalid amount {amount!r}: expected an int")
    if not 0 <= amount < _UINT256_LIMIT:
        raise MerkleError(f"invalid amount {amount}: must satisfy 0 <= amount < 2**256")
    return amount


def to_checksum_address(account: str) -> str:
    """Return the EIP-55 form of a valid address (the form used in dumps)."""
    return _parse_address(account, _hasher())[0]


def _leaf(raw_address: bytes, amount: int, h: Hasher) -> bytes:
    # abi.encode(address, uint256): two 32-byte words, the address left-padded with zeros.
    return h(h(_PAD12 + raw_address + amount.to_bytes(32, "big")))


def leaf_hash(account: str, amount: int) -> bytes:
    """Return the 32-byte leaf for one claim: ``keccak256(keccak256(abi.encode(a, amount)))``."""
    h = _hasher()
    _, raw = _parse_address(account, h)
    return _leaf(raw, _check_amount(amount), h)


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Commutative node hash: ``keccak256`` of the two children in ascending byte order."""
    return _hasher()(a + b if a <= b else b + a)


def _node_bytes(node: object, what: str) -> bytes:
    """Parse a canonical node (``0x`` + 64 lowercase hex digits, as the JS library writes)."""
    if not isinstance(node, str) or not _NODE_RE.fullmatch(node):
        raise MerkleError(f"{what}: expected 0x followed by 64 lowercase hex digits, got {node!r}")
    return bytes.fromhex(node[2:])


def verify_proof(root: str, account: str, amount: int, proof: Sequence[str]) -> bool:
    """Check a claim's proof against a root, with OpenZeppelin ``MerkleProof.verify`` semantics.

    The leaf is folded with each proof element through ``hash_pair``; the claim is valid iff
    the result equals ``root``. Malformed inputs (bad address, amount or hex) raise
    ``MerkleError``; a well-formed but wrong claim or proof returns ``False``.
    """
    h = _hasher()
    expected = _node_bytes(root.lower() if isinstance(root, str) else root, "root")
    _, raw = _parse_address(account, h)
    node = _leaf(raw, _check_amount(amount), h)
    for i, sibling in enumerate(proof):
        s = _node_bytes(sibling.lower() if isinstance(sibling, str) else sibling, f"proof[{i}]")
        node = h(node + s if node <= s else s + node)
    return node == expected


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while allocating millions of acyclic objects.

    Building a 1M-claim tree allocates millions of tuples and lists; each allocation burst
    triggers collections that rescan everything alive, which measured ~2x slower overall.
    Nothing allocated here can form a cycle, so pausing is safe; it is process-wide, but
    only for the duration of the bulk build.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------------------------------
# vectorised building blocks: numpy over whole arrays, keccak one record at a time
# --------------------------------------------------------------------------------------------
#
# A 1M-claim tree needs ~4M keccak calls; done one Python statement per hash with the
# surrounding parsing, slicing and comparing, that took ~15 s. Here every step except the
# keccak call itself works on whole (n, 32)-byte arrays, and each of those steps checks
# exactly what the one-by-one code checks. When a check fails, the one-by-one code is run
# instead, so that errors name the offending value exactly as before.

_ROWS = 65_536  # values per step of the array code (see _checked_leaves)


def _checksummed_addresses(accounts: Sequence[object]) -> tuple[list[str], np.ndarray] | None:
    """EIP-55 forms and raw 20-byte rows of many addresses, or None if any is invalid.

    The same rule as ``_parse_address`` (``0x`` + 40 hex digits; mixed case must be the
    checksum); the checksum keccak runs once per address and the case mapping on arrays.
    """
    n = len(accounts)
    try:
        joined = "".join(accounts)  # type: ignore[arg-type]  # TypeError unless all str
    except TypeError:
        return None
    if len(joined) != 42 * n or not joined.isascii() or set(map(len, accounts)) != {42}:
        return None
    text = np.frombuffer(joined.encode("ascii"), np.uint8).reshape(n, 42)
    if not ((text[:, 0] == ord("0")) & (text[:, 1] == ord("x"))).all():
        return None
    body = text[:, 2:]
    lower_text = body.tobytes().lower()
    try:
        raw = np.frombuffer(binascii.unhexlify(lower_text), np.uint8).reshape(n, 20)
    except binascii.Error:  # not a hex digit
        return None
    lower = np.frombuffer(lower_text, np.uint8).reshape(n, 40)
    digest = np.frombuffer(_keccak_rows(lower_text, 40), np.uint8).reshape(n, 32)[:, :20]
    high = np.empty((n, 40), dtype=bool)  # character i's nibble of keccak(lowercase) >= 8
    high[:, 0::2] = digest >= 0x80
    high[:, 1::2] = (digest & 0x0F) >= 0x08
    letter = body >= ord("A")
    checksummed = lower ^ ((letter & high).view(np.uint8) << 5)  # 0x20 turns a-f into A-F
    upper = letter & (body < ord("a"))
    mixed = upper.any(axis=1) & (letter & ~upper).any(axis=1)
    if (mixed & (body != checksummed).any(axis=1)).any():
        return None
    out = np.empty((n, 42), dtype=np.uint8)
    out[:, :2] = text[:, :2]
    out[:, 2:] = checksummed
    flat = out.tobytes().decode("ascii")
    return [flat[i:i + 42] for i in range(0, 42 * n, 42)], raw


def _amount_words(amounts: Sequence[object]) -> bytes | None:
    """The 32-byte big-endian words of many amounts, or None if any is not a uint256 int."""
    if not set(map(type, amounts)) <= {int}:
        return None
    if amounts and (min(amounts) < 0 or max(amounts) >= _UINT256_LIMIT):  # type: ignore[type-var]
        return None
    return b"".join([a.to_bytes(32, "big") for a in amounts])  # type: ignore[attr-defined]


def _leaves(raw: np.ndarray, words: bytes) -> np.ndarray:
    """Leaf hashes, one (32,) row per value: keccak256(keccak256(abi.encode(a, amount)))."""
    n = len(raw)
    encoded = np.zeros((n, 64), dtype=np.uint8)  # address left-padded with 12 zero bytes
    encoded[:, 12:32] = raw
    encoded[:, 32:] = np.frombuffer(words, np.uint8).reshape(n, 32)
    return np.frombuffer(_keccak_rows(encoded.tobytes(), 64, twice=True),
                         np.uint8).reshape(n, 32)


def _checked_leaves(accounts: Sequence[object],
                    amounts: Sequence[object]) -> tuple[list[str], np.ndarray] | None:
    """EIP-55 accounts and leaf hashes of many values, or None if any value is invalid.

    Done ``_ROWS`` values at a time: the temporaries stay a few MB and are reused instead of
    faulting in fresh memory for a whole 1M-value array at every step.
    """
    n = len(accounts)
    checksummed: list[str] = []
    leaves = np.empty((n, 32), dtype=np.uint8)
    for at in range(0, n, _ROWS):
        parsed = _checksummed_addresses(accounts[at:at + _ROWS])
        words = _amount_words(amounts[at:at + _ROWS])
        if parsed is None or words is None:
            return None
        checksummed += parsed[0]
        leaves[at:at + len(parsed[0])] = _leaves(parsed[1], words)
    return checksummed, leaves


def _sorted_order(leaves: np.ndarray) -> np.ndarray:
    """Indices that sort the rows ascending by bytes, stably (as ``sorted`` in ``_build``:
    JS Array.prototype.sort is stable, so equal leaves keep their input order there too).

    The rows as four big-endian 64-bit words compare like the bytes. Random leaves differ in
    their first word, so a stable sort on it is the answer unless two first words are equal
    (duplicate claims): then ``np.lexsort`` (stable, its last key the primary one) on all four.
    """
    words = leaves.view(">u8").astype(np.uint64)
    order = np.argsort(words[:, 0], kind="stable")
    if len(order) > 1 and not (np.diff(words[order, 0]) > 0).all():
        order = np.lexsort(words.T[::-1])
    return order


def _hash_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``hash_pair`` of each pair of rows: keccak256 of the two 32-byte rows in byte order
    (``_ROWS`` pairs at a time, as in ``_checked_leaves``)."""
    out = np.empty((len(a), 32), dtype=np.uint8)
    for at in range(0, len(a), _ROWS):
        left, right = a[at:at + _ROWS], b[at:at + _ROWS]
        m = len(left)
        first = (left != right).argmax(axis=1)  # first differing byte (0 for equal rows)
        rows = np.arange(m)
        swap = (left[rows, first] > right[rows, first])[:, None]
        pairs = np.empty((m, 64), dtype=np.uint8)
        pairs[:, :32] = np.where(swap, right, left)
        pairs[:, 32:] = np.where(swap, left, right)
        out[at:at + m] = np.frombuffer(_keccak_rows(pairs.tobytes(), 64), np.uint8).reshape(m, 32)
    return out


def _internal_levels(n: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` index ranges of the internal nodes (0 .. n-2), one per level, deepest
    first: node k's children 2k+1 and 2k+2 are on the next level down."""
    levels = []
    lo = 0
    while lo <= n - 2:
        levels.append((lo, min(2 * lo + 1, n - 1)))
        lo = 2 * lo + 1
    return levels[::-1]


def _layout(leaves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_build`` on arrays: the (2n-1, 32) node array and each value's tree index."""
    n = len(leaves)
    order = _sorted_order(leaves)
    nodes = np.empty((2 * n - 1, 32), dtype=np.uint8)
    nodes[n - 1:] = leaves[order[::-1]]  # sorted leaf i at 2n-2-i
    tree_index = np.empty(n, dtype=np.int64)
    tree_index[order] = np.arange(2 * n - 2, n - 2, -1)
    for lo, hi in _internal_levels(n):  # a whole level at a time, its children done before
        nodes[lo:hi] = _hash_pairs(nodes[2 * lo + 1:2 * hi:2], nodes[2 * lo + 2:2 * hi + 1:2])
    return nodes, tree_index


def _nodes_from_ascii(text: np.ndarray) -> np.ndarray | None:
    """(m, 66) ASCII rows of canonical nodes (``0x`` + 64 lowercase hex digits) to (m, 32)
    bytes, or None if any row is not canonical."""
    if not ((text[:, 0] == ord("0")) & (text[:, 1] == ord("x"))).all():
        return None
    digits = text[:, 2:].tobytes()
    if digits.translate(None, b"0123456789abcdef"):  # anything but lowercase hex digits
        return None
    return np.frombuffer(binascii.unhexlify(digits), np.uint8).reshape(len(text), 32)


def _nodes_from_hex(nodes: Sequence[object]) -> np.ndarray | None:
    """``_node_bytes`` of every node at once, or None if any is not canonical."""
    m = len(nodes)
    try:
        joined = "".join(nodes)  # type: ignore[arg-type]
    except TypeError:
        return None
    if len(joined) != 66 * m or not joined.isascii() or set(map(len, nodes)) != {66}:
        return None
    return _nodes_from_ascii(np.frombuffer(joined.encode("ascii"), np.uint8).reshape(m, 66))


def _proof_siblings(leaf_index: np.ndarray) -> np.ndarray:
    """The tree indices of the proofs of leaves at ``leaf_index``: one row per leaf, its
    sibling first, up to the root's child; rows of shallower leaves end in -1 padding."""
    k = leaf_index.astype(np.int64)
    depth = int(k.max() + 1).bit_length() - 1 if len(k) else 0
    out = np.empty((len(k), depth), dtype=np.int64)
    for j in range(depth):
        alive = k > 0
        out[:, j] = np.where(alive, np.where(k & 1, k + 1, k - 1), -1)
        k = np.where(alive, (k - 1) >> 1, 0)
    return out


# --------------------------------------------------------------------------------------------
# tree
# --------------------------------------------------------------------------------------------


def _build(leaves: list[bytes], h: Hasher) -> tuple[list[bytes], list[int]]:
    """Lay out the tree as the JS ``prepare`` + ``makeMerkleTree`` do, one node at a time:
    the reference for ``_layout``, used when some value is invalid (to name it).

    Returns the node array and, for each value (in input order), its tree index.
    """
    n = len(leaves)
    if n == 0:
        raise MerkleError("cannot build a Merkle tree with no values")
    # Stable sort by leaf hash: JS Array.prototype.sort is stable and the comparator returns
    # 0 for equal hashes, so duplicate leaves keep their input order there too.
    order = sorted(range(n), key=leaves.__getitem__)
    size = 2 * n - 1
    tree: list[bytes] = [b""] * size
    tree_index = [0] * n
    last = size - 1
    for sorted_pos, value_index in enumerate(order):
        tree[last - sorted_pos] = leaves[value_index]
        tree_index[value_index] = last - sorted_pos
    for k in range(n - 2, -1, -1):
        a = tree[2 * k + 1]
        b = tree[2 * k + 2]
        tree[k] = h(a + b if a <= b else b + a)
    return tree, tree_index


class StandardMerkleTree:
    """A ``StandardMerkleTree`` with leaf encoding ``["address", "uint256"]``.

    Build with ``of`` or ``load``; the constructor is internal and does no validation. The
    nodes are held as one (2n-1, 32) byte array; hex strings are made only when asked for.
    """

    __slots__ = ("_accounts", "_amounts", "_hex", "_hex_ascii", "_nodes", "_tree_index")

    def __init__(self, nodes: np.ndarray, accounts: list[str], amounts: list[int],
                 tree_index: np.ndarray) -> None:
        self._nodes = nodes
        self._accounts = accounts  # EIP-55
        self._amounts = amounts
        self._tree_index = tree_index
        self._hex: list[str] | None = None
        self._hex_ascii: np.ndarray | None = None

    @classmethod
    def of(cls, values: Sequence[tuple[str, int]]) -> StandardMerkleTree:
        """Build the tree for ``(account, amount)`` claims, keeping their order in ``values``.

        Addresses are normalised to EIP-55. Duplicate claims are allowed (as in the JS
        library); refusing them is the caller's policy, not the tree's.
        """
        items = values if isinstance(values, list | tuple) else list(values)
        if not items:
            raise MerkleError("cannot build a Merkle tree with no values")
        with _gc_paused():
            try:
                accounts = [account for account, _ in items]
                amounts = [amount for _, amount in items]
            except (TypeError, ValueError):
                return cls._of_one_by_one(items)
            checked = _checked_leaves(accounts, amounts)
            if checked is None:  # name the bad value
                return cls._of_one_by_one(items)
            nodes, tree_index = _layout(checked[1])
            return cls(nodes, checked[0], amounts, tree_index)

    @classmethod
    def _of_one_by_one(cls, values: Sequence[tuple[str, int]]) -> StandardMerkleTree:
        h = _hasher()
        normalised: list[tuple[str, int]] = []
        leaves: list[bytes] = []
        pad = _PAD12
        for i, item in enumerate(values):
            try:
                account, amount = item
            except (TypeError, ValueError):
                raise MerkleError(
                    f"value {i}: expected an (address, amount) pair, got {item!r}"
                ) from None
            try:
                checksummed, raw = _parse_address(account, h)
                _check_amount(amount)
            except MerkleError as exc:
                raise MerkleError(f"value {i}: {exc}") from None
            normalised.append((checksummed, amount))
            leaves.append(h(h(pad + raw + amount.to_bytes(32, "big"))))
        tree, tree_index = _build(leaves, h)
        return cls(np.frombuffer(b"".join(tree), np.uint8).reshape(-1, 32),
                   [a for a, _ in normalised], [m for _, m in normalised],
                   np.array(tree_index, dtype=np.int64))

    @classmethod
    def load(cls, dump: dict[str, Any]) -> StandardMerkleTree:
        """Load and fully validate a ``standard-v1`` dump.

        Beyond what the JS ``load`` checks (format, leaf encoding, each value's leaf at its
        ``treeIndex``, every internal node the hash of its children) this also requires the
        dump to be exactly what ``of`` produces for its values: one leaf per value, leaves in
        sorted order, no stray leaves. A dump that passes is safe to publish proofs from.
        """
        if not isinstance(dump, dict):
            raise MerkleError(f"dump must be a JSON object, got {type(dump).__name__}")
        if dump.get("format") != FORMAT:
            raise MerkleError(f"unknown dump format {dump.get('format')!r}, expected {FORMAT!r}")
        encoding = dump.get("leafEncoding")
        if not isinstance(encoding, list) or tuple(encoding) != LEAF_ENCODING:
            raise MerkleError(
                f"unsupported leafEncoding {encoding!r}, expected {list(LEAF_ENCODING)!r}"
            )
        raw_tree = dump.get("tree")
        raw_values = dump.get("values")
        if not isinstance(raw_tree, list) or not isinstance(raw_values, list):
            raise MerkleError("dump must have list fields 'tree' and 'values'")
        if not raw_values:
            raise MerkleError("dump has no values (an empty tree is not allowed)")
        extra = set(dump) - {"format", "leafEncoding", "tree", "values"}
        if extra:
            raise MerkleError(f"dump has unexpected fields {sorted(extra)}")
        n = len(raw_values)
        if len(raw_tree) != 2 * n - 1:
            raise MerkleError(
                f"tree has {len(raw_tree)} nodes but {n} values need exactly {2 * n - 1}"
            )
        with _gc_paused():
            fast = cls._load_fast(raw_tree, raw_values)
        return fast if fast is not None else cls._load_one_by_one(raw_tree, raw_values)

    @classmethod
    def _load_fast(cls, raw_tree: list[Any], raw_values: list[Any]) -> StandardMerkleTree | None:
        """``load``'s checks on whole arrays; None if any fails (``_load_one_by_one`` then
        names the first problem)."""
        nodes = _nodes_from_hex(raw_tree)
        if nodes is None or not all(type(e) is dict and len(e) == 2 for e in raw_values):
            return None
        try:
            pairs = [entry["value"] for entry in raw_values]
            given = [entry["treeIndex"] for entry in raw_values]
        except KeyError:
            return None
        if not all(type(v) is list and len(v) == 2 for v in pairs):
            return None
        texts = [v[1] for v in pairs]
        if not all(type(t) is str for t in texts) or not all(map(_DECIMAL_RE.fullmatch, texts)):
            return None
        try:
            amounts = list(map(int, texts))
        except ValueError:  # e.g. past int's digit limit: the one-by-one path says so
            return None
        return cls._from_parts(nodes, [v[0] for v in pairs], amounts, given)

    @classmethod
    def _from_parts(cls, nodes: np.ndarray, accounts: list[Any], amounts: list[int],
                    given: list[Any]) -> StandardMerkleTree | None:
        """The tree whose dump has these nodes ((2n-1, 32) bytes), accounts, amounts and
        tree indices, after every check ``load`` makes; None if any fails."""
        n = len(accounts)
        if n == 0 or len(nodes) != 2 * n - 1 or len(amounts) != n or len(given) != n:
            return None
        if not all(type(t) is int for t in given) or min(given) < n - 1 or max(given) > 2 * n - 2:
            return None
        checked = _checked_leaves(accounts, amounts)
        if checked is None:
            return None
        tree_index = np.array(given, dtype=np.int64)
        leaves = checked[1]
        if not np.array_equal(nodes[tree_index], leaves):  # each value's leaf at its index
            return None
        canonical = np.arange(2 * n - 2, n - 2, -1)  # sorted leaf i at 2n-2-i
        if not np.array_equal(tree_index[_sorted_order(leaves)], canonical):
            return None
        if n > 1 and not np.array_equal(
                _hash_pairs(nodes[1:2 * n - 1:2], nodes[2:2 * n:2]), nodes[:n - 1]):
            return None
        return cls(nodes, checked[0], amounts, tree_index)

    @classmethod
    def _load_one_by_one(cls, raw_tree: list[Any], raw_values: list[Any]) -> StandardMerkleTree:
        n = len(raw_values)
        tree = [_node_bytes(node, f"tree[{k}]") for k, node in enumerate(raw_tree)]

        h = _hasher()
        values: list[tuple[str, int]] = []
        leaves: list[bytes] = []
        given_index: list[int] = []
        for i, entry in enumerate(raw_values):
            if not isinstance(entry, dict) or set(entry) != {"value", "treeIndex"}:
                raise MerkleError(f"values[{i}]: expected {{'value': [...], 'treeIndex': n}}")
            value, ti = entry["value"], entry["treeIndex"]
            if not isinstance(value, list) or len(value) != 2:
                raise MerkleError(f"values[{i}]: value must be [address, amount]")
            account, amount_text = value
            if not isinstance(amount_text, str) or not _DECIMAL_RE.fullmatch(amount_text):
                raise MerkleError(
                    f"values[{i}]: amount must be a canonical decimal string, got {amount_text!r}"
                )
            try:
                checksummed, raw = _parse_address(account, h)
                amount = _check_amount(int(amount_text))
            except MerkleError as exc:
                raise MerkleError(f"values[{i}]: {exc}") from None
            if type(ti) is not int or not n - 1 <= ti < 2 * n - 1:
                raise MerkleError(f"values[{i}]: treeIndex {ti!r} is not a leaf position")
            leaf = _leaf(raw, amount, h)
            if tree[ti] != leaf:
                raise MerkleError(
                    f"values[{i}] ({checksummed}, {amount}): its leaf 0x{leaf.hex()} is not at "
                    f"treeIndex {ti} (found {raw_tree[ti]})"
                )
            values.append((checksummed, amount))
            leaves.append(leaf)
            given_index.append(ti)

        # Canonical layout: rebuilding from the values must place every value where the dump
        # says. Together with the check above this proves every leaf slot holds its value.
        order = sorted(range(n), key=leaves.__getitem__)
        last = 2 * n - 2
        for sorted_pos, value_index in enumerate(order):
            if given_index[value_index] != last - sorted_pos:
                raise MerkleError(
                    f"values[{value_index}]: treeIndex {given_index[value_index]} but the "
                    f"canonical (sorted-leaf) layout puts it at {last - sorted_pos}"
                )
        for k in range(n - 2, -1, -1):
            a, b = tree[2 * k + 1], tree[2 * k + 2]
            if tree[k] != h(a + b if a <= b else b + a):
                raise MerkleError(
                    f"tree[{k}] is not the hash of its children tree[{2 * k + 1}], "
                    f"tree[{2 * k + 2}]: the Merkle tree is invalid"
                )
        return cls(np.frombuffer(b"".join(tree), np.uint8).reshape(-1, 32),
                   [a for a, _ in values], [m for _, m in values],
                   np.array(given_index, dtype=np.int64))

    # -- accessors ----------------------------------------------------------------------------

    def _hex_nodes(self) -> list[str]:
        """Hex strings of all nodes, computed once and shared by dumps and proofs."""
        if self._hex is None:
            rows = np.empty((len(self._nodes), 66), dtype=np.uint8)
            rows[:, 0], rows[:, 1] = ord("0"), ord("x")
            rows[:, 2:] = self._hex_rows()
            text = rows.tobytes().decode("ascii")
            self._hex = [text[i:i + 66] for i in range(0, len(text), 66)]
        return self._hex

    def _hex_rows(self) -> np.ndarray:
        """All nodes as (2n-1, 64) lowercase ASCII hex digits (no ``0x``), for renderers."""
        if self._hex_ascii is None:
            text = self._nodes.tobytes().hex().encode("ascii")
            self._hex_ascii = np.frombuffer(text, np.uint8).reshape(-1, 64)
        return self._hex_ascii

    @property
    def root(self) -> str:
        """The root as ``0x`` + 64 lowercase hex digits (what the contract stores)."""
        return "0x" + self._nodes[0].tobytes().hex()

    @property
    def values(self) -> list[tuple[str, int]]:
        """The claims in input order, addresses in EIP-55 form (a copy)."""
        return list(zip(self._accounts, self._amounts, strict=True))

    @property
    def tree(self) -> list[str]:
        """All nodes in the flat array layout, as hex strings (a copy)."""
        return list(self._hex_nodes())

    @property
    def tree_indices(self) -> list[int]:
        """For each value (input order), the index of its leaf in ``tree`` (a copy)."""
        return self._tree_index.tolist()

    def __len__(self) -> int:
        return len(self._accounts)

    def leaf(self, index: int) -> str:
        """The leaf hash of value ``index`` as hex."""
        return "0x" + self._nodes[self._tree_index[self._check_index(index)]].tobytes().hex()

    def _check_index(self, index: int) -> int:
        if type(index) is not int or not 0 <= index < len(self._accounts):
            raise MerkleError(f"value index {index!r} out of range [0, {len(self._accounts)})")
        return index

    def proof(self, index: int) -> list[str]:
        """Proof for value ``index``: sibling hashes from the leaf up to (excluding) the root."""
        k = int(self._tree_index[self._check_index(index)])
        proof: list[str] = []
        while k > 0:
            proof.append("0x" + self._nodes[k + 1 if k & 1 else k - 1].tobytes().hex())
            k = (k - 1) >> 1
        return proof

    def proofs(self) -> list[list[str]]:
        """Proofs for every value, in value order.

        Every leaf's proof is its sibling followed by its parent's proof, so proofs are built
        top-down once per node instead of walking to the root once per leaf. An internal
        node's proof is dropped as soon as both children have theirs; the hex strings are
        shared, not copied.
        """
        with _gc_paused():
            return self._proofs()

    def _proofs(self) -> list[list[str]]:
        nodes = self._hex_nodes()
        if len(nodes) == 1:
            return [[]]
        released: list[str] = []  # placeholder for internal-node paths no longer needed
        paths: list[list[str]] = [released] * len(nodes)
        paths[0] = []
        # Parents precede children in the array, so one ascending pass sees every parent first.
        for k in range(1, len(nodes)):
            parent = (k - 1) >> 1
            if k & 1:  # left child: sibling is k + 1
                paths[k] = [nodes[k + 1], *paths[parent]]
            else:  # right child, the parent's last use: release the parent's path
                paths[k] = [nodes[k - 1], *paths[parent]]
                paths[parent] = released
        return [paths[k] for k in self._tree_index.tolist()]

    def dump(self) -> dict[str, Any]:
        """The ``standard-v1`` dump, identical to the JS library's for the same values."""
        return {
            "format": FORMAT,
            "leafEncoding": list(LEAF_ENCODING),
            "tree": list(self._hex_nodes()),
            "values": [
                {"value": [account, str(amount)], "treeIndex": ti}
                for account, amount, ti in zip(self._accounts, self._amounts,
                                               self._tree_index.tolist(), strict=True)
            ],
        }

    def verify(self, index: int, proof: Sequence[str]) -> bool:
        """Check ``proof`` for value ``index`` against this tree's root."""
        i = self._check_index(index)
        return verify_proof(self.root, self._accounts[i], self._amounts[i], proof)
