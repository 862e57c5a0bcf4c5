"""Results never depend on the order or parallelism of runs (SPEC 3, 6.5; issue 13.1).

A scripted chain of five epochs whose contributions re-use ids across and within epochs
(id 42 accepted in epoch 0 and again in epochs 1 and 3; id 7 twice in epoch 2; id 99 once
before genesis and again in epoch 2). It is materialized three ways:

- forward: one Dagster run per epoch, 0 to 4;
- decoded in reverse: raw logs and decoding of epochs 4, 3, ... 0 first (the order in which
  the old pipeline let epoch 1's id 42 pay, because epoch 0's contributions did not exist
  yet), then the epoch-ordered steps forward;
- concurrently: five processes sharing one Dagster instance, one epoch each, all in flight
  at once (each started once the previous one's run is registered, as a backfill's queued
  runs are), so decoding overlaps and the epoch-ordered steps wait for their predecessor.

All three give the same warehouse tables and byte-identical published folders, and the
contributions are what SPEC 6.5 says, worked out by hand below.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

from aimg_pipeline.analytics import connect as analytics_connect
from aimg_pipeline.lib.config import load_config
from aimg_pipeline.orchestrate import materialize_epochs
from aimg_pipeline_tests.fakechain import FakeChain, address_topic, word
from aimg_pipeline_tests.test_e2e_handworked import (
    AIMG_VAULT,
    ATLAS_TOKEN,
    CONFIG,
    GENESIS,
    GOVERNOR,
    REGISTRY,
    ZERO,
    L,
    addr,
    topic,
)

EPOCHS = 5
A, B, F, G = addr(0xA0), addr(0xB0), addr(0xF0), addr(0xF1)
REPO = Path(__file__).resolve().parents[1]


def build_chain() -> FakeChain:
    chain = FakeChain(chain_id=1337)
    transfer, accepted = topic("Transfer"), topic("ContributionAccepted")

    def contribution(block: int, cid: int, who: str, kind: int, score: int) -> None:
        chain.add_log(block, REGISTRY, [accepted, "0x" + word(cid), address_topic(ATLAS_TOKEN),
                                        address_topic(who)], "0x" + word(kind) + word(score))

    b = chain.add_block(GENESIS - 10)  # before genesis: A stakes; id 99 counts nowhere
    chain.add_log(b, AIMG_VAULT, [transfer, address_topic(ZERO), address_topic(A)],
                  "0x" + word(500))
    contribution(b, 99, G, 0, 1)
    b = chain.add_block(GENESIS + 10)  # epoch 0: id 42 accepted (F, dataset, score 5)
    contribution(b, 42, F, 0, 5)
    chain.add_log(b, GOVERNOR, [topic("VoteCast"), address_topic(B)],
                  "0x" + word(1) + word(1) + word(3) + word(0x80) + word(0))
    b = chain.add_block(GENESIS + L + 10)  # epoch 1: id 42 again (G): a duplicate
    contribution(b, 42, G, 1, 7)
    contribution(b, 43, G, 0, 2)
    b = chain.add_block(GENESIS + 2 * L + 10)  # epoch 2: id 7 twice, id 99 for the first time
    contribution(b, 7, F, 2, 1)
    contribution(b, 7, G, 2, 1)
    contribution(b, 99, G, 1, 4)
    chain.add_log(b, AIMG_VAULT, [transfer, address_topic(A), address_topic(B)],
                  "0x" + word(100))
    b = chain.add_block(GENESIS + 3 * L + 10)  # epoch 3: id 42 a third time; id 44 new
    contribution(b, 42, F, 0, 9)
    contribution(b, 44, F, 0, 1)
    chain.add_block(GENESIS + 4 * L + 50)  # epoch 4: an empty block
    chain.add_block(GENESIS + EPOCHS * L)  # closes epoch 4
    return chain


# contributions by hand (SPEC 6.5: a duplicate of any earlier *accepted* id; before genesis
# counts nowhere, so id 99 is first accepted in epoch 2), weight = score x multiplier
# (dataset 10_000, model 15_000, algorithm 20_000 bps):
ACCEPTED = {
    0: [(F, 42, 0, 5, 50_000)],
    1: [(G, 43, 0, 2, 20_000)],
    2: [(F, 7, 2, 1, 20_000), (G, 99, 1, 4, 60_000)],
    3: [(F, 44, 0, 1, 10_000)],
    4: [],
}
DUPLICATES = {
    1: ["duplicate contributionId (accepted in an earlier epoch)"],
    2: ["duplicate contributionId (accepted earlier in this epoch)"],
    3: ["duplicate contributionId (accepted in an earlier epoch)"],
}


@pytest.fixture(scope="module")
def chain_url() -> Any:
    with build_chain().serve() as server:
        yield server.url


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("order") / "aimg.toml"
    path.write_text(CONFIG)
    return path


def _env(home: Path, config_path: Path, url: str) -> dict[str, str]:
    return {"AIMG_HOME": str(home), "AIMG_CONFIG": str(config_path), "AIMG_RPC_URL": url}


def outputs(home: Path) -> dict[str, Any]:
    """Every warehouse table file's rows, every published file's bytes, and the reasons of
    the ``quarantine`` view per epoch (what an analyst sees)."""
    tables = {str(p.relative_to(home)): pq.read_table(p).to_pylist()
              for p in sorted((home / "warehouse").glob("*/epoch=*.parquet"))
              if p.parent.name != "distributions"}  # names the folder's absolute path
    files = {str(p.relative_to(home)): p.read_bytes()
             for p in sorted((home / "published").glob("epoch-*/**/*")) if p.is_file()}
    quarantine: dict[int, list[str]] = {}
    con = analytics_connect(home)
    for epoch, reason in con.execute(
            "SELECT epoch, reason FROM quarantine ORDER BY epoch, block_number, log_index"
    ).fetchall():
        quarantine.setdefault(epoch, []).append(reason)
    con.close()
    return {"tables": tables, "published": files, "quarantine": quarantine}


def run_forward(home: Path, config_path: Path, url: str, monkeypatch: pytest.MonkeyPatch,
                selection: list[dg.AssetKey] | None = None,
                epochs: list[int] | None = None) -> None:
    for name, value in _env(home, config_path, url).items():
        monkeypatch.setenv(name, value)
    config = load_config(config_path)
    from aimg_pipeline.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        if selection is None:
            assert all(r.success for r in materialize_epochs(
                range(EPOCHS), config, instance, log_level="WARNING"))
            return
        keys = [config.calendar().partition_key(e) for e in epochs or range(EPOCHS)]
        instance.add_dynamic_partitions("epochs", keys)
        for key in keys:
            result = job.execute_in_process(partition_key=key, instance=instance,
                                            asset_selection=selection)
            assert result.success


@pytest.fixture(scope="module")
def forward(tmp_path_factory: pytest.TempPathFactory, config_path: Path,
            chain_url: str) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("forward") / "home"
    patch = pytest.MonkeyPatch()
    try:
        run_forward(home, config_path, chain_url, patch)
    finally:
        patch.undo()
    return outputs(home)


def test_forward_order_gives_the_hand_worked_contributions(forward: dict[str, Any]) -> None:
    for epoch in range(EPOCHS):
        rows = forward["tables"][f"warehouse/contributions/epoch={epoch:05d}.parquet"]
        assert [(r["contributor"], int(r["contribution_id"], 16), r["kind"], int(r["score"]),
                 int(r["weight"])) for r in rows] == ACCEPTED[epoch], epoch
        rejected = forward["quarantine"].get(epoch, [])
        assert rejected == DUPLICATES.get(epoch, []), epoch
    # epoch 1's contribution channel (10 % of E(1) = 90_000) goes to G's id 43 alone
    epoch1 = forward["published"]["published/epoch-00001/allocations.csv"].decode()
    contribution_rows = [line.split(",") for line in epoch1.splitlines()
                         if ",contribution,contribution," in line]
    assert [(row[3].lower(), row[4], row[5]) for row in contribution_rows] == [
        (G, "20000", "90000")]


def test_decoding_in_reverse_order_changes_nothing(
    forward: dict[str, Any], tmp_path: Path, config_path: Path, chain_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    from aimg_pipeline.definitions import defs

    # ingestion and the decoding step: every asset computed with decoded/position_changes
    decoding = defs.get_assets_def(dg.AssetKey(["decoded", "position_changes"])).keys
    decode_only = [dg.AssetKey(["raw", "raw_logs"]), *sorted(decoding)]
    run_forward(home, config_path, chain_url, monkeypatch, decode_only,
                list(reversed(range(EPOCHS))))
    config = load_config(config_path)

    rest = [key for key in defs.resolve_all_asset_keys() if key not in decode_only]
    run_forward(home, config_path, chain_url, monkeypatch, rest, list(range(EPOCHS)))
    assert config.calendar().partition_key(0)  # the same calendar throughout
    got = outputs(home)
    assert got["tables"] == forward["tables"]
    assert got["published"] == forward["published"]


# One epoch's run in its own process; it announces it is loaded, then waits for its go file,
# so the parent can start the runs in epoch order within a fraction of a second.
CHILD = r'''
import os, sys, time
from pathlib import Path
import dagster as dg
from aimg_pipeline.definitions import defs
from aimg_pipeline.lib.config import load_config

key = load_config(os.environ["AIMG_CONFIG"]).calendar().partition_key(int(sys.argv[1]))
Path(sys.argv[2] + ".ready").write_text("ready")
while not Path(sys.argv[2]).exists():
    time.sleep(0.01)
with dg.DagsterInstance.get() as instance:
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        partition_key=key, instance=instance, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
sys.exit(0 if result.success else 1)
'''


def test_concurrent_runs_of_every_epoch_change_nothing(
    forward: dict[str, Any], tmp_path: Path, config_path: Path, chain_url: str
) -> None:
    home, dagster_home = tmp_path / "home", tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIMG_")}
    env.update(_env(home, config_path, chain_url), DAGSTER_HOME=str(dagster_home))
    config = load_config(config_path)
    keys = [config.calendar().partition_key(e) for e in range(EPOCHS)]
    go = [tmp_path / f"go-{epoch}" for epoch in range(EPOCHS)]
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.add_dynamic_partitions("epochs", keys)
        children = [subprocess.Popen([sys.executable, "-c", CHILD, str(epoch), str(go[epoch])],
                                     cwd=REPO, env=env) for epoch in range(EPOCHS)]
        deadline = time.monotonic() + 180
        while not all(Path(f"{g}.ready").exists() for g in go):
            assert time.monotonic() < deadline and all(c.poll() is None for c in children)
            time.sleep(0.05)
        for epoch, key in enumerate(keys):
            go[epoch].write_text("go")
            # like a backfill's queued runs: the next run starts once this one is known
            while not instance.get_runs(dg.RunsFilter(tags={"dagster/partition": key})):
                assert time.monotonic() < deadline, f"the run of epoch {epoch} never started"
                time.sleep(0.01)
        in_flight = max_in_flight(instance, children)
        codes = [child.wait(600) for child in children]
    assert codes == [0] * EPOCHS
    assert in_flight >= 4, in_flight
    got = outputs(home)
    assert got["quarantine"] == forward["quarantine"]
    assert got["tables"] == forward["tables"]
    assert got["published"] == forward["published"]


def max_in_flight(instance: dg.DagsterInstance, children: list[subprocess.Popen]) -> int:
    """The most runs that were STARTED at once, sampled until every child has exited."""
    most = 0
    while any(child.poll() is None for child in children):
        started = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        most = max(most, len(started))
        time.sleep(0.1)
    return most
