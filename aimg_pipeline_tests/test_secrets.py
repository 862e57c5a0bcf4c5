"""An RPC URL holding an API key never leaks: not in logs, Dagster events or metadata, error
messages, or any file under AIMG_HOME (the Dagster instance included).

The hand-worked scripted chain is served behind the fault proxy at
``http://127.0.0.1:PORT/v2/SECRETKEY123`` (the key in the path, as Alchemy and Infura put
it). One materialization succeeds through transient faults (so retries and their messages
happen); one fails on Alchemy's monthly cap (so an error message is produced and stored).
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from aimg_pipeline.lib.config import load_config
from aimg_pipeline.orchestrate import materialize_epochs
from aimg_pipeline_tests.rpcproxy import Faults, RpcProxy
from aimg_pipeline_tests.test_e2e_handworked import CONFIG, build_chain

SECRET = "SECRETKEY123"


def _mkdir(path: Path) -> str:
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("secrets")
    config_path = home / "aimg.toml"
    config_path.write_text(CONFIG)
    config = load_config(config_path)
    patch = pytest.MonkeyPatch()
    patch.setenv("AIMG_HOME", str(home))
    patch.setenv("AIMG_CONFIG", str(config_path))
    faults = Faults(seed=4, http503=0.08, drop=0.05, max_consecutive=1)
    printed = io.StringIO()
    records: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed), \
            build_chain().serve() as server, \
            RpcProxy(server.url, faults, path=f"/v2/{SECRET}") as proxy, \
            RpcProxy(server.url, Faults(always="alchemy-monthly-cap"),
                     path=f"/v2/{SECRET}") as capped, \
            RpcProxy(server.url, Faults(always="echo-key"), path=f"/v2/{SECRET}") as echoing, \
            dg.DagsterInstance.local_temp(tempdir=_mkdir(home / "dagster")) as instance:
        patch.setenv("AIMG_RPC_URL", proxy.url)
        ok = materialize_epochs([0, 1], config, instance, log_level="DEBUG")
        patch.setenv("AIMG_RPC_URL", capped.url)
        instance.add_dynamic_partitions("epochs", [config.calendar().partition_key(2)])
        from aimg_pipeline.definitions import defs

        failed = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            partition_key=config.calendar().partition_key(0), instance=instance,
            raise_on_error=False,
            asset_selection=[dg.AssetKey(["raw", "raw_logs"])])
        patch.setenv("AIMG_RPC_URL", echoing.url)
        echoed = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            partition_key=config.calendar().partition_key(0), instance=instance,
            raise_on_error=False,
            asset_selection=[dg.AssetKey(["raw", "raw_logs"])])
        events = [serialize_value(record) for run in instance.get_runs()
                  for record in instance.all_logs(run.run_id)]
    logging.getLogger().removeHandler(handler)
    yield {"home": home, "ok": ok, "failed": failed, "events": events, "proxy": proxy,
           "capped": capped, "echoed": echoed, "echoing": echoing,
           "printed": printed.getvalue(), "records": records}
    patch.undo()


def test_the_key_was_really_used(runs) -> None:
    assert all(r.success for r in runs["ok"])
    assert runs["proxy"].paths == {f"/v2/{SECRET}"}
    assert runs["proxy"].stats["HTTP 503"] + runs["proxy"].stats["dropped connection"] >= 1
    assert not runs["failed"].success
    assert runs["capped"].stats["requests"] >= 1


def test_no_secret_in_dagster_events_metadata_or_errors(runs) -> None:
    events = runs["events"]
    assert len(events) > 50
    assert not [e for e in events if SECRET in e]
    port = runs["proxy"].url.split(":")[2].split("/")[0]
    # the redacted URL is shown instead: in the raw asset's metadata, and in the error
    assert any(f"http://127.0.0.1:{port}/***" in e for e in events)
    failures = [e for e in runs["failed"].all_events
                if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failures[0].step_failure_data.error.to_string()
    assert "Monthly capacity limit exceeded" in message
    assert "/***" in message and SECRET not in message
    # progress reached the Dagster log: blocks done / total and logs/s
    assert any("blocks" in e and "logs/s" in e for e in events)


def test_a_provider_error_echoing_the_key_is_scrubbed(runs) -> None:
    """Issue 13.11: the provider's own error text repeats the URL's path and key; neither
    reaches the ChainError, the Dagster step failure or its event log."""
    assert runs["echoing"].stats["error echoing the key"] >= 1
    assert not runs["echoed"].success
    failure = next(e for e in runs["echoed"].all_events
                   if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.step_failure_data.error.to_string()
    assert "invalid API key ***" in message, message
    assert SECRET not in message and "/v2/" not in message


def test_no_secret_in_captured_output(runs) -> None:
    # everything printed (Dagster's console logger included) and every Python log record
    # emitted during the runs; the progress lines prove the capture saw the runs' logs
    text = runs["printed"] + "\n".join(runs["records"])
    assert "logs/s" in text
    assert "Monthly capacity limit exceeded" in text
    assert SECRET not in text


def test_no_secret_in_any_file_under_aimg_home(runs) -> None:
    files = [p for p in runs["home"].rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)  # Dagster's SQLite event log is in there
    assert any(p.suffix == ".parquet" for p in files)
    leaking = [str(p) for p in files if SECRET.encode() in p.read_bytes()]
    assert leaking == []
