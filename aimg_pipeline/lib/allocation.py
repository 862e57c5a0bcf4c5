"""Splitting one epoch's emission over channels, sub-pools and accounts (SPEC 6.2-6.4).

Pure integer logic: every level is an exact apportionment, and any sub-pool without an
eligible recipient goes whole to the treasury as ``unallocated``, so the rows of an epoch
always sum to its emission.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aimg_pipeline.lib.apportion import apportion, apportion_in_order
from aimg_pipeline.lib.config import CHANNELS, Config


@dataclass(frozen=True)
class Allocation:
    channel: str
    pool: str  # vault or pool address, agent name, or "contribution"
    account: str
    weight: int
    amount: int
    reason: str  # "earned" or "unallocated"


@dataclass(frozen=True)
class EpochInputs:
    """Eligible-weight inputs of one epoch, keyed as the levels of SPEC 6.2 need them."""

    staking: Mapping[str, Mapping[str, int]]  # vault address -> account -> share-seconds
    liquidity: Mapping[str, Mapping[str, int]]  # pool address -> account -> LP-seconds
    votes: Mapping[str, Mapping[str, int]]  # agent name -> voter -> summed vote weight
    contributions: Mapping[str, int]  # contributor -> sum(score * kind multiplier)


@dataclass(frozen=True)
class SubPool:
    """One sub-pool of an epoch (SPEC 6.2): a channel's share for one pool, agent, or all."""

    channel: str
    pool: str  # vault or pool address, agent name, or "contribution"
    amount: int


def sub_pools(emission: int, config: Config, epoch: int) -> tuple[dict[str, int], list[SubPool]]:
    """The per-channel amounts and every sub-pool with its amount, in the rows' order.

    Channels in SPEC table order, then pools / agents ascending: the order of the allocation
    rows (each sub-pool's rows are sorted by account), so rows built sub-pool by sub-pool
    need no sort.
    """
    policy = config.policy_for(epoch)
    by_channel = apportion(emission, policy.channel_bps, order=CHANNELS)
    sub_weights = {
        "staking": policy.vault_weight_bps,
        "liquidity": policy.pool_weight_bps,
        "governance": policy.agent_weight_bps,
        "subdao": policy.agent_weight_bps,
    }
    pools: list[SubPool] = []
    for channel in CHANNELS:
        if channel == "contribution":
            pools.append(SubPool(channel, "contribution", by_channel[channel]))
            continue
        shares = apportion(by_channel[channel], sub_weights[channel])
        pools += [SubPool(channel, name, shares[name]) for name in sorted(shares)]
    return by_channel, pools


def sub_pool_weights(
    pool: SubPool, config: Config, epoch: int, inputs: EpochInputs
) -> Mapping[str, int]:
    """The weights a sub-pool is split by; a SubDAO's share goes to its agent's treasury."""
    if pool.channel == "staking":
        return inputs.staking.get(pool.pool, {})
    if pool.channel == "liquidity":
        return inputs.liquidity.get(pool.pool, {})
    if pool.channel == "governance":
        return inputs.votes.get(pool.pool, {})
    if pool.channel == "subdao":
        treasury = {agent.name: agent.treasury for agent in config.agents}[pool.pool]
        return {treasury: config.policy_for(epoch).agent_weight_bps[pool.pool]}
    return inputs.contributions


def split_in_order(pool: SubPool, weights: Sequence[int]) -> list[int] | None:
    """A sub-pool's parts for its eligible accounts' weights, listed in account order.

    ``[]`` when the sub-pool has nothing to split; ``None`` when it has no eligible account
    (weight > 0, not excluded) and goes whole to the treasury as ``unallocated``. The
    caller passes eligible weights only, sorted by account (ties go to the smaller address).
    """
    if not pool.amount:
        return []
    if not weights:
        return None
    return apportion_in_order(pool.amount, weights)


def split_sub_pool(
    pool: SubPool, weights: Mapping[str, int], excluded: frozenset[str], treasury: str
) -> list[Allocation]:
    """The rows of one sub-pool: its eligible accounts' shares, or all to the treasury."""
    if not pool.amount:
        return []
    eligible = {a: w for a, w in weights.items() if w > 0 and a not in excluded}
    accounts = sorted(eligible)
    parts = split_in_order(pool, [eligible[a] for a in accounts])
    if parts is None:
        return [Allocation(pool.channel, pool.pool, treasury, 0, pool.amount, "unallocated")]
    return [
        Allocation(pool.channel, pool.pool, account, eligible[account], part, "earned")
        for account, part in zip(accounts, parts, strict=True)
    ]


def allocate_epoch(
    emission: int, config: Config, epoch: int, inputs: EpochInputs
) -> tuple[dict[str, int], list[Allocation]]:
    """Return the per-channel amounts and every allocation row of one epoch."""
    by_channel, pools = sub_pools(emission, config, epoch)
    rows: list[Allocation] = []
    for pool in pools:
        rows += split_sub_pool(pool, sub_pool_weights(pool, config, epoch, inputs),
                               config.excluded_for(epoch), config.treasury)
    order = {channel: i for i, channel in enumerate(CHANNELS)}
    # A no-op (sub-pools come in row order, each one's rows by account), kept so the
    # written order never rests on that.
    rows.sort(key=lambda r: (order[r.channel], r.pool, r.account))
    return by_channel, rows
