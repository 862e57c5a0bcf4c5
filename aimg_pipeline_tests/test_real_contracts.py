"""Real contracts end to end: unmodified OpenZeppelin 5.x and Uniswap V2 on anvil, the
pipeline run exactly as a user runs it (`aimg materialize`), every published wei checked
against an oracle written here from SPEC sections 3, 5 and 6.

The chain (`aimg_pipeline_tests/realchain/`, an npm package with a committed lock file):
- $AIMG and two agent tokens (atlas, nova): OpenZeppelin ERC20 + ERC20Permit + ERC20Votes;
- one ERC4626 staking vault for $AIMG and one per agent;
- one OpenZeppelin Governor per agent (Settings, CountingSimple, Votes, QuorumFraction);
- Uniswap V2 factory and pairs from `@uniswap/v2-core`'s published build artifacts:
  `atlas-aimg` created before genesis, `nova-aimg` registered in the config at its CREATE2
  address but only created in epoch 2;
- a naive contribution registry that emits whatever `ContributionAccepted` it is told.
Solidity is compiled with the pinned solcjs at test time (cached under the package's
node_modules/.cache), anvil (npm `@foundry-rs/anvil`) is started on a free loopback port.

The scenario (`play`; genesis G = 2030-01-01T00:00Z, epochs of 3600 s, checked 0..5):
- before G: deployments; deposits into the $AIMG and atlas vaults; the first mint of
  atlas-aimg (its MINIMUM_LIQUIDITY lock); a castVote and a contribution (count nowhere);
- epoch 0: a deposit; a deposit and a share transfer in one block; castVoteWithReason and
  castVoteWithReasonAndParams on atlas, one on nova; contributions of kinds 0, 1, 2, plus
  kind 7, an unregistered agent, an id repeated in the same block and later in the epoch;
  a later LP mint; a swap AIMG -> ATLAS; atlas-vault shares sent to nova-aimg's
  not-yet-deployed address;
- epoch 1: a redeem (burn); $AIMG-vault shares sent to the atlas-aimg pair, atlas-vault
  shares sent to the $AIMG vault; LP removal (LP to the pair, burn 300 s later); a swap
  ATLAS -> AIMG; votes on atlas only; nova's vault gets its first holder; an id re-used
  from epoch 0; an id first rejected (kind 7) then accepted; an excluded contributor;
- epoch 2: nova-aimg created at its CREATE2 address, its first mint and a later one, swaps
  both ways; a vote on nova only; an id rejected (unregistered agent), re-used in epoch 4;
- epoch 3: empty, no block at all;
- epoch 4 (policy v2: new weights, C excluded, a binding tail): excluded voters (X, C),
  nova's only voter excluded; a holder leaves; an LP transfer; a swap;
- epoch 5 (the cap cuts the emission): a vote; LP removal in one block; shares sent to an
  excluded holder; an id re-used from epoch 0; a deposit. Then 70 empty blocks so that
  anvil's `finalized` (head - 64) is past the end of epoch 5.

The oracle (`expected_epoch`) takes its inputs from the chain's logs, read here with web3
and the compiled ABIs, and implements SPEC 3 (windows), 5 (schedule), 6.1 (apportionment),
6.2 (levels), 6.3 (time weighting), 6.4 (unallocated) and 6.5 (rejected contributions) on
its own: nothing from `aimg_pipeline` is imported.

Readings where the SPEC leaves room (the README / docs/economics.md decisions):
- Exclusions (the zero address, every registered position token's own address, the
  top-level `excluded_addresses` and those of the version in force) apply in every channel
  and sub-pool, votes and contributions included (SPEC 4: "in every channel and sub-pool").
  A position token registered before its contract exists (nova-aimg) is excluded too.
- `ContributionAccepted.agent` is matched against the registered agents' *token* addresses.
- A contribution is rejected (counts nowhere) for an unknown kind, an unregistered agent, or
  a contributionId already *accepted* earlier (same epoch in log order, or any earlier
  epoch). An id whose earlier log was itself rejected (unknown kind) can still be accepted
  (SPEC 6.5: "a duplicate of any earlier accepted contribution"). The contribution made
  before genesis uses an id that is never used again, so whether pre-genesis ids count as
  "used" is not tested.
- Apportionment tie keys: channels in SPEC table order, agents by name, holders/voters/
  contributors by lowercase address. Vaults and pools are keyed by their lowercase address
  (SPEC 6.1 "addresses as lowercase hex"); the scenario is chosen so that keying them by
  name would give the same wei (checked by `test_oracle_self_checks`).
- Rows: a sub-pool with amount 0 has no rows; otherwise one `earned` row per eligible
  account with positive weight, or a single `unallocated` row (weight 0) to the treasury.
  `subdao` rows carry the agent's bps as weight.
- Votes with non-empty reasons and params are ordinary votes: `support` is ignored, every
  VoteCast / VoteCastWithParams counts its `weight` (SPEC 6.2.3).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address

from aimg_pipeline_tests.realchain import driver
from aimg_pipeline_tests.realchain.driver import Chain

# --------------------------------------------------------------------------- parameters

GENESIS = 1_893_456_000  # 2030-01-01T00:00:00Z
L = 3600  # epoch_seconds
T0 = GENESIS - 3000  # anvil's genesis block; every deployment happens before GENESIS
EPOCHS = list(range(6))  # epochs checked: 0..5 (3 is empty, 4 and 5 run policy v2)
EMPTY_EPOCH = 3
ZERO = "0x" + "0" * 40
MINIMUM_LIQUIDITY = 1000
UNIT = 10**18
CHANNELS = ("staking", "governance", "subdao", "liquidity", "contribution")
KIND_NAMES = {0: "dataset", 1: "model", 2: "algorithm"}
INITIAL_EMISSION = 10**24 + 12_345  # odd on purpose: every level has remainders


@dataclass(frozen=True)
class Policy:
    version: str
    effective_from_epoch: int
    decay_bps: int
    tail_emission: int
    channel_bps: dict[str, int]
    kind_multiplier_bps: dict[str, int]
    agent_weight_bps: dict[str, int]
    vault_weight_bps: dict[str, int]
    pool_weight_bps: dict[str, int]
    excluded: tuple[str, ...] = ()  # labels of accounts, resolved when the config is written


def schedule(policies: list[Policy], epochs: int, cap: int | None) -> list[int]:
    """SPEC 5: E(0) = initial; E(e) = max(tail, floor(E(e-1) * (10000 - decay) / 10000))
    with the version in force at e; the optional cap cuts the epoch that would pass it and
    zeroes the later ones. (The uncapped curve carries on from the uncapped E(e-1).)"""
    out, previous, total = [], 0, 0
    for e in range(epochs):
        pol = policy_for(policies, e)
        raw = INITIAL_EMISSION if e == 0 else max(
            pol.tail_emission, previous * (10_000 - pol.decay_bps) // 10_000)
        previous = raw
        amount = raw if cap is None else max(0, min(raw, cap - total))
        total += amount
        out.append(amount)
    return out


def policy_for(policies: list[Policy], epoch: int) -> Policy:
    return [p for p in policies if p.effective_from_epoch <= epoch][-1]


V1 = Policy(
    version="v1", effective_from_epoch=0, decay_bps=700, tail_emission=0,
    channel_bps={"staking": 3500, "governance": 1500, "subdao": 1000, "liquidity": 3000,
                 "contribution": 1000},
    kind_multiplier_bps={"dataset": 10_000, "model": 15_000, "algorithm": 20_000},
    agent_weight_bps={"atlas": 6000, "nova": 4000},
    # vault and pool weights without ties in the remainders (see the module docstring)
    vault_weight_bps={"aimg": 5003, "atlas": 2999, "nova": 1998},
    pool_weight_bps={"atlas-aimg": 6997, "nova-aimg": 3003},
)
_E3 = schedule([V1], 4, None)[3]
# v2 from epoch 4: a tail above the decayed curve (so E(4) = E(5) = tail), equal agent
# weights (the leftover wei goes to "atlas" < "nova"), and C excluded from then on.
V2 = Policy(
    version="v2", effective_from_epoch=4, decay_bps=1200, tail_emission=_E3 * 95 // 100 + 1,
    channel_bps={"staking": 3000, "governance": 2000, "subdao": 1000, "liquidity": 2500,
                 "contribution": 1500},
    kind_multiplier_bps={"dataset": 10_000, "model": 12_500, "algorithm": 30_000},
    agent_weight_bps={"atlas": 5000, "nova": 5000},
    vault_weight_bps={"aimg": 4001, "atlas": 3502, "nova": 2497},
    pool_weight_bps={"atlas-aimg": 6011, "nova-aimg": 3989},
    excluded=("C",),
)
POLICIES = [V1, V2]
_UNCAPPED = schedule(POLICIES, len(EPOCHS), None)
# The cap cuts epoch 5 to a third of its uncapped amount.
MAX_TOTAL_EMISSION = sum(_UNCAPPED[:5]) + _UNCAPPED[5] // 3
EMISSIONS = schedule(POLICIES, len(EPOCHS), MAX_TOTAL_EMISSION)
GLOBAL_EXCLUDED = ("X",)  # the "team wallet": holds shares, votes, contributes, never earns

# anvil's dev accounts, by role
ROLES = ["deployer", "A", "B", "C", "D", "X", "LP1", "LP2", "LP3", "SWAP", "V1", "V2", "V3",
         "F", "G", "H", "treasury", "atlas-treasury", "nova-treasury", "unregistered"]


def start(epoch: int) -> int:
    return GENESIS + epoch * L


# --------------------------------------------------------------------------- the scenario


@dataclass
class World:
    """What the scenario deployed, by name, and the label of every address."""

    chain: Chain
    artifacts: dict[str, dict[str, Any]]
    acct: dict[str, str]
    contracts: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    proposals: dict[str, int] = field(default_factory=dict)
    nova_pair_predicted: str = ""
    nova_pair_code_before: bytes = b"-"

    def c(self, name: str) -> Any:
        return self.contracts[name]

    def addr(self, name: str) -> str:
        return self.acct[name] if name in self.acct else self.contracts[name].address


def play(chain: Chain) -> World:
    """Deploy everything and play epochs 0..5 (see each block's comment), then mine enough
    empty blocks that anvil's `finalized` (head - 64) is past the end of epoch 5."""
    art = driver.compile_contracts()
    art["UniswapV2Factory"] = driver.uniswap_artifact("UniswapV2Factory")
    art["UniswapV2Pair"] = driver.uniswap_artifact("UniswapV2Pair")
    acct = dict(zip(ROLES, chain.accounts, strict=False))
    w = World(chain, art, acct)
    w.labels = {a.lower(): n for n, a in acct.items()}
    dep = acct["deployer"]
    send = chain.send

    def deploy(name: str, artifact: str, *args: Any) -> Any:
        contract = chain.deploy(art[artifact], dep, *args)
        w.contracts[name] = contract
        w.labels[contract.address.lower()] = name
        return contract

    # ---- deployment (T0 ...): tokens, vaults, governors, registry, Uniswap V2
    chain.mine(T0 + 10)
    aimg = deploy("AIMG", "VotesToken", "AImagine", "AIMG", dep, 10**9 * UNIT)
    atlas = deploy("ATLAS", "VotesToken", "Atlas Agent", "ATLAS", dep, 10**8 * UNIT)
    nova = deploy("NOVA", "VotesToken", "Nova Agent", "NOVA", dep, 10**8 * UNIT)
    deploy("aimg-vault", "StakingVault", aimg.address, "Staked AIMG", "sAIMG")
    deploy("atlas-vault", "StakingVault", atlas.address, "Staked ATLAS", "sATLAS")
    deploy("nova-vault", "StakingVault", nova.address, "Staked NOVA", "sNOVA")
    deploy("atlas-gov", "AgentGovernor", "Atlas SubDAO", atlas.address, 1, 50_000)
    deploy("nova-gov", "AgentGovernor", "Nova SubDAO", nova.address, 1, 50_000)
    deploy("registry", "ContributionRegistry")
    factory = deploy("factory", "UniswapV2Factory", dep)
    send(factory.functions.createPair(atlas.address, aimg.address), dep)
    pair_addr = factory.functions.getPair(atlas.address, aimg.address).call()
    w.contracts["atlas-aimg"] = chain.contract(pair_addr, art["UniswapV2Pair"])
    w.labels[pair_addr.lower()] = "atlas-aimg"
    # nova-aimg: registered now, created in epoch 2 at its CREATE2 address
    w.nova_pair_predicted = driver.pair_address(factory.address, nova.address, aimg.address,
                                                art["UniswapV2Pair"]["bytecode"])
    w.labels[w.nova_pair_predicted.lower()] = "nova-aimg"

    # ---- funding, delegation (votes), vault approvals
    for who, amounts in {
        "A": (20_000, 0, 0), "B": (1_000, 30_000, 0), "C": (20_000, 1_000, 5_000),
        "D": (20_000, 0, 0), "X": (10_000, 10_000, 0), "LP1": (300_000, 50_000, 40_000),
        "LP2": (100_000, 20_000, 0), "LP3": (100_000, 0, 30_000),
        "SWAP": (50_000, 10_000, 10_000), "V1": (0, 3_000, 2_000), "V2": (0, 2_000, 7_000),
        "V3": (0, 1_500, 0),
    }.items():
        for token, amount in zip((aimg, atlas, nova), amounts, strict=True):
            if amount:
                send(token.functions.transfer(acct[who], amount * UNIT), dep)
    for who in ("V1", "V2", "V3", "X", "C"):
        for token in (atlas, nova):
            send(token.functions.delegate(acct[who]), acct[who])
    max_uint = 2**256 - 1
    for who, vault, token in (("A", "aimg-vault", aimg), ("C", "aimg-vault", aimg),
                              ("D", "aimg-vault", aimg), ("X", "aimg-vault", aimg),
                              ("B", "atlas-vault", atlas), ("V2", "nova-vault", nova)):
        send(token.functions.approve(w.addr(vault), max_uint), acct[who])

    def deposit(who: str, vault: str, amount: int, at: int | None = None) -> None:
        send(w.c(vault).functions.deposit(amount * UNIT, acct[who]), acct[who], at=at)

    def add_liquidity(pool: str, who: str, amount_agent: int, amount_aimg: int,
                      at: int) -> None:
        """Both tokens sent to the pair, then `mint`, in one block (as the router does)."""
        pair = w.c(pool)
        agent_token = atlas if pool == "atlas-aimg" else nova
        with chain.block(at):
            send(agent_token.functions.transfer(pair.address, amount_agent * UNIT), acct[who])
            send(aimg.functions.transfer(pair.address, amount_aimg * UNIT), acct[who])
            send(pair.functions.mint(acct[who]), acct[who])

    def swap(pool: str, who: str, token_in: Any, amount_in: int, at: int) -> None:
        """Exact-in swap with Uniswap V2's 0.3 % fee formula, in one block."""
        pair = w.c(pool)
        r0, r1, _ = pair.functions.getReserves().call()
        zero_in = token_in.address.lower() == pair.functions.token0().call().lower()
        reserve_in, reserve_out = (r0, r1) if zero_in else (r1, r0)
        amount = amount_in * UNIT
        out = amount * 997 * reserve_out // (reserve_in * 1000 + amount * 997)
        with chain.block(at):
            send(token_in.functions.transfer(pair.address, amount), acct[who])
            send(pair.functions.swap(0 if zero_in else out, out if zero_in else 0,
                                     acct[who], b""), acct[who])

    def propose(key: str, gov: str, who: str, at: int) -> None:
        g = w.c(gov)
        description = f"AIP {key}: fund the {gov} roadmap"
        args = ([g.address], [0], [b""])
        send(g.functions.propose(*args, description), acct[who], at=at)
        w.proposals[key] = g.functions.hashProposal(*args, keccak(text=description)).call()
        chain.mine(at + 1)  # votingDelay = 1 block: voting opens after the snapshot block

    def vote(gov: str, key: str, who: str, support: int, at: int, reason: str | None = None,
             params: bytes | None = None) -> None:
        g, pid = w.c(gov).functions, w.proposals[key]
        if params is not None:
            call = g.castVoteWithReasonAndParams(pid, support, reason or "", params)
        elif reason is not None:
            call = g.castVoteWithReason(pid, support, reason)
        else:
            call = g.castVote(pid, support)
        send(call, acct[who], at=at)

    def contribute(cid: int, agent: str, who: str, kind: int, score: int,
                   at: int | None = None) -> None:
        agent_addr = acct["unregistered"] if agent == "unregistered" else w.addr(agent)
        send(w.c("registry").functions.accept(cid, agent_addr, acct[who], kind, score), dep,
             at=at)

    def transfer_shares(token: str, sender: str, to: str, amount: int,
                        at: int | None = None) -> None:
        to_addr = w.nova_pair_predicted if to == "nova-aimg" else w.addr(to)
        send(w.c(token).functions.transfer(to_addr, amount), acct[sender], at=at)

    def pair(pool: str) -> Any:
        return w.c(pool)

    # ---- before genesis: opening balances of epoch 0; a vote and a contribution that
    # count nowhere (SPEC 3)
    g = GENESIS
    deposit("A", "aimg-vault", 1_000, at=g - 900)
    deposit("X", "aimg-vault", 500, at=g - 880)
    deposit("B", "atlas-vault", 800, at=g - 860)
    add_liquidity("atlas-aimg", "LP1", 10_000, 40_000, at=g - 800)  # first mint: 1000 locked
    propose("P1", "atlas-gov", "V1", at=g - 700)
    vote("atlas-gov", "P1", "V1", 1, at=g - 600)  # pre-genesis vote: nowhere
    contribute(100, "ATLAS", "F", 0, 500, at=g - 500)  # pre-genesis contribution: nowhere

    # ---- epoch 0
    s = start(0)
    deposit("C", "aimg-vault", 300, at=s + 100)
    with chain.block(s + 400):  # two changes of the same vault in one block, in log order
        send(w.c("aimg-vault").functions.deposit(200 * UNIT, acct["D"]), acct["D"])
        send(w.c("aimg-vault").functions.transfer(acct["D"], 250 * UNIT), acct["A"])
    vote("atlas-gov", "P1", "V2", 0, at=s + 700, reason="against: the dataset is too small")
    vote("atlas-gov", "P1", "V3", 1, at=s + 800, reason="for, see params",
         params=bytes.fromhex("deadbeef0102"))
    propose("Q1", "nova-gov", "V2", at=s + 900)
    vote("nova-gov", "Q1", "V1", 2, at=s + 950, reason="abstain", params=b"\x01")
    contribute(1, "ATLAS", "F", 0, 120, at=s + 1000)  # dataset
    contribute(2, "NOVA", "G", 1, 40, at=s + 1050)  # model
    contribute(3, "ATLAS", "F", 2, 7, at=s + 1100)  # algorithm
    contribute(4, "ATLAS", "H", 7, 1000, at=s + 1150)  # unknown kind: rejected
    contribute(5, "unregistered", "H", 0, 1000, at=s + 1200)  # unregistered agent: rejected
    with chain.block(s + 1250):  # id 6 accepted, then id 6 again in the same block: rejected
        contribute(6, "NOVA", "G", 0, 30)
        contribute(6, "ATLAS", "H", 2, 999)
    contribute(1, "ATLAS", "H", 0, 999, at=s + 1300)  # id 1 again, same epoch: rejected
    add_liquidity("atlas-aimg", "LP2", 2_000, 8_000, at=s + 1500)  # a later mint
    swap("atlas-aimg", "SWAP", aimg, 1_000, at=s + 2000)  # AIMG -> ATLAS
    # atlas-vault shares sent to nova-aimg's address, where no contract exists yet
    transfer_shares("atlas-vault", "B", "nova-aimg", 100 * UNIT, at=s + 2500)
    propose("P2", "atlas-gov", "V2", at=s + 3000)

    # ---- epoch 1 (nova's governor gets no vote: its sub-pool is unallocated)
    s = start(1)
    send(w.c("aimg-vault").functions.redeem(300 * UNIT, acct["A"], acct["A"]), acct["A"],
         at=s + 200)  # share burn
    transfer_shares("aimg-vault", "C", "atlas-aimg", 50 * UNIT, at=s + 600)  # pair holds sAIMG
    transfer_shares("atlas-vault", "B", "aimg-vault", 100 * UNIT, at=s + 700)  # vault holds
    lp1 = pair("atlas-aimg").functions.balanceOf(acct["LP1"]).call()
    # removal in two blocks: the pair holds its own LP tokens for 300 s, then burns them
    send(pair("atlas-aimg").functions.transfer(pair("atlas-aimg").address, lp1 // 4),
         acct["LP1"], at=s + 1000)
    send(pair("atlas-aimg").functions.burn(acct["LP1"]), acct["LP1"], at=s + 1300)
    swap("atlas-aimg", "SWAP", atlas, 500, at=s + 1600)  # ATLAS -> AIMG
    vote("atlas-gov", "P2", "V1", 1, at=s + 1800, reason="yes")
    vote("atlas-gov", "P2", "V2", 2, at=s + 1900)
    deposit("V2", "nova-vault", 400, at=s + 2000)  # nova's vault gets its first holder
    contribute(2, "ATLAS", "F", 2, 500, at=s + 2200)  # id 2 accepted in epoch 0: rejected
    contribute(9, "ATLAS", "G", 7, 77, at=s + 2300)  # unknown kind: rejected
    contribute(9, "NOVA", "G", 1, 33, at=s + 2400)  # id 9 never accepted before: accepted
    contribute(10, "ATLAS", "X", 0, 80, at=s + 2500)  # accepted, but X is excluded

    # ---- epoch 2: nova-aimg is created at the address the config named all along
    s = start(2)
    w.nova_pair_code_before = bytes(chain.w3.eth.get_code(w.nova_pair_predicted))
    send(factory.functions.createPair(nova.address, aimg.address), dep, at=s + 300)
    created = factory.functions.getPair(nova.address, aimg.address).call()
    w.contracts["nova-aimg"] = chain.contract(created, art["UniswapV2Pair"])
    add_liquidity("nova-aimg", "LP3", 6_000, 12_000, at=s + 600)  # first mint: 1000 locked
    add_liquidity("nova-aimg", "LP1", 3_000, 6_000, at=s + 900)
    swap("nova-aimg", "SWAP", aimg, 700, at=s + 1200)
    swap("nova-aimg", "SWAP", nova, 300, at=s + 1300)
    vote("nova-gov", "Q1", "V2", 1, at=s + 1500, reason="for", params=b"\x00" * 40)
    transfer_shares("aimg-vault", "D", "B", 120 * UNIT, at=s + 1800)  # B: a new sAIMG holder
    contribute(11, "NOVA", "H", 1, 60, at=s + 2000)
    contribute(15, "unregistered", "F", 1, 70, at=s + 2100)  # rejected; id 15 stays free
    # (atlas's governor gets no vote this epoch)

    # ---- epoch 3: empty, not a single block in its window

    # ---- epoch 4 (policy v2: C excluded from now on)
    s = start(4)
    propose("P3", "atlas-gov", "V3", at=s + 100)
    propose("Q2", "nova-gov", "V1", at=s + 150)
    vote("atlas-gov", "P3", "X", 1, at=s + 300)  # globally excluded voter
    vote("atlas-gov", "P3", "C", 0, at=s + 400, reason="C disagrees")  # excluded in v2
    vote("atlas-gov", "P3", "V3", 1, at=s + 500, reason="params again", params=b"\xff")
    vote("nova-gov", "Q2", "C", 1, at=s + 600)  # nova's only voter is excluded: unallocated
    d_shares = w.c("aimg-vault").functions.balanceOf(acct["D"]).call()
    send(w.c("aimg-vault").functions.redeem(d_shares, acct["D"], acct["D"]), acct["D"],
         at=s + 1000)  # D leaves
    lp2 = pair("atlas-aimg").functions.balanceOf(acct["LP2"]).call()
    send(pair("atlas-aimg").functions.transfer(acct["LP3"], lp2 // 3), acct["LP2"],
         at=s + 1500)  # an LP transfer between holders
    contribute(12, "ATLAS", "C", 0, 10, at=s + 2000)  # C is excluded: weight dropped
    contribute(13, "NOVA", "F", 2, 25, at=s + 2100)
    contribute(15, "ATLAS", "F", 1, 70, at=s + 2200)  # id 15 first accepted here
    swap("atlas-aimg", "SWAP", aimg, 400, at=s + 2500)

    # ---- epoch 5 (the cap cuts the emission)
    s = start(5)
    vote("atlas-gov", "P3", "V1", 0, at=s + 500)
    lp1 = pair("atlas-aimg").functions.balanceOf(acct["LP1"]).call()
    with chain.block(s + 1000):  # removal in one block: transfer to the pair, then burn
        send(pair("atlas-aimg").functions.transfer(pair("atlas-aimg").address, lp1),
             acct["LP1"])
        send(pair("atlas-aimg").functions.burn(acct["LP1"]), acct["LP1"])
    a_shares = w.c("aimg-vault").functions.balanceOf(acct["A"]).call()
    transfer_shares("aimg-vault", "A", "C", a_shares, at=s + 1500)  # to an excluded holder
    contribute(1, "NOVA", "G", 1, 50, at=s + 2000)  # id 1 from epoch 0: rejected
    contribute(14, "ATLAS", "G", 0, 5, at=s + 2100)
    deposit("B", "atlas-vault", 50, at=s + 2500)

    # ---- finality: anvil's `finalized` = head - 64; 70 empty blocks after epoch 5's end
    for i in range(70):
        chain.mine(start(6) + 12 * i)
    return w


# --------------------------------------------------------------------------- the config


def render_config(w: World) -> str:
    def inline(table: dict[str, int]) -> str:
        return "{ " + ", ".join(f'"{k}" = {v}' for k, v in table.items()) + " }"

    def addresses(labels: tuple[str, ...]) -> str:
        return "[" + ", ".join(f'"{w.acct[n]}"' for n in labels) + "]"

    lines = [
        f'treasury = "{w.acct["treasury"]}"',
        f"excluded_addresses = {addresses(GLOBAL_EXCLUDED)}",
        "",
        "[deployment]",
        'name = "realchain"',
        f"chain_id = {w.chain.chain_id}",
        f"genesis = {GENESIS}",
        f"epoch_seconds = {L}",
        f'initial_emission = "{INITIAL_EMISSION}"',
        f'max_total_emission = "{MAX_TOTAL_EMISSION}"',
        "start_block = 0",
        "confirmations = 2",
        "",
        "[registry]",
        f'aimg_token = "{w.addr("AIMG")}"',
        f'aimg_vault = "{w.addr("aimg-vault")}"',
        f'contribution_registry = "{w.addr("registry")}"',
    ]
    for name, pool in (("atlas", w.addr("atlas-aimg")), ("nova", w.nova_pair_predicted)):
        lines += [
            "",
            "[[registry.agents]]",
            f'name = "{name}"',
            f'token = "{w.addr(name.upper())}"',
            f'vault = "{w.addr(name + "-vault")}"',
            f'governor = "{w.addr(name + "-gov")}"',
            f'treasury = "{w.acct[name + "-treasury"]}"',
            f'pools = [{{ name = "{name}-aimg", address = "{pool}" }}]',
        ]
    for p in POLICIES:
        lines += [
            "",
            "[[policy]]",
            f'version = "{p.version}"',
            f"effective_from_epoch = {p.effective_from_epoch}",
            f"decay_bps = {p.decay_bps}",
            f'tail_emission = "{p.tail_emission}"',
            f"excluded_addresses = {addresses(p.excluded)}",
            f"channel_bps = {inline(p.channel_bps)}",
            f"kind_multiplier_bps = {inline(p.kind_multiplier_bps)}",
            f"agent_weight_bps = {inline(p.agent_weight_bps)}",
            f"vault_weight_bps = {inline(p.vault_weight_bps)}",
            f"pool_weight_bps = {inline(p.pool_weight_bps)}",
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the oracle


def apportion(total: int, weights: dict[Any, int], order: Callable[[Any], Any]) -> dict[Any, int]:
    """SPEC 6.1: floor shares, then one leftover wei each to the largest remainders
    `total * w mod W`, ties by `order(key)` ascending. Weight-0 keys get 0."""
    weight_sum = sum(weights.values())
    assert weight_sum > 0 and all(v >= 0 for v in weights.values())
    shares = {k: total * v // weight_sum for k, v in weights.items()}
    left = total - sum(shares.values())
    ranked = sorted((k for k, v in weights.items() if v > 0),
                    key=lambda k: (-(total * weights[k] % weight_sum), order(k)))
    for k in ranked[:left]:
        shares[k] += 1
    assert sum(shares.values()) == total
    return shares


@dataclass(frozen=True)
class Log:
    ts: int
    block: int
    index: int
    args: dict[str, Any]


@dataclass
class Observed:
    """The chain's logs, decoded here with web3 and the compiled ABIs."""

    transfers: dict[str, list[Log]]  # position token (lowercase) -> Transfer logs
    votes: dict[str, list[Log]]  # agent name -> VoteCast / VoteCastWithParams logs
    vote_events: list[tuple[str, Log]]  # (event name, log), every governor
    contributions: list[Log]
    block_timestamps: list[int]  # index = block number


@dataclass(frozen=True)
class Registry:
    agents: dict[str, dict[str, str]]  # name -> token, vault, governor, treasury, pool
    vaults: dict[str, str]  # vault name ("aimg", agent) -> address
    pools: dict[str, str]  # pool name -> address
    treasury: str
    excluded: frozenset[str]
    policy_excluded: dict[str, frozenset[str]]  # version -> addresses

    def position_tokens(self) -> frozenset[str]:
        return frozenset(self.vaults.values()) | frozenset(self.pools.values())


def registry_of(w: World) -> Registry:
    agents = {
        name: {"token": w.addr(name.upper()).lower(), "vault": w.addr(f"{name}-vault").lower(),
               "governor": w.addr(f"{name}-gov").lower(),
               "treasury": w.acct[f"{name}-treasury"].lower(),
               "pool": (w.addr("atlas-aimg") if name == "atlas"
                        else w.nova_pair_predicted).lower()}
        for name in ("atlas", "nova")}
    return Registry(
        agents=agents,
        vaults={"aimg": w.addr("aimg-vault").lower(),
                **{n: a["vault"] for n, a in agents.items()}},
        pools={f"{n}-aimg": a["pool"] for n, a in agents.items()},
        treasury=w.acct["treasury"].lower(),
        excluded=frozenset(w.acct[n].lower() for n in GLOBAL_EXCLUDED),
        policy_excluded={p.version: frozenset(w.acct[n].lower() for n in p.excluded)
                         for p in POLICIES},
    )


def observe(w: World, reg: Registry) -> Observed:
    """Every log the oracle needs, straight from `eth_getLogs`, decoded by web3."""
    w3 = w.chain.w3
    head = w3.eth.block_number
    stamps = [w3.eth.get_block(n)["timestamp"] for n in range(head + 1)]

    def logs(address: str, contract: Any, event: str) -> list[Log]:
        ev = getattr(contract.events, event)()
        topic = "0x" + keccak(text=_signature(contract.abi, event)).hex()
        raw = w3.eth.get_logs({"address": to_checksum_address(address), "fromBlock": 0,
                               "toBlock": head, "topics": [topic]})
        out = []
        for entry in raw:
            decoded = ev.process_log(entry)
            out.append(Log(stamps[entry["blockNumber"]], entry["blockNumber"],
                           entry["logIndex"], dict(decoded["args"])))
        return out

    pair_art, vault_art = w.artifacts["UniswapV2Pair"], w.artifacts["StakingVault"]
    transfers = {}
    for address in reg.vaults.values():
        transfers[address] = logs(address, w.chain.contract(address, vault_art), "Transfer")
    for address in reg.pools.values():
        transfers[address] = logs(address, w.chain.contract(address, pair_art), "Transfer")
    votes: dict[str, list[Log]] = {}
    vote_events = []
    for name, agent in reg.agents.items():
        gov = w.chain.contract(agent["governor"], w.artifacts["AgentGovernor"])
        for event in ("VoteCast", "VoteCastWithParams"):
            found = logs(agent["governor"], gov, event)
            votes.setdefault(name, []).extend(found)
            vote_events += [(event, x) for x in found]
    registry = w.c("registry")
    contributions = logs(registry.address, registry, "ContributionAccepted")
    order = lambda x: (x.block, x.index)  # noqa: E731
    return Observed(
        transfers={k: sorted(v, key=order) for k, v in transfers.items()},
        votes={k: sorted(v, key=order) for k, v in votes.items()},
        vote_events=vote_events,
        contributions=sorted(contributions, key=order),
        block_timestamps=stamps,
    )


def _signature(abi: list[dict[str, Any]], event: str) -> str:
    (entry,) = [e for e in abi if e.get("type") == "event" and e["name"] == event]
    return f"{event}({','.join(i['type'] for i in entry['inputs'])})"


def balance_seconds(transfers: list[Log], lo: int, hi: int) -> dict[str, int]:
    """SPEC 6.3: each holder's balance integrated over [lo, hi); a Transfer changes the
    balance at its block's timestamp; everything before `lo` forms the opening balance."""
    balance: dict[str, int] = defaultdict(int)
    for t in transfers:
        if t.ts >= lo:
            break
        balance[t.args["from"].lower()] -= t.args["value"]
        balance[t.args["to"].lower()] += t.args["value"]
    weight = {a: b * (hi - lo) for a, b in balance.items()}
    for t in transfers:
        if lo <= t.ts < hi:
            sender, receiver, value = t.args["from"].lower(), t.args["to"].lower(), t.args["value"]
            weight[sender] = weight.get(sender, 0) - value * (hi - t.ts)
            weight[receiver] = weight.get(receiver, 0) + value * (hi - t.ts)
    weight.pop(ZERO, None)  # mints and burns: the zero address is never a holder
    assert all(v >= 0 for v in weight.values()), weight
    return weight


def accepted_contributions(obs: Observed, reg: Registry) -> tuple[dict[int, list[Log]],
                                                                  list[tuple[Log, str]]]:
    """SPEC 6.5: (epoch -> accepted contributions, rejected ones with the reason).
    Contributions before genesis count nowhere (SPEC 3)."""
    tokens = {a["token"] for a in reg.agents.values()}
    used: set[int] = set()
    accepted: dict[int, list[Log]] = defaultdict(list)
    rejected: list[tuple[Log, str]] = []
    for c in obs.contributions:  # in (block, log index) order, so in epoch order
        if c.ts < GENESIS:
            rejected.append((c, "before genesis"))
        elif c.args["kind"] not in KIND_NAMES:
            rejected.append((c, f"unknown kind {c.args['kind']}"))
        elif c.args["agent"].lower() not in tokens:
            rejected.append((c, "unregistered agent"))
        elif c.args["contributionId"] in used:
            rejected.append((c, "duplicate contributionId"))
        else:
            used.add(c.args["contributionId"])
            accepted[(c.ts - GENESIS) // L].append(c)
    return accepted, rejected


Row = tuple[str, str, str]  # (channel, pool, account), all lowercase
Value = tuple[int, int, str]  # (weight, amount, reason)


def expected_epoch(e: int, obs: Observed, reg: Registry,
                   pool_order: Callable[[str], Any] | None = None) -> dict[Row, Value]:
    """Every allocation row of epoch `e` (SPEC 6.2's five levels)."""
    lo, hi = start(e), start(e + 1)
    pol = policy_for(POLICIES, e)
    excluded = ({ZERO} | reg.position_tokens() | reg.excluded
                | reg.policy_excluded[pol.version])
    order_pool = pool_order or (lambda k: k)
    rows: dict[Row, Value] = {}

    def pay(channel: str, pool: str, amount: int, weights: dict[str, int]) -> None:
        if amount == 0:
            return
        eligible = {a: v for a, v in weights.items() if a not in excluded and v > 0}
        if not eligible:
            rows[(channel, pool, reg.treasury)] = (0, amount, "unallocated")
            return
        for account, share in apportion(amount, eligible, lambda k: k).items():
            rows[(channel, pool, account)] = (eligible[account], share, "earned")

    by_channel = apportion(EMISSIONS[e], pol.channel_bps, CHANNELS.index)
    # staking: vaults by weight, holders by share-seconds
    vaults = apportion(by_channel["staking"],
                       {reg.vaults[n]: bps for n, bps in pol.vault_weight_bps.items()}, order_pool)
    for vault, amount in vaults.items():
        pay("staking", vault, amount, balance_seconds(obs.transfers[vault], lo, hi))
    # governance: agents by weight, voters by the vote weight cast in the window
    agents = apportion(by_channel["governance"], pol.agent_weight_bps, lambda k: k)
    for name, amount in agents.items():
        cast: dict[str, int] = defaultdict(int)
        for v in obs.votes[name]:
            if lo <= v.ts < hi:
                cast[v.args["voter"].lower()] += v.args["weight"]
        pay("governance", name, amount, cast)
    # subdao: agents by weight, all to the agent's SubDAO treasury (weight = agent bps)
    for name, amount in apportion(by_channel["subdao"], pol.agent_weight_bps,
                                  lambda k: k).items():
        pay("subdao", name, amount, {reg.agents[name]["treasury"]: pol.agent_weight_bps[name]})
    # liquidity: pools by weight, LP holders by LP-token-seconds
    pools = apportion(by_channel["liquidity"],
                      {reg.pools[n]: bps for n, bps in pol.pool_weight_bps.items()}, order_pool)
    for pool, amount in pools.items():
        pay("liquidity", pool, amount, balance_seconds(obs.transfers[pool], lo, hi))
    # contribution: one sub-pool, contributors by sum(score * multiplier[kind])
    accepted, _ = accepted_contributions(obs, reg)
    scores: dict[str, int] = defaultdict(int)
    for c in accepted.get(e, []):
        scores[c.args["contributor"].lower()] += (
            c.args["score"] * pol.kind_multiplier_bps[KIND_NAMES[c.args["kind"]]])
    pay("contribution", "contribution", by_channel["contribution"], scores)
    assert sum(v[1] for v in rows.values()) == EMISSIONS[e]  # SPEC 6.4, for the oracle
    return rows


# --------------------------------------------------------------------------- the run


@dataclass
class Run:
    world: World
    registry: Registry
    observed: Observed
    home: Path
    returncode: int
    log: str
    early_returncode: int  # `aimg materialize --first 5 --last 5` before anything else
    early_published: list[str]

    def folder(self, epoch: int) -> Path:
        return self.home / "published" / f"epoch-{epoch:05d}"

    def label(self, address: str) -> str:
        name = self.world.labels.get(address.lower())
        return f"{name} ({address[:10]}..)" if name else address

    def failure_context(self) -> str:
        """Why nothing (or not everything) was published: the pipeline's error lines."""
        lines = self.log.splitlines()
        errors = []
        for line in lines:
            text = line.split(" - ")[-1].strip() if " - ERROR - " in line else line.strip()
            if (" - ERROR - " in line or re.match(r"^[\w.]+(Error|Exception): ", text)
                    or text.startswith("error:")) and text not in errors:
                errors.append(text)
        published = sorted(p.name for p in (self.home / "published").glob("epoch-*"))
        return (f"`aimg materialize` exited {self.returncode}; published: {published or 'none'}"
                "\n--- its errors ---\n" + "\n".join(errors[:12] or lines[-15:]))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """npm ci + solc (cached), anvil, the scenario, the config, then `aimg materialize`."""
    driver.ensure_node_modules()
    driver.compile_contracts()
    tmp = tmp_path_factory.mktemp("realchain")
    with driver.anvil(T0) as url:
        chain = Chain(url)
        world = play(chain)
        reg = registry_of(world)
        observed = observe(world, reg)
        config = tmp / "aimg.toml"
        config.write_text(render_config(world))
        home = tmp / "home"
        env = {**os.environ, "AIMG_HOME": str(home), "AIMG_CONFIG": str(config),
               "AIMG_RPC_URL": url, "DAGSTER_HOME": str(tmp / "dagster")}
        (tmp / "dagster").mkdir()
        aimg = Path(sys.executable).with_name("aimg")
        command = [str(aimg)] if aimg.exists() else [shutil.which("aimg") or "aimg"]

        def materialize(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*command, "materialize", *args], env=env,
                                  capture_output=True, text=True, timeout=1200, check=False)

        # First the latest epoch alone, out of order (SPEC 3: results never depend on the
        # order epochs are run in; SPEC 7: epoch 5 cannot be published before epoch 4) ...
        early = materialize("--first", str(EPOCHS[-1]), "--last", str(EPOCHS[-1]))
        early_published = sorted(p.name for p in (home / "published").glob("epoch-*"))
        # ... then what a user runs: every closed and final epoch.
        done = materialize()
        log = done.stdout + done.stderr
        (tmp / "materialize-early.log").write_text(early.stdout + early.stderr)
        (tmp / "materialize.log").write_text(log)
        yield Run(world, reg, observed, home, done.returncode, log, early.returncode,
                  early_published)


def published_rows(run: Run, epoch: int) -> dict[Row, Value]:
    path = run.folder(epoch) / "allocations.csv"
    assert path.is_file(), f"epoch {epoch}: {path} was not published\n{run.failure_context()}"
    rows: dict[Row, Value] = {}
    with open(path, newline="") as handle:
        for r in csv.DictReader(handle):
            assert int(r["epoch"]) == epoch
            assert r["account"] == to_checksum_address(r["account"]), (
                f"account {r['account']} is not EIP-55")
            pool = r["pool"].lower() if r["pool"].startswith("0x") else r["pool"]
            key = (r["channel"], pool, r["account"].lower())
            assert key not in rows, f"epoch {epoch}: row {key} appears twice"
            rows[key] = (int(r["weight"]), int(r["amount"]), r["reason"])
    return rows


def describe(run: Run, key: Row) -> str:
    channel, pool, account = key
    pool_text = run.label(pool) if pool.startswith("0x") else pool
    return f"{channel:<12} {pool_text:<26} {run.label(account):<28}"


def diff_rows(run: Run, epoch: int, expected: dict[Row, Value], got: dict[Row, Value],
              field_index: int) -> list[str]:
    what = ("weight", "amount", "reason")[field_index]
    out = []
    for key in sorted(expected.keys() | got.keys()):
        if key not in got:
            out.append(f"epoch {epoch}: MISSING  {describe(run, key)} expected {what} "
                       f"{expected[key][field_index]} ({expected[key][2]})")
        elif key not in expected:
            out.append(f"epoch {epoch}: EXTRA    {describe(run, key)} got {what} "
                       f"{got[key][field_index]} ({got[key][2]})")
        elif expected[key][field_index] != got[key][field_index]:
            e, g = expected[key][field_index], got[key][field_index]
            delta = f" (got - expected = {g - e:+d})" if isinstance(e, int) else ""
            out.append(f"epoch {epoch}: DIFFERS  {describe(run, key)} expected {what} {e}, "
                       f"got {g}{delta}")
    return out


# --------------------------------------------------------------------------- the tests


def test_materialize_succeeds(run: Run) -> None:
    assert run.returncode == 0, run.failure_context()
    for epoch in EPOCHS:
        assert (run.folder(epoch) / "manifest.json").is_file(), run.failure_context()


def test_latest_epoch_alone_is_refused_before_its_predecessors(run: Run) -> None:
    """SPEC 7: publishing epoch e requires epoch e-1 published (a clear error otherwise)."""
    assert run.early_returncode != 0
    assert run.early_published == []


@pytest.mark.parametrize("epoch", EPOCHS)
def test_allocation_amounts_match_the_spec(run: Run, epoch: int) -> None:
    """Every (channel, pool, account) row and its amount and reason, to the wei."""
    expected = expected_epoch(epoch, run.observed, run.registry)
    got = published_rows(run, epoch)
    problems = diff_rows(run, epoch, expected, got, 1) + [
        p for p in diff_rows(run, epoch, expected, got, 2) if "DIFFERS" in p]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("epoch", EPOCHS)
def test_allocation_weights_match_the_spec(run: Run, epoch: int) -> None:
    """The weights published next to the amounts: balance-seconds, summed vote weight,
    the agent's bps (subdao), score x multiplier; 0 on unallocated rows."""
    expected = expected_epoch(epoch, run.observed, run.registry)
    got = published_rows(run, epoch)
    problems = [p for p in diff_rows(run, epoch, expected, got, 0) if "DIFFERS" in p]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("epoch", EPOCHS)
def test_conservation_and_emission(run: Run, epoch: int) -> None:
    """SPEC 5 and 6.4: the published allocations sum to E(e); the manifest says E(e) and
    the channel split of SPEC 6.1."""
    got = published_rows(run, epoch)
    total = sum(v[1] for v in got.values())
    assert total == EMISSIONS[epoch], (
        f"epoch {epoch}: allocations sum to {total}, E({epoch}) = {EMISSIONS[epoch]} "
        f"(difference {total - EMISSIONS[epoch]:+d})")
    manifest = json.loads((run.folder(epoch) / "manifest.json").read_text())
    assert int(manifest["emission"]) == EMISSIONS[epoch]
    split = apportion(EMISSIONS[epoch], policy_for(POLICIES, epoch).channel_bps, CHANNELS.index)
    assert {k: int(v) for k, v in manifest["totals_by_channel"].items()} == split


@pytest.mark.parametrize("epoch", EPOCHS)
def test_cumulative_claims_match_the_spec(run: Run, epoch: int) -> None:
    """SPEC 7: claim(a, e) = sum of a's expected allocations over epochs 0..e."""
    cumulative: dict[str, int] = defaultdict(int)
    for e in range(epoch + 1):
        for (_, _, account), (_, amount, _) in expected_epoch(e, run.observed,
                                                              run.registry).items():
            cumulative[account] += amount
    expected = {a: v for a, v in cumulative.items() if v > 0}
    path = run.folder(epoch) / "claims.json"
    assert path.is_file(), f"epoch {epoch}: {path} was not published\n{run.failure_context()}"
    doc = json.loads(path.read_text())
    assert all(a == to_checksum_address(a) for a in doc["claims"]), "accounts must be EIP-55"
    got = {a.lower(): int(c["amount"]) for a, c in doc["claims"].items()}
    problems = []
    for account in sorted(expected.keys() | got.keys()):
        e, g = expected.get(account), got.get(account)
        if e != g:
            problems.append(f"epoch {epoch}: claim of {run.label(account)} expected {e}, "
                            f"got {g}")
    assert not problems, "\n".join(problems)
    assert int(doc["total"]) == sum(EMISSIONS[: epoch + 1])


def test_published_folders_verify(run: Run) -> None:
    """`aimg verify` (the user's own check) accepts every published epoch."""
    folders = [str(run.folder(e)) for e in EPOCHS if run.folder(e).is_dir()]
    assert folders, run.failure_context()
    aimg = Path(sys.executable).with_name("aimg")
    done = subprocess.run([str(aimg), "verify", *folders], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_oracle_self_checks(run: Run) -> None:
    """The scenario does what the docstring and comments say, so the comparisons above test
    the cases they claim to test."""
    w, obs, reg = run.world, run.observed, run.registry
    stamps = obs.block_timestamps
    # SPEC 3: epoch 3's window holds no block; blocks exist before genesis
    assert not [t for t in stamps if start(EMPTY_EPOCH) <= t < start(EMPTY_EPOCH + 1)]
    assert all(any(start(e) <= t < start(e + 1) for t in stamps)
               for e in EPOCHS if e != EMPTY_EPOCH)
    # finality: anvil's finalized block (head - 64) is past epoch 5's end
    finalized = w.chain.w3.eth.get_block("finalized")
    assert finalized["timestamp"] >= start(EPOCHS[-1] + 1)
    assert finalized["number"] == len(stamps) - 1 - 64
    # the nova pair: no code until epoch 2, then created at the predicted CREATE2 address
    assert w.nova_pair_code_before == b""
    assert w.c("nova-aimg").address == w.nova_pair_predicted
    # both pairs' first mint locked MINIMUM_LIQUIDITY at the zero address
    for pool in reg.pools.values():
        locks = [t for t in obs.transfers[pool] if t.args["from"] == ZERO
                 and t.args["to"] == ZERO and t.args["value"] == MINIMUM_LIQUIDITY]
        assert len(locks) == 1
    nova_first = obs.transfers[reg.pools["nova-aimg"]][0]
    assert start(2) <= nova_first.ts < start(3)
    # position tokens holding other position tokens (and the pair its own LP tokens)
    held = {(token, t.args["to"].lower()) for token, logs in obs.transfers.items()
            for t in logs if t.args["to"].lower() in reg.position_tokens()}
    assert (reg.vaults["aimg"], reg.pools["atlas-aimg"]) in held
    assert (reg.vaults["atlas"], reg.vaults["aimg"]) in held
    assert (reg.vaults["atlas"], reg.pools["nova-aimg"]) in held
    assert (reg.pools["atlas-aimg"], reg.pools["atlas-aimg"]) in held
    # votes: every entry point, before genesis too; params non-empty
    events = {(name, bool(x.args.get("params")), bool(x.args["reason"]))
              for name, x in obs.vote_events}
    assert ("VoteCast", False, False) in events and ("VoteCast", False, True) in events
    assert ("VoteCastWithParams", True, True) in events
    assert any(x.ts < GENESIS for _, x in obs.vote_events)
    # contributions: every kind accepted; every kind of rejection present
    accepted, rejected = accepted_contributions(obs, reg)
    kinds = {c.args["kind"] for cs in accepted.values() for c in cs}
    assert kinds == {0, 1, 2}
    assert [(c.args["contributionId"], e) for e, cs in accepted.items() for c in cs
            if c.args["contributionId"] in (9, 15)] == [(9, 1), (15, 4)]
    reasons = sorted(r for _, r in rejected)
    assert reasons == sorted(["before genesis", "unknown kind 7", "unknown kind 7",
                              "unregistered agent", "unregistered agent",
                              "duplicate contributionId",
                              "duplicate contributionId", "duplicate contributionId",
                              "duplicate contributionId"])
    duplicates = [(c.args["contributionId"], (c.ts - GENESIS) // L) for c, r in rejected
                  if r == "duplicate contributionId"]
    assert sorted(duplicates) == [(1, 0), (1, 5), (2, 1), (6, 0)]
    # vault/pool tie keys: keying sub-pools by name instead of address changes nothing
    names = {**{a: n for n, a in reg.vaults.items()}, **{a: n for n, a in reg.pools.items()}}
    for e in EPOCHS:
        assert expected_epoch(e, obs, reg) == expected_epoch(e, obs, reg,
                                                             pool_order=names.__getitem__)
    # the schedule: the tail binds in epochs 4 and 5, the cap cuts epoch 5
    assert EMISSIONS[4] == V2.tail_emission and _UNCAPPED[5] == V2.tail_emission
    assert 0 < EMISSIONS[5] < _UNCAPPED[5] and sum(EMISSIONS) == MAX_TOTAL_EMISSION
    # the oracle itself: the handworked example of docs/economics.md
    assert apportion(400_000, {"a": 22_000, "b": 14_000}, lambda k: k) == {
        "a": 244_444, "b": 155_556}
