"""Sending an epoch's ``safe-tx.json`` from one key (``aimg set-root``): for a dev chain,
where the distributor's owner is an account, not a Safe.

Each call is encoded from the batch file's own ``contractMethod`` and
``contractInputsValues``, as the Transaction Builder encodes it, so what is sent is what a
Safe would execute. The key is used to sign and is never printed, logged or stored.
"""

from __future__ import annotations

from typing import Any

from eth_abi import encode
from eth_account import Account
from web3 import Web3

from aimg_pipeline.handoff.onchain import MERKLE_ROOT
from aimg_pipeline.lib.keccak import keccak256


class SendError(RuntimeError):
    """The batch was not sent, or a call of it reverted."""


def calldata(tx: dict[str, Any]) -> bytes:
    """The call of one batch transaction, from its method and input values."""
    method = tx["contractMethod"]
    types = [i["type"] for i in method["inputs"]]
    raw = [tx["contractInputsValues"][i["name"]] for i in method["inputs"]]
    values = [int(v) if t.startswith("uint") else bytes.fromhex(v[2:]) if t == "bytes32"
              else Web3.to_checksum_address(v) for t, v in zip(types, raw, strict=True)]
    selector = keccak256(f"{method['name']}({','.join(types)})".encode())[:4]
    return selector + encode(types, values)


def root_on_chain(w3: Web3, distributor: str) -> str:
    return "0x" + bytes(w3.eth.call({"to": Web3.to_checksum_address(distributor),
                                     "data": MERKLE_ROOT})).hex().rjust(64, "0")


def send_batch(w3: Web3, batch: dict[str, Any], key: str) -> list[str]:
    """Sign and send every transaction of ``batch`` from ``key``, in order, each mined
    before the next; the transaction hashes. ``SendError`` (naming the call, never the key)
    when the key is malformed, the chain differs or a call reverts."""
    try:
        account = Account.from_key(key)
    except Exception:  # noqa: BLE001 (its message could quote the key)
        raise SendError("the signer key is not a 32-byte hex private key") from None
    if str(w3.eth.chain_id) != batch["chainId"]:
        raise SendError(f"the batch is for chain {batch['chainId']}, the RPC serves chain "
                        f"{w3.eth.chain_id}")
    hashes = []
    for tx in batch["transactions"]:
        name = tx["contractMethod"]["name"]
        call = {"from": account.address, "to": Web3.to_checksum_address(tx["to"]),
                "data": "0x" + calldata(tx).hex(), "value": 0, "chainId": w3.eth.chain_id,
                "nonce": w3.eth.get_transaction_count(account.address, "pending"),
                "gasPrice": w3.eth.gas_price}
        try:
            call["gas"] = w3.eth.estimate_gas(call)
        except Exception as exc:  # noqa: BLE001 (the node's revert reason)
            raise SendError(f"{name} on {tx['to']} would revert from {account.address}: "
                            f"{exc}") from None
        signed = account.sign_transaction(call)
        sent = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(sent, timeout=120)
        if receipt["status"] != 1:
            raise SendError(f"{name} on {tx['to']} reverted (transaction 0x{bytes(sent).hex()})")
        hashes.append("0x" + bytes(sent).hex())
    return hashes
