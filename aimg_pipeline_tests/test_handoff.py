"""Issue 18, the hand-off: the on-chain guard, the treasury's Safe batch and its replay.

- The guard's rules by hand (``assess``), each failure named with its account or amount.
- On anvil, against a cumulative distributor written on unmodified OpenZeppelin
  ``MerkleProof``/``Ownable``/``SafeERC20`` and an OpenZeppelin ERC-20: the guard reads
  the chain, the batch passes the Transaction Builder's own checks (a node script written
  from its sources: fields, value encoding, checksum, method signatures against the ABIs),
  and replaying the batch's calls as the Safe sets the root and funds the distributor so
  that three accounts' claims, with proofs from ``aimg proof``'s shard lookup, pay exactly.
  Then a foreign root, an account that claimed above its cumulative and a top-up above
  ``max_top_up`` each block.
- The demo: every epoch's guard green and its ``safe-tx.json`` written.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_utils import to_checksum_address

from aimg_pipeline import cli
from aimg_pipeline.demo.devchain import derive_private_key
from aimg_pipeline.demo.scenario import DEPLOYER
from aimg_pipeline.handoff.guard import ALREADY_SET, FOREIGN, PENDING, SUPERSEDED, assess
from aimg_pipeline.handoff.onchain import read_distributor
from aimg_pipeline.handoff.safe_batch import safe_batch
from aimg_pipeline.ingest.chain import ChainClient
from aimg_pipeline.publish.artifacts import EpochRelease, build_files
from aimg_pipeline.publish.folder import publish
from aimg_pipeline.publish.lookup import find_claim
from aimg_pipeline_tests.nodejs import JS_DIR, js_node
from aimg_pipeline_tests.realchain import driver

DEMO_BUILD = Path(__file__).resolve().parents[1] / "aimg_pipeline" / "demo" / "build"
R0, R1, R2, R3 = ("0x" + c * 64 for c in "abcd")
ROOTS = {0: R0, 1: R1, 2: R2, 3: R3}
ZERO = "0x" + "0" * 64
A, B, C = ("0x" + c * 40 for c in "abc")

# ------------------------------------------------------------------------ the rules by hand


@pytest.mark.parametrize(("on_chain", "state", "later"), [
    (ZERO, PENDING, None), (R1, PENDING, None), (R0, PENDING, None),  # none, previous, older
    (R2, ALREADY_SET, None), (R3, SUPERSEDED, 3), ("0x" + "ee" * 32, FOREIGN, None),
])
def test_the_root_on_chain(on_chain: str, state: str, later: int | None) -> None:
    guard = assess(2, ROOTS, on_chain, 99, [(A, 10)], [0], 10, None)
    assert (guard.state, guard.superseded_by) == (state, later)
    if state == FOREIGN:
        assert guard.problems == {"root_on_chain_is_published": (
            f"the distributor's root {on_chain} (block 99) is no root published for an epoch "
            "up to 2: someone set a root we did not publish")}
    else:
        assert guard.problems == {}
    assert guard.root_after == (on_chain if state in (SUPERSEDED, FOREIGN) else R2)


def test_funding_and_an_account_that_claimed_too_much() -> None:
    # A: cumulative 100, claimed 40; B: 50, claimed 0; C: 30, claimed 35 (above its amount)
    guard = assess(2, ROOTS, R1, 7, [(A, 100), (B, 50), (C, 30)], [40, 0, 35], 60, None)
    assert (guard.total, guard.claimed_total, guard.claimed_accounts) == (180, 75, 2)
    assert (guard.needed, guard.top_up) == (105, 45)  # 180 - 75; 105 - 60 held
    assert guard.problems == {"no_overclaimed_accounts": (
        f"1 accounts already claimed more than their cumulative amount of epoch 2 (first: "
        f"{C} claimed 35 wei, cumulative 30 wei)")}
    enough = assess(2, ROOTS, R1, 7, [(A, 100), (B, 50)], [40, 0], 500, None)
    assert (enough.needed, enough.top_up, enough.problems) == (110, 0, {})


def test_max_top_up() -> None:
    claims, claimed = [(A, 1_000), (B, 500)], [200, 0]  # needed 1300, held 300: top-up 1000
    assert assess(1, ROOTS, R0, 7, claims, claimed, 300, 1_000).problems == {}
    assert assess(1, ROOTS, R0, 7, claims, claimed, 300, 999).problems == {
        "top_up_within_limit": "epoch 1 needs a top-up of 1000 wei (needed 1300, the "
        "distributor holds 300), above max_top_up 999 wei"}


# ----------------------------------------------------------------- the Transaction Builder


def builder_check(tmp_path: Path, batch: dict[str, Any], abis: dict[str, Any]) -> dict[str, Any]:
    (tmp_path / "batch.json").write_text(json.dumps(batch))
    (tmp_path / "abis.json").write_text(json.dumps({k.lower(): v for k, v in abis.items()}))
    done = subprocess.run([js_node(), str(JS_DIR / "safe_batch_check.mjs"),
                           str(tmp_path / "batch.json"), str(tmp_path / "abis.json")],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_batch_is_what_the_transaction_builder_imports(tmp_path: Path) -> None:
    demo_abis = {name: json.loads((DEMO_BUILD / f"{name}.json").read_text())["abi"]
                 for name in ("Distributor", "Token")}
    distributor, token, safe = (to_checksum_address("0x" + c * 40) for c in "def")
    batch = safe_batch(chain_id=31337, epoch=4, created_at_ms=1_700_000_000_000, safe=safe,
                       distributor=distributor, token=token, root=R2, top_up=12 * 10**30)
    abis = {distributor: demo_abis["Distributor"], token: demo_abis["Token"]}
    found = builder_check(tmp_path, batch, abis)
    assert found["errors"] == [] and found["ok"]
    assert found["calls"] == [
        {"to": distributor, "signature": "setRoot(bytes32)", "selector": "0xdab5f340",
         "args": [R2]},
        {"to": token, "signature": "transfer(address,uint256)", "selector": "0xa9059cbb",
         "args": [distributor, str(12 * 10**30)]}]
    assert (batch["chainId"], batch["createdAt"]) == ("31337", 1_700_000_000_000)
    # the checker refuses what the builder would: a changed value, a number, a wrong method
    for edit in ("checksum", "number", "method"):
        bad = json.loads(json.dumps(batch))
        if edit == "checksum":
            bad["transactions"][1]["contractInputsValues"]["value"] = "1"
        elif edit == "number":
            bad["transactions"][1]["value"] = 0
        else:
            bad["transactions"][0]["contractMethod"]["name"] = "set_root"
        assert not builder_check(tmp_path, bad, abis)["ok"]
    # no top-up: only setRoot; nothing else differs but the checksum and the description
    only_root = safe_batch(chain_id=31337, epoch=4, created_at_ms=1_700_000_000_000, safe=safe,
                           distributor=distributor, token=token, root=R2, top_up=0)
    assert only_root["transactions"] == batch["transactions"][:1]
    assert builder_check(tmp_path, only_root, abis)["ok"]


# ----------------------------------------------------- a real distributor on a local chain


def release(epoch: int, claims: dict[str, int]) -> EpochRelease:
    rows = [("staking", "0x" + "0d" * 20, a, v, v, "earned", None) for a, v in claims.items()]
    return EpochRelease(
        epoch=epoch, window_start=1_000 + epoch, window_end=2_000 + epoch,
        blocks={"first_block": 0}, policy_version="v1", policy_hash="ab" * 32,
        code_version="0.1.0", input_rows={"raw_logs": 1}, emission=sum(claims.values()),
        by_channel={"staking": sum(claims.values())}, allocations=rows, claims=claims)


@pytest.fixture(scope="module")
def realchain() -> Any:
    driver.ensure_node_modules()
    art = driver.compile_contracts()
    with driver.anvil(1_700_000_000) as url:
        chain = driver.Chain(url)
        yield chain, art, url


def replay(chain: Any, batch: dict[str, Any], safe: str) -> None:
    """Send each call of the batch as the Safe would, encoded from the file's own
    ``contractMethod`` and ``contractInputsValues`` (as the Transaction Builder does)."""
    for tx in batch["transactions"]:
        method = tx["contractMethod"]
        abi = [{"type": "function", "name": method["name"], "inputs": method["inputs"],
                "outputs": [], "stateMutability": "nonpayable"}]
        values = [tx["contractInputsValues"][i["name"]] for i in method["inputs"]]
        args = [int(v) if i["type"] == "uint256" else bytes.fromhex(v[2:])
                if i["type"] == "bytes32" else to_checksum_address(v)
                for i, v in zip(method["inputs"], values, strict=True)]
        contract = chain.w3.eth.contract(address=tx["to"], abi=abi)
        chain.send(getattr(contract.functions, method["name"])(*args), safe)


def test_replaying_the_batch_pays_three_claims_and_failures_block(
        realchain: Any, tmp_path: Path) -> None:
    chain, art, url = realchain
    safe, other = chain.accounts[0], chain.accounts[1]
    token = chain.deploy(art["VotesToken"], safe, "AImagine", "AIMG", safe, 10**30)
    distributor = chain.deploy(art["CumulativeDistributor"], safe, token.address, safe)
    rng = random.Random(18)
    claimants = [to_checksum_address("0x" + rng.randbytes(20).hex()) for _ in range(6)]
    amounts = {a: rng.getrandbits(90) + 1 for a in claimants}
    published = tmp_path / "published"
    publish(published, 0, build_files(release(0, amounts)))
    root = json.loads((published / "epoch-00000" / "manifest.json").read_text())["merkle_root"]
    client = ChainClient(url)

    def guard(max_top_up: int | None = None, roots: dict[int, str] | None = None,
              claims: dict[str, int] | None = None) -> Any:
        block = client.block("latest").number
        claims = claims or amounts
        state = read_distributor(client, distributor.address, token.address, list(claims),
                                 block)
        return assess(0, roots or {0: root}, state.root, block, list(claims.items()),
                      state.claimed, state.balance, max_top_up)

    before = guard()
    total = sum(amounts.values())
    assert (before.state, before.root_on_chain, before.balance) == (PENDING, ZERO, 0)
    assert (before.top_up, before.claimed_total, before.problems) == (total, 0, {})
    batch = safe_batch(chain_id=chain.chain_id, epoch=0, created_at_ms=2_000_000, safe=safe,
                       distributor=distributor.address, token=token.address, root=root,
                       top_up=before.top_up)
    (tmp_path / "check").mkdir()
    checked = builder_check(tmp_path / "check", batch, {
        distributor.address: art["CumulativeDistributor"]["abi"],
        token.address: art["VotesToken"]["abi"]})
    assert checked["ok"], checked["errors"]

    replay(chain, batch, safe)
    assert distributor.functions.merkleRoot().call().hex() == root[2:]
    assert token.functions.balanceOf(distributor.address).call() == total
    for account in claimants[:3]:
        claim = find_claim(published, 0, account)
        chain.send(distributor.functions.claim(account, int(claim["amount"]), claim["proof"]),
                   other)
        assert token.functions.balanceOf(account).call() == amounts[account]
    after = guard()
    paid = sum(amounts[a] for a in claimants[:3])
    assert (after.state, after.claimed_accounts, after.claimed_total) == (ALREADY_SET, 3, paid)
    assert (after.balance, after.needed, after.top_up, after.problems) == (
        total - paid, total - paid, 0, {})

    assert guard(max_top_up=0).problems == {}  # funded: no top-up, even a limit of 0 holds
    # an account whose claim is above what it is owed: say the new claims give it less
    victim = claimants[0]
    lower = {**amounts, victim: amounts[victim] - 1}
    found = guard(claims=lower)
    assert found.problems["no_overclaimed_accounts"] == (
        f"1 accounts already claimed more than their cumulative amount of epoch 0 (first: "
        f"{victim} claimed {amounts[victim]} wei, cumulative {amounts[victim] - 1} wei)")
    # a top-up above the limit: an account owed 10^27 wei more
    more = {**amounts, claimants[5]: amounts[claimants[5]] + 10**27}
    limited = guard(max_top_up=10**27 - 1, claims=more)
    assert limited.top_up == 10**27
    assert limited.problems == {"top_up_within_limit": (
        f"epoch 0 needs a top-up of {10**27} wei (needed {total - paid + 10**27}, the "
        f"distributor holds {total - paid}), above max_top_up {10**27 - 1} wei")}
    # a root we did not publish
    chain.send(distributor.functions.setRoot(b"\x11" * 32), safe)
    foreign = guard()
    assert foreign.state == FOREIGN
    assert foreign.problems["root_on_chain_is_published"].startswith(
        f"the distributor's root 0x{'11' * 32} (block ")


# ------------------------------------------------------------------------------- the demo


def test_the_demo_hands_off_every_epoch(demo: dict[str, Any]) -> None:
    home, config = demo["home"], demo["config"]
    names = {"root_on_chain_is_published", "no_overclaimed_accounts", "top_up_within_limit"}
    for result in demo["results"]:
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()
                  if c.check_name in names}
        assert checks == dict.fromkeys(names, True)
    for epoch in demo["epochs"]:
        folder = home / "handoff" / f"epoch-{epoch:05d}"
        manifest = json.loads((home / "published" / f"epoch-{epoch:05d}" /
                               "manifest.json").read_text())
        guard = json.loads((folder / "guard.json").read_text())
        assert guard["state"] == "pending" and guard["problems"] == {}
        assert guard["root"] == manifest["merkle_root"]
        assert int(guard["top_up"]) == max(0, int(manifest["total"]) - int(guard["balance"]))
        batch = json.loads((folder / "safe-tx.json").read_text())
        assert batch["transactions"][0]["to"].lower() == config.distributor
        assert batch["transactions"][0]["contractInputsValues"] == {
            "root": manifest["merkle_root"]}
        assert len(batch["transactions"]) == (2 if int(guard["top_up"]) else 1)
        report = (home / "reports" / f"epoch-{epoch:05d}.html").read_text()
        section = report[report.index("<h2>Hand-off</h2>"):]
        section = section[:section.index("</section>")]
        for text in ("passed (pending)", f"<code>{guard['root_on_chain_before']}</code>",
                     f"<code>{manifest['merkle_root']}</code>", f"({guard['top_up']} wei)",
                     f"{guard['claimed_accounts']:,} of {guard['accounts']:,}"):
            assert text in section, text


def test_in_dagster_the_guard_blocks_and_set_root_sends_the_batch(
        demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The guard and safe_tx assets on a copy of the demo home: a root nobody published
    fails the blocking check (naming the root), safe_tx does not run, the earlier batch is
    gone and `aimg set-root` refuses; with the epoch's own root set, the guard passes as
    "already set" and there is nothing to send; back to pending, `aimg set-root` refuses a
    root that moved since the guard ran, then sends the batch with the owner's key."""
    import shutil

    import dagster as dg
    from web3 import Web3

    from aimg_pipeline.definitions import defs
    from aimg_pipeline.handoff.distributor import set_root

    home = tmp_path / "home"
    for part in ("published", "warehouse", "handoff"):
        shutil.copytree(demo["home"] / part, home / part)
    config, epoch = demo["config"], demo["epochs"][-1]
    for name, value in {**demo["env"], "AIMG_HOME": str(home)}.items():
        monkeypatch.setenv(name, value)
    folder = home / "handoff" / f"epoch-{epoch:05d}"
    assert (folder / "safe-tx.json").is_file()
    w3 = Web3(Web3.HTTPProvider(demo["chain"].url))
    distributor = w3.eth.contract(address=Web3.to_checksum_address(config.distributor),
                                  abi=[{"type": "function", "name": "merkleRoot", "inputs": [],
                                        "outputs": [{"type": "bytes32", "name": ""}],
                                        "stateMutability": "view"}])
    owner = demo["summary"]["deployer"]
    before = "0x" + distributor.functions.merkleRoot().call().hex()
    job = defs.resolve_implicit_global_asset_job_def()
    key = config.calendar().partition_key(epoch)
    selection = [dg.AssetKey(["handoff", "onchain_guard"]), dg.AssetKey(["handoff", "safe_tx"])]
    own_root = json.loads((home / "published" / f"epoch-{epoch:05d}" /
                           "manifest.json").read_text())["merkle_root"]

    def aimg(*args: str) -> tuple[int, Any]:
        capsys.readouterr()  # Dagster's own log lines so far
        return cli.main(list(args)), capsys.readouterr()

    try:
        set_root(w3, config.distributor, owner, "0x" + "77" * 32)
        with dg.DagsterInstance.ephemeral() as instance:
            instance.add_dynamic_partitions("epochs", [key])
            blocked = job.execute_in_process(partition_key=key, instance=instance,
                                             asset_selection=selection, raise_on_error=False)
            checks = {c.check_name: c for c in blocked.get_asset_check_evaluations()}
            failed = checks["root_on_chain_is_published"]
            assert not failed.passed and checks["no_overclaimed_accounts"].passed
            assert (f"the distributor's root 0x{'77' * 32}" in
                    failed.metadata["error"].value)
            materialized = {e.asset_key for e in blocked.get_asset_materialization_events()}
            assert dg.AssetKey(["handoff", "safe_tx"]) not in materialized  # blocked
            guard = json.loads((folder / "guard.json").read_text())
            assert list(guard["problems"]) == ["root_on_chain_is_published"]
            assert not (folder / "safe-tx.json").exists()  # the earlier batch is gone
            code, out = aimg("set-root", str(epoch))
            assert code == 2 and out.err.startswith(
                f"error: the guard of epoch {epoch} blocked: the distributor's root 0x77")

            set_root(w3, config.distributor, owner, own_root)
            done = job.execute_in_process(partition_key=key, instance=instance,
                                          asset_selection=selection)
            assert all(c.passed for c in done.get_asset_check_evaluations())
            guard = json.loads((folder / "guard.json").read_text())
            assert guard["state"] == "already set" and guard["top_up"] == "0"
            assert not (folder / "safe-tx.json").exists()  # nothing to send
            code, out = aimg("set-root", str(epoch))
            assert code == 2 and "has nothing to send (already set, no top-up)" in out.err

            # no root: pending again; the root moves before set-root: refused
            set_root(w3, config.distributor, owner, ZERO)
            job.execute_in_process(partition_key=key, instance=instance,
                                   asset_selection=selection)
            assert (folder / "safe-tx.json").is_file()
            key_hex = "0x" + derive_private_key(DEPLOYER).hex()
            monkeypatch.setenv("AIMG_SIGNER_KEY", key_hex)
            set_root(w3, config.distributor, owner, "0x" + "66" * 32)
            code, out = aimg("set-root", str(epoch))
            assert code == 2 and (f"error: the distributor's root is 0x{'66' * 32}, not {ZERO} "
                                  "as when the guard ran") in out.err
            set_root(w3, config.distributor, owner, ZERO)
            code, out = aimg("set-root", str(epoch))
            assert code == 0, out.err
            assert out.out.endswith(f"epoch {epoch}: root on chain {own_root}\n")
            assert key_hex[2:] not in out.out + out.err  # the key is never printed
            assert "0x" + distributor.functions.merkleRoot().call().hex() == own_root
    finally:
        set_root(w3, config.distributor, owner, before)
