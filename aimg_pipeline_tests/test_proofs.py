"""Issue 18, proofs at scale: ``aimg proof`` and ``aimg serve`` answer one account's claim
from the proof shards. The oracle is ``json.loads`` of the epoch's claims.json and of its
manifest; the answers must equal them exactly, and refuse what is not there with 404s and
clear errors."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aimg_pipeline import cli, serve
from aimg_pipeline.lib.eip55 import AddressError
from aimg_pipeline.publish.artifacts import EpochRelease, build_files
from aimg_pipeline.publish.folder import publish
from aimg_pipeline.publish.layout import epoch_folder
from aimg_pipeline.publish.lookup import ClaimNotFound, ShardError, find_claim

REPO = Path(__file__).resolve().parents[1]


def release(n: int, seed: int = 18) -> EpochRelease:
    """Epoch 0 of n random accounts (enough to share some address prefixes), one allocation
    each, amounts up to 2^100."""
    rng = random.Random(seed)
    claims = {"0x" + rng.randbytes(20).hex(): rng.getrandbits(100) + 1 for _ in range(n)}
    rows = [("staking", "0x" + "0d" * 20, a, v, v, "earned", None) for a, v in claims.items()]
    return EpochRelease(
        epoch=0, window_start=1_000, window_end=2_000, blocks={"first_block": 0},
        policy_version="v1", policy_hash="ab" * 32, code_version="0.1.0",
        input_rows={"raw_logs": n}, emission=sum(claims.values()),
        by_channel={"staking": sum(claims.values())}, allocations=rows, claims=claims)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    publish(tmp_path / "published", 0, build_files(release(600)))
    return tmp_path


def oracle(home: Path) -> tuple[dict[str, Any], str]:
    folder = epoch_folder(home / "published", 0)
    claims = json.loads((folder / "claims.json").read_text())
    return claims["claims"], json.loads((folder / "manifest.json").read_text())["merkle_root"]


def absent_in_a_present_shard(claims: dict[str, Any]) -> str:
    prefixes = {a[2:4].lower() for a in claims}
    prefix = sorted(prefixes)[0]
    return "0x" + prefix + "ee" * 19


def test_every_claim_is_found_as_claims_json_has_it(home: Path) -> None:
    claims, root = oracle(home)
    assert len({a[2:4].lower() for a in claims}) < len(claims)  # some shards hold several
    verified: dict[Any, str] = {}
    for account, claim in claims.items():
        expected = {"account": account, "epoch": 0, "amount": claim["amount"],
                    "proof": claim["proof"], "merkle_root": root}
        assert find_claim(home / "published", 0, account) == expected
        assert find_claim(home / "published", 0, account.lower(), verified) == expected
    assert len(verified) == len({a[2:4].lower() for a in claims})  # each shard hashed once


def test_what_is_not_there_is_refused(home: Path) -> None:
    claims, _ = oracle(home)
    published = home / "published"
    missing = absent_in_a_present_shard(claims)
    with pytest.raises(ClaimNotFound, match=f"no claim for {missing[:4]}.* in epoch 0"):
        find_claim(published, 0, missing)
    free = next(f"{i:02x}" for i in range(256) if f"{i:02x}" not in {a[2:4].lower()
                                                                      for a in claims})
    with pytest.raises(ClaimNotFound, match="no claim for 0x"):
        find_claim(published, 0, "0x" + free + "00" * 19)
    with pytest.raises(ClaimNotFound, match="epoch 1 is not published"):
        find_claim(published, 1, next(iter(claims)))
    account = next(a for a in claims if a[2:].lower() != a[2:].upper())
    wrong_case = account[:2] + account[2:].swapcase()
    with pytest.raises(AddressError, match="not a valid EIP-55 checksum"):
        find_claim(published, 0, wrong_case)
    with pytest.raises(AddressError, match="expected 0x followed by 40 hex digits"):
        find_claim(published, 0, "0x1234")


def test_a_tampered_shard_is_refused_not_served(home: Path) -> None:
    claims, _ = oracle(home)
    account = next(iter(claims))
    shard = epoch_folder(home / "published", 0) / "proofs" / f"{account[2:4].lower()}.json"
    os.chmod(shard, 0o644)
    text = shard.read_text()
    amount = claims[account]["amount"]
    shard.write_text(text.replace(f'"{amount}"', f'"{int(amount) + 1}"'))
    with pytest.raises(ShardError, match="does not match the sha256 in its manifest"):
        find_claim(home / "published", 0, account)
    shard.unlink()
    with pytest.raises(ShardError, match="listed in the manifest but cannot be read"):
        find_claim(home / "published", 0, account)


def test_aimg_proof_prints_the_claim_without_dagster_or_numpy(home: Path) -> None:
    claims, root = oracle(home)
    account = sorted(claims)[7]
    script = ("import sys; from aimg_pipeline.cli import main; code = main(sys.argv[1:]); "
              "heavy = {'dagster', 'numpy', 'web3', 'duckdb'} & set(sys.modules); "
              "assert not heavy, heavy; sys.exit(code)")
    env = {**os.environ, "AIMG_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", script, "proof", "0", account.lower()],
                          env=env, cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"account": account, "epoch": 0,
                                       "amount": claims[account]["amount"],
                                       "proof": claims[account]["proof"], "merkle_root": root}
    missing = absent_in_a_present_shard(claims)
    done = subprocess.run([sys.executable, "-c", script, "proof", "0", missing], env=env,
                          cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: no claim for 0x") and "in epoch 0" in done.stderr


@pytest.fixture
def server(home: Path) -> Iterator[str]:
    running = serve.start(home, 0)
    yield f"http://127.0.0.1:{running.server_port}"
    running.shutdown()


def get(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method)) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_serve_answers_claims_as_json(home: Path, server: str) -> None:
    claims, root = oracle(home)
    for account in random.Random(3).sample(sorted(claims), 50):
        status, kind, body = get(f"{server}/epochs/0/claims/{account.lower()}")
        assert (status, kind) == (200, "application/json; charset=utf-8")
        assert json.loads(body) == {"account": account, "epoch": 0,
                                    "amount": claims[account]["amount"],
                                    "proof": claims[account]["proof"], "merkle_root": root}
    status, kind, body = get(f"{server}/epochs/0/claims/{account}", method="HEAD")
    assert (status, kind, body) == (200, "application/json; charset=utf-8", b"")


@pytest.mark.parametrize(("path", "status", "error"), [
    ("/epochs/1/claims/{account}", 404, "epoch 1 is not published"),
    ("/epochs/0/claims/{missing}", 404, "no claim for"),
    ("/epochs/0/claims/0x12", 400, "expected 0x followed by 40 hex digits"),
    ("/epochs/zero/claims/{account}", 400, "is not a number from 0 to 99999"),
    ("/epochs/-1/claims/{account}", 400, "is not a number from 0 to 99999"),
    ("/epochs/0/claims/{wrong_case}", 400, "not a valid EIP-55 checksum"),
])
def test_serve_refusals_are_json_with_their_status(home: Path, server: str, path: str,
                                                   status: int, error: str) -> None:
    claims, _ = oracle(home)
    account = next(a for a in claims if a[2:].lower() != a[2:].upper())
    url = server + path.format(account=account, missing=absent_in_a_present_shard(claims),
                               wrong_case=account[:2] + account[2:].swapcase())
    got, kind, body = get(url)
    assert (got, kind) == (status, "application/json; charset=utf-8")
    assert error in json.loads(body)["error"]


def test_serve_serves_shards_as_static_files_and_nothing_else(home: Path, server: str) -> None:
    claims, _ = oracle(home)
    name = f"proofs/{next(iter(claims))[2:4].lower()}.json"
    status, kind, body = get(f"{server}/published/epoch-00000/{name}")
    assert (status, kind) == (200, "application/json")
    assert body == (epoch_folder(home / "published", 0) / name).read_bytes()
    (home / "secret.toml").write_text("rpc = 'https://key@example'")
    for path in ("/secret.toml", "/published/../secret.toml", "/epochs/0", "/epochs/0/claims"):
        assert get(server + path)[0] == 404
    assert get(f"{server}/epochs/0/claims/{next(iter(claims))}", method="POST")[0] == 501


def test_aimg_serve_reports_a_port_in_use(home: Path, server: str,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AIMG_HOME", str(home))
    port = server.rsplit(":", 1)[1]
    assert cli.main(["serve", "--port", port]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
