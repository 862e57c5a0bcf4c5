-- pool_reserve_seconds: per pool, reserve-seconds over the window [$start, $end) and the
-- reserves at its end, from the pool's Sync logs; each Sync holds from its timestamp until
-- the next (like balances, SPEC 6.3), the reserves before the first Sync are 0.
-- Inputs: epoch_syncs (this epoch's `syncs` file, any timestamp), opening_reserves (pool,
-- reserve0, reserve1: the previous epoch's closing reserves). A Sync before the window
-- (a pool's earlier history, or before genesis) counts from $start, after the carried-in
-- reserves (block -1), so the last one before the window is what holds at $start.
-- reserve x seconds exceeds HUGEINT (2^112 x L): it is summed as the 64-bit limbs of the
-- reserve (r & (2^64 - 1) and r >> 64; each sum is below 2^64 x L, as the dt of a pool sum
-- to L) and recombined exactly by the caller (lib.yields.from_limbs).
WITH path AS (
    SELECT pool, -1::BIGINT AS block_number, 0::BIGINT AS log_index, $start::BIGINT AS t,
        reserve0::HUGEINT AS r0, reserve1::HUGEINT AS r1
    FROM opening_reserves
    UNION ALL
    SELECT pool, block_number, log_index, greatest(block_timestamp, $start) AS t,
        reserve0::HUGEINT AS r0, reserve1::HUGEINT AS r1
    FROM epoch_syncs
),

timed AS (
    SELECT
        *,
        coalesce(lead(t) OVER (PARTITION BY pool ORDER BY block_number, log_index), $end)
        - t AS dt
    FROM path
)

SELECT
    pool,
    sum((r0 & 18446744073709551615::HUGEINT) * dt)::VARCHAR AS seconds0_low,
    sum((r0 >> 64) * dt)::VARCHAR AS seconds0_high,
    sum((r1 & 18446744073709551615::HUGEINT) * dt)::VARCHAR AS seconds1_low,
    sum((r1 >> 64) * dt)::VARCHAR AS seconds1_high,
    -- the closing reserves: the pool's last Sync (or the carried-in reserves)
    arg_max(r0, (block_number, log_index))::VARCHAR AS reserve0,
    arg_max(r1, (block_number, log_index))::VARCHAR AS reserve1,
    count(*) FILTER (WHERE block_number >= 0) AS epoch_syncs
FROM timed
GROUP BY pool
ORDER BY pool
