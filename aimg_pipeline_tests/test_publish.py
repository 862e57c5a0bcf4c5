"""Publishing: manifest contents, safe permissions, immutability (no-op, refusal naming what
changed, republish with a reason through the API, Dagster config and CLI), epoch order, and
crash safety (an injected failure and a hard kill between files leave no partial folder).

The releases below are tiny and worked by hand: epoch 0 emits 100 wei (A 60 staking, B 40
governance), epoch 1 emits 90 wei (A 50 staking, C 40 governance), so the cumulative claims
are {A: 60, B: 40} then {A: 110, B: 40, C: 40}.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

import aimg_pipeline.publish.folder as publish_module
from aimg_pipeline import cli
from aimg_pipeline.orchestrate import materialize_epochs
from aimg_pipeline.publish.artifacts import EpochRelease, build_files
from aimg_pipeline.publish.folder import publish
from aimg_pipeline.publish.layout import PublishError, epoch_folder
from aimg_pipeline.verify import verify

A = "0x" + "a1" * 20
B = "0x" + "b2" * 20
C = "0x" + "c3" * 20
VAULT = "0x" + "0d" * 20
REPO = Path(__file__).resolve().parents[1]


def release(epoch: int, claims: dict[str, int] | None = None, **changes: Any) -> EpochRelease:
    """Epoch 0 or 1 of the hand-worked example (see the module docstring)."""
    if epoch == 0:
        allocations = [("staking", VAULT, A, 6, 60, "earned", None),
                       ("governance", "atlas", B, 4, 40, "earned", None)]
        by_channel, emission, default_claims = {"staking": 60, "governance": 40}, 100, {
            A: 60, B: 40}
    else:
        allocations = [("staking", VAULT, A, 5, 50, "earned", None),
                       ("governance", "atlas", C, 4, 40, "earned", None)]
        by_channel, emission, default_claims = {"staking": 50, "governance": 40}, 90, {
            A: 110, B: 40, C: 40}
    fields = dict(
        epoch=epoch, window_start=1_000_000 + 100 * epoch, window_end=1_000_100 + 100 * epoch,
        blocks={"from_block": 10 * epoch, "to_block": 10 * epoch + 9,
                "first_block": 10 * epoch, "last_block": 10 * epoch + 9,
                "first_block_hash": "0x" + f"{epoch:02x}" * 32,
                "last_block_hash": "0x" + f"{epoch + 16:02x}" * 32},
        policy_version="v1", policy_hash="ab" * 32, code_version="0.1.0",
        input_rows={"raw_logs": 5, "position_changes": 2, "votes": 1, "contributions": 0,
                    "quarantine": 0},
        emission=emission, by_channel=by_channel, allocations=allocations,
        claims=claims if claims is not None else default_claims,
    )
    fields.update(changes)
    return EpochRelease(**fields)


def shifted(a_amount: int) -> EpochRelease:
    """Epoch 0 with A getting ``a_amount`` and B the rest of the 100 wei (a policy fix)."""
    return release(0, claims={A: a_amount, B: 100 - a_amount},
                   allocations=[("staking", VAULT, A, 6, a_amount, "earned", None),
                                ("governance", "atlas", B, 4, 100 - a_amount, "earned", None)],
                   by_channel={"staking": a_amount, "governance": 100 - a_amount})


def eip55(address: str) -> str:
    """EIP-55 written out: uppercase a hex letter where the keccak nibble is >= 8."""
    from Crypto.Hash import keccak

    hexed = address[2:].lower()
    digest = keccak.new(digest_bits=256, data=hexed.encode()).hexdigest()
    return "0x" + "".join(c.upper() if int(d, 16) >= 8 else c
                          for c, d in zip(hexed, digest[:40], strict=True))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".publish.lock"}


def test_manifest_records_everything_spec_7_asks_for() -> None:
    files = build_files(release(0))
    manifest = json.loads(files["manifest.json"])
    assert manifest["epoch"] == 0
    assert manifest["window"] == {"start": 1_000_000, "end": 1_000_100,
                                  "start_utc": "1970-01-12T13:46:40Z",
                                  "end_utc": "1970-01-12T13:48:20Z"}
    assert manifest["blocks"] == {"from_block": 0, "to_block": 9, "first_block": 0,
                                  "last_block": 9, "first_block_hash": "0x" + "00" * 32,
                                  "last_block_hash": "0x" + "10" * 32}
    assert manifest["policy"] == {"version": "v1", "hash": "ab" * 32}
    assert manifest["code_version"] == "0.1.0"
    assert manifest["input_rows"]["raw_logs"] == 5
    assert manifest["totals_by_channel"] == {"staking": "60", "governance": "40"}
    assert manifest["emission"] == "100" and manifest["total"] == "100"
    assert manifest["accounts"] == 2 and manifest["allocation_rows"] == 2
    assert manifest["merkle_root"] == json.loads(files["merkle_tree.json"])["tree"][0]
    shards = sorted(f"proofs/{account[2:4].lower()}.json" for account in (A, B))
    assert manifest["files"] == {name: hashlib.sha256(files[name]).hexdigest()
                                 for name in ("merkle_tree.json", "claims.json",
                                              "allocations.csv", *shards)}
    assert manifest["proof_shards"] == "proofs/{prefix}.json"
    claims = json.loads(files["claims.json"])
    assert set(claims["claims"]) == {eip55(A), eip55(B)}
    assert {c["amount"] for c in claims["claims"].values()} == {"60", "40"}
    for account in (A, B):  # each shard: claims.json's head and its own accounts only
        shard = json.loads(files[f"proofs/{account[2:4].lower()}.json"])
        assert shard == {"epoch": 0, "merkle_root": claims["merkle_root"],
                         "total": claims["claims"][eip55(account)]["amount"],
                         "claims": {eip55(account): claims["claims"][eip55(account)]}}
    assert files == build_files(release(0))  # byte-for-byte reproducible


@pytest.mark.parametrize("umask", [0, 0o077])  # nothing world-writable; all readable
def test_published_files_are_read_only_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        result = publish(tmp_path, 0, build_files(release(0)))
    finally:
        os.umask(old)
    assert result.status == "published"
    assert stat.S_IMODE(result.folder.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in result.folder.rglob("*")
            if p.is_file()} == {0o444}
    assert stat.S_IMODE((result.folder / "proofs").stat().st_mode) == 0o755
    assert sorted(str(p.relative_to(result.folder)) for p in result.folder.rglob("*")) == [
        "allocations.csv", "claims.json", "manifest.json", "merkle_tree.json", "proofs",
        *sorted(f"proofs/{account[2:4].lower()}.json" for account in (A, B))]


def test_identical_republish_is_a_no_op(tmp_path: Path) -> None:
    publish(tmp_path, 0, build_files(release(0)))
    before = snapshot(tmp_path)
    again = publish(tmp_path, 0, build_files(release(0)))
    assert again.status == "unchanged"
    assert snapshot(tmp_path) == before


def test_different_content_is_refused_naming_what_changed(tmp_path: Path) -> None:
    first = publish(tmp_path, 0, build_files(release(0)))
    before = snapshot(tmp_path)
    changed = shifted(61)
    with pytest.raises(PublishError) as refused:
        publish(tmp_path, 0, build_files(changed))
    message = str(refused.value)
    assert "already published" in message and "immutable" in message
    assert "claims.json" in message and "merkle_tree.json" in message
    assert f"merkle_root: {first.merkle_root} ->" in message
    assert "2 claim amounts changed" in message
    assert snapshot(tmp_path) == before  # nothing touched

    with pytest.raises(PublishError, match=r"code_version: 0\.1\.0 -> 0\.2\.0"):
        publish(tmp_path, 0, build_files(release(0, code_version="0.2.0")))


def test_republish_with_a_reason_archives_and_records_both_roots(tmp_path: Path) -> None:
    first = publish(tmp_path, 0, build_files(release(0)))
    old_files = snapshot(first.folder)
    new_files = build_files(shifted(61))
    new_root = json.loads(new_files["manifest.json"])["merkle_root"]
    result = publish(tmp_path, 0, new_files, republish_reason="wrong vault weight")
    assert result.status == "republished" and result.merkle_root == new_root != first.merkle_root
    assert result.archived == tmp_path / "archive" / "epoch-00000.1"
    assert snapshot(result.archived) == old_files  # the old folder, byte for byte
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["republished"]["reason"] == "wrong vault weight"
    assert manifest["republished"]["previous_root"] == first.merkle_root
    assert manifest["republished"]["new_root"] == new_root == manifest["merkle_root"]
    assert manifest["republished"]["previous_manifest_sha256"] == hashlib.sha256(
        old_files["manifest.json"]).hexdigest()
    verify(result.folder)
    # the same new content again is a no-op (the note is not "a change")
    assert publish(tmp_path, 0, new_files).status == "unchanged"
    # a second republish keeps both older versions
    third = publish(tmp_path, 0, build_files(shifted(62)),
                    republish_reason="again")
    assert third.archived == tmp_path / "archive" / "epoch-00000.2"
    assert not list(tmp_path.glob(".epoch-*"))  # no temporary left


def test_epoch_needs_the_previous_one(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="epoch 1 cannot be published before epoch 0"):
        publish(tmp_path, 1, build_files(release(1)))
    assert not epoch_folder(tmp_path, 1).exists()
    publish(tmp_path, 0, build_files(release(0)))
    assert publish(tmp_path, 1, build_files(release(1))).status == "published"
    assert verify(epoch_folder(tmp_path, 1))["checked_previous"]


def test_failure_between_files_leaves_nothing_and_a_rerun_is_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(tmp_path, 0, build_files(release(0)))
    before = snapshot(tmp_path)
    real_write, written = publish_module._write_file, []

    def failing_write(folder: Path, name: str, data: bytes) -> None:
        if len(written) == 2:
            raise OSError("disk full (injected)")
        written.append(name)
        real_write(folder, name, data)

    monkeypatch.setattr(publish_module, "_write_file", failing_write)
    with pytest.raises(OSError, match="injected"):
        publish(tmp_path, 1, build_files(release(1)))
    assert written == ["allocations.csv", "claims.json"]  # sorted; the manifest comes last
    assert not epoch_folder(tmp_path, 1).exists()
    assert snapshot(tmp_path) == before  # no partial folder, not even a hidden one
    monkeypatch.setattr(publish_module, "_write_file", real_write)
    assert publish(tmp_path, 1, build_files(release(1))).status == "published"
    verify(epoch_folder(tmp_path, 1))


KILLER = """
import os, sys, pickle
from pathlib import Path
import aimg_pipeline.publish.folder as p
root, files = Path(sys.argv[1]), pickle.load(open(sys.argv[2], "rb"))
real, count = p._write_file, []
def dying_write(folder, name, data):
    if len(count) == 2:
        os._exit(9)  # like SIGKILL: no cleanup, no finally
    count.append(name)
    real(folder, name, data)
p._write_file = dying_write
p.publish(root, 1, files)
"""


def test_killed_publisher_leaves_no_visible_folder_and_a_rerun_is_clean(tmp_path: Path) -> None:
    import pickle

    root = tmp_path / "published"
    publish(root, 0, build_files(release(0)))
    files = build_files(release(1))
    (tmp_path / "files.pickle").write_bytes(pickle.dumps(files))
    done = subprocess.run([sys.executable, "-c", KILLER, str(root),
                           str(tmp_path / "files.pickle")], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 9, done.stderr
    assert not epoch_folder(root, 1).exists()
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
        "epoch-00000"]
    stale = list(root.glob(".epoch-00001.*.tmp"))
    assert len(stale) == 1 and sorted(p.name for p in stale[0].iterdir()) == [
        "allocations.csv", "claims.json"]  # the partial write, hidden
    result = publish(root, 1, files)
    assert result.status == "published"
    assert not list(root.glob(".epoch-00001.*"))  # the stale temporary is gone
    assert snapshot(result.folder) == files
    verify(result.folder)


# ----------------------------------------------------------------- through Dagster and the CLI


@pytest.fixture
def demo_copy(demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the demo home (same chain), so republishing leaves the demo alone."""
    home = tmp_path / "home"
    for part in ("published", "warehouse", "demo"):
        shutil.copytree(demo["home"] / part, home / part)
    monkeypatch.setenv("AIMG_HOME", str(home))
    monkeypatch.setenv("AIMG_CONFIG", str(home / "demo" / "aimg.toml"))
    monkeypatch.setenv("AIMG_RPC_URL", demo["env"]["AIMG_RPC_URL"])
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    return home


def test_republish_through_dagster_config_and_the_cli(
    demo: dict[str, Any], demo_copy: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import aimg_pipeline.publish.release as release_module

    epoch = demo["epochs"][-1]
    folder = epoch_folder(demo_copy / "published", epoch)
    original = json.loads((folder / "manifest.json").read_text())
    # a new code version changes the manifest: the content differs
    monkeypatch.setattr(release_module, "__version__", "0.1.0+fix")
    with dg.DagsterInstance.ephemeral() as instance, pytest.raises(
            Exception, match=r"code_version: 0\.1\.0 -> 0\.1\.0\+fix"):
        materialize_epochs([epoch], demo["config"], instance, log_level="ERROR")
    assert json.loads((folder / "manifest.json").read_text()) == original

    run_config = {"ops": {"publish__distribution": {"config": {
        "republish_reason": "code fix 0.1.0+fix"}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        results = materialize_epochs([epoch], demo["config"], instance, run_config=run_config,
                                     log_level="ERROR")
    assert results[0].success
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["code_version"] == "0.1.0+fix"
    assert manifest["republished"]["reason"] == "code fix 0.1.0+fix"
    assert manifest["republished"]["previous_root"] == original["merkle_root"]
    assert manifest["republished"]["new_root"] == manifest["merkle_root"]
    archived = demo_copy / "published" / "archive" / f"epoch-{epoch:05d}.1"
    assert json.loads((archived / "manifest.json").read_text()) == original
    published_meta = [m for m in results[0].get_asset_materialization_events()
                      if m.asset_key == dg.AssetKey(["publish", "distribution"])][0]
    assert published_meta.materialization.metadata["status"].value == "republished"

    monkeypatch.setattr(release_module, "__version__", "0.1.0+cli")
    status = cli.main(["materialize", "--first", str(epoch), "--last", str(epoch),
                       "--republish-reason", "cli republish"])
    assert status == 0, capsys.readouterr().err
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["code_version"] == "0.1.0+cli"
    assert manifest["republished"]["reason"] == "cli republish"
    assert (demo_copy / "published" / "archive" / f"epoch-{epoch:05d}.2").is_dir()
    verify(folder)
