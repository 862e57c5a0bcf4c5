"""Driving the pipeline's stages on a scripted history and reading back what analysts see.

Shared by test_economics_properties.py and test_economics_edges.py. A history is a
``reference.Deployment`` plus a list of ``reference.Log``; the harness renders the
deployment as the TOML the pipeline loads, runs the stage functions (or the chain client,
or Dagster) on a temporary warehouse, and returns the DuckDB views' rows as Python ints,
so the tests can compare them with the reference implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb

from aimg_pipeline.decode.contributions import accept_contributions
from aimg_pipeline.decode.logs import decode_epoch
from aimg_pipeline.ingest.chain import ChainClient
from aimg_pipeline.ingest.rpc import ingest_epoch
from aimg_pipeline.lib.config import parse_config
from aimg_pipeline.lib.policy import Config
from aimg_pipeline.orchestrate import materialize_epochs
from aimg_pipeline.rewards.allocations import write_allocations
from aimg_pipeline.rewards.claims import write_claims
from aimg_pipeline.rewards.emissions import write_emissions
from aimg_pipeline.snapshots.balances import snapshot_epoch
from aimg_pipeline.warehouse import Warehouse
from aimg_pipeline_tests import reference as ref
from aimg_pipeline_tests.fakechain import FakeChain

KIND_NAMES = ("dataset", "model", "algorithm")


def addr(n: int) -> str:
    return f"0x{n:040x}"


def word(value: int) -> str:
    return f"{value:064x}"


def address_topic(address: str) -> str:
    return "0x" + "0" * 24 + address.removeprefix("0x")


# A fixed registry: the $AIMG vault and two agents, three pools. Addresses are small
# numbers so hand-written expectations stay readable.
AIMG_TOKEN, AIMG_VAULT, REGISTRY, TREASURY = addr(0x1001), addr(0x1002), addr(0x1003), addr(0x1004)
ATLAS = ref.Agent("atlas", addr(0x2001), addr(0x2002), addr(0x2003), addr(0x2004),
                  (("atlas-aimg", addr(0x2005)), ("atlas-eth", addr(0x2006))))
BOREAS = ref.Agent("boreas", addr(0x3001), addr(0x3002), addr(0x3003), addr(0x3004),
                   (("boreas-aimg", addr(0x3005)),))
AGENTS = (ATLAS, BOREAS)
VAULTS = (AIMG_VAULT, ATLAS.vault, BOREAS.vault)
POOLS = tuple(address for agent in AGENTS for _, address in agent.pools)


def policy(
    version: str = "v1",
    start: int = 0,
    *,
    decay_bps: int = 0,
    tail: int = 0,
    channels: tuple[int, int, int, int, int] = (2000, 2000, 2000, 2000, 2000),
    kinds: tuple[int, int, int] = (10_000, 10_000, 10_000),
    agents: tuple[int, int] = (5000, 5000),
    vaults: tuple[int, int, int] = (4000, 3000, 3000),
    pools: tuple[int, int, int] = (4000, 3000, 3000),
    excluded: frozenset[str] = frozenset(),
    redirects: tuple[tuple[str, str | None, str | None], ...] = (),
) -> ref.Policy:
    """A policy version over the fixed registry; weights in registry order."""
    return ref.Policy(
        version=version, effective_from_epoch=start, decay_bps=decay_bps, tail_emission=tail,
        channel_bps=dict(zip(ref.CHANNELS, channels, strict=True)),
        kind_multiplier_bps=dict(enumerate(kinds)),
        agent_weight_bps={"atlas": agents[0], "boreas": agents[1]},
        vault_weight_bps=dict(zip(VAULTS, vaults, strict=True)),
        pool_weight_bps=dict(zip(POOLS, pools, strict=True)),
        excluded=excluded, redirects=redirects,
    )


def deployment(
    policies: tuple[ref.Policy, ...] = (),
    *,
    genesis: int = 1_000_000,
    epoch_seconds: int = 100,
    initial_emission: int = 1_000_000,
    max_total_emission: int | None = None,
    excluded: frozenset[str] = frozenset(),
) -> ref.Deployment:
    return ref.Deployment(
        genesis=genesis, epoch_seconds=epoch_seconds, initial_emission=initial_emission,
        max_total_emission=max_total_emission, treasury=TREASURY, excluded=excluded,
        aimg_vault=AIMG_VAULT, contribution_registry=REGISTRY, agents=AGENTS,
        policies=policies or (policy(),),
    )


def _addresses(values: frozenset[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in sorted(values)) + "]"


def to_toml(dep: ref.Deployment) -> str:
    """The deployment as the pipeline's config file (weights keyed by names there)."""
    vault_names = {AIMG_VAULT: "aimg"} | {a.vault: a.name for a in dep.agents}
    pool_names = {address: name for a in dep.agents for name, address in a.pools}
    lines = [
        f'treasury = "{dep.treasury}"',
        f"excluded_addresses = {_addresses(dep.excluded)}",
        "[deployment]",
        'name = "economics"',
        "chain_id = 1337",
        f"genesis = {dep.genesis}",
        f"epoch_seconds = {dep.epoch_seconds}",
        f'initial_emission = "{dep.initial_emission}"',
        "confirmations = 0",
    ]
    if dep.max_total_emission is not None:
        lines.append(f'max_total_emission = "{dep.max_total_emission}"')
    lines += [
        "[registry]",
        f'aimg_token = "{AIMG_TOKEN}"',
        f'aimg_vault = "{dep.aimg_vault}"',
        f'contribution_registry = "{dep.contribution_registry}"',
    ]
    for a in dep.agents:
        pools = ", ".join(f'{{ name = "{n}", address = "{p}" }}' for n, p in a.pools)
        lines += [
            "[[registry.agents]]", f'name = "{a.name}"', f'token = "{a.token}"',
            f'vault = "{a.vault}"', f'governor = "{a.governor}"',
            f'treasury = "{a.treasury}"', f"pools = [{pools}]",
        ]
    for p in dep.policies:
        def table(values: dict, names: dict | None = None) -> str:
            return "{ " + ", ".join(
                f'"{names[k] if names else k}" = {v}' for k, v in values.items()) + " }"

        lines += [
            "[[policy]]", f'version = "{p.version}"',
            f"effective_from_epoch = {p.effective_from_epoch}",
            f"decay_bps = {p.decay_bps}", f'tail_emission = "{p.tail_emission}"',
            f"excluded_addresses = {_addresses(p.excluded)}",
            f"channel_bps = {table(p.channel_bps)}",
            f"kind_multiplier_bps = {table(dict(zip(KIND_NAMES, p.kind_multiplier_bps.values(), strict=True)))}",  # noqa: E501
            f"agent_weight_bps = {table(p.agent_weight_bps)}",
            f"vault_weight_bps = {table(p.vault_weight_bps, vault_names)}",
            f"pool_weight_bps = {table(p.pool_weight_bps, pool_names)}",
        ]
        if p.redirects:
            lines.append("redirects = [" + ", ".join(
                f'{{ from = "{source}", to = "{to}" }}' if to else
                f'{{ from = "{source}", mode = "holders", token = "{token}" }}'
                for source, to, token in p.redirects) + "]")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------- histories


@dataclass
class History:
    """Blocks (number -> timestamp) and their logs, built in chain order.

    Block 0 is the chain's own genesis block (timestamp 0, no logs), as on a real chain, so
    every epoch has a "last block at or before its end".
    """

    blocks: list[int] = field(default_factory=lambda: [0])  # timestamps; number = index
    logs: list[ref.Log] = field(default_factory=list)

    def block(self, timestamp: int) -> int:
        assert not self.blocks or timestamp >= self.blocks[-1], "timestamps never go back"
        self.blocks.append(timestamp)
        return len(self.blocks) - 1

    def log(self, block: int, address: str, topics: list[str], data: str) -> ref.Log:
        index = sum(1 for x in self.logs if x.block_number == block)
        entry = ref.Log(block, self.blocks[block], index, address, tuple(topics), data)
        self.logs.append(entry)
        return entry

    # the events of SPEC 2, encoded as a contract would emit them
    def transfer(self, block: int, token: str, sender: str, receiver: str, value: int) -> None:
        self.log(block, token, [ref.TOPIC0_OF["Transfer"], address_topic(sender),
                                address_topic(receiver)], "0x" + word(value))

    def vote(self, block: int, governor: str, voter: str, weight: int, *,
             with_params: bool = False, reason: bytes = b"", support: int = 1) -> None:
        padded = reason.hex().ljust(-(-len(reason) // 32) * 64, "0")
        text = word(len(reason)) + padded
        if with_params:
            head = word(7) + word(support) + word(weight) + word(0xA0) \
                + word(0xA0 + len(text) // 2)
            data = head + text + word(0)
            event = "VoteCastWithParams"
        else:
            data = word(7) + word(support) + word(weight) + word(0x80) + text
            event = "VoteCast"
        self.log(block, governor, [ref.TOPIC0_OF[event], address_topic(voter)], "0x" + data)

    def contribution(self, block: int, contribution_id: int, agent_token: str,
                     contributor: str, kind: int, score: int) -> None:
        self.log(block, REGISTRY, [ref.TOPIC0_OF["ContributionAccepted"],
                                   "0x" + word(contribution_id), address_topic(agent_token),
                                   address_topic(contributor)],
                 "0x" + word(kind) + word(score))

    def fake_chain(self, closing_timestamp: int) -> FakeChain:
        """The history as a scripted chain, plus one block that makes the epochs final."""
        chain = FakeChain(chain_id=1337)
        for timestamp in self.blocks:
            chain.add_block(timestamp)
        for log in self.logs:  # already in (block, index) order per block
            chain.add_log(log.block_number, log.address, list(log.topics), log.data)
        chain.add_block(max([closing_timestamp, *self.blocks]))
        return chain


# ---------------------------------------------------------------------------- running


def _raw_rows(dep: ref.Deployment, logs: list[ref.Log], epoch: int) -> dict[str, list]:
    mine = [x for x in logs if ref.epoch_of_timestamp(dep, x.block_timestamp) == epoch]
    topics = [list(x.topics) + [None] * (4 - len(x.topics)) for x in mine]
    return {
        "epoch": [epoch] * len(mine),
        "block_number": [x.block_number for x in mine],
        "block_hash": [f"0x{x.block_number:064x}" for x in mine],
        "block_timestamp": [x.block_timestamp for x in mine],
        "transaction_hash": [f"0x{x.block_number:032x}{x.log_index:032x}" for x in mine],
        "transaction_index": [x.log_index for x in mine],
        "log_index": [x.log_index for x in mine],
        "address": [x.address for x in mine],
        **{f"topic{i}": [t[i] for t in topics] for i in range(4)},
        "data": [x.data for x in mine],
    }


def run_stages(
    dep: ref.Deployment, logs: list[ref.Log], epochs: int, home: Path,
    client: ChainClient | None = None,
) -> Config:
    """Run ingest (or a direct raw_logs write), decode, snapshot, rewards for 0..epochs-1."""
    config = parse_config(to_toml(dep))
    warehouse = Warehouse(home)
    for epoch in range(epochs):
        if client is None:
            warehouse.write("raw_logs", epoch, _raw_rows(dep, logs, epoch))
        else:
            ingest_epoch(client, config, warehouse, epoch)
        decode_epoch(config, warehouse, epoch)
        accept_contributions(config, warehouse, epoch)
        snapshot_epoch(config, warehouse, epoch)
        write_emissions(config, warehouse, epoch)
        write_allocations(config, warehouse, epoch)
        write_claims(warehouse, epoch)
    return config


def run_dagster(dep: ref.Deployment, history: History, epochs: int, tmp: Path,
                monkeypatch) -> list[dg.ExecuteInProcessResult]:
    """Materialize 0..epochs-1 through the project's Dagster definitions on a fake chain."""
    config_file = tmp / "aimg.toml"
    config_file.write_text(to_toml(dep))
    monkeypatch.setenv("AIMG_HOME", str(tmp / "home"))
    monkeypatch.setenv("AIMG_CONFIG", str(config_file))
    closing = dep.genesis + epochs * dep.epoch_seconds
    with history.fake_chain(closing).serve() as server:
        monkeypatch.setenv("AIMG_RPC_URL", server.url)
        with dg.DagsterInstance.ephemeral() as instance:
            return materialize_epochs(range(epochs), parse_config(to_toml(dep)), instance,
                                      log_level="WARNING")


# ---------------------------------------------------------------------------- reading


@dataclass
class Outputs:
    """One epoch of the analytics views, as exact Python integers."""

    snapshot: ref.Snapshot
    allocations: list[ref.Row]
    channels: dict[str, int]
    policy_version: set[str]
    quarantine: list[tuple[int, int, str]]
    claims: dict[str, int]
    counts: dict[str, int]


def read_epoch(con: duckdb.DuckDBPyConnection, epoch: int) -> Outputs:
    """Read one epoch through the views analysts use (BIGNUM read back as decimal text)."""
    def rows(sql: str) -> list[tuple]:
        return con.execute(sql, [epoch]).fetchall()

    snapshot = {(p, a): (int(o), int(c), int(s)) for p, a, o, c, s in rows(
        "SELECT pool, account, opening_balance::VARCHAR, closing_balance::VARCHAR, "
        "balance_seconds::VARCHAR FROM position_snapshots WHERE epoch = ?")}
    allocations = [(c, p, a, int(w), int(m), r, v) for c, p, a, w, m, r, v in rows(
        "SELECT channel, pool, account, weight::VARCHAR, amount::VARCHAR, reason, via "
        "FROM allocations WHERE epoch = ?")]
    emissions = rows("SELECT channel, amount::VARCHAR, policy_version FROM epoch_emissions "
                     "WHERE epoch = ?")
    quarantine = rows("SELECT block_number, log_index, reason FROM quarantine WHERE epoch = ?")
    claims = {a: int(v) for a, v in rows(
        "SELECT account, cumulative_amount::VARCHAR FROM claims WHERE epoch = ?")}
    counts = {}
    for table in ("raw_logs", "votes", "contributions", "quarantine"):
        counts[table] = rows(f"SELECT count(*) FROM {table} WHERE epoch = ?")[0][0]
    counts["transfer_logs"] = rows(
        "SELECT count(*) FROM (SELECT DISTINCT block_number, log_index FROM position_changes "
        "WHERE epoch = ?)")[0][0]
    return Outputs(snapshot, allocations, {c: int(m) for c, m, _ in emissions},
                   {v for _, _, v in emissions}, quarantine, claims, counts)


def read_all(home: Path, epochs: int) -> list[Outputs]:
    con = Warehouse(home).connect()
    try:
        return [read_epoch(con, e) for e in range(epochs)]
    finally:
        con.close()


def category(reason: str) -> str:
    """The reference's quarantine category of one of the pipeline's reason strings."""
    if "exceeds 2^128-1" in reason:
        return ref.TOO_LARGE
    if reason.startswith("unknown contribution kind"):
        return ref.UNKNOWN_KIND
    if reason.startswith("unregistered agent"):
        return ref.UNREGISTERED_AGENT
    if reason.startswith("duplicate contributionId"):
        return ref.DUPLICATE_ID
    return ref.UNDECODABLE
