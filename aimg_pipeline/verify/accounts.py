"""Exact lookup of 20-byte accounts among the tree's values, on whole arrays."""

from __future__ import annotations

import numpy as np


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


class Accounts:
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
