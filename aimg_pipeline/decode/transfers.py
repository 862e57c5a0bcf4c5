"""Position changes of the well-formed Transfer logs, decoded in bulk over Arrow buffers.

Why: at 10M logs, checking every log with ``sql/classify_logs.sql`` (four regular expressions
a log) and sorting the 15M position changes took ~65 s in DuckDB. Nearly every log of an
epoch is a position token's Transfer in the one shape its ABI allows; this module finds
those with byte comparisons on their fixed-width hex text (numpy over the Arrow buffers),
decodes them, and hands every other log back for ``classify_logs.sql``.

A *clean Transfer* is a raw log with

* ``topic0`` the Transfer topic and ``address`` a position token (vault, pool or wrapper),
* ``topic1`` and ``topic2`` each ``0x`` + 24 zeros + 40 lowercase hex digits, ``topic3`` NULL,
* ``data`` ``0x`` + 32 zeros + 32 lowercase hex digits (one word, amount below 2^128).

That is exactly the set of logs ``classify_logs.sql`` gives event ``Transfer`` and no reason:
its rules before the Transfer rules fail on none of them, and each Transfer rule (position
token, shape, zero high bytes of both address topics, amount within 128 bits) is one of the
conditions above, with hex validity of ``data`` and the topics. The caller checks the
other half on every run: the logs handed back must classify to no reason-free Transfer.

The position changes come out as ``sql/decode_position_changes.sql`` writes them: the
sender's row (``-value``, or ``0``) then the receiver's, the zero address left out, in
(block_number, log_index) order. They are written in the raw logs' file order, so this
path is taken only when ``raw_logs`` is strictly in that order (both ingestion paths
write it so; unique keys also mean classify_logs' duplicate-contributionId join, keyed by
them, cannot touch a Transfer); otherwise ``split_epoch_logs`` raises FastPathUnusable and
the caller decodes the epoch in SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aimg_pipeline.decode.pool_events import split_pool_events
from aimg_pipeline.lib.columnar import fixed_width, hex_u64, in_order, lower_hex_rows
from aimg_pipeline.warehouse import TABLES

# The raw_logs columns classify_logs.sql and the decoders read (not block_hash,
# transaction_index, epoch).
LOG_COLUMNS = ("block_number", "block_timestamp", "transaction_hash", "log_index", "address",
               "topic0", "topic1", "topic2", "topic3", "data")
_LOGS_SCHEMA = pa.schema([TABLES["raw_logs"][0].field(name) for name in LOG_COLUMNS])

_WORD = 66  # '0x' + 64 hex digits
_ACCOUNT = 42  # '0x' + 40 hex digits
_ADDRESS_TOPIC_HEAD = "0x" + "0" * 24  # then the address's 40 hex digits
_AMOUNT_HEAD = "0x" + "0" * 32  # then 32 hex digits: the amount is below 2^128
_ZERO_TOPIC = "0x" + "0" * 64
_DICTIONARY = ["address", "topic0"]  # few distinct values: read, matched once per value


@dataclass(frozen=True)
class PositionTokens:
    """The position tokens (vaults, pools, wrappers) by address, as classify_logs' ``sources``."""

    addresses: pa.Array
    names: pa.Array
    kinds: pa.Array


class FastPathUnusable(Exception):
    """This epoch's raw logs cannot take the bulk path; decode all of them in SQL."""


@dataclass(frozen=True)
class _Part:
    ordered: bool
    first: tuple[int, int] | None = None
    last: tuple[int, int] | None = None
    changes: pa.Table | None = None
    others: pa.Table | None = None
    swaps: pa.Table | None = None
    syncs: pa.Table | None = None


@dataclass(frozen=True)
class Sinks:
    """Where ``split_epoch_logs`` hands its pieces, in file order: the decoded tables'
    writers, and ``keep`` for the logs left to the SQL."""

    position_changes: Callable[[pa.Table], None]
    swaps: Callable[[pa.Table], None]
    syncs: Callable[[pa.Table], None]
    keep: Callable[[pa.Table], None]


def split_epoch_logs(raw_path: Path, sinks: Sinks, epoch: int, tokens: PositionTokens,
                     topics: Mapping[str, str]) -> dict[str, int]:
    """Decode the clean Transfers and pool events of a raw_logs file into ``sinks``, the
    other logs to ``sinks.keep``.

    Returns the rows written per table (position_changes, swaps, syncs). Row groups are
    processed two at a time (Arrow and numpy release the GIL) and handed over in file
    order. Raises FastPathUnusable when the file is not strictly in (block_number,
    log_index) order or its columns are not the warehouse's types; whatever the sinks
    received must then be discarded.
    """
    metadata = pq.read_metadata(raw_path)
    schema = metadata.schema.to_arrow_schema()
    expected = TABLES["raw_logs"][0]
    if any(name not in schema.names or schema.field(name).type != expected.field(name).type
           for name in LOG_COLUMNS):
        raise FastPathUnusable("raw_logs columns are not the warehouse's types")

    def part(index: int) -> _Part:
        table = pq.ParquetFile(raw_path, metadata=metadata, read_dictionary=_DICTIONARY
                               ).read_row_group(index, columns=list(LOG_COLUMNS))
        return _split(table, epoch, tokens, topics)

    written, last = {"position_changes": 0, "swaps": 0, "syncs": 0}, None
    for piece in in_order(range(metadata.num_row_groups), part):
        if not piece.ordered or (last is not None and piece.first is not None
                                 and piece.first <= last):
            raise FastPathUnusable("raw_logs is not in (block_number, log_index) order")
        if piece.last is not None:
            last = piece.last
        for name, rows in (("position_changes", piece.changes), ("swaps", piece.swaps),
                           ("syncs", piece.syncs)):
            if rows is not None and rows.num_rows:
                getattr(sinks, name)(rows)
                written[name] += rows.num_rows
        if piece.others is not None and piece.others.num_rows:
            sinks.keep(piece.others)
    return written


def _per_value(array: pa.Array, function: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``function(array)``, computed once per distinct value of a dictionary array."""
    if pa.types.is_dictionary(array.type):
        return function(array.dictionary).take(array.indices)
    return function(array)


def _split(table: pa.Table, epoch: int, tokens: PositionTokens,
           topics: Mapping[str, str]) -> _Part:
    """One row group: its clean Transfers as position_changes rows, its clean pool events
    as swaps and syncs (``pool_events``), the rest as raw logs."""
    n = table.num_rows
    if n == 0:
        return _Part(ordered=True)
    table = table.combine_chunks()
    blocks, indexes = table["block_number"], table["log_index"]
    if blocks.null_count or indexes.null_count:
        return _Part(ordered=False)
    block, index = blocks.to_numpy(), indexes.to_numpy()
    later = (block[1:] > block[:-1]) | ((block[1:] == block[:-1]) & (index[1:] > index[:-1]))
    if not later.all():
        return _Part(ordered=False)
    bounds = (int(block[0]), int(index[0])), (int(block[-1]), int(index[-1]))

    # Column-wise conditions in Arrow, then the hex digits of the rows that pass, in numpy.
    def column(name: str) -> pa.Array:
        return table[name].chunk(0)

    token = _per_value(column("address"), lambda a: pc.index_in(a, value_set=tokens.addresses))
    transfer = _per_value(column("topic0"), lambda a: pc.equal(a, topics["Transfer"]))
    conditions = [transfer, pc.is_valid(token),
                  pc.is_null(column("topic3"))]
    for name, head in (("topic1", _ADDRESS_TOPIC_HEAD), ("topic2", _ADDRESS_TOPIC_HEAD),
                       ("data", _AMOUNT_HEAD)):
        conditions += [pc.equal(pc.binary_length(column(name)), _WORD),
                       pc.starts_with(column(name), head)]
    candidate = conditions[0]
    for condition in conditions[1:]:
        candidate = pc.and_(candidate, condition)
    candidate = pc.fill_null(candidate, False)
    sender, receiver, data = (column(name).filter(candidate)
                              for name in ("topic1", "topic2", "data"))
    sender_chars, receiver_chars, data_chars = (
        fixed_width(array, _WORD) for array in (sender, receiver, data))
    clean = lower_hex_rows(sender_chars[:, len(_ADDRESS_TOPIC_HEAD):],
                       receiver_chars[:, len(_ADDRESS_TOPIC_HEAD):],
                       data_chars[:, len(_AMOUNT_HEAD):])
    rows = np.flatnonzero(candidate.to_numpy(zero_copy_only=False))[clean]
    is_pool = pc.fill_null(pc.equal(tokens.kinds.take(token), "pool"), False)
    pool = split_pool_events(table, is_pool.to_numpy(zero_copy_only=False), topics, epoch)
    rest = ~pool.handled
    rest[rows] = False
    others = table.filter(pa.array(rest)).cast(_LOGS_SCHEMA) if rest.any() else None
    if not clean.all():
        mask = pa.array(clean)
        sender, receiver, data = sender.filter(mask), receiver.filter(mask), data.filter(mask)
        sender_chars, receiver_chars, data_chars = (
            chars[clean] for chars in (sender_chars, receiver_chars, data_chars))
    changes = _changes(table, rows, token.filter(candidate).filter(pa.array(clean)),
                       (sender, sender_chars), (receiver, receiver_chars), (data, data_chars),
                       epoch, tokens)
    return _Part(True, *bounds, changes=changes, others=others, swaps=pool.swaps,
                 syncs=pool.syncs)


def _changes(table: pa.Table, rows: np.ndarray, token: pa.Array,
             sender: tuple[pa.Array, np.ndarray], receiver: tuple[pa.Array, np.ndarray],
             data: tuple[pa.Array, np.ndarray], epoch: int, tokens: PositionTokens) -> pa.Table:
    """Two position_changes rows a clean Transfer (sender first), zero-address rows dropped.

    ``rows`` are the Transfers' rows in ``table``; the other arguments are theirs only.
    """
    k = len(rows)
    head = len(_ADDRESS_TOPIC_HEAD)
    accounts = np.empty((k, 2, _ACCOUNT), np.uint8)
    accounts[:, :, 0], accounts[:, :, 1] = ord("0"), ord("x")
    accounts[:, 0, 2:] = sender[1][:, head:]
    accounts[:, 1, 2:] = receiver[1][:, head:]
    keep = np.empty((k, 2), dtype=bool)  # the zero address is no holder (mint, burn)
    keep[:, 0] = ~pc.equal(sender[0], _ZERO_TOPIC).to_numpy(zero_copy_only=False)
    keep[:, 1] = ~pc.equal(receiver[0], _ZERO_TOPIC).to_numpy(zero_copy_only=False)
    keep = keep.reshape(2 * k)
    kept = np.ascontiguousarray(accounts.reshape(2 * k, _ACCOUNT)[keep])

    # The amount as text, exactly: the receiver's +value and the sender's -value ('0' for
    # zero, like the SQL) as 128-bit two's-complement limbs through Arrow's decimal128(38, 0)
    # (no Python int per value: real amounts are mostly above 2^64); the rare amounts of
    # 10^38 or more in Python integers.
    high = hex_u64(data[1][:, _WORD - 32:_WORD - 16])
    low = hex_u64(data[1][:, _WORD - 16:])
    limbs = np.empty((k, 2, 2), np.uint64)  # (transfer, sender/receiver, low/high limb)
    limbs[:, 1, 0], limbs[:, 1, 1] = low, high
    limbs[:, 0, 0] = ~low + np.uint64(1)  # -value: invert and add one, carried into high
    limbs[:, 0, 1] = ~high + (low == 0).astype(np.uint64)
    limit_high, limit_low = divmod(10**38, 2**64)
    large = (high > limit_high) | ((high == limit_high) & (low >= limit_low))
    limbs[large] = 0
    delta = pa.Array.from_buffers(pa.decimal128(38, 0), 2 * k,
                                  [None, pa.py_buffer(limbs.tobytes())]).cast(pa.string())
    if large.any():
        texts = []
        for digits in data[0].filter(pa.array(large)).to_pylist():
            text = str(int(digits[len(_AMOUNT_HEAD):], 16))
            texts += ["-" + text, text]
        delta = pc.replace_with_mask(delta, pa.array(np.repeat(large, 2)),
                                     pa.array(texts, pa.string()))

    side_rows = np.repeat(rows, 2)[keep]
    token_rows = token.take(pa.array(np.repeat(np.arange(k), 2)[keep]))
    account = pa.Array.from_buffers(
        pa.string(), len(kept),
        [None, pa.py_buffer(np.arange(len(kept) + 1, dtype=np.int32) * _ACCOUNT),
         pa.py_buffer(kept)])

    def repeated(name: str) -> pa.Array:
        values = table[name].chunk(0).take(pa.array(side_rows))
        return values.dictionary_decode() if pa.types.is_dictionary(values.type) else values

    return pa.table({
        "epoch": pa.array(np.full(len(kept), epoch, np.int64)),
        "pool": repeated("address"),
        "pool_name": tokens.names.take(token_rows),
        "token_kind": tokens.kinds.take(token_rows),
        "account": account,
        "block_number": repeated("block_number"),
        "block_timestamp": repeated("block_timestamp"),
        "log_index": repeated("log_index"),
        "delta": delta.filter(pa.array(keep)),
    }, schema=TABLES["position_changes"][0])
