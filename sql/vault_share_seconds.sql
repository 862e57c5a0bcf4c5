-- vault_share_seconds: per staking vault, the sum of its holders' share-seconds this epoch.
-- Input: epoch_snapshots (this epoch's `position_snapshots` file). Exact (BIGNUM sums).
SELECT pool AS vault, sum(CAST(balance_seconds AS BIGNUM))::VARCHAR AS share_seconds
FROM epoch_snapshots
WHERE token_kind = 'vault'
GROUP BY pool
ORDER BY pool
