"""Small vectorised helpers over Arrow buffers, for the bulk paths of ingestion and decoding.

At 10M logs a step per value in Python (or a string function per value in SQL) costs
seconds; these work on whole buffers in numpy, a chunk of rows at a time, and release the
GIL, so two pieces of an epoch are worked on at once on the two cores SPEC 10 names.
"""

from __future__ import annotations

import binascii
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import pyarrow as pa

WORKERS = 2
CHUNK = 1 << 15  # rows a numpy step works on: its temporaries stay in the CPU cache

_PREFIX = int.from_bytes(b"0x", "little")
_MAX_OFFSET = 2**31 - 1  # a pa.string() array's offsets are 32-bit
_ALL_TRUE = np.frombuffer(np.ones(8, dtype=bool).tobytes(), np.uint64)[0]

T = TypeVar("T")
R = TypeVar("R")


def in_order(items: Iterable[T], work: Callable[[T], R], workers: int = WORKERS) -> Iterator[R]:
    """``work`` over ``items`` on ``workers`` threads, yielded in the items' order.

    At most ``workers + 1`` results are pending at once, so memory stays a few pieces.
    """
    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def fixed_width(array: pa.Array, width: int) -> np.ndarray:
    """The bytes of a string or binary array whose values are all ``width`` bytes, (n, width).

    Values under NULL slots count too: callers pass arrays without nulls.
    """
    n = len(array)
    if n == 0:
        return np.empty((0, width), np.uint8)
    offsets = np.frombuffer(array.buffers()[1], np.int32, count=n + 1, offset=array.offset * 4)
    start = int(offsets[0])
    if int(offsets[-1]) - start != n * width:
        raise ValueError("values are not all of the same width")
    return np.frombuffer(array.buffers()[2], np.uint8, count=n * width,
                         offset=start).reshape(n, width)


def hex_text(array: pa.Array) -> pa.Array:
    """Each binary value as ``0x`` + lowercase hex (NULL stays NULL), as a pa.string() array.

    Exactly ``'0x' || lower(hex(value))`` of DuckDB (``cryo_hex``), without a string
    function per value: dictionary arrays are converted once per distinct value, and the
    bytes go through ``binascii.hexlify`` at once and the ``0x`` prefixes are put between
    them in 2-D blocks (runs of values of the common width).
    """
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([hex_text(chunk) for chunk in array.chunks], pa.string())
    if pa.types.is_dictionary(array.type):
        return hex_text(array.dictionary).take(array.indices)
    if not pa.types.is_binary(array.type):
        array = array.cast(pa.binary())  # fixed_size_binary, large_binary
    n = len(array)
    if n == 0:
        return pa.array([], pa.string())
    if array.null_count:
        valid = array.is_valid()
        body = hex_text(array.filter(valid))  # the non-null values, packed
        if isinstance(body, pa.ChunkedArray):
            body = body.combine_chunks()
        lengths = np.zeros(n, np.int64)
        lengths[valid.to_numpy(zero_copy_only=False)] = np.diff(_offsets(body))
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum(lengths, out=offsets[1:])
        return pa.Array.from_buffers(
            pa.string(), n, [valid.buffers()[1], pa.py_buffer(offsets), body.buffers()[2]],
            array.null_count)
    offsets = _offsets(array)
    start, end = int(offsets[0]), int(offsets[-1])
    if 2 * (end - start) + 2 * n > _MAX_OFFSET:
        half = n // 2
        return pa.concat_arrays([hex_text(array.slice(0, half)),
                                 hex_text(array.slice(half))])  # raises if still too large
    data = np.frombuffer(array.buffers()[2], np.uint8, count=end - start, offset=start) \
        if end > start else np.empty(0, np.uint8)
    relative = offsets - start
    pairs = np.frombuffer(binascii.hexlify(memoryview(data)), "<u2")  # two characters a byte
    out = np.empty(n + len(pairs), "<u2")  # each value: '0x', then its pairs
    lengths = np.diff(relative)
    starts = relative[:-1] + np.arange(n)  # where each value's '0x' goes, in pairs
    width = int(np.bincount(lengths).argmax()) if lengths.max() <= 1 << 16 else int(lengths[0])
    odd = np.flatnonzero(lengths != width)
    if len(odd) > max(64, n // 32):  # many widths: one general (slower) step
        out = np.insert(pairs, relative[:-1], _PREFIX)
    else:  # runs of values of the common width as 2-D blocks, the few others one by one
        first = 0
        for row in [*odd.tolist(), n]:
            if row > first:
                block = out[starts[first]:starts[first] + (row - first) * (width + 1)]
                block = block.reshape(row - first, width + 1)
                block[:, 0] = _PREFIX
                block[:, 1:] = pairs[relative[first]:relative[row]].reshape(row - first, width)
            if row < n:
                out[starts[row]] = _PREFIX
                out[starts[row] + 1:starts[row] + 1 + lengths[row]] = \
                    pairs[relative[row]:relative[row + 1]]
            first = row + 1
    text_offsets = (2 * (relative + np.arange(n + 1))).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(text_offsets),
                                                  pa.py_buffer(out)])


def _offsets(array: pa.Array) -> np.ndarray:
    return np.frombuffer(array.buffers()[1], np.int32, count=len(array) + 1,
                         offset=array.offset * 4).astype(np.int64)


def lower_hex_rows(*parts: np.ndarray) -> np.ndarray:
    """Rows whose characters in every part (n, width_i) are all of 0-9a-f."""
    ok = np.empty(len(parts[0]), dtype=bool)
    for start in range(0, len(ok), CHUNK):
        chars = np.concatenate([part[start:start + CHUNK] for part in parts], axis=1)
        digit = (chars - 48) < 10  # uint8 arithmetic wraps below '0'
        digit |= (chars - 97) < 6
        if digit.shape[1] % 8 == 0:  # eight flags at once: a row's words all 0x0101...
            ok[start:start + CHUNK] = (digit.view(np.uint64) == _ALL_TRUE).all(axis=1)
        else:
            ok[start:start + CHUNK] = digit.all(axis=1)
    return ok


def hex_u64(chars: np.ndarray) -> np.ndarray:
    """16 lowercase hex digits a row (n, 16) as unsigned 64-bit integers."""
    nibbles = (chars & 15) + 9 * (chars >> 6)  # '0'-'9' -> 0-9, 'a'-'f' -> 10-15
    return ((nibbles[:, 0::2] << 4) | nibbles[:, 1::2]).view(">u8")[:, 0].astype(np.uint64)
