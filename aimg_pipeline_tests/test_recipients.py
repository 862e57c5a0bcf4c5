"""Issue 19, part 1: who receives an epoch's allocations (``recipients``): EOAs, EIP-7702
delegated EOAs (people) and contracts, by their code at the epoch's last block; contracts
remembered across epochs; the warning's list of contracts above a share of the emission.
Expected values are written by hand; the demo's are checked against web3's own
``eth.get_code``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from web3 import Web3

from aimg_pipeline.ingest.chain import ChainClient, ChainError
from aimg_pipeline.rewards.recipients import (
    classify_code,
    contracts_above,
    write_recipients,
)
from aimg_pipeline.warehouse import Warehouse
from aimg_pipeline_tests.fakechain import FakeChain

PERSON, DELEGATED, VAULT, ROUTER = ("0x" + c * 40 for c in "abcd")
RUNTIME = "0x6080604052348015600f57600080fd5b50"
DESIGNATOR = "0xef0100" + "12" * 20  # EIP-7702: delegated to 0x1212...


@pytest.mark.parametrize(("code", "expected"), [
    ("0x", ("eoa", None)),
    (DESIGNATOR, ("delegated_eoa", "0x" + keccak(bytes.fromhex(DESIGNATOR[2:])).hex())),
    (RUNTIME, ("contract", "0x" + keccak(bytes.fromhex(RUNTIME[2:])).hex())),
    ("0xef0100" + "12" * 21, ("contract", "0x" + keccak(b"\xef\x01\x00" + b"\x12" * 21).hex())),
    ("0xef0100" + "12" * 19, ("contract", "0x" + keccak(b"\xef\x01\x00" + b"\x12" * 19).hex())),
])
def test_code_kinds(code: str, expected: tuple[str, str | None]) -> None:
    assert classify_code(code) == expected


def test_a_non_hex_answer_is_a_chain_error() -> None:
    with pytest.raises(ChainError, match="eth_getCode answered None, not hex data"):
        classify_code(None)  # type: ignore[arg-type]


def epoch_rows(warehouse: Warehouse, epoch: int, last_block: int,
               amounts: dict[str, tuple[int, ...]]) -> None:
    warehouse.write("epochs", epoch, {
        "epoch": [epoch], "start_ts": [0], "end_ts": [1], "from_block": [0], "to_block": [1],
        "first_block": [0], "last_block": [last_block], "first_block_hash": ["0x"],
        "last_block_hash": ["0x"], "log_count": [0]})
    rows = [(account, amount) for account, parts in amounts.items() for amount in parts]
    warehouse.write("allocations", epoch, {
        "epoch": [epoch] * len(rows), "channel": ["staking"] * len(rows),
        "pool": ["0x" + "0e" * 20] * len(rows), "account": [a.upper().replace("0X", "0x")
                                                           for a, _ in rows],
        "weight": ["1"] * len(rows), "amount": [str(v) for _, v in rows],
        "reason": ["earned"] * len(rows), "via": [None] * len(rows)})


def test_recipients_are_classified_and_contracts_remembered(tmp_path: Path) -> None:
    chain = FakeChain(code={DELEGATED: DESIGNATOR, VAULT: RUNTIME})
    for ts in range(4):
        chain.add_block(ts)
    warehouse = Warehouse(tmp_path)
    # PERSON 60 + 0 (the zero row is not a receipt), DELEGATED 25, VAULT 10 + 5, ROUTER 0
    epoch_rows(warehouse, 0, 2, {PERSON: (60, 0), DELEGATED: (25,), VAULT: (10, 5),
                                 ROUTER: (0,)})
    with chain.serve() as server:
        client = ChainClient(server.url)
        assert write_recipients(warehouse, client, 0) == {"eoa": 1, "delegated_eoa": 1,
                                                          "contract": 1}
        assert warehouse.read_rows("recipients", 0) == [
            {"epoch": 0, "account": PERSON, "amount": 60, "is_contract": False,
             "code_kind": "eoa", "code_hash": None},
            {"epoch": 0, "account": DELEGATED, "amount": 25, "is_contract": False,
             "code_kind": "delegated_eoa",
             "code_hash": "0x" + keccak(bytes.fromhex(DESIGNATOR[2:])).hex()},
            {"epoch": 0, "account": VAULT, "amount": 15, "is_contract": True,
             "code_kind": "contract",
             "code_hash": "0x" + keccak(bytes.fromhex(RUNTIME[2:])).hex()},
        ]
        # epoch 1: the fake chain forgets VAULT's code; it stays a contract (remembered),
        # ROUTER now receives and has code
        del chain.code[VAULT]
        chain.code[ROUTER] = RUNTIME
        epoch_rows(warehouse, 1, 3, {VAULT: (40,), ROUTER: (30,), PERSON: (30,)})
        write_recipients(warehouse, client, 1)
    kinds = {r["account"]: (r["code_kind"], r["amount"])
             for r in warehouse.read_rows("recipients", 1)}
    assert kinds == {VAULT: ("contract", 40), ROUTER: ("contract", 30), PERSON: ("eoa", 30)}
    # above 30 % of an emission of 100: VAULT (40) only; above 29.99 %: ROUTER (30) too
    assert contracts_above(warehouse, 1, 100, 3_000) == [(VAULT, 40)]
    assert contracts_above(warehouse, 1, 100, 2_999) == [(VAULT, 40), (ROUTER, 30)]
    assert contracts_above(warehouse, 1, 100, 10_000) == []


def test_the_demo_recipients_match_the_chain(demo: dict[str, Any]) -> None:
    warehouse = Warehouse(demo["home"])
    contracts: set[str] = set()
    w3 = Web3(Web3.HTTPProvider(demo["chain"].url))
    for epoch in demo["epochs"]:
        block = warehouse.read_rows("epochs", epoch)[0]["last_block"]
        rows = warehouse.read_rows("recipients", epoch)
        allocations = warehouse.read_rows("allocations", epoch)
        expected: dict[str, int] = {}
        for row in allocations:
            expected[row["account"].lower()] = expected.get(row["account"].lower(), 0) + int(
                row["amount"])
        assert {r["account"]: int(r["amount"]) for r in rows} == {
            a: v for a, v in expected.items() if v}
        for row in rows:
            contracts.update([row["account"]] if row["is_contract"] else [])
            code = bytes(w3.eth.get_code(Web3.to_checksum_address(row["account"]), block))
            assert row["is_contract"] == (len(code) > 0 and not (
                len(code) == 23 and code[:3] == b"\xef\x01\x00")), row
    checks = [c for r in demo["results"] for c in r.get_asset_check_evaluations()
              if c.check_name == "no_unredirected_contracts"]
    assert len(checks) == len(demo["epochs"])
    assert all(c.passed for c in checks) == (not contracts)  # the demo pays no contract...
    last = (demo["home"] / "reports" / f"epoch-{demo['epochs'][-1]:05d}.html").read_text()
    section = last[last.index("<h2>Paid to contracts</h2>"):]
    section = section[:section.index("</section>")]
    assert "<td class=''>staking</td>" in section  # ...and the report says so per channel


def test_code_is_asked_in_batches_of_a_thousand(tmp_path: Path) -> None:
    """2,500 recipients cost 3 HTTP requests (at 10M logs: 1.25M recipients, ~1,250), not
    the 25 of the 100-item batches used for blocks."""
    chain = FakeChain()
    for ts in range(3):
        chain.add_block(ts)
    warehouse = Warehouse(tmp_path)
    people = {f"0x{n:040x}": (n,) for n in range(1, 2_501)}
    epoch_rows(warehouse, 0, 2, people)
    with chain.serve() as server:
        client = ChainClient(server.url)
        assert write_recipients(warehouse, client, 0) == {"eoa": 2_500}
    assert client.stats["requests"] == 3
