"""Redirects (issue 19): config validation, and one epoch worked by hand.

The hand-worked epoch (economics_harness registry; E = 1,000,000, 200,000 per channel,
vaults and pools 4000/3000/3000, agents 5000/5000), every holding minted before genesis
unless said otherwise, epoch length 100 s:

* aimg vault (80,000): C holds 1 share, FARM 3 -> share-seconds 100 / 300 -> C 20,000,
  FARM 60,000;
* pool 0 (80,000): FARM is the only LP -> FARM 80,000;
* FARM redirects to the holders of FARM_RECEIPT: A holds 2 (200 s), B gets 1 at genesis + 1
  (99 s), FARM holds 5 of its own receipts (it is the redirected contract: not a holder).
  60,000 over 200/99: floors 40,133 / 19,866, remainders 233 / 66 -> A 40,134, B 19,866;
  80,000: floors 53,511 / 26,488, remainders 211 / 88 -> A 53,512, B 26,488;
* atlas vault (60,000): W2 is the only holder, its token W2_TOKEN has no holder -> the
  treasury, ``unallocated``, via W2;
* boreas vault (60,000): D holds 7 (700 s) and is redirected to E -> E 60,000, weight 700,
  via D;
* pools 1 and 2, governance, contribution: nobody -> the treasury; subdao: the treasuries.

Where the issue is open, the decision (docs/economics.md): each redirected *row* is split on
its own, so FARM's two rows give A 40,134 + 53,512 = 93,646 and B 46,354. Splitting FARM's
summed 140,000 once would give floors 93,645 / 46,354, remainders 145 / 154 -> A 93,645,
B 46,355: the test shows the two readings differ here and which one holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from web3 import Web3

from aimg_pipeline.lib.config import ConfigError, parse_config
from aimg_pipeline.warehouse import Warehouse
from aimg_pipeline_tests import economics_harness as h
from aimg_pipeline_tests import reference as ref

G = 1_000_000
A, B, C, D, E = (h.addr(0xA0 + i) for i in range(5))
FARM, FARM_RECEIPT, W2, W2_TOKEN = h.addr(0x4002), h.addr(0x4003), h.addr(0x4004), h.addr(0x4005)
T = h.TREASURY


def _history() -> h.History:
    hist = h.History()
    before = hist.block(G - 10)
    for token, holder, value in ((h.AIMG_VAULT, C, 1), (h.AIMG_VAULT, FARM, 3),
                                 (h.POOLS[0], FARM, 5), (h.ATLAS.vault, W2, 4),
                                 (h.BOREAS.vault, D, 7), (FARM_RECEIPT, A, 2),
                                 (FARM_RECEIPT, FARM, 5)):
        hist.transfer(before, token, ref.ZERO, holder, value)
    hist.transfer(hist.block(G + 1), FARM_RECEIPT, ref.ZERO, B, 1)
    return hist


def _largest_remainder(total: int, weights: dict[str, int]) -> dict[str, int]:
    """SPEC 6.1 written out again for the two-holder case of this test."""
    whole = sum(weights.values())
    parts = {k: total * w // whole for k, w in weights.items()}
    for k in sorted(weights, key=lambda k: (-(total * weights[k] % whole), k))[
            :total - sum(parts.values())]:
        parts[k] += 1
    return parts


def test_the_hand_worked_epoch(tmp_path: Path) -> None:
    redirects = ((FARM, None, FARM_RECEIPT), (W2, None, W2_TOKEN), (D, E, None))
    dep = h.deployment((h.policy(redirects=redirects),), genesis=G)
    h.run_stages(dep, _history().logs, 1, tmp_path)
    (out,) = h.read_all(tmp_path, 1)
    assert sorted(out.allocations, key=repr) == sorted([
        ("staking", h.AIMG_VAULT, A, 200, 40_134, "earned", FARM),
        ("staking", h.AIMG_VAULT, B, 99, 19_866, "earned", FARM),
        ("staking", h.AIMG_VAULT, C, 100, 20_000, "earned", None),
        ("staking", h.ATLAS.vault, T, 0, 60_000, "unallocated", W2),
        ("staking", h.BOREAS.vault, E, 700, 60_000, "earned", D),
        ("governance", "atlas", T, 0, 100_000, "unallocated", None),
        ("governance", "boreas", T, 0, 100_000, "unallocated", None),
        ("subdao", "atlas", h.ATLAS.treasury, 5000, 100_000, "earned", None),
        ("subdao", "boreas", h.BOREAS.treasury, 5000, 100_000, "earned", None),
        ("liquidity", h.POOLS[0], A, 200, 53_512, "earned", FARM),
        ("liquidity", h.POOLS[0], B, 99, 26_488, "earned", FARM),
        ("liquidity", h.POOLS[1], T, 0, 60_000, "unallocated", None),
        ("liquidity", h.POOLS[2], T, 0, 60_000, "unallocated", None),
        ("contribution", "contribution", T, 0, 200_000, "unallocated", None),
    ], key=repr)
    assert sum(row[4] for row in out.allocations) == 1_000_000
    assert out.claims == {A: 93_646, B: 46_354, C: 20_000, E: 60_000, T: 580_000,
                          h.ATLAS.treasury: 100_000, h.BOREAS.treasury: 100_000}
    # the other reading (FARM's 140,000 split once) differs by a wei here
    assert _largest_remainder(140_000, {A: 200, B: 99}) == {A: 93_645, B: 46_355}
    # the wrapper token is snapshotted like a position token, the contract's own receipts
    # included (they only leave the split)
    assert out.snapshot[(FARM_RECEIPT, FARM)] == (5, 5, 500)
    assert out.snapshot[(FARM_RECEIPT, B)] == (0, 1, 99)


def test_without_redirects_the_contracts_keep_their_rows(tmp_path: Path) -> None:
    dep = h.deployment((h.policy(),), genesis=G)
    h.run_stages(dep, _history().logs, 1, tmp_path)
    (out,) = h.read_all(tmp_path, 1)
    assert out.claims[FARM] == 140_000 and out.claims[W2] == 60_000 and out.claims[D] == 60_000
    assert all(row[6] is None for row in out.allocations)
    # FARM_RECEIPT is not a position token without its redirect: its logs are unregistered
    assert len(out.quarantine) == 3


# ------------------------------------------------------------------------ the config


def _config(*redirects: str, excluded: str = "") -> str:
    dep = h.deployment((h.policy(),), genesis=G)
    text = h.to_toml(dep).replace('excluded_addresses = []\nchannel_bps',
                                  f'excluded_addresses = [{excluded}]\nchannel_bps', 1)
    return text.rstrip("\n") + "\nredirects = [" + ", ".join(redirects) + "]\n"


def _error(*redirects: str, excluded: str = "") -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(*redirects, excluded=excluded))
    return str(caught.value)


def test_a_valid_redirect_list_loads() -> None:
    config = parse_config(_config(f'{{ from = "{FARM}", mode = "holders", token = '
                                  f'"{FARM_RECEIPT}" }}', f'{{ from = "{D}", to = "{E}" }}'))
    version = config.policy_for(0)
    assert {s: (r.mode, r.to, r.token) for s, r in version.redirects.items()} == {
        FARM: ("holders", None, FARM_RECEIPT), D: ("to", E, None)}
    assert config.position_tokens(0)[FARM_RECEIPT].kind == "wrapper"
    assert FARM_RECEIPT not in config.excluded_for(0)
    assert FARM not in config.excluded_for(0)


def test_redirects_change_the_policy_hash_and_an_empty_list_does_not() -> None:
    plain = parse_config(h.to_toml(h.deployment((h.policy(),), genesis=G))).policy_for(0)
    empty = parse_config(_config()).policy_for(0)
    redirected = parse_config(_config(f'{{ from = "{D}", to = "{E}" }}')).policy_for(0)
    other = parse_config(_config(f'{{ from = "{D}", to = "{C}" }}')).policy_for(0)
    assert plain.digest == empty.digest
    assert len({plain.digest, redirected.digest, other.digest}) == 3


def test_a_cycle_is_refused_naming_its_addresses() -> None:
    message = _error(f'{{ from = "{D}", to = "{E}" }}', f'{{ from = "{E}", to = "{D}" }}')
    assert message.startswith("policy[0].redirects[0]")
    assert f"redirect cycle: {D} -> {E} -> {D}" in message


def test_a_redirect_to_itself_is_a_cycle() -> None:
    assert f"redirect cycle: {D} -> {D}" in _error(f'{{ from = "{D}", to = "{D}" }}')


def test_a_chain_is_refused_naming_every_hop() -> None:
    message = _error(f'{{ from = "{C}", to = "{D}" }}', f'{{ from = "{D}", to = "{E}" }}')
    assert f"redirect chain: {C} -> {D} -> {E}" in message
    # a beneficiary that is itself a holders redirect is a chain too
    message = _error(f'{{ from = "{C}", to = "{FARM}" }}',
                     f'{{ from = "{FARM}", mode = "holders", token = "{FARM_RECEIPT}" }}')
    assert f"redirect chain: {C} -> {FARM}" in message


@pytest.mark.parametrize(("redirect", "field", "words"), [
    (f'{{ from = "{D}", to = "{E}" }}, {{ from = "{D}", to = "{C}" }}',
     "policy[0].redirects[1].from", "already redirected by policy[0].redirects[0]"),
    (f'{{ from = "{D}", to = "{h.AIMG_VAULT}" }}', "policy[0].redirects[0].to",
     "excluded or a vault/pool contract"),
    (f'{{ from = "{h.POOLS[0]}", to = "{E}" }}', "policy[0].redirects[0].from",
     "earns nothing to redirect"),
    (f'{{ from = "{D}", mode = "holders", token = "{h.ATLAS.vault}" }}',
     "policy[0].redirects[0].token", "registry.agents[0].vault"),
    (f'{{ from = "{D}", mode = "holders" }}', "policy[0].redirects[0]", "needs `token`"),
    (f'{{ from = "{D}", to = "{E}", token = "{C}" }}', "policy[0].redirects[0]",
     "and no `token`"),
    (f'{{ from = "{D}", mode = "split", to = "{E}" }}', "policy[0].redirects[0].mode",
     '"split" is not'),
    (f'{{ from = "{D}", beneficiary = "{E}" }}', "policy[0].redirects[0]", "beneficiary"),
    (f'{{ from = "0x12", to = "{E}" }}', "policy[0].redirects[0].from", "not a 20-byte"),
])
def test_bad_redirects_name_the_field(redirect: str, field: str, words: str) -> None:
    message = _error(redirect)
    assert message.startswith(field) and words in message, message


def test_a_redirect_to_an_excluded_address_is_refused() -> None:
    message = _error(f'{{ from = "{D}", to = "{E}" }}', excluded=f'"{E}"')
    assert message.startswith("policy[0].redirects[0].to") and "stranded" in message


# ------------------------------------------------------------------- the demo's wrapper

TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()


def _token_seconds(w3: Web3, token: str, start: int, end: int) -> dict[str, int]:
    """Balance × seconds of every holder of ``token`` over [start, end), integrated here
    from the chain's own Transfer logs (opening balance = every log before ``start``)."""
    logs = w3.eth.get_logs({"address": Web3.to_checksum_address(token), "fromBlock": 0,
                            "toBlock": "latest", "topics": [TRANSFER]})
    times: dict[int, int] = {}
    balance: dict[str, int] = {}
    seconds: dict[str, int] = {}
    since: dict[str, int] = {}
    for log in sorted(logs, key=lambda x: (x["blockNumber"], x["logIndex"])):
        block = log["blockNumber"]
        if block not in times:
            times[block] = w3.eth.get_block(block)["timestamp"]
        when = times[block]
        if when >= end:
            break
        value = int.from_bytes(bytes(log["data"]), "big")
        for topic, sign in ((log["topics"][1], -1), (log["topics"][2], 1)):
            account = "0x" + bytes(topic)[-20:].hex()
            at = max(when, start)
            seconds[account] = seconds.get(account, 0) + balance.get(account, 0) * (
                at - since.get(account, start))
            since[account] = at
            balance[account] = balance.get(account, 0) + sign * value
    for account, held in balance.items():
        seconds[account] = seconds.get(account, 0) + held * (end - since.get(account, start))
    return seconds


def test_the_demo_wrapper_is_warned_then_split_then_redirected(demo: dict[str, Any]) -> None:
    """v1 (epochs 0-3): the wrapper is paid and named by the warning; v2 (4-5): its share
    goes to its two depositors by wrapper-token-seconds; v3 (6): all of it to its operator.
    The wrapper's share is recomputed here from atlas-vault-share-seconds (SPEC 6.1)."""
    summary, warehouse = demo["summary"], Warehouse(demo["home"])
    wrapper, operator, depositors = summary["wrapper"], summary["operator"], summary["depositors"]
    atlas_vault = next(a["vault"] for a in summary["agents"] if a["name"] == "atlas")
    never_earn = {ref.ZERO, summary["deployer"], summary["registry"]["aimg_vault"]} | {
        address for a in summary["agents"] for address in (a["vault"], a["pool"])}
    w3 = Web3(Web3.HTTPProvider(demo["chain"].url))
    checks = {}
    for epoch, result in zip(demo["epochs"], demo["results"], strict=True):
        (checks[epoch],) = [c for c in result.get_asset_check_evaluations()
                            if c.check_name == "no_unredirected_contracts"]
    for epoch in demo["epochs"]:
        start = 1767225600 + 86400 * epoch
        rows = warehouse.read_rows("allocations", epoch)
        sub_pool = sum(int(r["amount"]) for r in rows
                       if r["channel"] == "staking" and r["pool"] == atlas_vault)
        shares = {a: s for a, s in _token_seconds(w3, atlas_vault, start, start + 86400).items()
                  if s > 0 and a not in never_earn}
        share = _largest_remainder(sub_pool, shares)[wrapper]
        assert share > 0
        paid = {(r["account"], int(r["weight"]), int(r["amount"])) for r in rows
                if r["via"] == wrapper}
        to_wrapper = [r for r in rows if r["account"] == wrapper]
        text = checks[epoch].metadata["contracts"].text
        if epoch <= 3:
            assert paid == set() and [int(r["amount"]) for r in to_wrapper] == [share]
            assert not checks[epoch].passed
            assert f"epoch {epoch}: {wrapper} received" in text and f"({share} wei)" in text
            continue
        assert to_wrapper == [] and checks[epoch].passed and text == "none"
        if epoch == 6:
            assert paid == {(operator, shares[wrapper], share)}
            continue
        held = _token_seconds(w3, wrapper, start, start + 86400)
        assert set(held) - {ref.ZERO} == set(depositors)  # the wrapper never holds itself
        split = _largest_remainder(share, {a: held[a] for a in depositors})
        assert paid == {(a, held[a], split[a]) for a in depositors}
        assert all(split[a] > 0 for a in depositors)
    reports = demo["home"] / "reports"
    assert "No redirect applied this epoch." in (reports / "epoch-00000.html").read_text()
    page = (reports / "epoch-00004.html").read_text()
    moved = page[page.index("redirected from (via)"):]
    assert f"<code>{wrapper}</code>" in moved[:moved.index("</table>")]
