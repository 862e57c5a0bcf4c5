"""Rows of bytes: (m, width) arrays gathered from a buffer, compared, hex-checked and decoded,
and the small conversions between those rows and the values the checks report."""

from __future__ import annotations

import binascii
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def windows(arr: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """``arr[s:s + width]`` for every start, as one (m, width) array (one row copy each)."""
    return sliding_window_view(arr, width)[starts]


_ALL_TRUE = {1: np.uint8(1), 2: np.uint16(0x0101), 4: np.uint32(0x01010101),
             8: np.uint64(0x0101010101010101)}


def same_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise equality of two (m, k) arrays: ``(a == b).all(axis=1)``, which numpy reduces
    slowly over short rows, taken instead through each bool row's bytes as one integer."""
    equal = a == b
    k = equal.shape[1]
    if k in _ALL_TRUE:
        return np.ascontiguousarray(equal).view(f"u{k}").ravel() == _ALL_TRUE[k]
    return equal.all(axis=1)


def hex_valid(rows: np.ndarray) -> np.ndarray:
    """Which rows are hex digits only (either case)."""
    low = rows | 0x20  # lowers A-F, leaves digits; nothing else lands on 0-9 or a-f
    return (((rows >= 0x30) & (rows <= 0x39)) | ((low >= 0x61) & (low <= 0x66))).all(axis=1)


def unhex(rows: np.ndarray) -> np.ndarray:
    """(m, 2k) valid hex text (either case) -> (m, k) bytes."""
    m, w = rows.shape
    raw = binascii.unhexlify(np.ascontiguousarray(rows).tobytes())
    return np.frombuffer(raw, np.uint8).reshape(m, w // 2)


def stack(parts: list[np.ndarray], width: int, dtype: Any) -> np.ndarray:
    """The parts (arrays of ``width``-wide rows) as one array, (0, width) when there are none."""
    return np.concatenate(parts) if parts else np.zeros((0, width), dtype)


def address(hex40: np.ndarray) -> str:
    """An account as the checks report it: ``0x`` and its 40 characters as written."""
    return "0x" + np.ascontiguousarray(hex40).tobytes().decode("ascii")
