-- position_snapshots (integration step, general path): per position token and account, the
-- parts of the opening balance, closing balance and balance-seconds of one epoch
-- [$start, $end). The pipeline first computes the snapshot in HUGEINT (position_sums.sql,
-- position_snapshots_hugeint.sql) and runs this only when a value leaves HUGEINT there.
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
),

joined AS (
    SELECT
        coalesce(s.pool, p.pool) AS pool,
        coalesce(s.pool_name, p.pool_name) AS pool_name,
        coalesce(s.token_kind, p.token_kind) AS token_kind,
        coalesce(s.account, p.account) AS account,
        coalesce(p.closing_balance, '0') AS previous_closing,
        coalesce(s.before_hi, 0)::HUGEINT AS before_hi,
        coalesce(s.before_lo, 0)::HUGEINT AS before_lo,
        coalesce(s.window_hi, 0)::HUGEINT AS window_hi,
        coalesce(s.window_lo, 0)::HUGEINT AS window_lo,
        coalesce(s.timed_hi, 0)::HUGEINT AS timed_hi,
        coalesce(s.timed_lo, 0)::HUGEINT AS timed_lo
    FROM sums AS s
    FULL OUTER JOIN (
        SELECT * FROM previous_snapshots WHERE closing_balance <> '0'
    ) AS p ON p.pool = s.pool AND p.account = s.account
),

-- Fast path: when every part is small enough (|previous closing| < 10^31, |hi limbs| <
-- 2^40, |timed_hi| < 2^58, |lo limbs| < 2^100, so opening < 2^106), the opening, closing and
-- balance-seconds are computed here in HUGEINT: opening * length stays below 2^125 by the
-- explicit bound, and the sum below 2^127. Other rows (NULL fast_*) are recombined exactly
-- in Python from the limbs.
bounded AS (
    SELECT
        *,
        (length(ltrim(previous_closing, '-')) <= 31
            AND abs(before_hi) < 1099511627776 AND abs(window_hi) < 1099511627776
            AND abs(timed_hi) < 288230376151711744
            AND abs(before_lo) < 1267650600228229401496703205376
            AND abs(window_lo) < 1267650600228229401496703205376
            AND abs(timed_lo) < 1267650600228229401496703205376) AS small
    FROM joined
),

fast AS (
    SELECT
        *,
        CASE WHEN small THEN previous_closing::HUGEINT + before_hi * 18446744073709551616
            + before_lo END AS open_fast
    FROM bounded
)

SELECT
    pool, pool_name, token_kind, account, previous_closing,
    before_hi::VARCHAR AS before_hi,
    before_lo::VARCHAR AS before_lo,
    window_hi::VARCHAR AS window_hi,
    window_lo::VARCHAR AS window_lo,
    timed_hi::VARCHAR AS timed_hi,
    timed_lo::VARCHAR AS timed_lo,
    -- guarded by `small` too: window_hi * 2^64 overflows HUGEINT for limbs >= 2^63
    CASE WHEN small THEN (open_fast + window_hi * 18446744073709551616 + window_lo)::VARCHAR
    END AS fast_closing,
    open_fast::VARCHAR AS fast_opening,
    CASE WHEN abs(open_fast) < 42535295865117307932921825928971026432 // ($end - $start)
        THEN (open_fast * ($end - $start) + timed_hi * 18446744073709551616 + timed_lo)::VARCHAR
    END AS fast_seconds
FROM fast
ORDER BY pool, account
