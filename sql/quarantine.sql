-- quarantine: every raw log of the epoch that cannot be used, with the reason and a
-- reference to the raw log (block, transaction, log index). Kept out of all weights.
SELECT
    $epoch::BIGINT AS epoch,
    reason,
    block_number,
    transaction_hash,
    log_index,
    address,
    topic0
FROM classified_logs
WHERE reason IS NOT NULL
ORDER BY block_number, log_index
