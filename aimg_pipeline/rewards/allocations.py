"""Every account's share of every channel and sub-pool of an epoch (SPEC 6.2-6.4): the
``allocations`` table.

The rules are ``lib.allocation``'s (sub-pools by policy weight, then accounts by weight,
empty sub-pools to the treasury); this module gives them the epoch's weights and writes the
rows. At protocol scale a snapshot has 2M+ rows, so the position holders stay Arrow columns:
only their weights become Python integers (the apportionment needs them), and each sub-pool's
rows are its slice of the snapshot's own account and balance-seconds columns.

Redirects (issue 19) act last, on the rows: a row earned by a redirected contract becomes
its beneficiary's row, or its wrapper token's holders' rows split by their balance-seconds
of that token (``lib.allocation.pass_through``), each with ``via`` = the contract. Only the
sub-pools in which a redirected contract earned are touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aimg_pipeline.lib.allocation import (
    POSITION_CHANNELS,
    SubPool,
    pass_through,
    split,
    sub_pools,
)
from aimg_pipeline.lib.policy import CHANNELS, Config, Redirect
from aimg_pipeline.rewards.emissions import epoch_emission
from aimg_pipeline.warehouse import TABLES, Warehouse, WarehouseError


@dataclass(frozen=True)
class _Weights:
    """One sub-pool's eligible accounts, ascending, their weights as text (what the rows
    hold) and as integers (what the apportionment takes)."""

    accounts: pa.Array
    text: pa.Array
    values: list[int]


_NONE = _Weights(pa.array([], pa.string()), pa.array([], pa.string()), [])
_CANONICAL = r"^(0|-?[1-9][0-9]*)$"  # exactly the strings str(int) gives


def _position_weights(config: Config, warehouse: Warehouse, epoch: int) -> dict[str, _Weights]:
    """Each position token's eligible holders (balance-seconds > 0, not excluded), by token.

    The snapshot step writes its file sorted by (token, holder), with balance-seconds as
    ``str(int)``; a file that is not sorted is sorted here, one that holds anything but
    canonical decimals is refused (it is not the snapshot step's).
    """
    schema, _ = TABLES["position_snapshots"]
    path = warehouse.path("position_snapshots", epoch)
    warehouse.read_schema("position_snapshots", epoch)  # the usual error when it is missing
    table = pq.read_table(path, schema=schema, columns=["pool", "account", "balance_seconds"])
    if table.num_rows > 1:
        token, account = table["pool"], table["account"]
        t0, t1, a0, a1 = token[:-1], token[1:], account[:-1], account[1:]
        ordered = pc.or_(pc.less(t0, t1), pc.and_(pc.equal(t0, t1), pc.less(a0, a1)))
        if not pc.all(ordered, min_count=0).as_py():
            table = table.sort_by([("pool", "ascending"), ("account", "ascending")])
    seconds = table["balance_seconds"]
    if seconds.null_count or not pc.all(pc.match_substring_regex(seconds, _CANONICAL),
                                        min_count=0).as_py():
        raise WarehouseError(f"{path}: balance_seconds holds values that are not decimal "
                             "integers; re-materialize the epoch's snapshots")
    positive = pc.invert(pc.or_(pc.starts_with(seconds, "-"), pc.equal(seconds, "0")))
    excluded = pa.array(sorted(config.excluded_for(epoch)), pa.string())
    table = table.filter(pc.and_(positive, pc.invert(pc.is_in(table["account"], excluded))))
    if not table.num_rows:
        return {}
    tokens = table["pool"].combine_chunks()
    accounts = table["account"].combine_chunks()
    text = table["balance_seconds"].combine_chunks()
    values = [int(s) for s in text.to_pylist()]
    starts = [0, *(np.flatnonzero(pc.not_equal(tokens[1:], tokens[:-1]).to_numpy(
        zero_copy_only=False)) + 1).tolist()]
    ends = [*starts[1:], len(tokens)]
    return {tokens[start].as_py(): _Weights(accounts[start:end], text[start:end],
                                            values[start:end])
            for start, end in zip(starts, ends, strict=True)}


def _summed(rows: Iterable[tuple[str, str, str]], excluded: frozenset[str]) -> dict[str, _Weights]:
    """(key, account, weight) rows summed per key and account, the eligible ones kept
    (sum > 0, not excluded), accounts ascending."""
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, account, weight in rows:
        sums[key][account] += int(weight)
    out = {}
    for key, by_account in sums.items():
        accounts = sorted(a for a, w in by_account.items() if w > 0 and a not in excluded)
        out[key] = _Weights(pa.array(accounts, pa.string()),
                            pa.array([str(by_account[a]) for a in accounts], pa.string()),
                            [by_account[a] for a in accounts])
    return out


@dataclass(frozen=True)
class AllocationResult:
    """An epoch's allocations: ``table`` as written, and what the checks report."""

    emission: int
    by_channel: dict[str, int]
    table: pa.Table  # the allocations table as written
    total: int  # sum of the rows' amounts

    def unallocated(self) -> dict[str, int]:
        """Amount per channel (every channel listed) that went to the treasury unallocated."""
        rows = self.table.filter(pc.equal(self.table["reason"], "unallocated"))
        amounts = dict.fromkeys(CHANNELS, 0)
        for channel, amount in zip(rows["channel"].to_pylist(), rows["amount"].to_pylist(),
                                   strict=True):
            amounts[channel] += int(amount)
        return amounts

    def redirected(self) -> int:
        """Wei moved by the policy's redirects (rows with a ``via``)."""
        amounts = self.table["amount"].filter(pc.is_valid(self.table["via"]))
        return sum(int(v) for v in amounts.to_pylist())

    def recipients(self) -> int:
        """Distinct accounts earning a non-zero amount (``amount`` is ``str(int)``)."""
        earned = pc.and_(pc.equal(self.table["reason"], "earned"),
                         pc.not_equal(self.table["amount"], "0"))
        return pc.count_distinct(self.table["account"].filter(earned)).as_py()


def write_allocations(config: Config, warehouse: Warehouse, epoch: int) -> AllocationResult:
    """Compute and write the epoch's allocation rows (SPEC 6.2-6.4)."""
    emission = epoch_emission(config, epoch)
    excluded = config.excluded_for(epoch)
    positions = _position_weights(config, warehouse, epoch)
    votes = warehouse.read("votes", epoch)
    voted = _summed(zip(votes["agent"].to_pylist(), votes["voter"].to_pylist(),
                        votes["weight"].to_pylist(), strict=True), excluded)
    accepted = warehouse.read("contributions", epoch)
    contributed = _summed((("contribution", contributor, weight) for contributor, weight in zip(
        accepted["contributor"].to_pylist(), accepted["weight"].to_pylist(), strict=True)),
        excluded)
    policy = config.policy_for(epoch)
    treasuries = _summed(((a.name, a.treasury, str(policy.agent_weight_bps[a.name]))
                          for a in config.agents_at(epoch)), excluded)
    sources = {"governance": voted, "subdao": treasuries, "contribution": contributed}

    by_channel, pools = sub_pools(emission, config, epoch)
    pieces, total = [], 0
    for pool in pools:
        weights = (positions if pool.channel in POSITION_CHANNELS
                   else sources[pool.channel]).get(pool.key, _NONE)
        parts = split(pool, weights.values)
        if parts == []:
            continue
        rows = _rows(epoch, pool, weights, parts, config.treasury)
        if policy.redirects:
            rows = _redirected(rows, policy.redirects, positions, config.treasury)
        pieces.append(rows)
        total += pool.amount
    schema = TABLES["allocations"][0]
    table = pa.concat_tables(pieces) if pieces else schema.empty_table()
    warehouse.write("allocations", epoch, table)
    return AllocationResult(emission, by_channel, table, total)


def _rows(epoch: int, pool: SubPool, weights: _Weights, parts: list[int] | None,
          treasury: str) -> pa.Table:
    """A sub-pool's rows: its eligible accounts' parts, or (``parts`` None) its treasury row."""
    if parts is None:
        accounts, text = pa.array([treasury]), pa.array(["0"])
        amounts, reason = pa.array([str(pool.amount)]), "unallocated"
    else:
        accounts, text = weights.accounts, weights.text
        amounts, reason = pa.array([str(part) for part in parts], pa.string()), "earned"
    n = len(accounts)
    return pa.table({
        "epoch": pa.repeat(pa.scalar(epoch, pa.int64()), n),
        "channel": pa.repeat(pa.scalar(pool.channel, pa.string()), n),
        "pool": pa.repeat(pa.scalar(pool.key, pa.string()), n),
        "account": accounts, "weight": text, "amount": amounts,
        "reason": pa.repeat(pa.scalar(reason, pa.string()), n),
        "via": pa.nulls(n, pa.string()),
    }, schema=TABLES["allocations"][0])


def _redirected(rows: pa.Table, redirects: dict[str, Redirect], positions: dict[str, _Weights],
                treasury: str) -> pa.Table:
    """A sub-pool's rows with each redirected contract's earned row replaced by the rows
    of where its amount goes (``via`` the contract), sorted by account then via.

    A holders redirect splits over its token's eligible holders (``positions``: positive
    balance-seconds, not excluded) other than the token and the contract themselves; with
    none, the amount goes to the treasury as ``unallocated``. One hop only: the config
    refuses chains, and a holder that is itself redirected keeps its part
    (``no_unredirected_contracts`` shows it).
    """
    hit = pc.and_(pc.is_in(rows["account"], pa.array(sorted(redirects), pa.string())),
                  pc.equal(rows["reason"], "earned"))
    if not pc.any(hit, min_count=0).as_py():
        return rows
    new: dict[str, list] = {name: [] for name in rows.column_names}
    for row in rows.filter(hit).to_pylist():
        redirect = redirects[row["account"]]
        if redirect.to is not None:
            targets = [(redirect.to, row["weight"], row["amount"], "earned")]
        else:
            holders = positions.get(redirect.token, _NONE)  # type: ignore[arg-type]
            keep = [i for i, a in enumerate(holders.accounts.to_pylist())
                    if a not in (redirect.token, redirect.source)]
            parts = pass_through(int(row["amount"]), [holders.values[i] for i in keep])
            if parts is None:
                targets = [(treasury, "0", row["amount"], "unallocated")]
            else:
                accounts, text = holders.accounts.take(keep), holders.text.take(keep)
                targets = list(zip(accounts.to_pylist(), text.to_pylist(), map(str, parts),
                                   ["earned"] * len(keep), strict=True))
        for account, weight, amount, reason in targets:
            for name, value in (("epoch", row["epoch"]), ("channel", row["channel"]),
                                ("pool", row["pool"]), ("account", account),
                                ("weight", weight), ("amount", amount), ("reason", reason),
                                ("via", redirect.source)):
                new[name].append(value)
    moved = pa.table(new, schema=rows.schema)
    return pa.concat_tables([rows.filter(pc.invert(hit)), moved]).sort_by(
        [("account", "ascending"), ("via", "ascending")])
