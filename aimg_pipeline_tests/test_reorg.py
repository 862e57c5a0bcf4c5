"""Reorg safety on the local chain: publishing re-checks every stored block hash.

A minimal deployment (the demo contracts, no scenario) and a few hand-made transactions:
account X stakes twice in epoch 0 (branch A), the epoch is ingested and computed up to the
rewards, then the chain is reverted to a snapshot and account Y stakes instead at the same
heights (branch B). Publishing must be refused naming exactly the blocks that changed; a
re-materialization must then publish what branch B implies.
"""

from __future__ import annotations

import json

import dagster as dg
import pytest

from aimg_pipeline.demo.devchain import start_devchain
from aimg_pipeline.demo.scenario import (
    AGENTS,
    DEPLOYER,
    GENESIS,
    TOKEN,
    TREASURY,
    _cs,
    _Driver,
    render_config,
)
from aimg_pipeline.lib.config import load_config
from aimg_pipeline.orchestrate import materialize_epochs

PUBLISH = dg.AssetKey(["publish", "distribution"])


def _deploy(d: _Driver) -> tuple[dict, list[dict], object, object]:
    deployer = d.accounts[DEPLOYER]
    aimg = d.deploy("Token", "AImagine", "AIMG")
    aimg_vault = d.deploy("Vault", aimg.address, "Staked AIMG", "stAIMG")
    agents = []
    for i, name in enumerate(AGENTS):
        token = d.deploy("Token", name, name.upper())
        vault = d.deploy("Vault", token.address, f"st{name}", f"ST{name.upper()}")
        t0, t1 = sorted((token.address, aimg.address), key=lambda a: int(a, 16))
        pair = d.deploy("Pair", t0, t1, f"{name} LP", f"{name.upper()}-LP")
        governor = d.deploy("Governor", token.address, f"{name} SubDAO")
        agents.append({"name": name, "token": token.address.lower(),
                       "vault": vault.address.lower(), "governor": governor.address.lower(),
                       "treasury": d.accounts[2 + i], "pool": pair.address.lower()})
    registry = d.deploy("ContributionRegistry")
    distributor = d.deploy("Distributor", aimg.address)
    registry_cfg = {"aimg_token": aimg.address.lower(), "aimg_vault": aimg_vault.address.lower(),
                    "contribution_registry": registry.address.lower(),
                    "distributor": distributor.address.lower()}
    x, y = d.accounts[10], d.accounts[11]
    d.send(aimg.functions.mint_batch([_cs(x), _cs(y)], [1_000 * TOKEN] * 2), deployer, 8_000_000)
    for account in (x, y):
        d.approve(aimg, account, aimg_vault)
    return registry_cfg, agents, aimg, aimg_vault


def _stake_twice(d: _Driver, vault: object, account: str, times: tuple[int, int],
                 amounts: tuple[int, int]) -> list[int]:
    """Two deposits at the given times, then an empty block closing epoch 0; block numbers."""
    numbers = []
    for ts, amount in zip(times, amounts, strict=True):
        d.rpc("evm_setNextBlockTimestamp", [ts])
        receipt = d.send(vault.functions.deposit(amount, _cs(account)), account)
        numbers.append(int(receipt["blockNumber"], 16))
    d.rpc("evm_mine", [GENESIS + 86_400])
    return numbers


@pytest.fixture(scope="module")
def reorged(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("reorg")
    patch = pytest.MonkeyPatch()
    with start_devchain() as chain:
        d = _Driver(chain.url, seed=1)
        registry_cfg, agents, aimg, vault = _deploy(d)
        config_path = home / "aimg.toml"
        config_path.write_text(render_config(d.chain_id, d.accounts[TREASURY],
                                             [d.accounts[DEPLOYER]], registry_cfg, agents))
        config = load_config(config_path)
        patch.setenv("AIMG_HOME", str(home))
        patch.setenv("AIMG_CONFIG", str(config_path))
        patch.setenv("AIMG_RPC_URL", chain.url)
        x, y = d.accounts[10], d.accounts[11]
        snapshot = d.rpc("evm_snapshot", [])
        a_blocks = _stake_twice(d, vault, x, (GENESIS + 1_000, GENESIS + 2_000),
                                (100 * TOKEN, 50 * TOKEN))
        from aimg_pipeline.definitions import defs

        job = defs.resolve_implicit_global_asset_job_def()
        key = config.calendar().partition_key(0)
        with dg.DagsterInstance.ephemeral() as instance:
            instance.add_dynamic_partitions("epochs", [key])
            computed = job.execute_in_process(
                partition_key=key, instance=instance,
                asset_selection=[k for k in defs.resolve_all_asset_keys()
                                 if k.path[0] not in ("publish", "handoff")])
            # branch B: the same heights, different transactions
            assert d.rpc("evm_revert", [snapshot]) is True
            b_blocks = _stake_twice(d, vault, y, (GENESIS + 1_500, GENESIS + 2_500),
                                    (70 * TOKEN, 30 * TOKEN))
            refused = job.execute_in_process(partition_key=key, instance=instance,
                                             asset_selection=[PUBLISH], raise_on_error=False)
            published_after_refusal = (home / "published" / "epoch-00000").exists()
            redone = materialize_epochs([0], config, instance, log_level="WARNING")
        yield {"home": home, "x": x, "y": y, "a_blocks": a_blocks, "b_blocks": b_blocks,
               "computed": computed, "refused": refused,
               "published_after_refusal": published_after_refusal, "redone": redone,
               "url": chain.url}
    patch.undo()


def test_publishing_is_refused_naming_the_changed_blocks(reorged) -> None:
    assert reorged["computed"].success
    assert reorged["a_blocks"] == reorged["b_blocks"]  # the same heights, two histories
    refused = reorged["refused"]
    assert not refused.success
    failures = [e for e in refused.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failures[0].step_failure_data.error.to_string()
    first, second = reorged["a_blocks"]
    # the stored blocks that changed: both deposit blocks, which are also epoch 0's first
    # and last blocks; nothing below the snapshot changed
    assert f"changed blocks: {first}, {second}." in message
    assert reorged["published_after_refusal"] is False


def test_rematerializing_publishes_the_new_history(reorged) -> None:
    assert all(r.success for r in reorged["redone"])
    folder = reorged["home"] / "published" / "epoch-00000"
    claims = {a.lower(): int(c["amount"])
              for a, c in json.loads((folder / "claims.json").read_text())["claims"].items()}
    # E(0) = 10^24; staking 4000 bps, aimg vault 4000 bps -> 10^24 * 0.4 * 0.4 = 1.6 * 10^23,
    # all to Y, the aimg vault's only eligible holder in branch B; X never staked there
    assert claims[reorged["y"]] == 160_000 * TOKEN
    assert claims.get(reorged["x"], 0) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(reorged["url"]))
    first, second = reorged["b_blocks"]
    text = json.dumps(manifest)
    assert w3.eth.get_block(first)["hash"].to_0x_hex() in text
    assert w3.eth.get_block(second)["hash"].to_0x_hex() in text
