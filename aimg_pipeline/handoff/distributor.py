"""Putting a published root on the cumulative distributor and claiming with a proof.

Used by the demo to show a published proof paying out on chain, and by its tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from web3 import Web3

BUILD = Path(__file__).resolve().parents[1] / "demo" / "build"


def distributor_contract(w3: Web3, address: str) -> Any:
    abi = json.loads((BUILD / "Distributor.json").read_text())["abi"]
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)


def token_balance(w3: Web3, token: str, account: str) -> int:
    abi = json.loads((BUILD / "Token.json").read_text())["abi"]
    contract = w3.eth.contract(address=Web3.to_checksum_address(token), abi=abi)
    return contract.functions.balanceOf(Web3.to_checksum_address(account)).call()


def _send(w3: Web3, call: Any, sender: str) -> dict[str, Any]:
    receipt = w3.eth.wait_for_transaction_receipt(
        call.transact({"from": Web3.to_checksum_address(sender), "gas": 500_000})
    )
    return dict(receipt)


def set_root(w3: Web3, distributor: str, owner: str, root: str) -> None:
    """Owner publishes a new cumulative root on chain."""
    contract = distributor_contract(w3, distributor)
    receipt = _send(w3, contract.functions.setRoot(bytes.fromhex(root[2:])), owner)
    if receipt["status"] != 1:
        raise RuntimeError(f"setRoot({root}) reverted")


def claim(
    w3: Web3, distributor: str, sender: str, account: str, amount: int, proof: list[str]
) -> bool:
    """Claim ``account``'s cumulative amount with its proof; False when the contract reverts."""
    contract = distributor_contract(w3, distributor)
    call = contract.functions.claim(
        Web3.to_checksum_address(account), amount, [bytes.fromhex(p[2:]) for p in proof]
    )
    try:
        call.estimate_gas({"from": Web3.to_checksum_address(sender)})
    except Exception:  # the node reports the revert (bad proof, nothing to claim)
        return False
    return _send(w3, call, sender)["status"] == 1
