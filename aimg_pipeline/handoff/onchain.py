"""What the guard reads from the chain, batched: the distributor's ``merkleRoot()``, its
token balance and ``claimed(account)`` for every account of an epoch's claims.

The distributor ABI the hand-off expects (the demo's Vyper ``Distributor`` and a plain
OpenZeppelin ``MerkleProof`` cumulative distributor both have it): ``merkleRoot() ->
bytes32``, ``claimed(address) -> uint256`` (cumulative amount already paid),
``setRoot(bytes32)``, ``claim(address account, uint256 cumulativeAmount, bytes32[] proof)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aimg_pipeline.ingest.chain import ChainClient, ChainError, abi_uint

MERKLE_ROOT, CLAIMED, BALANCE_OF = "0x2eb4a7ab", "0xc884ef83", "0x70a08231"


def _word(address: str) -> str:
    return address[2:].lower().rjust(64, "0")


@dataclass(frozen=True)
class DistributorState:
    block: int
    root: str
    balance: int
    claimed: list[int]  # in the order of the accounts asked for


def read_distributor(client: ChainClient, distributor: str, token: str,
                     accounts: Sequence[str], block: int) -> DistributorState:
    """The distributor's root, its balance of ``token`` and ``claimed`` of each account at
    ``block``, in JSON-RPC batches; ``ChainError`` naming the call a contract does not
    answer (not the ABI above)."""
    calls = [(distributor, MERKLE_ROOT), (token, BALANCE_OF + _word(distributor)),
             *((distributor, CLAIMED + _word(a)) for a in accounts)]
    answers = client.call_batch(
        "eth_call", [[{"to": to, "data": data}, hex(block)] for to, data in calls],
        what=f"distributor reads at block {block}", reverted_as_none=True)
    words = [abi_uint(a) for a in answers]
    names = ["merkleRoot()", f"balanceOf({distributor})",
             *(f"claimed({a})" for a in accounts)]
    for word, (to, _), name in zip(words, calls, names, strict=True):
        if word is None:
            raise ChainError(f"{to} does not answer {name} at block {block} as one uint256/"
                             "bytes32 word: is registry.distributor a cumulative distributor "
                             "with the ABI of docs/handoff.md?")
    return DistributorState(block=block, root=f"0x{words[0]:064x}", balance=words[1],
                            claimed=words[2:])

