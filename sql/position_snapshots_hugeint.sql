-- position_snapshots_hugeint (integration step, fast path): the snapshot rows from
-- position_sums (the epoch's changes summed per pool and account, see position_sums.sql, a
-- temporary table) and the previous epoch's non-zero closing balances, in HUGEINT:
--
--   opening         = previous + before
--   closing         = previous + moved
--   balance_seconds = previous * ($end - $start) + timed
--
-- balance_seconds is the one value that realistic balances push out of HUGEINT (2^112 wei
-- x 604,800 s > 2^127): such a row gets NULL and its previous and timed parts
-- (large_previous, large_timed), which the caller multiplies out exactly.
--
-- Same rows, values and order as position_snapshots.sql (the general path): any cast or
-- arithmetic outside HUGEINT raises instead of wrapping, and the pipeline then takes that
-- path. So does a pool whose name or kind is not one non-NULL value across the changes or
-- across the previous snapshot (the error() in HAVING, which no optimizer prunes; decode
-- takes both from the config by address, so it does not happen). With one per pool, naming
-- a row by its pool is what position_snapshots.sql does per row (the changes' name for a
-- row with changes, else the previous row's), and the join and sort carry no name strings.
WITH names AS (
    SELECT
        pool,
        min(pool_name) AS pool_name,
        min(token_kind) AS token_kind
    FROM epoch_position_changes
    GROUP BY pool
    HAVING CASE WHEN min(pool_name) = max(pool_name) AND min(token_kind) = max(token_kind)
            AND count(pool_name) = count(*) AND count(token_kind) = count(*)
        THEN true ELSE error('a pool has two names or kinds in the changes') END
),

previous AS (
    SELECT pool, pool_name, token_kind, account, closing_balance
    FROM previous_snapshots
    WHERE closing_balance <> '0'
),

previous_names AS (
    SELECT
        pool,
        min(pool_name) AS pool_name,
        min(token_kind) AS token_kind
    FROM previous
    GROUP BY pool
    HAVING CASE WHEN min(pool_name) = max(pool_name) AND min(token_kind) = max(token_kind)
            AND count(pool_name) = count(*) AND count(token_kind) = count(*)
        THEN true ELSE error('a pool has two names or kinds in the snapshot') END
),

joined AS (
    SELECT
        coalesce(s.pool, p.pool) AS pool,
        s.pool IS NOT NULL AS changed,
        coalesce(s.account, p.account) AS account,
        coalesce(p.closing_balance::HUGEINT, 0) AS previous,
        coalesce(s.before, 0) AS before,
        coalesce(s.moved, 0) AS moved,
        coalesce(s.timed, 0) AS timed
    FROM position_sums AS s
    FULL OUTER JOIN previous AS p ON p.pool = s.pool AND p.account = s.account
)

SELECT
    $epoch::BIGINT AS epoch,
    j.pool,
    CASE WHEN j.changed THEN n.pool_name ELSE pn.pool_name END AS pool_name,
    CASE WHEN j.changed THEN n.token_kind ELSE pn.token_kind END AS token_kind,
    j.account,
    (j.previous + j.before)::VARCHAR AS opening_balance,
    (j.previous + j.moved)::VARCHAR AS closing_balance,
    j.seconds::VARCHAR AS balance_seconds,
    CASE WHEN j.seconds IS NULL THEN j.previous::VARCHAR END AS large_previous,
    CASE WHEN j.seconds IS NULL THEN j.timed::VARCHAR END AS large_timed
FROM (
    -- a balance above ~2^107 held for a week leaves HUGEINT here: TRY gives NULL for that
    -- row alone, and the caller computes it from the two parts above with Python ints
    SELECT *, TRY(previous * ($end - $start) + timed) AS seconds FROM joined
) AS j
LEFT JOIN names AS n ON n.pool = j.pool
LEFT JOIN previous_names AS pn ON pn.pool = j.pool
ORDER BY j.pool, j.account
