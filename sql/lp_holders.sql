-- lp_holders: every LP holder with LP-token-seconds this epoch, by pool then account
-- ascending (the tie-break order of SPEC 6.1, so the caller apportions positionally).
-- Input: epoch_snapshots (this epoch's `position_snapshots` file).
SELECT pool, pool_name, account, balance_seconds AS lp_token_seconds
FROM epoch_snapshots
WHERE token_kind = 'pool' AND balance_seconds <> '0'
ORDER BY pool, account
