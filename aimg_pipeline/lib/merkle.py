"""OpenZeppelin ``StandardMerkleTree`` for ``["address", "uint256"]`` leaves, in pure Python.

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
is used instead.
"""

from __future__ import annotations

import ctypes
import gc
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

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
            _local.keccak = pysha3
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
    _local.keccak = h
    return h


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
# tree
# --------------------------------------------------------------------------------------------


def _build(leaves: list[bytes], h: Hasher) -> tuple[list[bytes], list[int]]:
    """Lay out the tree as the JS ``prepare`` + ``makeMerkleTree`` do.

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

    Build with ``of`` or ``load``; the constructor is internal and does no validation.
    """

    __slots__ = ("_hex", "_tree", "_tree_index", "_values")

    def __init__(
        self, tree: list[bytes], values: list[tuple[str, int]], tree_index: list[int]
    ) -> None:
        self._tree = tree
        self._values = values
        self._tree_index = tree_index
        self._hex: list[str] | None = None

    @classmethod
    def of(cls, values: Sequence[tuple[str, int]]) -> StandardMerkleTree:
        """Build the tree for ``(account, amount)`` claims, keeping their order in ``values``.

        Addresses are normalised to EIP-55. Duplicate claims are allowed (as in the JS
        library); refusing them is the caller's policy, not the tree's.
        """
        with _gc_paused():
            return cls._of(values)

    @classmethod
    def _of(cls, values: Sequence[tuple[str, int]]) -> StandardMerkleTree:
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
        return cls(tree, normalised, tree_index)

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
        return cls(tree, values, given_index)

    # -- accessors ----------------------------------------------------------------------------

    def _hex_nodes(self) -> list[str]:
        """Hex strings of all nodes, computed once and shared by dumps and proofs."""
        if self._hex is None:
            self._hex = ["0x" + node.hex() for node in self._tree]
        return self._hex

    @property
    def root(self) -> str:
        """The root as ``0x`` + 64 lowercase hex digits (what the contract stores)."""
        return "0x" + self._tree[0].hex()

    @property
    def values(self) -> list[tuple[str, int]]:
        """The claims in input order, addresses in EIP-55 form (a copy)."""
        return list(self._values)

    @property
    def tree(self) -> list[str]:
        """All nodes in the flat array layout, as hex strings (a copy)."""
        return list(self._hex_nodes())

    @property
    def tree_indices(self) -> list[int]:
        """For each value (input order), the index of its leaf in ``tree`` (a copy)."""
        return list(self._tree_index)

    def __len__(self) -> int:
        return len(self._values)

    def leaf(self, index: int) -> str:
        """The leaf hash of value ``index`` as hex."""
        return self._hex_nodes()[self._tree_index[self._check_index(index)]]

    def _check_index(self, index: int) -> int:
        if type(index) is not int or not 0 <= index < len(self._values):
            raise MerkleError(f"value index {index!r} out of range [0, {len(self._values)})")
        return index

    def proof(self, index: int) -> list[str]:
        """Proof for value ``index``: sibling hashes from the leaf up to (excluding) the root."""
        nodes = self._hex_nodes()
        k = self._tree_index[self._check_index(index)]
        proof: list[str] = []
        while k > 0:
            proof.append(nodes[k + 1 if k & 1 else k - 1])
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
        return [paths[k] for k in self._tree_index]

    def dump(self) -> dict[str, Any]:
        """The ``standard-v1`` dump, identical to the JS library's for the same values."""
        return {
            "format": FORMAT,
            "leafEncoding": list(LEAF_ENCODING),
            "tree": list(self._hex_nodes()),
            "values": [
                {"value": [account, str(amount)], "treeIndex": ti}
                for (account, amount), ti in zip(self._values, self._tree_index, strict=True)
            ],
        }

    def verify(self, index: int, proof: Sequence[str]) -> bool:
        """Check ``proof`` for value ``index`` against this tree's root."""
        account, amount = self._values[self._check_index(index)]
        return verify_proof(self.root, account, amount, proof)
