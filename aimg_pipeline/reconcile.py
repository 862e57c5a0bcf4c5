"""Reconciling computed balances with the chain's own view (``eth_call`` at a block).

A snapshot is trusted only if, at the epoch's last block, every position token's
``totalSupply()`` (less what the zero address holds) equals the sum of the closing balances
derived from its ``Transfer`` logs, and the holders' ``balanceOf()`` agree one by one (all
of them, or a deterministic sample when there are many). A missing, duplicated or invented
log shows up here.
"""

from __future__ import annotations

from dataclasses import dataclass

from aimg_pipeline.chain import ChainClient
from aimg_pipeline.lib.config import Config
from aimg_pipeline.warehouse import Warehouse

TOTAL_SUPPLY = "0x18160ddd"
BALANCE_OF = "0x70a08231"


@dataclass(frozen=True)
class Reconciliation:
    block: int
    tokens_checked: int
    holders_checked: int
    mismatches: list[str]


def _uint(client: ChainClient, token: str, data: str, block: int) -> int:
    return int(client.call("eth_call", [{"to": token, "data": data}, hex(block)]), 16)


def reconcile_epoch(
    client: ChainClient,
    config: Config,
    warehouse: Warehouse,
    epoch: int,
    max_holders_per_token: int = 500,
) -> Reconciliation:
    """Compare closing balances with totalSupply/balanceOf at the epoch's last block."""
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

    mismatches: list[str] = []
    holders_checked = 0
    for token in sorted(config.position_tokens()):
        balances = closing.get(token, {})
        # tokens locked at the zero address (Uniswap V2's MINIMUM_LIQUIDITY) are supply
        # without a holder: position changes leave the zero address out
        supply = _uint(client, token, TOTAL_SUPPLY, block)
        locked = _uint(client, token, BALANCE_OF + "0" * 64, block)
        if supply - locked != sum(balances.values()):
            mismatches.append(f"{token}: totalSupply {supply} minus {locked} held by the zero "
                              f"address at block {block}, snapshots sum to "
                              f"{sum(balances.values())}")
        holders = sorted(balances)
        step = max(1, len(holders) // max_holders_per_token)
        for account in holders[::step]:
            on_chain = _uint(client, token, BALANCE_OF + account[2:].rjust(64, "0"), block)
            holders_checked += 1
            if on_chain != balances[account]:
                mismatches.append(f"{token} {account}: balanceOf {on_chain} at block {block}, "
                                  f"snapshot says {balances[account]}")
    return Reconciliation(block, len(config.position_tokens()), holders_checked, mismatches)
