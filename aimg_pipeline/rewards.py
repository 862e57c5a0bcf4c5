"""Emissions, allocations and cumulative claims of one epoch, from the warehouse tables.

The arithmetic lives in ``lib`` (schedule, apportionment, allocation); this module only
reads the epoch's decoded inputs as exact Python integers and writes the results.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from aimg_pipeline.lib.allocation import Allocation, EpochInputs, allocate_epoch
from aimg_pipeline.lib.apportion import apportion
from aimg_pipeline.lib.config import CHANNELS, Config
from aimg_pipeline.warehouse import Warehouse


def _summary(warehouse: Warehouse, epoch: int) -> tuple[int, dict[str, int], dict[str, int]]:
    """Recipients, amount per channel, and unallocated amount per channel of an epoch."""
    rows = warehouse.read("allocations", epoch).to_pydict()
    total: dict[str, int] = defaultdict(int)
    unallocated: dict[str, int] = defaultdict(int)
    recipients = set()
    for channel, account, amount, reason in zip(
        rows["channel"], rows["account"], rows["amount"], rows["reason"], strict=True
    ):
        total[channel] += int(amount)
        if reason == "unallocated":
            unallocated[channel] += int(amount)
        elif int(amount):
            recipients.add(account)
    return len(recipients), total, unallocated


def epoch_swings(warehouse: Warehouse, epoch: int) -> list[str]:
    """Epoch-over-epoch changes a person should look at before signing.

    Flags the number of recipients moving by more than half, and a channel whose share left
    unallocated moves by 25 percentage points or more. Integer arithmetic only.
    """
    if epoch == 0 or not warehouse.has("allocations", epoch - 1):
        return []
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
    return EpochInputs(staking, liquidity, votes, contributions)


@dataclass(frozen=True)
class AllocationResult:
    emission: int
    by_channel: dict[str, int]
    rows: list[Allocation]

    @property
    def total(self) -> int:
        return sum(row.amount for row in self.rows)


def write_allocations(config: Config, warehouse: Warehouse, epoch: int) -> AllocationResult:
    emission = epoch_emission(config, epoch)
    by_channel, rows = allocate_epoch(
        emission, config, epoch, epoch_inputs(config, warehouse, epoch)
    )
    warehouse.write("allocations", epoch, {
        "epoch": [epoch] * len(rows),
        "channel": [r.channel for r in rows],
        "pool": [r.pool for r in rows],
        "account": [r.account for r in rows],
        "weight": [str(r.weight) for r in rows],
        "amount": [str(r.amount) for r in rows],
        "reason": [r.reason for r in rows],
    })
    return AllocationResult(emission, by_channel, rows)


def cumulative_claims(warehouse: Warehouse, epoch: int) -> dict[str, int]:
    """claim(a, e) = claim(a, e-1) + a's allocations in e; accounts with 0 are left out."""
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


def write_claims(warehouse: Warehouse, epoch: int) -> dict[str, int]:
    claims = cumulative_claims(warehouse, epoch)
    warehouse.write("claims", epoch, {
        "epoch": [epoch] * len(claims), "account": list(claims),
        "cumulative_amount": [str(v) for v in claims.values()],
    })
    return claims
