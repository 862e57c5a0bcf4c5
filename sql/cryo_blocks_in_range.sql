-- The blocks $from_block..$to_block of cryo `blocks` files, with their hashes as text; the
-- caller checks that every block is there exactly once.
SELECT
    block_number::BIGINT AS block_number,
    cryo_hex(block_hash) AS block_hash,
    timestamp::BIGINT AS block_timestamp
FROM read_parquet($block_files)
WHERE block_number BETWEEN $from_block AND $to_block
ORDER BY block_number
