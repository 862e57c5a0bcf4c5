"""OpenZeppelin's Merkle tree for ``["address", "uint256"]`` leaves, written out again from
``@openzeppelin/merkle-tree`` 1.0.8 (``src/core.ts``, ``src/hashes.ts``, ``src/standard.ts``,
``src/merkletree.ts``) and ``MerkleProof``: the tree rebuilt from a dump's values on whole
arrays (``rebuild``), and one claim's proof folded from its own text (``process_proof``)."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .keccak import keccak256, keccak_rows


@dataclass
class Rebuilt:
    """The StandardMerkleTree of a dump's values, built here."""

    nodes: np.ndarray  # (2n-1, 32); emptied once the tree is checked
    hex: np.ndarray  # (2n-1, 64) lowercase hex text of the nodes
    position: np.ndarray  # (n,) tree index of each value's leaf
    root: str
    root_bytes: bytes


def rebuild(raw: np.ndarray, words: np.ndarray,
            hasher: Callable[[memoryview, int], bytes] = keccak_rows) -> Rebuilt:
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
    return Rebuilt(nodes, text, position, "0x" + nodes[0].tobytes().hex(), nodes[0].tobytes())


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


def process_proof(hex40: bytes, amount: int, proof: list[bytes]) -> bytes | None:
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
