"""Who receives an epoch's allocations: people, or contracts that usually cannot call
``claim`` (issue 19). An amount paid to a router, a wrapper vault or a bridge escrow is
stranded unless redirected; this table is how much of each epoch that is.

Every account with a non-zero allocation in the epoch is classified by its code at the
epoch's last block (``eth_getCode``, JSON-RPC batches): no code is an EOA; EIP-7702's
delegation designator (``0xef0100`` followed by a 20-byte address: 23 bytes) is a person's
EOA pointing at code; anything else is a contract. An address that was a contract in an
earlier epoch is taken as one without asking again (deployed code only ever goes away by
SELFDESTRUCT, which since Cancun no longer removes it outside its creation transaction).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from aimg_pipeline.ingest.chain import ChainClient, ChainError
from aimg_pipeline.lib.keccak import keccak256
from aimg_pipeline.warehouse import Warehouse

EOA, DELEGATED, CONTRACT = "eoa", "delegated_eoa", "contract"
_DELEGATION_PREFIX = bytes.fromhex("ef0100")


def classify_code(code: str) -> tuple[str, str | None]:
    """(kind, keccak256 of the code or None) for an ``eth_getCode`` answer."""
    if not isinstance(code, str) or not code.startswith("0x"):
        raise ChainError(f"eth_getCode answered {code!r}, not hex data")
    raw = bytes.fromhex(code[2:])
    if not raw:
        return EOA, None
    kind = DELEGATED if len(raw) == 23 and raw.startswith(_DELEGATION_PREFIX) else CONTRACT
    return kind, "0x" + keccak256(raw).hex()


def known_contracts(warehouse: Warehouse, epoch: int) -> dict[str, str]:
    """Account -> code hash of every account found to be a contract before ``epoch``."""
    out: dict[str, str] = {}
    for earlier in range(epoch):
        if warehouse.has("recipients", earlier):
            table = warehouse.read("recipients", earlier, ["account", "is_contract", "code_hash"])
            table = table.filter(table["is_contract"])
            out.update(zip(table["account"].to_pylist(), table["code_hash"].to_pylist(),
                           strict=True))
    return out


def received(warehouse: Warehouse, epoch: int) -> dict[str, int]:
    """Account -> what its allocations of ``epoch`` sum to, for accounts above zero."""
    table = warehouse.read("allocations", epoch, ["account", "amount"])
    sums: dict[str, int] = defaultdict(int)
    for account, amount in zip(pc.utf8_lower(table["account"]).to_pylist(),
                               table["amount"].to_pylist(), strict=True):
        sums[account] += int(amount)
    return {account: amount for account, amount in sorted(sums.items()) if amount}


def write_recipients(warehouse: Warehouse, client: ChainClient, epoch: int) -> Mapping[str, int]:
    """Classify the epoch's recipients and write the ``recipients`` table; kind -> count."""
    amounts = received(warehouse, epoch)
    block = warehouse.read("epochs", epoch, ["last_block"])["last_block"][0].as_py()
    cached = known_contracts(warehouse, epoch)
    ask = [a for a in amounts if a not in cached]
    codes = client.call_batch("eth_getCode", [[a, hex(block)] for a in ask],
                              what=f"eth_getCode at block {block}") if ask else []
    found = dict(zip(ask, (classify_code(c) for c in codes), strict=True))
    kinds, hashes = [], []
    for account in amounts:
        kind, code_hash = (CONTRACT, cached[account]) if account in cached else found[account]
        kinds.append(kind)
        hashes.append(code_hash)
    warehouse.write("recipients", epoch, pa.table({
        "epoch": [epoch] * len(amounts), "account": list(amounts),
        "amount": [str(v) for v in amounts.values()],
        "is_contract": [k == CONTRACT for k in kinds], "code_kind": kinds, "code_hash": hashes}))
    counts: dict[str, int] = defaultdict(int)
    for kind in kinds:
        counts[kind] += 1
    return dict(counts)


def contracts_above(warehouse: Warehouse, epoch: int, emission: int,
                    share_bps: int) -> list[tuple[str, int]]:
    """(contract, amount) of the epoch's contract recipients that received more than
    ``share_bps`` / 10,000 of ``emission``, largest first."""
    table = warehouse.read("recipients", epoch, ["account", "amount", "is_contract"])
    table = table.filter(table["is_contract"])
    rows = [(a, int(v)) for a, v in zip(table["account"].to_pylist(),
                                        table["amount"].to_pylist(), strict=True)]
    return sorted(((a, v) for a, v in rows if v * 10_000 > emission * share_bps),
                  key=lambda row: (-row[1], row[0]))
