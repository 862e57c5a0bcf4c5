-- pool_swap_totals: per pool, the epoch window's Swap count and input volumes.
-- Inputs: epoch_swaps (this epoch's `swaps` file). Only swaps with timestamp >= $start count
-- (a pool's history read before the window, or before genesis, sets no volume). Amounts fit
-- 128 bits, beyond HUGEINT's signed range: they are summed as 64-bit limbs (each sum stays
-- far below 2^127) and recombined exactly by the caller (lib.yields.from_limbs).
SELECT
    pool,
    count(*) AS swaps,
    sum((amount0_in::UHUGEINT % 18446744073709551616)::UBIGINT)::VARCHAR AS volume0_low,
    sum((amount0_in::UHUGEINT // 18446744073709551616)::UBIGINT)::VARCHAR AS volume0_high,
    sum((amount1_in::UHUGEINT % 18446744073709551616)::UBIGINT)::VARCHAR AS volume1_low,
    sum((amount1_in::UHUGEINT // 18446744073709551616)::UBIGINT)::VARCHAR AS volume1_high
FROM epoch_swaps
WHERE block_timestamp >= $start
GROUP BY pool
ORDER BY pool
