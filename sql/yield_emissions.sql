-- yield_emissions: the epoch's staking and liquidity emissions per vault / pool, as earned
-- by holders (reason 'earned': an empty sub-pool's 'unallocated' share went to the treasury).
-- Input: epoch_allocations (this epoch's `allocations` file). Exact (BIGNUM sums).
SELECT channel, pool, sum(CAST(amount AS BIGNUM))::VARCHAR AS amount
FROM epoch_allocations
WHERE reason = 'earned' AND channel IN ('staking', 'liquidity')
GROUP BY channel, pool
ORDER BY channel, pool
