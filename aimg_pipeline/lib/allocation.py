"""Splitting one epoch's emission over channels, sub-pools and accounts (SPEC 6.2-6.4).

Pure integer rules: every level is an exact apportionment, and a sub-pool without an
eligible recipient goes whole to the treasury as ``unallocated``, so an epoch's rows always
sum to its emission. ``rewards.allocations`` feeds these rules the epoch's weights and
writes the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aimg_pipeline.lib.apportion import apportion, apportion_in_order
from aimg_pipeline.lib.policy import CHANNELS, Config

#: The channels whose sub-pools are position tokens (split by balance-seconds).
POSITION_CHANNELS = {"staking": "vault", "liquidity": "pool"}


@dataclass(frozen=True)
class SubPool:
    """One sub-pool of an epoch (SPEC 6.2): a channel's share for one key.

    ``key`` is what the ``pool`` column of ``allocations`` holds: the vault's or pool's
    token address (staking, liquidity), the agent's name (governance, subdao), or
    ``"contribution"`` (the one contribution sub-pool).
    """

    channel: str
    key: str
    amount: int


def sub_pools(emission: int, config: Config, epoch: int) -> tuple[dict[str, int], list[SubPool]]:
    """The per-channel amounts and every sub-pool with its amount, in the rows' order.

    Channels in SPEC table order, then keys ascending: the order of the allocation rows
    (each sub-pool's rows are sorted by account).
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
        pools += [SubPool(channel, key, shares[key]) for key in sorted(shares)]
    return by_channel, pools


def split(pool: SubPool, weights: Sequence[int]) -> list[int] | None:
    """A sub-pool's parts for its eligible accounts' weights, listed in account order.

    Eligible: weight > 0 and not excluded (``Config.excluded_for``), accounts ascending (ties
    go to the smaller address). ``[]`` when the sub-pool has nothing to split (its rows: none);
    ``None`` when it has no eligible account (its row: the whole amount to the treasury,
    ``unallocated``, weight 0).
    """
    if not pool.amount:
        return []
    return pass_through(pool.amount, weights)


def pass_through(amount: int, weights: Sequence[int]) -> list[int] | None:
    """A redirected row's amount split over a wrapper's eligible holders' weights (their
    balance-seconds of its token, accounts ascending), exactly as SPEC 6.1; ``None`` when
    no holder is eligible (the amount then goes to the treasury, ``unallocated``)."""
    if not weights:
        return None
    return apportion_in_order(amount, weights)
