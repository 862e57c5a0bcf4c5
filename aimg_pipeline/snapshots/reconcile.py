"""Reconciling computed balances with the chain's own view (``eth_call`` at a block).

A snapshot is trusted only if, at the epoch's last block, every position token's
``totalSupply()`` (less what the zero address holds) equals the sum of the closing balances
derived from its ``Transfer`` logs, and the holders' ``balanceOf()`` agree one by one (all
of them, or a deterministic sample when there are many). A missing, duplicated or invented
log shows up here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aimg_pipeline.ingest.chain import ChainClient, abi_uint
from aimg_pipeline.lib.policy import ZERO_ADDRESS, Config
from aimg_pipeline.warehouse import Warehouse

TOTAL_SUPPLY = "0x18160ddd"
BALANCE_OF = "0x70a08231"


@dataclass(frozen=True)
class Reconciliation:
    block: int
    tokens_checked: int
    holders_checked: int
    mismatches: list[str]
    # tokens that answered no uint256 (no code yet: a pool registered before its pair is
    # created, a vault deployed later); fine while the snapshots give them no holder
    not_callable: list[str] = field(default_factory=list)
    requests: int = 0  # JSON-RPC HTTP requests the reconciliation sent


def reconcile_epoch(
    client: ChainClient,
    config: Config,
    warehouse: Warehouse,
    epoch: int,
    max_holders_per_token: int = 500,
) -> Reconciliation:
    """Compare closing balances with totalSupply/balanceOf at the epoch's last block.

    Every call is sent in JSON-RPC batches. A token without code at that block has no
    positions: it passes while the snapshots give it none, and is listed as not callable.
    """
    bounds = warehouse.read("epochs", epoch).to_pylist()[0]
    block = bounds["last_block"]  # for a window without blocks: the last block before it
    snapshots = warehouse.read("position_snapshots", epoch).to_pydict()
    closing: dict[str, dict[str, int]] = {}
    for pool, account, balance in zip(
        snapshots["pool"], snapshots["account"], snapshots["closing_balance"], strict=True
    ):
        closing.setdefault(pool, {})[account] = int(balance)
    if block < 0:  # the chain has no block before the epoch's end: nothing can be held
        held = [f"{pool} {account}: closing balance {balance} before the first block"
                for pool, balances in closing.items() for account, balance in balances.items()
                if balance]
        return Reconciliation(block, 0, 0, held)

    requests_before = client.stats["requests"]
    tokens = sorted(config.position_tokens(epoch))
    sampled: dict[str, list[str]] = {}
    for token in tokens:
        holders = sorted(closing.get(token, {}))
        sampled[token] = holders[::max(1, len(holders) // max_holders_per_token)]
    # per token: totalSupply, balanceOf(zero address) — tokens locked there (Uniswap V2's
    # MINIMUM_LIQUIDITY) are supply without a holder, as position changes leave it out —
    # then balanceOf of each sampled holder
    params = []
    for token in tokens:
        params += [[{"to": token, "data": data}, hex(block)] for data in (
            TOTAL_SUPPLY, BALANCE_OF + ZERO_ADDRESS[2:].rjust(64, "0"),
            *(BALANCE_OF + account[2:].rjust(64, "0") for account in sampled[token]))]
    answers = iter(map(abi_uint, client.call_batch("eth_call", params,
                                                what=f"eth_call at block {block}")))

    mismatches: list[str] = []
    not_callable: list[str] = []
    holders_checked = 0
    for token in tokens:
        balances = closing.get(token, {})
        supply, locked = next(answers), next(answers)
        on_chain = [next(answers) for _ in sampled[token]]
        if supply is None or locked is None:
            not_callable.append(token)
            if any(balances.values()):
                mismatches.append(f"{token}: answers no totalSupply/balanceOf at block {block} "
                                  f"(no code?), yet the snapshots give it "
                                  f"{sum(1 for b in balances.values() if b)} holders")
            continue
        if supply - locked != sum(balances.values()):
            mismatches.append(f"{token}: totalSupply {supply} minus {locked} held by the zero "
                              f"address at block {block}, snapshots sum to "
                              f"{sum(balances.values())}")
        for account, value in zip(sampled[token], on_chain, strict=True):
            holders_checked += 1
            if value != balances[account]:
                mismatches.append(f"{token} {account}: balanceOf {value} at block {block}, "
                                  f"snapshot says {balances[account]}")
    return Reconciliation(block, len(tokens), holders_checked, mismatches, not_callable,
                          client.stats["requests"] - requests_before)
