"""Splitting one epoch's emission over channels, sub-pools and accounts (SPEC 6.2-6.4).

Pure integer logic: every level is an exact apportionment, and any sub-pool without an
eligible recipient goes whole to the treasury as ``unallocated``, so the rows of an epoch
always sum to its emission.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aimg_pipeline.lib.apportion import apportion
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


def _split(
    channel: str,
    pool: str,
    amount: int,
    weights: Mapping[str, int],
    excluded: frozenset[str],
    treasury: str,
) -> list[Allocation]:
    """Apportion one sub-pool among its eligible accounts, or give it to the treasury."""
    if not amount:
        return []
    eligible = {a: w for a, w in weights.items() if w > 0 and a not in excluded}
    if not eligible:
        return [Allocation(channel, pool, treasury, 0, amount, "unallocated")]
    shares = apportion(amount, eligible)
    return [
        Allocation(channel, pool, account, eligible[account], shares[account], "earned")
        for account in sorted(eligible)
    ]


def allocate_epoch(
    emission: int, config: Config, epoch: int, inputs: EpochInputs
) -> tuple[dict[str, int], list[Allocation]]:
    """Return the per-channel amounts and every allocation row of one epoch."""
    policy = config.policy_for(epoch)
    excluded = config.excluded_for(epoch)
    treasury = config.treasury
    by_channel = apportion(emission, policy.channel_bps, order=CHANNELS)
    rows: list[Allocation] = []

    for channel, sub_weights, accounts_of in (
        ("staking", policy.vault_weight_bps, inputs.staking),
        ("liquidity", policy.pool_weight_bps, inputs.liquidity),
    ):
        for token, amount in apportion(by_channel[channel], sub_weights).items():
            rows += _split(
                channel, token, amount, accounts_of.get(token, {}), excluded | {token}, treasury
            )

    for agent, amount in apportion(by_channel["governance"], policy.agent_weight_bps).items():
        rows += _split("governance", agent, amount, inputs.votes.get(agent, {}), excluded, treasury)

    agents = {agent.name: agent for agent in config.agents}
    for name, amount in apportion(by_channel["subdao"], policy.agent_weight_bps).items():
        weight = {agents[name].treasury: policy.agent_weight_bps[name]}
        rows += _split("subdao", name, amount, weight, excluded, treasury)

    rows += _split("contribution", "contribution", by_channel["contribution"],
                   inputs.contributions, excluded, treasury)

    order = {channel: i for i, channel in enumerate(CHANNELS)}
    rows.sort(key=lambda r: (order[r.channel], r.pool, r.account))
    return by_channel, rows
