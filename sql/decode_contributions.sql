-- decode_contributions: one row per accepted contribution that passed classification
-- (known kind, registered agent, first use of its contributionId, score within 128 bits).
-- `weight` (score x kind multiplier) is filled in by the pipeline in exact integers.
SELECT
    $epoch::BIGINT AS epoch,
    a.agent,
    '0x' || substr(c.topic3, 27) AS contributor,
    c.topic1 AS contribution_id,
    ('0x' || substr(c.data, 65, 2))::INTEGER AS kind,
    u128_text(('0x' || substr(c.data, 99, 32))::UHUGEINT) AS score,
    c.block_number,
    c.log_index
FROM classified_logs AS c
JOIN agent_tokens AS a ON a.token = '0x' || substr(c.topic2, 27)
WHERE c.event = 'ContributionAccepted' AND c.reason IS NULL
ORDER BY c.block_number, c.log_index
