"""Concurrency: two materializations of the same epochs at once, and a publish racing a
backfill. One wins; the other no-ops (identical content) or is refused with a message
saying why; the artifacts stay exactly those of an undisturbed run.

The overlap is forced, not hoped for: the backfill child (test_crash_safety's harness) stops
inside the publish lock while its epoch folder is half written, and only goes on once the
other contender is running (and, for an in-process publish, is waiting on the lock).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import aimg_pipeline.publish.folder as publish_module
from aimg_pipeline.publish.folder import publish
from aimg_pipeline.publish.layout import MANIFEST, PublishError
from aimg_pipeline.verify import verify
from aimg_pipeline_tests import test_crash_safety as crash
from aimg_pipeline_tests.test_crash_safety import (
    child_env,
    finish,
    published,
    start_child,
    visible_tables,
    wait_for,
)

# the shared fixtures: the scripted chain, its config, the undisturbed run
chain_url, config_path, clean = crash.chain_url, crash.config_path, crash.clean


def test_two_materializations_of_the_same_epochs_at_once(
    tmp_path: Path, config_path: Path, chain_url: str, clean: dict[str, Any]
) -> None:
    home = tmp_path / "home"
    first_at, go = tmp_path / "first-at-lock", tmp_path / "go"
    # the first run stops holding the publish lock, epoch 0's folder half written
    first = start_child(child_env(home, config_path, chain_url, HOOK_AT="publish0",
                                  HOOK_SIGNAL=str(first_at), HOOK_GO=str(go)))
    wait_for(first_at, first)
    # the second run goes all the way to epoch 0's publish lock (then waits on it)
    second_at = tmp_path / "second-at-lock"
    second = start_child(child_env(home, config_path, chain_url,
                                   HOOK_ANNOUNCE=str(second_at)))
    wait_for(second_at, second)
    time.sleep(0.2)  # let it block on the lock (the outcome does not depend on this)
    assert not (home / "published" / "epoch-00000").exists()  # nothing published yet
    go.write_text("go")
    one, two = finish(first), finish(second)
    assert one["success"] == two["success"] == [True, True]
    # each epoch published exactly once; the later run's publish is a no-op
    for epoch in (0, 1):
        assert sorted([one["statuses"][epoch], two["statuses"][epoch]]) == [
            "published", "unchanged"]
    assert one["statuses"][0] == "published"  # it held the lock first
    assert published(home) == clean["published"]
    assert visible_tables(home) == clean["tables"]
    assert not list((home / "published").glob(".epoch-*"))


@pytest.mark.parametrize("content", ["identical", "different"])
def test_a_publish_racing_a_backfill_no_ops_or_is_refused(
    content: str, tmp_path: Path, config_path: Path, chain_url: str, clean: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    root = home / "published"
    held, go = tmp_path / "held", tmp_path / "go"
    backfill = start_child(child_env(home, config_path, chain_url, HOOK_AT="publish",
                                     HOOK_SIGNAL=str(held), HOOK_GO=str(go)))
    wait_for(held, backfill)  # epoch 0 published; epoch 1 half written under the lock

    files = {name.split("/", 1)[1]: data for name, data in clean["published"].items()
             if name.startswith("epoch-00001/")}
    if content == "different":  # e.g. a publisher running an older code version
        manifest = json.loads(files[MANIFEST])
        manifest["code_version"] = "0.0.9"
        files[MANIFEST] = (json.dumps(manifest, indent=2) + "\n").encode()
    waiting, outcome = threading.Event(), {}
    real_lock = publish_module._publish_lock

    def announcing_lock(where: Path) -> Any:
        waiting.set()
        return real_lock(where)

    monkeypatch.setattr(publish_module, "_publish_lock", announcing_lock)

    def racer() -> None:
        try:
            outcome["result"] = publish(root, 1, files)
        except PublishError as error:
            outcome["error"] = error

    thread = threading.Thread(target=racer)
    thread.start()
    assert waiting.wait(60)
    time.sleep(0.2)  # let it block on the lock the backfill holds (order does not depend on it)
    assert thread.is_alive()  # still waiting: the backfill holds the lock
    go.write_text("go")
    thread.join(120)
    result = finish(backfill)
    assert result["success"] == [True, True]
    assert result["statuses"] == ["published", "published"]  # the backfill won
    if content == "identical":
        assert outcome["result"].status == "unchanged"
    else:
        message = str(outcome["error"])
        assert "epoch 1 is already published" in message
        assert "code_version: 0.1.0 -> 0.0.9" in message
        assert "republish explicitly with a reason" in message
    assert published(home) == clean["published"]
    verify(root / "epoch-00001")
