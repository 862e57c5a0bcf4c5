"""Emissions, allocations and cumulative claims of one epoch, from the warehouse tables.

The arithmetic lives in ``lib`` (schedule, apportionment, allocation); this module reads the
epoch's decoded inputs as exact integers and writes the results. At protocol scale (2M+
snapshot rows, 1M claims) the per-row work is kept columnar: snapshot weights go from Arrow
straight into the apportionment, allocation rows are built as Arrow columns (``Allocation``
objects only on access), and sums over whole tables run in DuckDB, exactly: as ``BIGNUM``
(arbitrary precision), or as ``HUGEINT``, whose overflow raises and sends the work to the
plain Python definition.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import ItemsView, Iterator, Mapping, Sequence, ValuesView
from dataclasses import dataclass
from typing import overload

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aimg_pipeline.lib.allocation import (
    Allocation,
    EpochInputs,
    allocate_epoch,
    split_in_order,
    split_sub_pool,
    sub_pool_weights,
    sub_pools,
)
from aimg_pipeline.lib.apportion import apportion
from aimg_pipeline.lib.config import CHANNELS, Config
from aimg_pipeline.warehouse import TABLES, Warehouse, run_sql


def _summary(warehouse: Warehouse, epoch: int) -> tuple[int, dict[str, int], dict[str, int]]:
    """Recipients, amount per channel, and unallocated amount per channel of an epoch.

    One DuckDB pass over the epoch's file (``sql/allocation_summary.sql``, exact BIGNUM
    sums); 2M rows as Python ints took ~5 s per epoch.
    """
    con = warehouse.connect({"epoch_allocations": warehouse.path("allocations", epoch)})
    try:
        rows = run_sql(con, "allocation_summary").to_pylist()
    finally:
        con.close()
    total: dict[str, int] = defaultdict(int)
    unallocated: dict[str, int] = defaultdict(int)
    recipients = 0
    for row in rows:
        total[row["channel"]] = int(row["total"])
        unallocated[row["channel"]] = int(row["unallocated"])
        recipients = row["recipients"]
    return recipients, total, unallocated


def epoch_swings(warehouse: Warehouse, epoch: int) -> list[str]:
    """Epoch-over-epoch changes a person should look at before signing.

    Flags the number of recipients moving by more than half, and a channel whose share left
    unallocated moves by 25 percentage points or more. Integer arithmetic only.
    """
    if epoch == 0 or not warehouse.has("allocations", epoch - 1):
        return []
    warehouse.read_schema("allocations", epoch)  # the usual error when it is missing
    before_recipients, before_total, before_unallocated = _summary(warehouse, epoch - 1)
    recipients, total, unallocated = _summary(warehouse, epoch)
    swings = []
    if 2 * abs(recipients - before_recipients) > before_recipients:
        swings.append(f"recipients {before_recipients} -> {recipients}")
    for channel in CHANNELS:
        now = 100 * unallocated[channel] // total[channel] if total[channel] else 0
        then = (100 * before_unallocated[channel] // before_total[channel]
                if before_total[channel] else 0)
        if abs(now - then) >= 25:
            swings.append(f"{channel}: unallocated share {then}% -> {now}%")
    return swings


def epoch_emission(config: Config, epoch: int) -> int:
    return config.emissions_through(epoch)[epoch]


def write_emissions(config: Config, warehouse: Warehouse, epoch: int) -> dict[str, int]:
    """Split E(epoch) over the channels and store it; returns amount per channel."""
    policy = config.policy_for(epoch)
    by_channel = apportion(epoch_emission(config, epoch), policy.channel_bps, order=CHANNELS)
    warehouse.write("epoch_emissions", epoch, {
        "epoch": [epoch] * len(CHANNELS), "channel": list(CHANNELS),
        "amount": [str(by_channel[c]) for c in CHANNELS],
        "policy_version": [policy.version] * len(CHANNELS),
    })
    return by_channel


def _votes_and_contributions(
    warehouse: Warehouse, epoch: int
) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Summed vote weight per agent and voter, and summed weight per contributor."""
    votes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    decoded = warehouse.read("votes", epoch).to_pydict()
    for agent, voter, weight in zip(
        decoded["agent"], decoded["voter"], decoded["weight"], strict=True
    ):
        votes[agent][voter] += int(weight)

    contributions: dict[str, int] = defaultdict(int)
    accepted = warehouse.read("contributions", epoch).to_pydict()
    for contributor, weight in zip(accepted["contributor"], accepted["weight"], strict=True):
        contributions[contributor] += int(weight)
    return votes, contributions


def epoch_inputs(config: Config, warehouse: Warehouse, epoch: int) -> EpochInputs:
    """Eligible weights of the epoch as exact integers, grouped per SPEC 6.2 level."""
    staking: dict[str, dict[str, int]] = defaultdict(dict)
    liquidity: dict[str, dict[str, int]] = defaultdict(dict)
    snapshots = warehouse.read("position_snapshots", epoch).to_pydict()
    for pool, kind, account, seconds in zip(
        snapshots["pool"], snapshots["token_kind"], snapshots["account"],
        snapshots["balance_seconds"], strict=True,
    ):
        (staking if kind == "vault" else liquidity)[pool][account] = int(seconds)
    votes, contributions = _votes_and_contributions(warehouse, epoch)
    return EpochInputs(staking, liquidity, votes, contributions)


# ------------------------------------------------------------------ position holders, columnar


@dataclass(frozen=True)
class _Holders:
    """The eligible position holders of an epoch, straight from its snapshot file.

    ``accounts`` / ``seconds`` hold exactly the rows that ``lib.allocation.split_sub_pool``
    keeps from ``epoch_inputs`` (weight > 0, account not excluded: no position token either),
    sorted by (pool, account); ``weights`` are the balance-seconds as ints, and ``runs`` the
    rows of each (channel, pool).
    """

    accounts: pa.ChunkedArray
    seconds: pa.ChunkedArray  # canonical decimals: str(weight) == the string
    weights: list[int]
    runs: dict[tuple[str, str], tuple[int, int]]  # (channel, pool) -> (offset, length)


def _position_holders(config: Config, warehouse: Warehouse, epoch: int) -> _Holders | None:
    """The snapshot's eligible holders without a Python object per row but the weight, or None.

    None when the file is not what the snapshot step writes (rows strictly sorted by
    (pool, account), one kind per pool, balance-seconds as canonical decimals, no NULLs):
    the caller then takes the general dict path, which gives any input its meaning.
    """
    schema, _ = TABLES["position_snapshots"]
    warehouse.read_schema("position_snapshots", epoch)  # the usual error when it is missing
    table = pq.read_table(warehouse.path("position_snapshots", epoch), schema=schema,
                          columns=["pool", "token_kind", "account", "balance_seconds"])
    if any(column.null_count for column in table.columns):
        return None
    pool, kind, account, seconds = table.columns
    n = table.num_rows
    if n > 1:
        p0, p1, a0, a1 = pool[:-1], pool[1:], account[:-1], account[1:]
        same_pool = pc.equal(p0, p1)
        ordered = pc.or_(pc.less(p0, p1), pc.and_(same_pool, pc.less(a0, a1)))
        mixed = pc.and_(same_pool, pc.not_equal(kind[:-1], kind[1:]))
        if not pc.all(ordered, min_count=0).as_py() or pc.any(mixed, min_count=0).as_py():
            return None
    # ASCII digits without a leading 0: a canonical decimal > 0, so int(s) > 0 and
    # str(int(s)) == s. Anything else must be "0" or a canonical negative (weight <= 0).
    positive = pc.and_(pc.ascii_is_decimal(seconds), pc.invert(pc.starts_with(seconds, "0")))
    others = seconds.filter(pc.invert(positive))
    if not pc.all(pc.match_substring_regex(others, r"^(0|-[1-9][0-9]*)$"),
                  min_count=0).as_py():
        return None
    excluded = pa.array(sorted(config.excluded_for(epoch)), pa.string())
    keep = pc.and_(positive, pc.invert(pc.is_in(account, value_set=excluded)))
    table = table.filter(keep)
    weights = [int(s) for s in table["balance_seconds"].to_pylist()]
    runs: dict[tuple[str, str], tuple[int, int]] = {}
    if table.num_rows:
        pools = table["pool"]
        starts = [0, *(np.flatnonzero(pc.not_equal(pools[1:], pools[:-1]).to_numpy()) + 1)]
        ends = [*starts[1:], table.num_rows]
        first = pa.array(starts, pa.int64())
        for name, token_kind, start, end in zip(
            pools.take(first).to_pylist(), table["token_kind"].take(first).to_pylist(),
            starts, ends, strict=True,
        ):
            channel = "staking" if token_kind == "vault" else "liquidity"
            runs[(channel, name)] = (int(start), int(end - start))
    return _Holders(table["account"], table["balance_seconds"], weights, runs)


# -------------------------------------------------------------------------------- allocations

_ROW_COLUMNS = ("channel", "pool", "account", "weight", "amount", "reason")


class AllocationRows(Sequence[Allocation]):
    """The allocation rows of an epoch as ``Allocation`` objects, made on access.

    Backed by the columns written to the warehouse: 2.3M dataclass objects (10M logs) cost
    ~5 s and ~1 GB, and most callers only need the count or one pass.
    """

    def __init__(self, table: pa.Table) -> None:
        self._table = table.select(list(_ROW_COLUMNS))

    def __len__(self) -> int:
        return self._table.num_rows

    @overload
    def __getitem__(self, index: int) -> Allocation: ...
    @overload
    def __getitem__(self, index: slice) -> list[Allocation]: ...

    def __getitem__(self, index: int | slice) -> Allocation | list[Allocation]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("allocation row index out of range")
        return self._make(self._table.slice(index, 1).to_pylist()[0])

    def __iter__(self) -> Iterator[Allocation]:
        for batch in self._table.to_batches(max_chunksize=65_536):
            columns = [batch.column(name).to_pylist() for name in _ROW_COLUMNS]
            for channel, pool, account, weight, amount, reason in zip(*columns, strict=True):
                yield Allocation(channel, pool, account, int(weight), int(amount), reason)

    @staticmethod
    def _make(row: Mapping[str, str]) -> Allocation:
        return Allocation(row["channel"], row["pool"], row["account"], int(row["weight"]),
                          int(row["amount"]), row["reason"])


@dataclass(frozen=True)
class AllocationResult:
    """An epoch's allocations: ``table`` as written, ``rows`` as ``Allocation`` objects."""

    emission: int
    by_channel: dict[str, int]
    table: pa.Table  # the allocations table as written
    total: int  # sum of the rows' amounts

    @property
    def rows(self) -> AllocationRows:
        return AllocationRows(self.table)

    def unallocated(self) -> dict[str, int]:
        """Amount per channel (every channel listed) that went to the treasury unallocated."""
        rows = self.table.filter(pc.equal(self.table["reason"], "unallocated"))
        amounts = {channel: 0 for channel in CHANNELS}
        for channel, amount in zip(rows["channel"].to_pylist(), rows["amount"].to_pylist(),
                                   strict=True):
            amounts[channel] = amounts.get(channel, 0) + int(amount)
        return amounts

    def recipients(self) -> int:
        """Distinct accounts earning a non-zero amount, without a Python object per row.

        ``amount`` holds ``str(int)`` of each part (built here), so "0" is exactly zero.
        """
        earned = pc.and_(pc.equal(self.table["reason"], "earned"),
                         pc.not_equal(self.table["amount"], "0"))
        return pc.count_distinct(self.table["account"].filter(earned)).as_py()


def _rows_table(epoch: int, rows: list[Allocation]) -> pa.Table:
    return pa.table({
        "epoch": pa.array([epoch] * len(rows), pa.int64()),
        "channel": pa.array([r.channel for r in rows], pa.string()),
        "pool": pa.array([r.pool for r in rows], pa.string()),
        "account": pa.array([r.account for r in rows], pa.string()),
        "weight": pa.array([str(r.weight) for r in rows], pa.string()),
        "amount": pa.array([str(r.amount) for r in rows], pa.string()),
        "reason": pa.array([r.reason for r in rows], pa.string()),
    })


def _allocation_table(config: Config, warehouse: Warehouse, epoch: int,
                      emission: int) -> tuple[dict[str, int], pa.Table, int] | None:
    """Per-channel amounts, the rows and their total; None when the snapshot needs the
    general path (see ``_position_holders``).

    The same sub-pools and rules as ``lib.allocation.allocate_epoch``; a position sub-pool
    with eligible holders is apportioned over its run of ``_Holders`` (already sorted by
    account) and its rows are gathered from the snapshot's own columns, every other
    sub-pool (agents, contributions, the treasury's rows) through ``split_sub_pool``.
    """
    holders = _position_holders(config, warehouse, epoch)
    if holders is None:
        return None
    votes, contributions = _votes_and_contributions(warehouse, epoch)
    inputs = EpochInputs({}, {}, votes, contributions)  # positions come from `holders`
    by_channel, pools = sub_pools(emission, config, epoch)

    # Output rows in order, as runs of a source: the holders' rows, then `others`.
    others: list[Allocation] = []
    offset = len(holders.weights)
    runs: list[tuple[int, int, int, str]] = []  # (source start, length, sub-pool index, reason)
    amounts: list[str] = []
    total = 0
    for i, pool in enumerate(pools):
        if pool.channel in ("staking", "liquidity"):
            start, length = holders.runs.get((pool.channel, pool.pool), (0, 0))
            parts = split_in_order(pool, holders.weights[start:start + length])
            if parts:
                runs.append((start, length, i, "earned"))
                amounts += map(str, parts)
                total += sum(parts)
                continue
            if parts is not None:  # nothing to split
                continue
            # no eligible holder: the treasury's row, as the general path makes it
        for row in split_sub_pool(pool, sub_pool_weights(pool, config, epoch, inputs),
                                  config.excluded_for(epoch), config.treasury):
            runs.append((offset + len(others), 1, i, row.reason))
            others.append(row)
            amounts.append(str(row.amount))
            total += row.amount

    lengths = np.array([length for _, length, _, _ in runs], np.int64)
    source = pa.array(np.concatenate(
        [np.arange(start, start + length) for start, length, _, _ in runs] or [[]]
    ).astype(np.int64))

    def repeated(values: list[str]) -> pa.Array:
        """One value per run, repeated over the run's rows."""
        codes = np.repeat(np.arange(len(values), dtype=np.int64), lengths)
        return pa.array(values, pa.string()).take(pa.array(codes))

    def gathered(column: pa.ChunkedArray, extra: list[str]) -> pa.Array:
        return pa.concat_arrays([*column.chunks, pa.array(extra, pa.string())]).take(source)

    table = pa.table({
        "epoch": pa.repeat(pa.scalar(epoch, pa.int64()), len(amounts)),
        "channel": repeated([pools[i].channel for _, _, i, _ in runs]),
        "pool": repeated([pools[i].pool for _, _, i, _ in runs]),
        "account": gathered(holders.accounts, [r.account for r in others]),
        "weight": gathered(holders.seconds, [str(r.weight) for r in others]),
        "amount": pa.array(amounts, pa.string()),
        "reason": repeated([reason for _, _, _, reason in runs]),
    })
    return by_channel, table, total


def write_allocations(config: Config, warehouse: Warehouse, epoch: int) -> AllocationResult:
    """Compute and write the epoch's allocation rows (SPEC 6.2-6.4).

    Columnar when the snapshot file is the pipeline's own (every real epoch), else through
    ``lib.allocation.allocate_epoch`` over dicts; both give the same rows.
    """
    emission = epoch_emission(config, epoch)
    computed = _allocation_table(config, warehouse, epoch, emission)
    if computed is None:
        by_channel, rows = allocate_epoch(
            emission, config, epoch, epoch_inputs(config, warehouse, epoch)
        )
        computed = by_channel, _rows_table(epoch, rows), sum(r.amount for r in rows)
    by_channel, table, total = computed
    warehouse.write("allocations", epoch, table)
    return AllocationResult(emission, by_channel, table, total)


# ------------------------------------------------------------------------------------ claims


def cumulative_claims(warehouse: Warehouse, epoch: int) -> dict[str, int]:
    """claim(a, e) = claim(a, e-1) + a's allocations in e; accounts with 0 are left out.

    The plain Python definition (``write_claims`` computes the same in DuckDB).
    """
    claims: dict[str, int] = defaultdict(int)
    if epoch > 0:
        previous = warehouse.read("claims", epoch - 1).to_pydict()
        for account, amount in zip(
            previous["account"], previous["cumulative_amount"], strict=True
        ):
            claims[account] = int(amount)
    allocations = warehouse.read("allocations", epoch).to_pydict()
    for account, amount in zip(allocations["account"], allocations["amount"], strict=True):
        claims[account] += int(amount)
    return {account: claims[account] for account in sorted(claims) if claims[account]}


class Claims(Mapping[str, int]):
    """Cumulative claim per account, ascending: the written claims columns as a ``Mapping``.

    Callers use it as the dict ``write_claims`` used to return; the dict of ints is only
    made on first use beyond ``len`` (1M accounts at 10M logs).
    """

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self._dict: dict[str, int] | None = None

    def _claims(self) -> dict[str, int]:
        if self._dict is None:
            self._dict = dict(zip(self._table["account"].to_pylist(),
                                  map(int, self._table["cumulative_amount"].to_pylist()),
                                  strict=True))
        return self._dict

    def __len__(self) -> int:
        return self._table.num_rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims())

    def __getitem__(self, account: str) -> int:
        return self._claims()[account]

    def items(self) -> ItemsView[str, int]:
        return self._claims().items()

    def values(self) -> ValuesView[int]:
        return self._claims().values()


# What DuckDB raises instead of wrapping when a value leaves HUGEINT, and what error() in
# sql/claims.sql raises: the SQL could not give the answer, the Python definition does.
_NOT_HUGEINT = (duckdb.ConversionException, duckdb.OutOfRangeException,
                duckdb.InvalidInputException)


def write_claims(warehouse: Warehouse, epoch: int) -> Mapping[str, int]:
    """Write and return the epoch's cumulative claims (``cumulative_claims``' definition).

    DuckDB computes and writes them (``sql/claims.sql``, HUGEINT, sorted by account): 1M
    Python ints, a dict and a sort took ~6 s at 10M logs. Values outside HUGEINT and
    files the pipeline does not write take ``cumulative_claims``.
    """
    files = {"epoch_allocations": warehouse.path("allocations", epoch)}
    warehouse.read_schema("allocations", epoch)  # the usual errors when missing
    if epoch > 0:
        warehouse.read_schema("claims", epoch - 1)
        files["previous_claims"] = warehouse.path("claims", epoch - 1)
    con = warehouse.connect(files)
    try:
        if epoch == 0:
            con.register("previous_claims", TABLES["claims"][0].empty_table())
        warehouse.write_query("claims", epoch, con, "claims")
    except _NOT_HUGEINT:
        claims = cumulative_claims(warehouse, epoch)
        warehouse.write("claims", epoch, {
            "epoch": [epoch] * len(claims), "account": list(claims),
            "cumulative_amount": [str(v) for v in claims.values()],
        })
    finally:
        con.close()
    return Claims(pq.read_table(warehouse.path("claims", epoch),
                                columns=["account", "cumulative_amount"]))
