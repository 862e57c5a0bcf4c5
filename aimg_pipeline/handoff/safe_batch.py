"""The treasury's transaction as a Safe Transaction Builder batch file (``safe-tx.json``).

The Transaction Builder (safe-global/safe-react-apps, ``apps/tx-builder``) imports a JSON
batch: ``version`` "1.0", ``chainId`` as a decimal string, ``createdAt`` in milliseconds,
``meta`` (name, description, txBuilderVersion, createdFromSafeAddress,
createdFromOwnerAddress, checksum) and ``transactions``, each ``{to, value, data,
contractMethod: {inputs, name, payable}, contractInputsValues}`` with every value a string
and ``data`` null (the builder encodes the call from the method and its values). The
checksum is the builder's own: keccak256 of its key-sorted serialization of the file with
``meta.name`` null and no ``meta.checksum``; a file whose checksum does not match is
flagged on import.

Everything but the top-up is deterministic: ``createdAt`` is the epoch's end, not the
clock.
"""

from __future__ import annotations

import json
from typing import Any

from aimg_pipeline.lib.keccak import keccak256

TX_BUILDER_VERSION = "1.18.0"

SET_ROOT = {"inputs": [{"internalType": "bytes32", "name": "root", "type": "bytes32"}],
            "name": "setRoot", "payable": False}
TRANSFER = {"inputs": [{"internalType": "address", "name": "to", "type": "address"},
                       {"internalType": "uint256", "name": "value", "type": "uint256"}],
            "name": "transfer", "payable": False}


def _serialize(value: Any) -> str:
    """The Transaction Builder's ``serializeJSONObject``: an object is ``{`` + its sorted
    keys as a JSON array + each value serialized and followed by ``,`` + ``}``."""
    if isinstance(value, list):
        return "[" + ",".join(_serialize(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value)
        return ("{" + json.dumps(keys, separators=(",", ":"), ensure_ascii=False)
                + "".join(_serialize(value[k]) + "," for k in keys) + "}")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def checksum(batch: dict[str, Any]) -> str:
    """The builder's checksum of a batch (its ``meta.checksum`` left out)."""
    meta = {k: v for k, v in batch["meta"].items() if k != "checksum"} | {"name": None}
    return "0x" + keccak256(_serialize({**batch, "meta": meta}).encode()).hex()


def _call(to: str, method: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    return {"to": to, "value": "0", "data": None, "contractMethod": method,
            "contractInputsValues": values}


def safe_batch(*, chain_id: int, epoch: int, created_at_ms: int, safe: str, distributor: str,
               token: str, root: str | None, top_up: int) -> dict[str, Any]:
    """The batch: ``setRoot(root)`` on the distributor when ``root`` is given, then, when
    ``top_up`` > 0, the token's ``transfer(distributor, top_up)`` from the Safe."""
    transactions = []
    if root is not None:
        transactions.append(_call(distributor, SET_ROOT, {"root": root}))
    if top_up > 0:
        transactions.append(_call(token, TRANSFER, {"to": distributor, "value": str(top_up)}))
    batch: dict[str, Any] = {
        "version": "1.0",
        "chainId": str(chain_id),
        "createdAt": created_at_ms,
        "meta": {
            "name": f"AImagine epoch {epoch} hand-off",
            "description": (f"Set the distributor's root to epoch {epoch}'s published root"
                            + (f" and fund it with {top_up} wei of AIMG" if top_up else "")),
            "txBuilderVersion": TX_BUILDER_VERSION,
            "createdFromSafeAddress": safe,
            "createdFromOwnerAddress": "",
        },
        "transactions": transactions,
    }
    batch["meta"]["checksum"] = checksum(batch)
    return batch
