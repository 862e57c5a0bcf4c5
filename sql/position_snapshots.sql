-- position_snapshots (integration step): per position token and account, the parts of the
-- opening balance, closing balance and balance-seconds of one epoch [$start, $end).
--
--   opening         = previous epoch's closing + changes before $start (only epoch 0 has those)
--   closing         = opening + changes inside the window
--   balance_seconds = opening * ($end - $start) + sum(delta * ($end - t)) over window changes
--
-- A balance changes at the timestamp of the block holding the Transfer, so a change at t
-- holds for ($end - t) seconds of the window. Deltas can reach 2^128 and products exceed
-- 128 bits, so each delta is split into 64-bit limbs (delta = hi * 2^64 + lo) and every
-- sum below stays far inside HUGEINT; the pipeline recombines the limbs exactly in Python.
WITH changes AS (
    SELECT
        pool,
        pool_name,
        token_kind,
        account,
        block_timestamp AS t,
        CASE WHEN starts_with(delta, '-') THEN -1 ELSE 1 END::HUGEINT AS sign,
        ltrim(delta, '-')::UHUGEINT AS magnitude
    FROM epoch_position_changes
),

limbs AS (
    SELECT
        pool, pool_name, token_kind, account, t,
        sign * (magnitude >> 64)::HUGEINT AS hi,
        sign * (magnitude & 18446744073709551615::UHUGEINT)::HUGEINT AS lo
    FROM changes
),

sums AS (
    SELECT
        pool,
        any_value(pool_name) AS pool_name,
        any_value(token_kind) AS token_kind,
        account,
        coalesce(sum(hi) FILTER (WHERE t < $start), 0)::HUGEINT AS before_hi,
        coalesce(sum(lo) FILTER (WHERE t < $start), 0)::HUGEINT AS before_lo,
        coalesce(sum(hi) FILTER (WHERE t >= $start), 0)::HUGEINT AS window_hi,
        coalesce(sum(lo) FILTER (WHERE t >= $start), 0)::HUGEINT AS window_lo,
        coalesce(sum(hi * ($end - t)) FILTER (WHERE t >= $start), 0)::HUGEINT AS timed_hi,
        coalesce(sum(lo * ($end - t)) FILTER (WHERE t >= $start), 0)::HUGEINT AS timed_lo
    FROM limbs
    GROUP BY pool, account
)

SELECT
    coalesce(s.pool, p.pool) AS pool,
    coalesce(s.pool_name, p.pool_name) AS pool_name,
    coalesce(s.token_kind, p.token_kind) AS token_kind,
    coalesce(s.account, p.account) AS account,
    coalesce(p.closing_balance, '0') AS previous_closing,
    coalesce(s.before_hi, 0)::VARCHAR AS before_hi,
    coalesce(s.before_lo, 0)::VARCHAR AS before_lo,
    coalesce(s.window_hi, 0)::VARCHAR AS window_hi,
    coalesce(s.window_lo, 0)::VARCHAR AS window_lo,
    coalesce(s.timed_hi, 0)::VARCHAR AS timed_hi,
    coalesce(s.timed_lo, 0)::VARCHAR AS timed_lo
FROM sums AS s
FULL OUTER JOIN (
    SELECT * FROM previous_snapshots WHERE closing_balance <> '0'
) AS p ON p.pool = s.pool AND p.account = s.account
ORDER BY pool, account
