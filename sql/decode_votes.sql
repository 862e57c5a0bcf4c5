-- decode_votes: one row per VoteCast / VoteCastWithParams on a registered agent's governor.
-- support is the uint8 in word 1; weight the uint256 in word 2 (checked to fit 128 bits);
-- proposal_id is word 0 as 0x-prefixed hex (OpenZeppelin ids are 256-bit hashes).
-- Votes before the epoch's window (before genesis, in epoch 0) count nowhere (SPEC 3).
SELECT
    $epoch::BIGINT AS epoch,
    source_agent AS agent,
    address AS governor,
    '0x' || substr(topic1, 27) AS voter,
    '0x' || substr(data, 3, 64) AS proposal_id,
    ('0x' || substr(data, 129, 2))::INTEGER AS support,
    u128_text(('0x' || substr(data, 163, 32))::UHUGEINT) AS weight,
    block_number,
    log_index
FROM classified_logs
WHERE event IN ('VoteCast', 'VoteCastWithParams') AND reason IS NULL
    AND block_timestamp >= $start
ORDER BY block_number, log_index
