-- allocation_summary: per channel of one epoch's allocations, the amount and the amount left
-- unallocated, and (on every row) the epoch's recipients: distinct accounts with a non-zero
-- amount that is not `unallocated`. BIGNUM sums are exact whatever the amounts. A NULL
-- channel, account or amount (the pipeline writes none) stops the query.
WITH amounts AS (
    SELECT
        CASE WHEN channel IS NULL OR account IS NULL OR amount IS NULL
            THEN error('allocations: a NULL channel, account or amount') ELSE channel
        END AS channel,
        account,
        amount::BIGNUM AS amount,
        reason
    FROM epoch_allocations
)

SELECT
    channel,
    sum(amount)::VARCHAR AS total,
    coalesce(sum(amount) FILTER (WHERE reason = 'unallocated'), 0)::VARCHAR AS unallocated,
    (
        SELECT count(DISTINCT account)
        FROM amounts
        WHERE reason IS DISTINCT FROM 'unallocated' AND amount <> 0
    ) AS recipients
FROM amounts
GROUP BY channel
