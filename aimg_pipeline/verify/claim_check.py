"""claims.json's claims checked against the tree rebuilt from the dump, block by block:
account, amount, EIP-55 spelling and proof of each (how the proofs are checked, and why that
is ``MerkleProof.verify``: ``ClaimCheck``)."""

from __future__ import annotations

import numpy as np

from .accounts import Accounts
from .columns import ClaimRows, Dump
from .keccak import eip55_checksummed
from .limbs import LIMB_TYPE, LIMBS, as_int
from .rows import address, hex_valid, same_rows, unhex
from .tree import Rebuilt, process_proof

_FOLD_SAMPLE = 4096  # claims whose proofs are also hash-folded in full (all, below that)


class ClaimCheck:
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

    def __init__(self, dump: Dump, index: Accounts, rebuilt: Rebuilt) -> None:
        self.dump, self.index, self.rebuilt = dump, index, rebuilt
        self.table = rebuilt.hex.view(np.uint64)  # (2n-1, 8): a node's hex text
        n = len(dump.accounts)
        self.sample = (np.arange(n) if n <= _FOLD_SAMPLE
                       else np.sort(np.random.default_rng().choice(n, _FOLD_SAMPLE,
                                                                   replace=False)))
        self.claimed = np.zeros((n, LIMBS), LIMB_TYPE)  # the claim of each value's account
        self.times = np.zeros(n, np.int64)  # claims of each value's account
        self.seen = 0
        self.bad: dict[str, tuple[int, str]] = {}  # problem -> (count, first account)
        self.strange = 0  # proof elements that are not 0x + 64 hex digits
        self.gathered: list[tuple[int, str, bytes, int, list[bytes], bool]] = []

    def _count(self, what: str, rows: np.ndarray, hex40: np.ndarray) -> None:
        if len(rows):
            count, first = self.bad.get(what, (0, address(hex40[rows[0]])))
            self.bad[what] = (count + len(rows), first)

    def __call__(self, rows: ClaimRows) -> None:
        hex40, limbs, count = rows.hex40, rows.limbs, rows.count
        m = len(hex40)
        n = len(self.dump.accounts)
        # claims are usually in the order of the tree's values: try that first (exactly)
        value = np.minimum(np.arange(self.seen, self.seen + m), n - 1)
        same_case = same_rows(self.dump.accounts[value].view(np.uint64),
                              np.ascontiguousarray(hex40).view(np.uint64))
        elsewhere = np.flatnonzero(~same_case)
        if len(elsewhere):
            value[elsewhere] = self.index.find(unhex(hex40[elsewhere]))
            looked = value[elsewhere] >= 0
            same_case[elsewhere[looked]] = (self.dump.accounts[value[elsewhere[looked]]]
                                            == hex40[elsewhere[looked]]).all(axis=1)
        found = value >= 0
        at = np.maximum(value, 0)
        same_amount = found & (self.dump.limbs[at] == limbs).all(axis=1)
        self._count("absent", np.flatnonzero(~found), hex40)
        self._count("amount", np.flatnonzero(found & ~same_amount), hex40)
        others = np.flatnonzero(~same_case)  # spelled unlike the (checked) tree: check alone
        self._count("case", others[~eip55_checksummed(hex40[others])], hex40)
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
            same = same_rows(text.view(np.uint64), self.table.take(node, axis=0))
            other = np.flatnonzero(~same)  # not the node, or not in lowercase
            if len(other):
                odd = np.ascontiguousarray(text[other])
                hex_text = hex_valid(odd)
                if rows.shaped is not None:
                    hex_text &= rows.shaped[other]
                self.strange += int((~hex_text).sum())
                same[other] = (same_rows((odd | 0x20).view(np.uint64),
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
            self.gathered.append((s, address(hex40[i]), hex40[i].tobytes(), as_int(limbs[i]),
                                  proof, bool(ok[i])))
        self.seen += m

    def fold(self) -> None:
        """Hash-fold the sampled claims' proofs in full (``MerkleProof.verify``) and combine
        with the sibling comparison."""
        root = self.rebuilt.root_bytes
        for _, account, hex40, amount, proof, compared in self.gathered:
            verified = process_proof(hex40, amount, proof) == root
            if verified != compared:
                count, first = self.bad.get("disagree", (0, account))
                self.bad["disagree"] = (count + 1, first)
                if compared:  # the fold says no: the claim fails
                    count, first = self.bad.get("proof", (0, account))
                    self.bad["proof"] = (count + 1, first)
