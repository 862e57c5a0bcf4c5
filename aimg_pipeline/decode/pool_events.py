"""The clean Uniswap V2 pool events of a row group (``Swap``, ``Sync``, ``Mint``, ``Burn``),
decoded in bulk over Arrow buffers like the Transfers (``transfers``).

Why: with a realistic mix 40 % of an epoch's logs are pool events; sent through
``sql/classify_logs.sql`` (four regular expressions a log) and ``decode_swaps``/
``decode_syncs`` they took decoding of a 10M-Transfer epoch from ~15 s to ~50 s.

A clean pool event is a log from a registered pool whose ``topic0`` is the event's, with
exactly the event's topics, each ``0x`` + 64 lowercase hex digits, and ``data`` ``0x`` +
lowercase hex words of the event's count:

* ``Swap``: topic1 (sender) and topic2 (to) are address topics (24 zeros, 40 hex digits),
  4 data words each with 32 leading zeros (amounts below 2^128);
* ``Sync``: no indexed topic, 2 data words each with 36 leading zeros (uint112);
* ``Mint``: topic1 only, 2 data words; ``Burn``: topic1 and topic2, 2 data words (neither
  is decoded into a table: they stay in ``raw_logs`` for analytics).

That is exactly the set of pool-event logs ``classify_logs.sql`` gives no reason; the
caller checks on every run that the logs handed back hold no reason-free ``Swap``/``Sync``.
The swaps and syncs come out as ``decode_swaps.sql``/``decode_syncs.sql`` write them, in
the raw logs' (block_number, log_index) order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aimg_pipeline.lib.columnar import fixed_width, hex_u64, lower_hex_rows
from aimg_pipeline.warehouse import TABLES

_WORD_HEX = 64
_TOPIC = 2 + _WORD_HEX
_ADDRESS_HEAD = 2 + 24  # '0x' and the 12 zero bytes of an address topic
_DECIMAL_LIMIT = 10**38  # decimal128(38, 0) holds values below it; larger ones: Python int

# event -> (indexed topics after topic0, data words, leading zero hex digits of each word)
SHAPES: dict[str, tuple[int, int, int]] = {
    "Swap": (2, 4, 32), "Sync": (0, 2, 36), "Mint": (1, 2, 0), "Burn": (2, 2, 0)}


@dataclass(frozen=True)
class PoolEvents:
    handled: np.ndarray  # bool per row of the row group: a clean pool event (not for SQL)
    swaps: pa.Table | None
    syncs: pa.Table | None


def split_pool_events(table: pa.Table, is_pool: np.ndarray, topics: Mapping[str, str],
                      epoch: int) -> PoolEvents:
    """The clean pool events of ``table`` (one combined, ordered row group).

    ``is_pool`` flags the rows whose ``address`` is a registered pool; ``topics`` maps each
    event name of ``SHAPES`` to its topic0.
    """
    n = table.num_rows
    handled = np.zeros(n, dtype=bool)
    decoded: dict[str, pa.Table | None] = {"Swap": None, "Sync": None}
    if not is_pool.any():
        return PoolEvents(handled, None, None)

    def column(name: str) -> pa.Array:
        return table[name].chunk(0)

    topic0 = column("topic0")
    if pa.types.is_dictionary(topic0.type):
        topic0 = topic0.dictionary_decode()
    for event, (indexed, words, zeros) in SHAPES.items():
        candidate = pc.and_(pa.array(is_pool), pc.equal(topic0, topics[event]))
        for k, name in enumerate(("topic1", "topic2", "topic3")):
            if k < indexed:
                present = pc.equal(pc.binary_length(column(name)), _TOPIC)
                if event == "Swap":
                    present = pc.and_(present, pc.starts_with(column(name), "0x" + "0" * 24))
                else:
                    present = pc.and_(present, pc.starts_with(column(name), "0x"))
                candidate = pc.and_(candidate, present)
            else:
                candidate = pc.and_(candidate, pc.is_null(column(name)))
        candidate = pc.and_(candidate, pc.equal(pc.binary_length(column("data")),
                                                2 + words * _WORD_HEX))
        candidate = pc.fill_null(pc.and_(candidate, pc.starts_with(column("data"), "0x")),
                                 False)
        rows = np.flatnonzero(candidate.to_numpy(zero_copy_only=False))
        if not len(rows):
            continue
        take = pa.array(rows)
        data = fixed_width(column("data").take(take), 2 + words * _WORD_HEX)[:, 2:]
        data = data.reshape(len(rows), words, _WORD_HEX)
        heads = data[:, :, :zeros]
        parts = [data[:, :, zeros:].reshape(len(rows), -1)]
        topic_chars = [fixed_width(column(name).take(take), _TOPIC)
                       for name in ("topic1", "topic2")[:indexed]]
        skip = _ADDRESS_HEAD if event == "Swap" else 2
        parts += [chars[:, skip:] for chars in topic_chars]
        clean = lower_hex_rows(*parts) & (heads == ord("0")).all(axis=(1, 2))
        rows, data = rows[clean], data[clean]
        topic_chars = [chars[clean] for chars in topic_chars]
        handled[rows] = True
        if event in decoded and len(rows):
            decoded[event] = _table(event, table, rows, data, topic_chars, epoch)
    return PoolEvents(handled, decoded["Swap"], decoded["Sync"])


def _table(event: str, table: pa.Table, rows: np.ndarray, data: np.ndarray,
           topic_chars: list[np.ndarray], epoch: int) -> pa.Table:
    """The swaps or syncs rows of the clean events at ``rows`` (their data words given)."""
    take = pa.array(rows)

    def taken(name: str) -> pa.Array:
        values = table[name].chunk(0).take(take)
        return values.dictionary_decode() if pa.types.is_dictionary(values.type) else values

    columns: dict[str, pa.Array] = {
        "epoch": pa.array(np.full(len(rows), epoch, np.int64)),
        "pool": taken("address"),
        "block_number": taken("block_number"),
        "block_timestamp": taken("block_timestamp"),
        "log_index": taken("log_index"),
    }
    if event == "Swap":
        for name, chars in zip(("sender", "recipient"), topic_chars, strict=True):
            columns[name] = _account_text(chars[:, _ADDRESS_HEAD:])
        names = ("amount0_in", "amount1_in", "amount0_out", "amount1_out")
    else:
        names = ("reserve0", "reserve1")
    for k, name in enumerate(names):
        columns[name] = u128_decimal_text(data[:, k, 32:])
    return pa.table(columns, schema=TABLES["swaps" if event == "Swap" else "syncs"][0])


def _account_text(hex40: np.ndarray) -> pa.Array:
    """'0x' + the 40 hex digits of each row, as a pa.string() array."""
    out = np.empty((len(hex40), 42), np.uint8)
    out[:, 0], out[:, 1] = ord("0"), ord("x")
    out[:, 2:] = hex40
    offsets = np.arange(len(hex40) + 1, dtype=np.int32) * 42
    return pa.Array.from_buffers(pa.string(), len(hex40),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(out.tobytes())])


def u128_decimal_text(hex32: np.ndarray) -> pa.Array:
    """32 lowercase hex digits a row (n, 32) as exact decimal text ('0' for zero).

    Through Arrow's decimal128(38, 0), built from the two 64-bit limbs (no Python int per
    value); the rare values of 10^38 or more go through Python ints.
    """
    n = len(hex32)
    limbs = np.empty((n, 2), np.uint64)  # little-endian 128-bit: low limb first
    limbs[:, 1] = hex_u64(np.ascontiguousarray(hex32[:, :16]))
    limbs[:, 0] = hex_u64(np.ascontiguousarray(hex32[:, 16:]))
    high, low = divmod(_DECIMAL_LIMIT, 2**64)
    large = (limbs[:, 1] > high) | ((limbs[:, 1] == high) & (limbs[:, 0] >= low))
    if large.any():
        limbs[large] = 0
    text = pa.Array.from_buffers(pa.decimal128(38, 0), n,
                                 [None, pa.py_buffer(limbs.tobytes())]).cast(pa.string())
    if large.any():
        exact = [str(int(bytes(row).decode(), 16)) for row in hex32[large]]
        text = pc.replace_with_mask(text, pa.array(large), pa.array(exact, pa.string()))
    return text
