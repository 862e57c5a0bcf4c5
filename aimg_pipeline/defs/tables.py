"""What every column of every warehouse table holds, as Dagster ``TableSchema`` metadata on
the asset that writes the table (the UI's column list). The definitions in full, with the
formulas: docs/economics.md; types: docs/analytics.md."""

import dagster as dg

from aimg_pipeline.warehouse import TABLES

_EXACT = "exact integer (decimal text)"
COLUMNS: dict[str, str] = {
    "epoch": "the epoch: window [genesis + epoch × L, genesis + (epoch + 1) × L)",
    "block_number": "block of the log", "block_hash": "hash of that block",
    "block_timestamp": "unix seconds of that block", "transaction_hash": "its transaction",
    "transaction_index": "the transaction's index in the block",
    "log_index": "the log's index in the block", "address": "contract that emitted the log",
    "topic0": "event signature hash", "topic1": "first indexed argument",
    "topic2": "second indexed argument", "topic3": "third indexed argument",
    "data": "ABI-encoded non-indexed arguments",
    "start_ts": "window start (unix seconds)", "end_ts": "window end, exclusive",
    "from_block": "first block of the epoch", "to_block": "last block of the epoch",
    "first_block": "first block in the window", "last_block": "last block read for the epoch",
    "first_block_hash": "hash of first_block", "last_block_hash": "hash of last_block",
    "log_count": "logs ingested for the epoch",
    "pool": "token address (vault or pool); in allocations the sub-pool key: vault/pool "
            "address, agent name or 'contribution'",
    "pool_name": "registry name ('aimg', an agent's name, or a pool's name)",
    "token_kind": "'vault' (staking shares), 'pool' (LP token) or 'wrapper' (a holders "
                  "redirect's token)",
    "account": "holder or recipient (lowercase address)",
    "delta": f"balance change, {_EXACT}, signed", "opening_balance": f"balance at the "
    f"window's start, {_EXACT}", "closing_balance": f"balance at the window's end, {_EXACT}",
    "balance_seconds": f"Σ balance × seconds held in the window, {_EXACT}",
    "agent": "agent name", "governor": "the agent's governor contract", "voter": "voter",
    "proposal_id": "proposal id (hex)", "support": "0 against, 1 for, 2 abstain",
    "weight": f"the row's weight in its sub-pool (votes, score × multiplier, "
              f"balance-seconds), {_EXACT}",
    "contributor": "who contributed", "contribution_id": "contributionId (hex)",
    "kind": "0 dataset, 1 model, 2 other", "score": f"contribution score, {_EXACT}",
    "sender": "Swap sender", "recipient": "Swap recipient",
    "amount0_in": f"token0 paid in, {_EXACT}", "amount1_in": f"token1 paid in, {_EXACT}",
    "amount0_out": f"token0 paid out, {_EXACT}", "amount1_out": f"token1 paid out, {_EXACT}",
    "reserve0": f"token0 reserve (Sync; in pool_yield at the window's end), {_EXACT}",
    "reserve1": f"token1 reserve (Sync; in pool_yield at the window's end), {_EXACT}",
    "reason": "allocations: 'earned' or 'unallocated' (to the treasury); quarantine: why "
              "the log could not be used",
    "via": "allocations: the contract a redirect moved this amount from (NULL: paid as "
           "earned); the row's weight is then its weight in the pass-through split",
    "channel": "staking, governance, subdao, liquidity or contribution",
    "amount": f"wei of $AIMG, {_EXACT}", "policy_version": "policy version in force",
    "cumulative_amount": f"everything allocated to the account through this epoch (wei), "
                         f"{_EXACT}",
    "token0": "the pair's token0", "token1": "the pair's token1",
    "fee_bps": "swap fee in basis points", "swaps": "Swap logs in the window",
    "volume0": f"Σ amount0_in in the window, {_EXACT}",
    "volume1": f"Σ amount1_in in the window, {_EXACT}",
    "fees0": f"floor(volume0 × fee_bps / 10000) (lp_earnings: the LP's share), {_EXACT}",
    "fees1": f"floor(volume1 × fee_bps / 10000) (lp_earnings: the LP's share), {_EXACT}",
    "reserve_seconds0": f"Σ reserve0 × seconds in the window, {_EXACT}",
    "reserve_seconds1": f"Σ reserve1 × seconds in the window, {_EXACT}",
    "twa_reserve0": f"time-weighted average reserve0, {_EXACT}",
    "twa_reserve1": f"time-weighted average reserve1, {_EXACT}",
    "price_aimg": "price in $AIMG (display figure)", "tvl_aimg": f"2 × the average $AIMG "
    f"reserve (wei), {_EXACT}", "emissions": f"liquidity/staking emissions earned (wei), "
    f"{_EXACT}", "fees_aimg": f"both fee sides in $AIMG wei, {_EXACT}",
    "fee_apr": "fees_aimg / tvl_aimg, annualized (display figure)",
    "emission_apr": "emissions / value staked, annualized (display figure)",
    "total_apr": "fee_apr + emission_apr", "note": "why a figure is NULL",
    "vault": "staking vault", "vault_name": "'aimg' or the agent's name",
    "asset": "token staked in the vault", "share_seconds": f"Σ share-seconds, {_EXACT}",
    "twa_shares": f"time-weighted average shares, {_EXACT}",
    "total_assets": f"ERC-4626 totalAssets() at the epoch's end, {_EXACT}",
    "staked_aimg": f"total_assets valued in $AIMG wei, {_EXACT}",
    "lp_token_seconds": f"the LP's balance-seconds of the LP token, {_EXACT}",
    "merkle_root": "root of the published Merkle tree", "total": f"claims total (wei), {_EXACT}",
    "account_count": "claimants",
    "is_contract": "the account had contract code at the epoch's last block (an EIP-7702 "
    "delegated EOA is not a contract)",
    "code_kind": "'eoa', 'delegated_eoa' (EIP-7702 0xef0100 code) or 'contract'",
    "code_hash": "keccak256 of the account's code at the epoch's last block; NULL for none",
    "artifact_path": "published folder",
    "republished": "whether the epoch was republished",
}


def column_schema(*tables: str) -> dict[str, dg.TableSchema]:
    """``{"dagster/column_schema": ...}`` for the asset writing ``tables``: their columns in
    order, each once, with its Parquet type and what it holds."""
    fields: dict[str, str] = {}
    for table in tables:
        for field in TABLES[table][0]:
            fields.setdefault(field.name, str(field.type))
    return {"dagster/column_schema": dg.TableSchema(columns=[
        dg.TableColumn(name, kind, description=COLUMNS[name]) for name, kind in fields.items()])}
