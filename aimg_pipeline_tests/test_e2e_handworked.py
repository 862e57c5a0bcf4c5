"""End to end through Dagster on a scripted chain, against allocations worked out by hand.

Two epochs of 100 s from genesis G = 1_000_000; E(0) = 1_000_000 wei, decay 10 %, so
E(1) = 900_000. Every expected number below is derived in the comments from SPEC 5-6.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from eth_utils import keccak

from aimg_pipeline.analytics import connect as analytics_connect
from aimg_pipeline.lib.config import load_config
from aimg_pipeline.lib.events import SIGNATURES
from aimg_pipeline.orchestrate import materialize_epochs
from aimg_pipeline.verify import verify
from aimg_pipeline_tests.fakechain import FakeChain, address_topic, word


def topic(name: str) -> str:
    return "0x" + keccak(text=SIGNATURES[name]).hex()


def addr(n: int) -> str:
    return f"0x{n:040x}"


ZERO = addr(0)
AIMG_TOKEN, AIMG_VAULT = addr(0x101), addr(0x102)
ATLAS_TOKEN, ATLAS_VAULT = addr(0x103), addr(0x104)
POOL, GOVERNOR, REGISTRY, ATLAS_TREASURY, TREASURY = (
    addr(0x105), addr(0x106), addr(0x107), addr(0x108), addr(0x109))
A, B, C, D, E, F, G_ = (addr(0xA0 + i) for i in range(7))
GENESIS, L = 1_000_000, 100

CONFIG = f"""
treasury = "{TREASURY}"
[deployment]
name = "handworked"
chain_id = 1337
genesis = {GENESIS}
epoch_seconds = {L}
initial_emission = "1000000"
confirmations = 0
[registry]
aimg_token = "{AIMG_TOKEN}"
aimg_vault = "{AIMG_VAULT}"
contribution_registry = "{REGISTRY}"
[[registry.agents]]
name = "atlas"
token = "{ATLAS_TOKEN}"
vault = "{ATLAS_VAULT}"
governor = "{GOVERNOR}"
treasury = "{ATLAS_TREASURY}"
pools = [{{ name = "atlas-aimg", address = "{POOL}" }}]
[[policy]]
version = "v1"
effective_from_epoch = 0
decay_bps = 1000
tail_emission = "0"
channel_bps = {{ staking = 4000, governance = 2000, subdao = 1000, liquidity = 2000, \
  contribution = 1000 }}
kind_multiplier_bps = {{ dataset = 10000, model = 15000, algorithm = 20000 }}
agent_weight_bps = {{ atlas = 10000 }}
vault_weight_bps = {{ aimg = 6000, atlas = 4000 }}
pool_weight_bps = {{ "atlas-aimg" = 10000 }}
"""


def build_chain() -> FakeChain:
    chain = FakeChain(chain_id=1337)
    transfer = topic("Transfer")

    def move(block: int, token: str, sender: str, receiver: str, value: int) -> None:
        chain.add_log(block, token, [transfer, address_topic(sender), address_topic(receiver)],
                      "0x" + word(value))

    b = chain.add_block(GENESIS - 50)  # before genesis: A stakes 300
    move(b, AIMG_VAULT, ZERO, A, 300)
    b = chain.add_block(GENESIS + 20)  # B stakes 100
    move(b, AIMG_VAULT, ZERO, B, 100)
    # C votes 50 (VoteCast), D votes 150 (VoteCastWithParams); reason "", params ""
    chain.add_log(b, GOVERNOR, [topic("VoteCast"), address_topic(C)],
                  "0x" + word(7) + word(1) + word(50) + word(0x80) + word(0))
    chain.add_log(b, GOVERNOR, [topic("VoteCastWithParams"), address_topic(D)],
                  "0x" + word(7) + word(0) + word(150) + word(0xA0) + word(0xC0) + word(0)
                  + word(0))
    b = chain.add_block(GENESIS + 50)  # E adds liquidity: 1000 LP
    move(b, POOL, ZERO, E, 1000)
    b = chain.add_block(GENESIS + 60)  # A sends 100 shares to B
    move(b, AIMG_VAULT, A, B, 100)
    # contributions: F model (kind 1) score 10, G dataset (kind 0) score 30, one kind 7
    accepted = topic("ContributionAccepted")
    for cid, who, kind, score in ((1, F, 1, 10), (2, G_, 0, 30), (3, F, 7, 99)):
        chain.add_log(b, REGISTRY, [accepted, "0x" + word(cid), address_topic(ATLAS_TOKEN),
                                    address_topic(who)], "0x" + word(kind) + word(score))
    b = chain.add_block(GENESIS + 75)  # E sends 400 LP to the pool itself (excluded holder)
    move(b, POOL, E, POOL, 400)
    b = chain.add_block(GENESIS + 150)  # epoch 1: B unstakes all 200
    move(b, AIMG_VAULT, B, ZERO, 200)
    chain.add_block(GENESIS + 200)  # closes epoch 1
    return chain


# ---- expected allocations, by hand --------------------------------------------------------
# Epoch 0: E = 1_000_000 -> staking 400_000, governance 200_000, subdao 100_000,
#   liquidity 200_000, contribution 100_000 (bps 4000/2000/1000/2000/1000, no remainders).
# staking: aimg vault 6000 bps -> 240_000; atlas vault 4000 bps -> 160_000 (no holders).
#   share-seconds: A = 300*60 + 200*40 = 26_000; B = 100*40 + 200*40 = 12_000; W = 38_000.
#   A: 240_000*26_000 = 6_240_000_000 = 164_210*38_000 + 20_000 -> 164_210 rem 20_000
#   B: 240_000*12_000 = 2_880_000_000 =  75_789*38_000 + 18_000 ->  75_789 rem 18_000
#   one wei left -> largest remainder A -> A 164_211, B 75_789.
# governance: atlas 200_000 -> C 50, D 150 of 200 -> C 50_000, D 150_000.
# subdao: atlas treasury 100_000.
# liquidity: pool 200_000; LP-seconds E = 1000*25 + 600*25 = 40_000; the pool's own 400 LP
#   are excluded -> E 200_000.
# contribution: F 10*15_000 = 150_000, G 30*10_000 = 300_000 (kind 7 quarantined), W 450_000
#   F: 100_000*150_000 = 33_333*450_000 + 150_000; G: 100_000*300_000 = 66_666*450_000
#   + 300_000 -> leftover 1 to G -> F 33_333, G 66_667.
EPOCH0 = [
    ("staking", AIMG_VAULT, A, 26_000, 164_211, "earned"),
    ("staking", AIMG_VAULT, B, 12_000, 75_789, "earned"),
    ("staking", ATLAS_VAULT, TREASURY, 0, 160_000, "unallocated"),
    ("governance", "atlas", C, 50, 50_000, "earned"),
    ("governance", "atlas", D, 150, 150_000, "earned"),
    ("subdao", "atlas", ATLAS_TREASURY, 10_000, 100_000, "earned"),
    ("liquidity", POOL, E, 40_000, 200_000, "earned"),
    ("contribution", "contribution", F, 150_000, 33_333, "earned"),
    ("contribution", "contribution", G_, 300_000, 66_667, "earned"),
]
# Epoch 1: E = floor(1_000_000 * 9000 / 10000) = 900_000 -> staking 360_000,
#   governance 180_000, subdao 90_000, liquidity 180_000, contribution 90_000.
# staking: aimg 216_000, atlas 144_000 (treasury). A = 200*100 = 20_000,
#   B = 200*50 = 10_000 -> A 144_000, B 72_000.  No votes, no contributions -> treasury.
# liquidity: E holds 600 all epoch = 60_000 LP-seconds -> 180_000.
EPOCH1 = [
    ("staking", AIMG_VAULT, A, 20_000, 144_000, "earned"),
    ("staking", AIMG_VAULT, B, 10_000, 72_000, "earned"),
    ("staking", ATLAS_VAULT, TREASURY, 0, 144_000, "unallocated"),
    ("governance", "atlas", TREASURY, 0, 180_000, "unallocated"),
    ("subdao", "atlas", ATLAS_TREASURY, 10_000, 90_000, "earned"),
    ("liquidity", POOL, E, 60_000, 180_000, "earned"),
    ("contribution", "contribution", TREASURY, 0, 90_000, "unallocated"),
]


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config_file = tmp_path / "aimg.toml"
    config_file.write_text(CONFIG)
    monkeypatch.setenv("AIMG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIMG_CONFIG", str(config_file))
    with build_chain().serve() as server:
        monkeypatch.setenv("AIMG_RPC_URL", server.url)
        yield load_config(config_file), tmp_path / "home"


def test_two_epochs_match_hand_worked_allocations(pipeline) -> None:
    config, home = pipeline
    with dg.DagsterInstance.ephemeral() as instance:
        results = materialize_epochs([0, 1], config, instance)
    assert all(r.success for r in results)

    con = analytics_connect(home)
    for epoch, expected in ((0, EPOCH0), (1, EPOCH1)):
        rows = con.execute(
            "SELECT channel, pool, account, weight::VARCHAR, amount::VARCHAR, reason "
            "FROM allocations WHERE epoch = ? ORDER BY channel, pool, account", [epoch]
        ).fetchall()
        want = sorted((c, p, a, str(w), str(m), r) for c, p, a, w, m, r in expected)
        assert sorted(rows) == want
        emitted = con.execute(
            "SELECT sum(amount::BIGNUM)::VARCHAR FROM allocations WHERE epoch = ?",
            [epoch]).fetchone()
        assert emitted == (str(1_000_000 if epoch == 0 else 900_000),)

    reasons = con.execute("SELECT epoch, reason FROM quarantine").fetchall()
    assert reasons == [(0, "unknown contribution kind 7")]
    snapshot = con.execute(
        "SELECT opening_balance::VARCHAR, closing_balance::VARCHAR, balance_seconds::VARCHAR "
        "FROM position_snapshots WHERE epoch = 0 AND account = ?", [A]).fetchone()
    assert snapshot == ("300", "200", "26000")

    # claims are cumulative: A earned 164_211 + 144_000 = 308_211
    claims = json.loads((home / "published" / "epoch-00001" / "claims.json").read_text())
    by_account = {k.lower(): int(v["amount"]) for k, v in claims["claims"].items()}
    assert by_account[A] == 308_211
    assert by_account[TREASURY] == 160_000 + 144_000 + 180_000 + 90_000
    assert int(claims["total"]) == 1_900_000
    for epoch in (0, 1):
        verify(home / "published" / f"epoch-{epoch:05d}")


def test_a_registered_contract_without_code_does_not_stop_the_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13.7: the atlas vault is registered before it is deployed (eth_call answers
    ``0x``). It has no positions, so both epochs complete; reconciliation names it as not
    callable instead of crashing. The allocations are the hand-worked ones above."""
    config_file = tmp_path / "aimg.toml"
    config_file.write_text(CONFIG)
    monkeypatch.setenv("AIMG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIMG_CONFIG", str(config_file))
    chain = build_chain()
    chain.no_code.add(ATLAS_VAULT)
    with chain.serve() as server, dg.DagsterInstance.ephemeral() as instance:
        monkeypatch.setenv("AIMG_RPC_URL", server.url)
        results = materialize_epochs([0, 1], load_config(config_file), instance)
    assert all(r.success for r in results)
    for result in results:
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        reconciled = checks["reconciled_with_chain"]
        assert reconciled.passed
        assert reconciled.metadata["not_callable"].value == ATLAS_VAULT
        assert reconciled.metadata["mismatches"].value == 0
    con = analytics_connect(tmp_path / "home")
    rows = con.execute(
        "SELECT channel, pool, account, weight::VARCHAR, amount::VARCHAR, reason "
        "FROM allocations WHERE epoch = 0").fetchall()
    assert sorted(rows) == sorted((c, p, a, str(w), str(m), r) for c, p, a, w, m, r in EPOCH0)


def test_a_contract_without_code_but_with_holders_is_a_mismatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token the snapshots give holders cannot lack code: the blocking check fails."""
    config_file = tmp_path / "aimg.toml"
    config_file.write_text(CONFIG)
    monkeypatch.setenv("AIMG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIMG_CONFIG", str(config_file))
    chain = build_chain()
    chain.no_code.add(AIMG_VAULT)
    with chain.serve() as server, dg.DagsterInstance.ephemeral() as instance:
        monkeypatch.setenv("AIMG_RPC_URL", server.url)
        config = load_config(config_file)
        instance.add_dynamic_partitions("epochs", [config.calendar().partition_key(0)])
        from aimg_pipeline.definitions import defs

        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            partition_key=config.calendar().partition_key(0), instance=instance,
            raise_on_error=False)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    reconciled = checks["reconciled_with_chain"]
    assert not reconciled.passed
    assert "answers no totalSupply/balanceOf" in reconciled.metadata["first_mismatch"].value
    assert not (tmp_path / "home" / "published" / "epoch-00000").exists()  # blocked


BOREAS = f"""
[[registry.agents]]
name = "boreas"
token = "{addr(0x201)}"
vault = "{addr(0x202)}"
governor = "{addr(0x203)}"
treasury = "{addr(0x204)}"
pools = [{{ name = "boreas-aimg", address = "{addr(0x205)}" }}]
"""

BOREAS_FROM_EPOCH_2 = """
[[policy]]
version = "v2"
effective_from_epoch = 2
decay_bps = 1000
tail_emission = "0"
channel_bps = { staking = 4000, governance = 2000, subdao = 1000, liquidity = 2000, \
  contribution = 1000 }
kind_multiplier_bps = { dataset = 10000, model = 15000, algorithm = 20000 }
agent_weight_bps = { atlas = 5000, boreas = 5000 }
vault_weight_bps = { aimg = 5000, atlas = 3000, boreas = 2000 }
pool_weight_bps = { "atlas-aimg" = 5000, "boreas-aimg" = 5000 }
"""


def test_adding_an_agent_later_leaves_published_epochs_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13.10: an agent added by a registry entry and a version from epoch 2 changes no
    earlier epoch's policy hash, watched contracts or files: re-running epochs 0 and 1 is a
    no-op (published folders byte for byte), and epoch 2 pays the new agent. Its vault's
    shares minted in epoch 1, before it was in force, form its opening balance in epoch 2."""
    config_file = tmp_path / "aimg.toml"
    config_file.write_text(CONFIG)
    monkeypatch.setenv("AIMG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIMG_CONFIG", str(config_file))
    chain = build_chain()
    transfer = topic("Transfer")
    # epoch 1 (the block at G + 150): A stakes 40 in boreas's vault
    b = next(n for n, block in enumerate(chain.blocks) if block["timestamp"] == GENESIS + 150)
    chain.add_log(b, addr(0x202), [transfer, address_topic(ZERO), address_topic(A)],
                  "0x" + word(40))
    chain.add_block(GENESIS + 310)  # closes epoch 2
    published = tmp_path / "home" / "published"
    with chain.serve() as server, dg.DagsterInstance.ephemeral() as instance:
        monkeypatch.setenv("AIMG_RPC_URL", server.url)
        assert all(r.success for r in materialize_epochs([0, 1], load_config(config_file),
                                                         instance))
        before = {p.relative_to(published): p.read_bytes() for p in published.rglob("*.*")}
        end = CONFIG.index("[[policy]]")
        config_file.write_text(CONFIG[:end] + BOREAS + CONFIG[end:] + BOREAS_FROM_EPOCH_2)
        results = materialize_epochs([0, 1, 2], load_config(config_file), instance)
    assert all(r.success for r in results)
    statuses = [next(m.materialization.metadata["status"].value
                     for m in r.get_asset_materialization_events()
                     if "status" in m.materialization.metadata) for r in results]
    assert statuses == ["unchanged", "unchanged", "published"]
    assert {p.relative_to(published): p.read_bytes() for p in published.rglob("*.*")
            if "epoch-00002" not in p.relative_to(published).parts} == before
    con = analytics_connect(tmp_path / "home")
    # E(2) = 810_000 -> staking 324_000 -> boreas vault 2000 bps = 64_800, A alone (40 x 100)
    assert con.execute(
        "SELECT account, weight::VARCHAR, amount::VARCHAR FROM allocations "
        "WHERE epoch = 2 AND pool = ?", [addr(0x202)]).fetchall() == [(A, "4000", "64800")]
    assert con.execute("SELECT count(*) FROM raw_logs WHERE epoch < 2 AND address = ?",
                       [addr(0x202)]).fetchall() == [(0,)]
