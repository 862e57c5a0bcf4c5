-- contributions: the epoch's contribution events, each with the reason it is a duplicate
-- (NULL: accepted). An id is used once a contribution with it was accepted: in an earlier
-- epoch (earlier_contributions: every earlier epoch's accepted contributions), or earlier
-- in this one (the first event in log order wins). An id whose first log was rejected for
-- another reason (an unknown kind, say) never reached the events, so it can still be
-- accepted later. Same answer whatever order the epochs are computed in (SPEC 6.5).
--
-- Inputs: epoch_contribution_events (this epoch's contribution_events file),
-- earlier_contributions (contribution_id of every accepted contribution before $epoch).
WITH ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY contribution_id ORDER BY block_number, log_index) AS nth
    FROM epoch_contribution_events
)

SELECT
    r.* EXCLUDE (nth),
    CASE
        WHEN r.contribution_id IN (SELECT contribution_id FROM earlier_contributions)
            THEN 'duplicate contributionId (accepted in an earlier epoch)'
        WHEN r.nth > 1 THEN 'duplicate contributionId (accepted earlier in this epoch)'
    END AS reason
FROM ranked AS r
ORDER BY r.block_number, r.log_index
