-- The first few block numbers of $from_block..$to_block absent from the cryo `blocks` files
-- (for the error message).
SELECT r.range::BIGINT AS block_number
FROM range($from_block, $to_block + 1) AS r
WHERE r.range NOT IN (
    SELECT block_number FROM read_parquet($block_files)
    WHERE block_number BETWEEN $from_block AND $to_block
)
ORDER BY 1
LIMIT 10
