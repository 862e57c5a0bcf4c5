"""Decimal texts as numbers, read on whole arrays: amounts as base-10**8 limbs (a uint256 has
at most 78 digits) and the arithmetic the checks need on them; the epoch and tree indices as
int64."""

from __future__ import annotations

import re

import numpy as np

from .rows import windows

_LIMB = 10**8
LIMBS = 10  # 80 decimal digits: a uint256 has at most 78
_LIMB_DIGITS = 8  # one uint64 of ASCII digits (see decimals)
_UINT256_DIGITS = 78
LIMB_TYPE = np.uint32  # stored limbs (< 10**8); sums are taken in int64
DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")  # a canonical decimal text, as str(int) writes it

_HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)


def decimals(arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray
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
    limbs = np.zeros((m, LIMBS), np.int64)
    if m == 0:
        return limbs, np.ones(0, bool)
    clipped = np.clip(lengths, 0, LIMBS * _LIMB_DIGITS)
    used = max(1, -(-int(clipped.max()) // _LIMB_DIGITS))
    width = used * _LIMB_DIGITS
    rows = windows(arr, starts + lengths - width, width)
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
    limbs[:, LIMBS - used:] = words
    return limbs, valid


def normalize(limbs: np.ndarray) -> np.ndarray:
    """Carry int64 sums of limbs back into ``[0, 10**8)`` per limb (in place; returned)."""
    for j in range(LIMBS - 1, 0, -1):
        carry = limbs[:, j] // _LIMB
        if carry.any():
            limbs[:, j] -= carry * _LIMB
            limbs[:, j - 1] += carry
    return limbs


def as_int(limbs: np.ndarray) -> int:
    """One row of limbs (or a column sum, carries not yet taken) as a Python int."""
    value = 0
    for limb in limbs.tolist():
        value = value * _LIMB + int(limb)
    return value


def greater(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise ``a > b`` for normalized limbs."""
    differ = a != b
    first = differ.argmax(axis=1)
    rows = np.arange(len(a))
    return differ.any(axis=1) & (a[rows, first] > b[rows, first])


def uint256_words(limbs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m, 32) big-endian bytes of each amount (its ABI ``uint256`` word), and which fit in
    256 bits: long divisions by 2**32 of the base-10**8 digits, on whole columns, skipping
    the leading limbs that are zero everywhere."""
    m = len(limbs)
    words = np.zeros((m, 8), dtype=">u4")
    if m == 0:
        return words.view(np.uint8).reshape(0, 32), np.ones(0, bool)
    nonzero = np.flatnonzero(limbs.any(axis=0))
    lead = int(nonzero[0]) if len(nonzero) else LIMBS
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


def sum_into(total: np.ndarray, where: np.ndarray, limbs: np.ndarray) -> None:
    """``total[where[i]] += limbs[i]`` (int64 limbs, repeated indices added up), only over
    the limb columns that are not zero everywhere."""
    for j in np.flatnonzero(limbs.any(axis=0)).tolist():
        column = np.zeros(len(total), np.int64)
        np.add.at(column, where, limbs[:, j])
        total[:, j] += column


_POWERS = 10 ** np.arange(17, -1, -1, dtype=np.int64)


def small_integers(arr: np.ndarray, first: np.ndarray, length: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Decimal texts ``arr[f:f + n]`` as int64, and which are 1 to 18 digits without a leading
    zero (the only numbers of the JSON files: an epoch and tree indices). ``arr`` must be
    readable 18 bytes before every text's end."""
    rows = windows(arr, first + length - 18, 18)
    inside = np.arange(18) >= (18 - np.minimum(length, 18))[:, None]
    digit = (rows >= 0x30) & (rows <= 0x39)
    lead = rows[np.arange(len(rows)), np.clip(18 - length, 0, 17)]
    valid = ((length >= 1) & (length <= 18) & (digit | ~inside).all(axis=1)
             & ((length == 1) | (lead != 0x30)))
    return (np.where(inside, rows - 0x30, 0).astype(np.int64) * _POWERS).sum(axis=1), valid
