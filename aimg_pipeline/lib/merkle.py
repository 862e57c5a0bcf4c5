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
``load`` accepts a dump only if it is exactly what ``of`` builds for its values. A dump made
by this module is therefore identical to what the JS library dumps for the same values given
as ``[checksummed address, decimal string]``.

Speed: a tree for N claims needs about 4N keccak calls (checksum, two leaf hashes, one
internal node; ``lib.keccak``). ``of`` runs them in tight loops and everything around them
(address parsing and checksums, ABI encoding, sorting, pairing) on numpy arrays of all values
at once; the nodes are kept as one (2n - 1, 32) byte array. There is one way to build a tree:
when the array checks find an invalid value, the values are checked one at a time only to
name the first invalid one, and nothing is built.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import numpy as np

from aimg_pipeline.lib.eip55 import AddressError, checksum_rows, parse_address
from aimg_pipeline.lib.keccak import keccak256, keccak_rows

__all__ = [
    "FORMAT",
    "LEAF_ENCODING",
    "MerkleError",
    "StandardMerkleTree",
    "gc_paused",
    "hash_pair",
    "leaf_hash",
    "proof_siblings",
    "verify_proof",
]

FORMAT = "standard-v1"
LEAF_ENCODING: tuple[str, str] = ("address", "uint256")
_UINT256_LIMIT = 1 << 256

_NODE_RE = re.compile(r"0x[0-9a-f]{64}")
_DECIMAL_RE = re.compile(r"0|[1-9][0-9]*")
_PAD12 = bytes(12)

_ROWS = 65_536  # values per step of the array code (see _checked_leaves)


class MerkleError(ValueError):
    """Invalid input to, or an invalid or tampered dump of, a Merkle tree."""


@contextmanager
def gc_paused() -> Iterator[None]:
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
# one claim at a time: validation, leaves, proofs
# --------------------------------------------------------------------------------------------


def _raw_address(account: object) -> bytes:
    """The 20 bytes of a valid address (``lib.eip55``'s rule), else ``MerkleError``."""
    try:
        return parse_address(account)[1]
    except AddressError as exc:
        raise MerkleError(str(exc)) from None


def _check_amount(amount: object) -> int:
    """Validate a uint256 amount; ``bool`` is rejected although it is an ``int`` subclass."""
    if type(amount) is not int:
        raise MerkleError(f"invalid amount {amount!r}: expected an int")
    if not 0 <= amount < _UINT256_LIMIT:
        raise MerkleError(f"invalid amount {amount}: must satisfy 0 <= amount < 2**256")
    return amount


def _leaf(raw_address: bytes, amount: int) -> bytes:
    # abi.encode(address, uint256): two 32-byte words, the address left-padded with zeros.
    return keccak256(keccak256(_PAD12 + raw_address + amount.to_bytes(32, "big")))


def leaf_hash(account: str, amount: int) -> bytes:
    """Return the 32-byte leaf for one claim: ``keccak256(keccak256(abi.encode(a, amount)))``."""
    return _leaf(_raw_address(account), _check_amount(amount))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Commutative node hash: ``keccak256`` of the two children in ascending byte order."""
    return keccak256(a + b if a <= b else b + a)


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
    expected = _node_bytes(root.lower() if isinstance(root, str) else root, "root")
    node = _leaf(_raw_address(account), _check_amount(amount))
    for i, sibling in enumerate(proof):
        s = _node_bytes(sibling.lower() if isinstance(sibling, str) else sibling, f"proof[{i}]")
        node = hash_pair(node, s)
    return node == expected


# --------------------------------------------------------------------------------------------
# the tree on arrays: numpy over whole arrays, keccak one record at a time
# --------------------------------------------------------------------------------------------
#
# A 1M-claim tree needs ~4M keccak calls; done one Python statement per hash with the
# surrounding parsing, slicing and comparing, that took ~15 s. Here every step except the
# keccak call itself works on whole (n, 32)-byte arrays.


def _pairs(items: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """The accounts and the amounts of ``(account, amount)`` values; ``MerkleError`` naming
    the first value that is not a pair, unless a value before it is invalid (that one is
    named then: errors always name the first invalid value)."""
    try:
        return [account for account, _ in items], [amount for _, amount in items]
    except (TypeError, ValueError):
        pass
    accounts: list[Any] = []
    amounts: list[Any] = []
    for i, item in enumerate(items):
        try:
            account, amount = item
        except (TypeError, ValueError):
            _checked_leaves(accounts, amounts)
            raise MerkleError(
                f"value {i}: expected an (address, amount) pair, got {item!r}"
            ) from None
        accounts.append(account)
        amounts.append(amount)
    return accounts, amounts


def _amount_words(amounts: Sequence[object]) -> bytes | None:
    """The 32-byte big-endian words of many amounts, or None if any is not a uint256 int."""
    if not set(map(type, amounts)) <= {int}:
        return None
    if amounts and (min(amounts) < 0 or max(amounts) >= _UINT256_LIMIT):  # type: ignore[type-var]
        return None
    return b"".join([a.to_bytes(32, "big") for a in amounts])  # type: ignore[attr-defined]


def _raise_first_invalid(accounts: Sequence[object], amounts: Sequence[object],
                         start: int) -> NoReturn:
    """Raise the ``MerkleError`` naming the first invalid value from ``start`` on, checking
    one value at a time (the array checks found one; they apply the same rules)."""
    for i in range(start, len(accounts)):
        try:
            _raw_address(accounts[i])
            _check_amount(amounts[i])
        except MerkleError as exc:
            raise MerkleError(f"value {i}: {exc}") from None
    raise RuntimeError("the array checks refused values that the one-value checks accept")


def _leaves(raw: np.ndarray, words: bytes) -> np.ndarray:
    """Leaf hashes, one (32,) row per value: keccak256(keccak256(abi.encode(a, amount)))."""
    n = len(raw)
    encoded = np.zeros((n, 64), dtype=np.uint8)  # address left-padded with 12 zero bytes
    encoded[:, 12:32] = raw
    encoded[:, 32:] = np.frombuffer(words, np.uint8).reshape(n, 32)
    return np.frombuffer(keccak_rows(encoded.tobytes(), 64, twice=True),
                         np.uint8).reshape(n, 32)


def _checked_leaves(accounts: Sequence[object],
                    amounts: Sequence[object]) -> tuple[list[str], np.ndarray]:
    """EIP-55 accounts and leaf hashes of many values; ``MerkleError`` naming the first
    invalid value if there is one.

    Done ``_ROWS`` values at a time: the temporaries stay a few MB and are reused instead of
    faulting in fresh memory for a whole 1M-value array at every step.
    """
    n = len(accounts)
    checksummed: list[str] = []
    leaves = np.empty((n, 32), dtype=np.uint8)
    for at in range(0, n, _ROWS):
        parsed = checksum_rows(accounts[at:at + _ROWS])
        words = _amount_words(amounts[at:at + _ROWS])
        if parsed is None or words is None:
            _raise_first_invalid(accounts, amounts, at)
        checksummed += parsed[0]
        leaves[at:at + len(parsed[0])] = _leaves(parsed[1], words)
    return checksummed, leaves


def _sorted_order(leaves: np.ndarray) -> np.ndarray:
    """Indices that sort the rows ascending by bytes, stably (JS Array.prototype.sort is
    stable and its comparator returns 0 for equal hashes, so equal leaves keep their input
    order there too).

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
        out[at:at + m] = np.frombuffer(keccak_rows(pairs.tobytes(), 64), np.uint8).reshape(m, 32)
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
    """The JS ``prepare`` + ``makeMerkleTree`` on arrays: the (2n-1, 32) node array and each
    value's tree index."""
    n = len(leaves)
    order = _sorted_order(leaves)
    nodes = np.empty((2 * n - 1, 32), dtype=np.uint8)
    nodes[n - 1:] = leaves[order[::-1]]  # sorted leaf i at 2n-2-i
    tree_index = np.empty(n, dtype=np.int64)
    tree_index[order] = np.arange(2 * n - 2, n - 2, -1)
    for lo, hi in _internal_levels(n):  # a whole level at a time, its children done before
        nodes[lo:hi] = _hash_pairs(nodes[2 * lo + 1:2 * hi:2], nodes[2 * lo + 2:2 * hi + 1:2])
    return nodes, tree_index


def proof_siblings(leaf_index: np.ndarray) -> np.ndarray:
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


class StandardMerkleTree:
    """A ``StandardMerkleTree`` with leaf encoding ``["address", "uint256"]``.

    Build with ``of`` (or ``load``, which checks a dump against ``of``); the constructor is
    internal and does no validation. The nodes are held as one (2n-1, 32) byte array; hex
    strings are made only when asked for.
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
        library); refusing them is the caller's policy, not the tree's. An invalid value
        raises ``MerkleError`` naming the first one (``value i: ...``).
        """
        items = values if isinstance(values, list | tuple) else list(values)
        if not items:
            raise MerkleError("cannot build a Merkle tree with no values")
        with gc_paused():
            accounts, amounts = _pairs(items)
            checksummed, leaves = _checked_leaves(accounts, amounts)
            nodes, tree_index = _layout(leaves)
            return cls(nodes, checksummed, amounts, tree_index)

    # -- accessors ----------------------------------------------------------------------------

    def _hex_nodes(self) -> list[str]:
        """Hex strings of all nodes, computed once and shared by dumps and proofs."""
        if self._hex is None:
            rows = np.empty((len(self._nodes), 66), dtype=np.uint8)
            rows[:, 0], rows[:, 1] = ord("0"), ord("x")
            rows[:, 2:] = self.hex_rows()
            text = rows.tobytes().decode("ascii")
            self._hex = [text[i:i + 66] for i in range(0, len(text), 66)]
        return self._hex

    def hex_rows(self) -> np.ndarray:
        """All nodes as (2n-1, 64) lowercase ASCII hex digits (no ``0x``), for renderers
        (computed once; shared, do not modify)."""
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
    def accounts(self) -> list[str]:
        """The claims' accounts in input order, in EIP-55 form (shared, do not modify)."""
        return self._accounts

    @property
    def amounts(self) -> list[int]:
        """The claims' amounts in input order (shared, do not modify)."""
        return self._amounts

    @property
    def tree_index(self) -> np.ndarray:
        """For each value (input order), the index of its leaf in ``tree``, as an int64 array
        (shared, do not modify)."""
        return self._tree_index

    @property
    def tree(self) -> list[str]:
        """All nodes in the flat array layout, as hex strings (a copy)."""
        return list(self._hex_nodes())

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
        with gc_paused():
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
