"""allocations.csv read in batches (pyarrow's streaming CSV reader): its rows checked and
their amounts summed per channel and per account of the tree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .accounts import Accounts
from .errors import Malformed
from .limbs import DECIMAL, LIMBS, as_int, decimals, normalize, sum_into
from .rows import address, hex_valid, unhex, windows

ALLOCATIONS_FILE = "allocations.csv"
CSV_HEADER = ("epoch", "channel", "pool", "account", "weight", "amount", "reason", "via")
# epochs published before redirects (issue 19) have no ``via`` column; they still verify
_HEADERS = (CSV_HEADER, CSV_HEADER[:-1])


@dataclass
class Allocations:
    rows: int
    by_channel: dict[str, int]
    per_account: np.ndarray | None  # (n, 10) int64 limb sums per account of the tree
    outside: dict[str, int]  # account not in the tree -> its allocations (> 0)
    problems: list[str]


def read_allocations(path: Path, epoch: int, index: Accounts | None, n: int) -> Allocations:
    """allocations.csv through pyarrow's streaming CSV reader (C++; quoting as the csv module
    writes it), amounts turned into limbs and summed per channel and per account."""
    with open(path, "rb") as handle:
        header = handle.readline().rstrip(b"\r\n").decode("utf-8", "replace")
    names = tuple(header.split(","))
    if names not in _HEADERS:
        raise Malformed(f"header is {header[:120]!r}, expected {','.join(CSV_HEADER)!r}")
    reader = pacsv.open_csv(
        path, read_options=pacsv.ReadOptions(block_size=16 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            include_columns=["epoch", "channel", "account", "amount"]))
    problems: list[str] = []
    rows = 0
    by_channel: dict[str, np.ndarray] = {}
    per_account = np.zeros((n, LIMBS), np.int64) if index is not None else None
    outside: dict[str, int] = {}
    wanted = str(epoch)
    bad_amounts, negative, first_bad = 0, 0, ""
    for batch in reader:
        m = batch.num_rows
        if not m:
            continue
        epochs = batch.column("epoch")
        same = pc.equal(epochs, wanted)
        if not pc.all(same).as_py():
            bad = int(np.flatnonzero(~same.to_numpy(zero_copy_only=False))[0])
            problems.append(f"{ALLOCATIONS_FILE} row {rows + bad + 1} is for epoch "
                            f"{epochs[bad].as_py()!r}, not {epoch}")
        amount = _arrow_text(batch.column("amount"))
        limbs, valid = decimals(amount.arr, amount.starts, amount.lengths)
        if not valid.all():
            bad = np.flatnonzero(~valid)
            texts = batch.column("amount").take(pa.array(bad)).to_pylist()
            bad_amounts += len(bad)
            negative += sum(1 for t in texts if t.startswith("-") and DECIMAL.match(t[1:]))
            first_bad = first_bad or f"row {rows + int(bad[0]) + 1}: {texts[0]!r}"
            limbs[bad] = 0
        account = _arrow_text(batch.column("account"))
        heads = windows(account.arr, account.starts, 42)
        ok = ((account.lengths == 42) & (heads[:, 0] == 0x30) & (heads[:, 1] == 0x78)
              & hex_valid(heads[:, 2:]))
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            problems.append(f"{ALLOCATIONS_FILE} row {rows + bad + 1}: account "
                            f"{batch.column('account')[bad].as_py()!r} is not an address")
        channels = batch.column("channel").dictionary_encode()
        codes = channels.indices.to_numpy(zero_copy_only=False)
        for c, name in enumerate(channels.dictionary.to_pylist()):
            total = limbs[codes == c].sum(axis=0)
            by_channel[name] = by_channel.get(name, np.zeros(LIMBS, np.int64)) + total
        if index is not None and per_account is not None:
            raw = unhex(np.where(ok[:, None], heads[:, 2:], 0x30))
            where = np.where(ok, index.find(raw), -1)
            mine = where >= 0
            sum_into(per_account, where[mine], limbs[mine])
            for i in np.flatnonzero(~mine & ok & limbs.any(axis=1)).tolist():
                name = address(heads[i, 2:] | 0x20)
                outside[name] = outside.get(name, 0) + as_int(limbs[i])
        rows += m
    if bad_amounts:
        problems.append(f"{ALLOCATIONS_FILE}: {bad_amounts} amounts are not non-negative "
                        f"decimals ({negative} negative; first: {first_bad})")
    if per_account is not None:
        normalize(per_account)
    return Allocations(rows, {c: as_int(v) for c, v in by_channel.items()}, per_account,
                       outside, problems)


@dataclass
class _Text:
    """An Arrow string column as (buffer, start, length); the buffer readable 80 bytes before
    each text's end (``limbs.decimals``' right-aligned windows) and 42 past its start."""

    arr: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray


def _arrow_text(column: pa.Array | pa.ChunkedArray) -> _Text:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    array = column.cast(pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], np.int64)[array.offset:
                                                         array.offset + len(array) + 1]
    data = array.buffers()[2]
    body = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    pad = np.full(96, 0x20, np.uint8)
    arr = np.concatenate([pad, body[offsets[0]:offsets[-1]], pad])
    return _Text(arr, offsets[:-1] - offsets[0] + len(pad), np.diff(offsets))
