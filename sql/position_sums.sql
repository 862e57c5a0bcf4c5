-- position_sums (integration step, fast path): per position token and account, the epoch's
-- position changes summed in HUGEINT, into a temporary table that
-- position_snapshots_hugeint.sql finishes (position_snapshots.sql is the general path, with
-- 64-bit limbs). A table, not a CTE there: DuckDB then holds the join's and the sort's
-- memory only after this aggregate (the largest step: 15M rows into 2M groups at 10M logs)
-- has freed its own, which kept both under the memory cap instead of spilling.
--
--   moved  = sum(delta)                                  over every change of the epoch file
--   before = sum(delta) for changes before $start        (only epoch 0 has those)
--   timed  = sum(delta * ($end - max(t, $start)))
--
-- so opening = previous + before, closing = previous + moved and balance_seconds =
-- previous * ($end - $start) + timed (a change before $start holds for the whole window).
--
-- Exact or an error, never a wrong number: DuckDB checks every HUGEINT cast, sum and
-- product and raises (ConversionException for a delta outside HUGEINT, OutOfRangeException
-- for an overflowing sum or product) instead of wrapping; the pipeline then takes the limb
-- path (position_snapshots.sql). A delta below 2^90 times a week (< 2^20 s) is below 2^110,
-- so only absurd amounts get there.
--
-- `before` is a separate aggregate over the changes before $start (only epoch 0 has any):
-- the Parquet scan skips every row group whose block_timestamp statistics are >= $start, so
-- a later epoch pays nothing for it, and the main aggregate keeps two sums.
CREATE TEMP TABLE position_sums AS
WITH changed AS (
    SELECT pool, account, sum(d) AS moved, sum(d * ($end - greatest(t, $start))) AS timed
    FROM (
        SELECT pool, account, block_timestamp AS t, delta::HUGEINT AS d
        FROM epoch_position_changes
    )
    GROUP BY pool, account
),

earlier AS (
    SELECT pool, account, sum(delta::HUGEINT) AS before
    FROM epoch_position_changes
    WHERE block_timestamp < $start
    GROUP BY pool, account
)

SELECT c.pool, c.account, c.moved, coalesce(e.before, 0)::HUGEINT AS before, c.timed
FROM changed AS c
LEFT JOIN earlier AS e ON e.pool = c.pool AND e.account = c.account
