"""Crash safety: kill -9 a materialization at five points, re-run, compare with a clean run.

The hand-worked deployment (two epochs, test_e2e_handworked) is materialized through Dagster
in a child process. A tiny test-only hook (``CHILD`` below, installed only in the child)
makes the child stop at a chosen point and announce it in a signal file; the parent then
sends SIGKILL, so nothing runs after that point (no ``finally``, no cleanup). The points:

- ``ingest``: epoch 1's ``raw_logs`` stored, its ``epochs`` row not yet (mid-ingestion);
- ``parquet``: half of epoch 1's ``position_snapshots`` file on disk (a torn Parquet write);
- ``analytics``: ``analytics.duckdb`` being built (the first DuckDB write, epoch 0);
- ``publish``: two of epoch 1's four files in the hidden publishing folder;
- ``recorded``: epoch 1's folder published, its ``distributions`` row not yet written.

After each kill: every epoch an analyst can see through ``analytics.duckdb`` (and every
visible Parquet file and published folder) is exactly the clean run's, never part of one.
Then the pipeline is re-run in the same home and everything it produced (warehouse tables,
published folders, byte for byte) equals an undisturbed run's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

from aimg_pipeline.analytics import connect as analytics_connect
from aimg_pipeline.lib.config import load_config
from aimg_pipeline.orchestrate import materialize_epochs
from aimg_pipeline.verify import verify
from aimg_pipeline.warehouse import TABLES
from aimg_pipeline_tests.test_e2e_handworked import CONFIG, build_chain

REPO = Path(__file__).resolve().parents[1]

# The child: install the hook for HOOK_AT (if any), materialize epochs 0 and 1, print the
# publish statuses as JSON. At the hook point it writes HOOK_SIGNAL, then either sleeps until
# killed (HOOK_GO unset) or waits for the HOOK_GO file and goes on (concurrency tests).
# HOOK_ANNOUNCE: a file written each time the child is about to take the publish lock.
CHILD = r'''
import json, os, sys, time
from pathlib import Path

point = os.environ.get("HOOK_AT", "")

def stop_here():
    Path(os.environ["HOOK_SIGNAL"]).write_text(str(os.getpid()))
    go = os.environ.get("HOOK_GO")
    while not (go and Path(go).exists()):
        time.sleep(0.05)

if point == "ingest":
    import aimg_pipeline.ingest.store as m
    real_row = m.write_epoch_row
    def write_epoch_row(warehouse, epoch, *args):
        if epoch == 1:
            stop_here()
        real_row(warehouse, epoch, *args)
    m.write_epoch_row = write_epoch_row
elif point == "parquet":
    import aimg_pipeline.warehouse as m
    real_write = m.pq.write_table
    def write_table(table, where, **kwargs):
        real_write(table, where, **kwargs)
        name = str(where)
        if "position_snapshots" in name and "epoch=00001" in name:
            data = Path(where).read_bytes()
            Path(where).write_bytes(data[: len(data) // 2])  # torn write
            stop_here()
    m.pq.write_table = write_table
elif point == "analytics":
    import aimg_pipeline.analytics as m
    real_connect = m.duckdb.connect
    class HalfBuilt:  # killed once the temporary database file is attached and written to
        def __init__(self, con):
            self.con = con
        def execute(self, sql, *args):
            result = self.con.execute(sql, *args)
            if sql == "USE analytics":
                self.con.execute("CREATE TABLE half_built AS SELECT 1 AS x")
                self.con.execute("CHECKPOINT")
                stop_here()
            return result
        def close(self):
            self.con.close()
    m.duckdb.connect = lambda *args, **kwargs: HalfBuilt(real_connect(*args, **kwargs))
elif point in ("publish", "publish0"):
    import aimg_pipeline.publish.folder as m
    real_file = m._write_file
    target, at = (".epoch-00001.", "allocations.csv") if point == "publish" else (
        ".epoch-00000.", "merkle_tree.json")
    def write_file(folder, name, data):
        if folder.name.startswith(target) and name == at:
            stop_here()
        real_file(folder, name, data)
    m._write_file = write_file
elif point == "recorded":
    import aimg_pipeline.publish.release as m
    real_publish = m.publish
    def publish(root, epoch, files, reason=None):
        result = real_publish(root, epoch, files, reason)
        if epoch == 1:
            stop_here()
        return result
    m.publish = publish

announce = os.environ.get("HOOK_ANNOUNCE")  # written when about to take the publish lock
if announce:
    import aimg_pipeline.publish.folder as p
    real_lock = p._publish_lock
    def announcing_lock(root):
        Path(announce).write_text("at the publish lock")
        return real_lock(root)
    p._publish_lock = announcing_lock

import dagster as dg
from aimg_pipeline.lib.config import load_config
from aimg_pipeline.orchestrate import materialize_epochs

config = load_config(os.environ["AIMG_CONFIG"])
with dg.DagsterInstance.ephemeral() as instance:
    results = materialize_epochs([0, 1], config, instance, log_level="WARNING")
statuses = []
for r in results:
    for event in r.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if "status" in metadata:
            statuses.append(metadata["status"].value)
print(json.dumps({"success": [r.success for r in results], "statuses": statuses}))
'''


def child_env(home: Path, config_path: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMG_", "HOOK_"))}
    env.update(AIMG_HOME=str(home), AIMG_CONFIG=str(config_path), AIMG_RPC_URL=url, **extra)
    return env


def start_child(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(signal_file: Path, child: subprocess.Popen[str], timeout: float = 180) -> None:
    """Until the child announces its hook point (fails if it exits or takes too long)."""
    deadline = time.monotonic() + timeout
    while not signal_file.exists():
        if child.poll() is not None:
            _, err = child.communicate()
            pytest.fail(f"child exited {child.returncode} before its hook point:\n{err[-3000:]}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("child never reached its hook point")
        time.sleep(0.05)


def finish(child: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------------------ comparing homes


def visible_tables(home: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every visible Parquet file's rows (hidden temporaries are no one's data)."""
    out = {}
    for table in TABLES:
        for path in sorted((home / "warehouse" / table).glob("epoch=*.parquet")):
            rows = pq.read_table(path).to_pylist()
            for row in rows:
                if "artifact_path" in row:  # the one column that names the home itself
                    row["artifact_path"] = str(Path(row["artifact_path"]).relative_to(home))
            out[(table, path.name)] = rows
    return out


def published(home: Path) -> dict[str, bytes]:
    root = home / "published"
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in
                                       p.relative_to(root).parts)}


def analyst_view(home: Path) -> dict[tuple[str, int], list[str]]:
    """What an analyst sees: each view's rows per epoch, through analytics.duckdb."""
    path = home / "analytics.duckdb"
    if not path.exists():
        return {}
    con = analytics_connect(home)
    try:
        out: dict[tuple[str, int], list[str]] = {}
        for table in TABLES:
            for row in con.execute(f"SELECT * FROM {table}").fetchall():  # noqa: S608 (names)
                values = [Path(v).name if isinstance(v, str) and v.startswith(str(home))
                          else v for v in row]
                out.setdefault((table, row[0]), []).append(repr(values))
        return {k: sorted(v) for k, v in out.items()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def chain_url() -> Iterator[str]:
    with build_chain().serve() as server:
        yield server.url


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "aimg.toml"
    path.write_text(CONFIG)
    return path


def run_in_process(home: Path, config_path: Path, url: str) -> list[dg.ExecuteInProcessResult]:
    patch = pytest.MonkeyPatch()
    try:
        for name, value in child_env(home, config_path, url).items():
            if name.startswith("AIMG_"):
                patch.setenv(name, value)
        with dg.DagsterInstance.ephemeral() as instance:
            return materialize_epochs([0, 1], load_config(config_path), instance,
                                      log_level="WARNING")
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, config_path: Path,
          chain_url: str) -> dict[str, Any]:
    """The undisturbed run every disturbed one must reproduce."""
    home = tmp_path_factory.mktemp("clean") / "home"
    results = run_in_process(home, config_path, chain_url)
    assert all(r.success for r in results)
    return {"home": home, "tables": visible_tables(home), "published": published(home),
            "view": analyst_view(home)}


# ------------------------------------------------------------------------ the kills

POINTS = ["ingest", "parquet", "analytics", "publish", "recorded"]


@pytest.mark.parametrize("point", POINTS)
def test_kill_9_then_rerun_gives_the_undisturbed_result(
    point: str, tmp_path: Path, config_path: Path, chain_url: str, clean: dict[str, Any]
) -> None:
    home = tmp_path / "home"
    signal_file = tmp_path / "reached"
    child = start_child(child_env(home, config_path, chain_url, HOOK_AT=point,
                                  HOOK_SIGNAL=str(signal_file)))
    wait_for(signal_file, child)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL

    # after the kill: nothing partial is visible, whatever is visible is the clean run's
    tables = visible_tables(home)
    for key, rows in tables.items():
        assert rows == clean["tables"][key], key
    view = analyst_view(home)
    for key, rows in view.items():
        assert rows == clean["view"][key], key
    folders = published(home)
    for name, data in folders.items():
        assert data == clean["published"][name], name
    for folder in {name.split("/")[0] for name in folders}:
        verify(home / "published" / folder)
    expected_gone = {
        "ingest": ("epochs", "epoch=00001.parquet"),
        "parquet": ("position_snapshots", "epoch=00001.parquet"),
        "publish": ("distributions", "epoch=00001.parquet"),
        "recorded": ("distributions", "epoch=00001.parquet"),
    }
    if point in expected_gone:
        assert expected_gone[point] not in tables  # the kill really cut there
    if point == "analytics":
        assert not view and not (home / "analytics.duckdb").exists()
        assert list(home.glob(".analytics.*.duckdb.tmp"))  # the half-built one, hidden
    if point == "publish":
        assert "epoch-00001/manifest.json" not in folders
        assert list((home / "published").glob(".epoch-00001.*.tmp"))
    if point == "recorded":
        assert "epoch-00001/manifest.json" in folders  # published, not yet recorded

    # the re-run completes and reproduces the undisturbed run exactly
    results = run_in_process(home, config_path, chain_url)
    assert all(r.success for r in results)
    assert visible_tables(home) == clean["tables"]
    assert published(home) == clean["published"]
    assert analyst_view(home) == clean["view"]
    assert not list((home / "published").glob(".epoch-*"))  # stale publish folders cleared
