"""`aimg` as an operator meets it: --first/--last alone and together, inverted ranges, an
epoch not yet final, nothing to do, refusals as one `error:` line (the traceback only with
--debug), the per-epoch summary after a run, a taken port for `aimg dev`, and the
environment variables in --help. And the guards behind it: no asset writes for an epoch
that is not closed and final, and a partition key that is no epoch fails without writing."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from aimg_pipeline.cli import CliError, main
from aimg_pipeline.definitions import defs
from aimg_pipeline.defs.partitions import epoch_partitions
from aimg_pipeline.defs.resources import AimgSettings
from aimg_pipeline.lib.config import load_config
from aimg_pipeline_tests.fakechain import FakeChain
from aimg_pipeline_tests.test_e2e_handworked import CONFIG, GENESIS, build_chain


@pytest.fixture(scope="module")
def chain_url() -> Any:
    with build_chain().serve() as server:  # epochs 0 and 1 closed and final
        yield server.url


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chain_url: str) -> Path:
    config = tmp_path / "aimg.toml"
    config.write_text(CONFIG)
    monkeypatch.setenv("AIMG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIMG_CONFIG", str(config))
    monkeypatch.setenv("AIMG_RPC_URL", chain_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    return tmp_path / "home"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def summary_epochs(out: str) -> list[int]:
    """The epochs of the summary table's rows (after its header line)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("epoch  window"))
    return [int(line.split()[0]) for line in lines[start + 1:] if line.strip()]


def test_help_lists_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in ("AIMG_HOME", "AIMG_CONFIG", "AIMG_RPC_URL", "AIMG_DUCKDB_MEMORY", "DAGSTER_HOME"):
        assert name in out
    with pytest.raises(SystemExit):
        main(["materialize", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help text
    assert "first epoch to materialize (default: 0)" in out
    assert "last closed and final one" in out


def test_an_inverted_range_is_refused(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "materialize", "--first", "5", "--last", "2")
    assert (code, out, err) == (2, "", "error: --first 5 is after --last 2\n")
    assert not (env / "warehouse").exists()


def test_an_epoch_not_yet_final_is_refused_in_one_line(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "materialize", "--last", "9")
    assert code == 2
    assert err == "error: epoch 9 is not closed and final: the chain is final through epoch 1\n"
    code, _, err = run(capsys, "materialize", "--first", "3")
    assert err == "error: epoch 3 is not closed and final: the chain is final through epoch 1\n"


def test_debug_shows_the_traceback(env: Path) -> None:
    with pytest.raises(CliError, match="--first 5 is after --last 2"):
        main(["--debug", "materialize", "--first", "5", "--last", "2"])


def test_without_an_rpc_url(env: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIMG_RPC_URL")
    code, _, err = run(capsys, "materialize")
    assert code == 2 and err.startswith("error: AIMG_RPC_URL is not set")


def test_nothing_to_do(env: Path, capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    young = FakeChain(chain_id=1337)
    young.add_block(GENESIS - 10)  # genesis not even reached: no epoch is closed
    with young.serve() as server:
        monkeypatch.setenv("AIMG_RPC_URL", server.url)
        code, out, err = run(capsys, "materialize")
    assert (code, out, err) == (0, "nothing to do: no epoch is closed and final yet\n", "")


def test_last_alone_then_first_alone(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --first 1 before epoch 0 exists: refused by the epoch order, in one line
    code, _, err = run(capsys, "materialize", "--first", "1")
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: ")
    assert "needs position_snapshots of epoch 0" in err or "of epoch 0" in err
    # --last 0 alone: epoch 0 only, with its summary line
    code, out, err = run(capsys, "materialize", "--last", "0")
    assert (code, err) == (0, "")
    assert summary_epochs(out) == [0]
    assert "1_000_000".replace("_", "") in out  # E(0) = 1,000,000 wei (test_e2e_handworked)
    assert not (env / "published" / "epoch-00001").exists()
    # --first 1 alone: from epoch 1 through the last closed one
    code, out, err = run(capsys, "materialize", "--first", "1")
    assert (code, err) == (0, "")
    assert summary_epochs(out) == [1]
    assert (env / "published" / "epoch-00001" / "manifest.json").exists()


def test_dev_refuses_a_taken_port(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run(capsys, "dev", "--port", str(port))
    assert code == 1 and out == ""
    assert err == (f"error: port {port} on 127.0.0.1 is already in use (another `aimg dev`?);"
                   " choose another with --port\n")


# ------------------------------------------------------------------------ the guards


def _materialize_alone(asset_key: list[str], partition: str,
                       home: Path) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(epoch_partitions.name, [partition])
        job = defs.resolve_implicit_global_asset_job_def()
        return job.execute_in_process(
            partition_key=partition, instance=instance, raise_on_error=False,
            asset_selection=[dg.AssetKey(asset_key)])


def test_no_asset_writes_for_an_open_epoch(env: Path) -> None:
    config = load_config(AimgSettings().config_file)
    open_epoch = config.calendar().partition_key(5)  # a valid key of an epoch still open
    for key in (["rewards", "epoch_emissions"], ["snapshots", "position_snapshots"],
                ["rewards", "allocations"], ["rewards", "claims"], ["yield", "pool_yield"]):
        result = _materialize_alone(key, open_epoch, env)
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert "epoch 5 has not been ingested as closed and final" in (
            failure.step_failure_data.error.message)
    assert not list((env / "warehouse").glob("*/epoch=00005.parquet"))


def test_a_partition_key_that_is_no_epoch_fails_without_writing(env: Path) -> None:
    result = _materialize_alone(["rewards", "epoch_emissions"], "epoch-9", env)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "invalid partition key 'epoch-9'" in message and "delete that partition" in message
    assert not list((env / "warehouse").glob("*/epoch=*.parquet"))
