-- claims: claim(a, e) = claim(a, e-1) + a's allocations in e, accounts whose claim is 0 left
-- out, ascending by account (rewards.cumulative_claims is the same in Python).
--
-- HUGEINT, exact or an error: DuckDB checks every cast and sum and raises instead of
-- wrapping (a claim is at most the emissions to date, ~10^27 wei for a 10^9-token supply,
-- far below 2^127), and the pipeline then takes the Python path. So does a previous claims
-- file with a repeated account, or a NULL account or amount anywhere (the pipeline writes
-- none: error() in HAVING, which no optimizer prunes). VARCHAR order is byte order, which
-- for UTF-8 is Python's code-point order of sorted(); HUGEINT::VARCHAR is str(int).
WITH amounts AS (
    SELECT account, cumulative_amount::HUGEINT AS amount, 1 AS previous
    FROM previous_claims
    UNION ALL
    SELECT account, amount::HUGEINT AS amount, 0 AS previous
    FROM epoch_allocations
)

SELECT
    $epoch::BIGINT AS epoch,
    account,
    sum(amount)::VARCHAR AS cumulative_amount
FROM amounts
GROUP BY account
HAVING CASE
    WHEN account IS NOT NULL AND count(amount) = count(*) AND sum(previous) <= 1
        THEN sum(amount) <> 0
    ELSE error('claims: a NULL, or an account twice in the previous claims')
END
ORDER BY account
