"""The Dagster UI for real: webserver + daemon (``dagster dev``) over the demo chain.

Run and event-log storage live in a scratch PostgreSQL database when one is reachable on
127.0.0.1:5432 (always under CI=true); otherwise SQLite, and the PostgreSQL test is skipped
with the reason. Through the GraphQL API the tests read the asset graph and partition keys
and launch a backfill of the demo's first four epochs, with four runs in flight, while
another process keeps querying analytics.duckdb read-only. Four, not all seven: the
documented dagster.yaml runs four at once, and one epoch launched here took 89 s on two
cores (test_demo materializes every epoch, the redirect epochs 4-6 included).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import requests

from aimg_pipeline import analytics, serve
from aimg_pipeline.demo.scenario import _cs, _Driver
from aimg_pipeline.home import PROJECT_ROOT
from aimg_pipeline.lib.config import load_config
from aimg_pipeline.orchestrate import materialize_epochs
from aimg_pipeline.warehouse import Warehouse

DOCS = PROJECT_ROOT / "docs"
READER = """
import json, sys, time, pathlib, duckdb
path, stop = sys.argv[1], pathlib.Path(sys.argv[2])
queries, errors, first, rows = 0, 0, None, 0
while not stop.exists():
    try:
        home = str(pathlib.Path(path).parent)  # the views read files relative to the home
        con = duckdb.connect(path, read_only=True, config={"file_search_path": home})
        rows = con.execute("SELECT count(*) FROM allocations").fetchone()[0]
        con.execute("SELECT sum(cumulative_amount::BIGNUM)::VARCHAR FROM claims").fetchone()
        con.close()
        queries += 1
    except Exception as exc:
        errors += 1
        first = first or repr(exc)
    time.sleep(0.05)
print(json.dumps({"queries": queries, "errors": errors, "first_error": first, "rows": rows}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_database():
    """A scratch database on the local PostgreSQL, or None with the reason it is unusable."""
    try:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres",
                               connect_timeout=3)
    except Exception as exc:  # no server, no driver, refused
        return None, f"no PostgreSQL on 127.0.0.1:5432 ({exc.__class__.__name__}: {exc})"
    con.autocommit = True
    name = f"aimg_test_{uuid.uuid4().hex[:12]}"
    with con.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    return (con, name), None


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}},
                             timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


UI_EPOCHS = 4  # the documented dagster.yaml's max_concurrent_runs


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, demo_chain):
    root = tmp_path_factory.mktemp("ui")
    home, dagster_home = root / "home", root / "dagster"
    dagster_home.mkdir()
    config_path = root / "aimg.toml"
    postgres, reason = _postgres_database()
    if postgres is None and os.environ.get("CI") == "true":
        pytest.fail(f"CI=true requires PostgreSQL: {reason}")
    env = dict(os.environ, DAGSTER_HOME=str(dagster_home), AIMG_HOME=str(home),
               AIMG_CONFIG=str(config_path))
    if postgres:
        shutil.copy(DOCS / "dagster.postgres.yaml", dagster_home / "dagster.yaml")
        env.update(AIMG_PG_HOST="127.0.0.1", AIMG_PG_PORT="5432", AIMG_PG_USER="postgres",
                   AIMG_PG_PASSWORD="unused-trust-auth", AIMG_PG_DB=postgres[1])
    else:
        shutil.copy(DOCS / "dagster.yaml", dagster_home / "dagster.yaml")
    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        patch.setenv(key, value)
    chain, summary = demo_chain["chain"], demo_chain["summary"]
    # a distributor of its own: other modules set roots and claim on the shared demo
    # chain's, which the hand-off guard would rightly refuse ("foreign" root)
    driver = _Driver(chain.url, seed=0)
    distributor = driver.deploy("Distributor", _cs(summary["registry"]["aimg_token"]))
    config_path.write_text(demo_chain["config_path"].read_text().replace(
        summary["registry"]["distributor"], distributor.address.lower()))
    server = None
    try:
        env["AIMG_RPC_URL"] = chain.url
        patch.setenv("AIMG_RPC_URL", chain.url)
        config = load_config(config_path)
        epochs = list(range(min(summary["last_closed_epoch"] + 1, UI_EPOCHS)))
        calendar = config.calendar()
        keys = [calendar.partition_key(e) for e in epochs]
        with dg.DagsterInstance.get() as instance:
            instance.add_dynamic_partitions("epochs", keys)
        analytics.ensure(Warehouse(home))
        reports = serve.start(home, 0)  # as `aimg dev` does: report links are http://
        env[serve.URL_VARIABLE] = f"http://127.0.0.1:{reports.server_port}"
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(port),
             "-w", str(PROJECT_ROOT / "workspace.yaml")],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # its webserver, daemon and code servers: one group
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                data = _graphql(url, "{ repositoriesOrError { __typename } }")
                if data["repositoriesOrError"]["__typename"] == "RepositoryConnection":
                    break
            except (requests.RequestException, AssertionError):
                pass
            assert time.monotonic() < deadline, "dagster dev did not come up in 120 s"
            time.sleep(1)
        yield {"url": url, "home": home, "chain": chain, "config": config, "epochs": epochs,
               "keys": keys, "postgres": postgres, "postgres_reason": reason,
               "dagster_home": dagster_home}
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)  # dagster dev stops on SIGINT, not SIGTERM
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        patch.undo()
        if postgres:
            con, name = postgres
            with con.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            con.close()


def test_graphql_shows_the_asset_graph_and_epoch_partitions(ui) -> None:
    data = _graphql(ui["url"], "{ assetNodes { assetKey { path } groupName partitionKeys } }")
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert set(nodes) >= {
        "raw/raw_logs", "decoded/position_changes", "decoded/votes", "decoded/contributions",
        "decoded/quarantine", "snapshots/position_snapshots", "rewards/epoch_emissions",
        "rewards/allocations", "rewards/claims", "publish/distribution", "decoded/swaps",
        "decoded/syncs", "yield/pool_yield", "yield/vault_yield", "yield/lp_earnings",
        "rewards/recipients", "handoff/onchain_guard", "handoff/safe_tx"}
    assert {n["groupName"] for n in nodes.values()} == {
        "raw", "decoded", "snapshots", "rewards", "yield", "publish", "handoff"}
    keys = nodes["publish/distribution"]["partitionKeys"]
    assert keys == ui["keys"]  # in epoch order, e.g. "00000_2026-01-01T00:00Z"
    assert keys[0] == "00000_2026-01-01T00:00Z"


def _wait_for_backfill(url: str, backfill_id: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = _graphql(url, """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
            __typename ... on PartitionBackfill { status } ... on PythonError { message } } }""",
                        {"id": backfill_id})["partitionBackfillOrError"]
        if data.get("status") not in (None, "REQUESTED"):
            return data["status"]
        time.sleep(2)
    raise AssertionError(f"backfill {backfill_id} not done after {timeout} s")


def _launch_backfill(url: str, keys: list[str]) -> str:
    """Backfill every asset of the graph for these epochs, as "Materialize all" does."""
    assets = [n["assetKey"] for n in _graphql(url, "{ assetNodes { assetKey { path } } }")[
        "assetNodes"]]
    result = _graphql(url, """mutation($params: LaunchBackfillParams!) {
        launchPartitionBackfill(backfillParams: $params) {
          __typename ... on LaunchBackfillSuccess { backfillId }
          ... on PythonError { message } ... on InvalidSubsetError { message } } }""",
                      {"params": {"partitionNames": keys, "assetSelection": assets}})
    launched = result["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    current = best = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


def test_backfill_of_four_epochs_runs_concurrently_while_analysts_read(ui, tmp_path) -> None:
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(ui["home"] / "analytics.duckdb"), str(stop)],
        stdout=subprocess.PIPE, text=True)
    try:
        backfill_id = _launch_backfill(ui["url"], ui["keys"])
        status = _wait_for_backfill(ui["url"], backfill_id)
    finally:
        stop.touch()
        reading = json.loads(reader.communicate(timeout=60)[0])
    assert status == "COMPLETED_SUCCESS"
    assert reading["errors"] == 0, reading["first_error"]
    assert reading["queries"] > 10

    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert len(records) >= len(ui["keys"])
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
        intervals = [(r.start_time, r.end_time) for r in records]
    # the documented dagster.yaml's 4 runs in flight at once (issue 13.1: any parallelism)
    assert _max_overlap(intervals) >= 4, intervals

    # the same epochs materialized one after another elsewhere give the same bytes
    sequential = tmp_path / "sequential"
    os.environ["AIMG_HOME"] = str(sequential)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            results = materialize_epochs(ui["epochs"], ui["config"], instance, log_level="ERROR")
    finally:
        os.environ["AIMG_HOME"] = str(ui["home"])
    assert all(r.success for r in results)
    for epoch in ui["epochs"]:
        name = f"epoch-{epoch:05d}"
        for file in ("manifest.json", "merkle_tree.json", "claims.json", "allocations.csv"):
            assert (ui["home"] / "published" / name / file).read_bytes() == (
                sequential / "published" / name / file).read_bytes(), (name, file)
    # and the same warehouse tables (distributions names each home's own folder)
    for path in sorted((sequential / "warehouse").glob("*/epoch=*.parquet")):
        if path.parent.name != "distributions":
            mine = ui["home"] / path.relative_to(sequential)
            assert pq.read_table(mine).equals(pq.read_table(path)), path


CHECK_EXECUTIONS = """
query ($path: [String!]!, $check: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $check, limit: 100) {
    partition status
  }
}"""

REPORT_LINK = """
{ assetOrError(assetKey: {path: ["publish", "epoch_report"]}) {
    ... on Asset { assetMaterializations(limit: 1) {
      partition metadataEntries { label ... on UrlMetadataEntry { url } } } } } }"""


def test_each_epoch_has_its_own_check_results(ui) -> None:
    """Partitioned asset checks: one result per epoch (a backfill of other epochs leaves an
    epoch's result alone)."""
    data = _graphql(ui["url"], CHECK_EXECUTIONS,
                    {"path": ["rewards", "allocations"], "check": "conservation"})
    latest: dict[str, str] = {}
    for execution in data["assetCheckExecutions"]:  # newest first
        latest.setdefault(execution["partition"], execution["status"])
    assert latest == {key: "SUCCEEDED" for key in ui["keys"]}


def test_a_browser_sees_the_partitions_the_checks_and_the_report(ui, tmp_path) -> None:
    """Headless Chromium (Debian's) through Playwright: the allocations asset's partitions and
    checks pages, and the report link the epoch_report asset records (http://, served)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    data = _graphql(ui["url"], REPORT_LINK)
    (materialization,) = data["assetOrError"]["assetMaterializations"]
    link = next(e["url"] for e in materialization["metadataEntries"] if e["label"] == "open")
    assert link.startswith("http://127.0.0.1:"), link
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{ui['url']}/assets/rewards/allocations?view=partitions")
            # the visible one: the partition bar also holds each key in a hidden tooltip
            page.get_by_text(ui["keys"][-1]).filter(visible=True).first.wait_for(
                timeout=60_000)
            page.screenshot(path=str(tmp_path / "partitions.png"))
            page.goto(f"{ui['url']}/assets/rewards/allocations?view=checks")
            page.get_by_text("conservation").first.wait_for(timeout=60_000)
            page.get_by_text("no_unusual_swings").first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "checks.png"))
            response = page.goto(link)
            assert response is not None and response.status == 200
            page.get_by_text("Yield").first.wait_for(timeout=30_000)
            assert f"epoch {materialization['partition'][:5].lstrip('0') or '0'}" in (
                page.title().lower())
            page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
        finally:
            browser.close()
    if os.environ.get("AIMG_SCREENSHOTS"):  # keep them, to look at
        shutil.copytree(tmp_path, Path(os.environ["AIMG_SCREENSHOTS"]), dirs_exist_ok=True)


def test_postgres_holds_the_runs_and_event_logs(ui) -> None:
    if not ui["postgres"]:
        pytest.skip(ui["postgres_reason"])
    import psycopg2

    with dg.DagsterInstance.get() as instance:
        known = len(instance.get_run_records())
    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=ui["postgres"][1])
    with con, con.cursor() as cur:
        cur.execute("SELECT count(*) FROM runs")
        runs = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM event_logs WHERE dagster_event_type = "
                    "'ASSET_MATERIALIZATION'")
        materializations = cur.fetchone()[0]
    con.close()
    assert runs == known and runs >= len(ui["keys"])  # one run per epoch of the backfill
    assert materializations >= 10 * len(ui["keys"])  # ten assets per epoch run
    assert datetime.now().year >= 2026
