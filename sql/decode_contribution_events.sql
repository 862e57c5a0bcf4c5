-- decode_contribution_events: one row per ContributionAccepted of the epoch's window that
-- passed classification (known kind, agent in force, score within 128 bits), in log order.
-- Logs before the window (before genesis, in epoch 0) count nowhere (SPEC 3). Whether an id
-- was accepted before is decided by the contributions step (sql/contributions.sql), which
-- sees every earlier epoch.
SELECT
    $epoch::BIGINT AS epoch,
    a.agent,
    '0x' || substr(c.topic3, 27) AS contributor,
    c.topic1 AS contribution_id,
    ('0x' || substr(c.data, 65, 2))::INTEGER AS kind,
    u128_text(('0x' || substr(c.data, 99, 32))::UHUGEINT) AS score,
    c.block_number,
    c.transaction_hash,
    c.log_index
FROM classified_logs AS c
JOIN agent_tokens AS a ON a.token = '0x' || substr(c.topic2, 27)
WHERE c.event = 'ContributionAccepted' AND c.reason IS NULL AND c.block_timestamp >= $start
ORDER BY c.block_number, c.log_index
