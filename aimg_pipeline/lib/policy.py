"""The deployment as the pipeline uses it: its constants, its registry of agents and their
contracts, and its versioned policy (SPEC 4).

The registry lists every agent the deployment has ever had; a policy version names the agents
*in force* for its epochs by listing them in ``agent_weight_bps`` (a weight of 0 keeps an
agent in force without paying it). So an agent is added by a new registry entry plus a new
version that names it: every earlier version, its epochs, their watched contracts and their
policy hash stay exactly as they were. ``lib.config`` builds a ``Config`` from the TOML file
and validates every field on the way.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from aimg_pipeline.lib.calendar import EpochCalendar
from aimg_pipeline.lib.integers import is_int
from aimg_pipeline.lib.schedule import emission_schedule

CHANNELS: tuple[str, ...] = ("staking", "governance", "subdao", "liquidity", "contribution")


KINDS: dict[int, str] = {0: "dataset", 1: "model", 2: "algorithm"}


ZERO_ADDRESS = "0x" + "0" * 40


AIMG_VAULT_NAME = "aimg"


BPS = 10_000


@dataclass(frozen=True)
class Pool:
    """A Uniswap-V2-style pair whose LP token earns the liquidity channel."""

    name: str
    address: str
    agent: str
    # the pair's swap fee (analytics only: pool_yield's fees; not in the policy hash)
    fee_bps: int = 30


@dataclass(frozen=True)
class Agent:
    """A registered AI agent: its token, staking vault, SubDAO governor/treasury, pools."""

    name: str
    token: str
    vault: str
    governor: str
    treasury: str
    pools: tuple[Pool, ...]


@dataclass(frozen=True)
class Redirect:
    """Where a contract's allocations go instead of to the contract (issue 19).

    Exactly one of ``to`` (one beneficiary takes every wei) and ``token`` (mode "holders":
    the holders of that ERC-20, usually the wrapper's own share token, split each amount by
    their time-weighted balance of it, SPEC 6.1).
    """

    source: str  # the contract that earned
    to: str | None = None
    token: str | None = None

    @property
    def mode(self) -> str:
        return "to" if self.to is not None else "holders"


@dataclass(frozen=True)
class PolicyVersion:
    """One policy version; in force from ``effective_from_epoch`` until the next one."""

    version: str
    effective_from_epoch: int
    decay_bps: int
    tail_emission: int
    excluded_addresses: frozenset[str]
    channel_bps: dict[str, int]  # ordered as CHANNELS
    kind_multiplier_bps: dict[int, int]  # kind number -> bps
    agent_weight_bps: dict[str, int]  # agent name -> bps
    vault_weight_bps: dict[str, int]  # vault address -> bps
    pool_weight_bps: dict[str, int]  # pool address -> bps
    redirects: dict[str, Redirect]  # source contract -> its redirect
    # sha256 of the canonical JSON of everything that moves money in this version's epochs
    # (see _policy_digest): the "policy hash" in every manifest
    digest: str

    @property
    def agent_names(self) -> tuple[str, ...]:
        """The agents in force under this version (those it gives a weight, maybe 0)."""
        return tuple(self.agent_weight_bps)


@dataclass(frozen=True)
class PositionToken:
    """A token whose time-weighted balances earn: a staking vault or an LP pool."""

    address: str
    kind: str  # "vault" | "pool" | "wrapper" (a holders redirect's token: it earns nothing)
    name: str  # "aimg", agent name, pool name, or (wrapper) the redirected contract
    agent: str | None


@dataclass(frozen=True)
class Config:
    """The validated deployment configuration (all addresses lowercase)."""

    name: str
    chain_id: int | None
    genesis: int
    epoch_seconds: int
    initial_emission: int
    max_total_emission: int | None
    max_top_up: int | None  # the most one epoch's hand-off may transfer to the distributor
    contract_warning_bps: int  # a contract receiving more of an epoch's emission is warned
    start_block: int
    confirmations: int
    treasury: str
    excluded_addresses: frozenset[str]
    aimg_token: str
    aimg_vault: str
    contribution_registry: str
    distributor: str | None
    agents: tuple[Agent, ...]
    policies: tuple[PolicyVersion, ...]

    def policy_for(self, epoch: int) -> PolicyVersion:
        """The latest version with ``effective_from_epoch <= epoch`` (SPEC section 4)."""
        if not is_int(epoch) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        starts = [p.effective_from_epoch for p in self.policies]
        return self.policies[bisect.bisect_right(starts, epoch) - 1]

    def calendar(self) -> EpochCalendar:
        """The epoch calendar defined by ``genesis`` and ``epoch_seconds``."""
        return EpochCalendar(self.genesis, self.epoch_seconds)

    def agents_at(self, epoch: int) -> tuple[Agent, ...]:
        """The registry's agents in force at ``epoch`` (named by its policy version)."""
        names = set(self.policy_for(epoch).agent_names)
        return tuple(a for a in self.agents if a.name in names)

    def position_tokens(self, epoch: int | None = None) -> dict[str, PositionToken]:
        """Address -> position token: the $AIMG vault, the agents' vaults, their pools, and
        the tokens of holders redirects (ingested and snapshotted like the others, they
        only split what their contract earned).

        Every agent and version of the registry, or with ``epoch`` only those in force then.
        """
        agents = self.agents if epoch is None else self.agents_at(epoch)
        out = {self.aimg_vault: PositionToken(self.aimg_vault, "vault", AIMG_VAULT_NAME, None)}
        for agent in agents:
            out[agent.vault] = PositionToken(agent.vault, "vault", agent.name, agent.name)
        for agent in agents:
            for pool in agent.pools:
                out[pool.address] = PositionToken(pool.address, "pool", pool.name, agent.name)
        versions = self.policies if epoch is None else (self.policy_for(epoch),)
        for version in versions:
            for redirect in version.redirects.values():
                if redirect.token is not None:
                    out.setdefault(redirect.token, PositionToken(
                        redirect.token, "wrapper", redirect.source, None))
        return out

    def excluded_for(self, epoch: int) -> frozenset[str]:
        """Every address that never earns at ``epoch``, in any channel or sub-pool (SPEC 4).

        The zero address, the global exclusions, those of the version in force, and each
        vault's and pool's own contract (a pair holding vault shares, a vault holding LP
        tokens, a token holding itself: none of them can claim). A holders redirect's token
        is not excluded: it is usually the very contract whose share is redirected.
        """
        tokens = self.position_tokens(epoch).values()
        return (
            frozenset({ZERO_ADDRESS})
            | self.excluded_addresses
            | self.policy_for(epoch).excluded_addresses
            | frozenset(t.address for t in tokens if t.kind != "wrapper")
        )

    def emissions_through(self, epoch: int) -> list[int]:
        """``[E(0), ..., E(epoch)]`` using the policy version in force at each epoch."""

        def curve_at(e: int) -> tuple[int, int]:
            p = self.policy_for(e)
            return p.decay_bps, p.tail_emission

        return emission_schedule(self.initial_emission, curve_at, epoch, self.max_total_emission)
