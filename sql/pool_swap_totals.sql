-- pool_swap_totals: per pool, the epoch window's Swap count and input volumes.
-- Inputs: epoch_swaps (this epoch's `swaps` file). Only swaps with timestamp >= $start count
-- (a pool's history read before the window, or before genesis, sets no volume). Amounts fit
-- 128 bits and their sums may not fit HUGEINT: they are summed as BIGNUM (arbitrary
-- precision, exact; only BIGNUM multiplication would go through DOUBLE, and none is done).
SELECT
    pool,
    count(*) AS swaps,
    sum(amount0_in::BIGNUM)::VARCHAR AS volume0,
    sum(amount1_in::BIGNUM)::VARCHAR AS volume1
FROM epoch_swaps
WHERE block_timestamp >= $start
GROUP BY pool
ORDER BY pool
