-- lp_holders: every LP holder with LP-token-seconds this epoch, by pool then account
-- ascending (the tie-break order of SPEC 6.1, so the caller apportions positionally), with
-- the holder's liquidity emission (its 'earned' allocation in that pool; 0 when none).
-- Inputs: epoch_snapshots (this epoch's `position_snapshots` file), epoch_allocations (its
-- `allocations` file: at most one row per channel, pool, account and reason).
SELECT
    s.pool,
    s.pool_name,
    s.account,
    s.balance_seconds AS lp_token_seconds,
    coalesce(a.amount, '0') AS emissions
FROM epoch_snapshots AS s
LEFT JOIN epoch_allocations AS a
    ON a.channel = 'liquidity' AND a.reason = 'earned'
    AND a.pool = s.pool AND a.account = s.account
WHERE s.token_kind = 'pool' AND s.balance_seconds <> '0'
ORDER BY s.pool, s.account
