"""Shared fixtures: the demo (embedded chain, seeded scenario, every closed epoch through
Dagster) is built once per session and shared by every test that needs real published
epochs (test_demo, test_oz_demo, test_verify, test_report, test_publish)."""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from aimg_pipeline.demo.devchain import start_devchain
from aimg_pipeline.demo.scenario import run_scenario
from aimg_pipeline.lib.config import load_config
from aimg_pipeline.orchestrate import materialize_epochs


@pytest.fixture(scope="session")
def demo_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The embedded chain with the seed-7 scenario played once per session (about 35 s).

    Shared by every module that reads the demo chain. Tests may add blocks after the
    scenario (claims on the distributor) but must never revert it or alter epochs 0..6.
    """
    config_path = tmp_path_factory.mktemp("demo_chain") / "aimg.toml"
    with start_devchain() as chain:
        summary = run_scenario(chain.url, config_path, seed=7)
        yield {"chain": chain, "url": chain.url, "summary": summary, "config_path": config_path}


@pytest.fixture(scope="session")
def demo(
    tmp_path_factory: pytest.TempPathFactory, demo_chain: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """The demo home, its running chain, config and the Dagster results of every epoch.

    The environment (AIMG_HOME, AIMG_CONFIG, AIMG_RPC_URL) is set only while the epochs
    are materialized; tests that run the pipeline again use ``demo_env``. Tests must not
    change the files under ``demo["home"]``: copy them first.
    """
    home = tmp_path_factory.mktemp("demo")
    config_path = home / "demo" / "aimg.toml"
    config_path.parent.mkdir(parents=True)
    shutil.copy(demo_chain["config_path"], config_path)
    chain, summary = demo_chain["chain"], demo_chain["summary"]
    env = {"AIMG_HOME": str(home), "AIMG_CONFIG": str(config_path), "AIMG_RPC_URL": chain.url}
    patch = pytest.MonkeyPatch()
    for name, value in env.items():
        patch.setenv(name, value)
    try:
        config = load_config(config_path)
        epochs = list(range(summary["last_closed_epoch"] + 1))
        with dg.DagsterInstance.ephemeral() as instance:
            results = materialize_epochs(epochs, config, instance, log_level="WARNING")
    finally:
        patch.undo()
    yield {"home": home, "chain": chain, "summary": summary, "config": config,
           "raw_config": tomllib.loads(config_path.read_text()), "epochs": epochs,
           "results": results, "env": env}


@pytest.fixture
def demo_env(demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The demo's environment variables, set for one test."""
    for name, value in demo["env"].items():
        monkeypatch.setenv(name, value)
    return demo
