-- How many rows and distinct blocks the cryo `blocks` files hold in $from_block..$to_block
-- (both must equal the range's length: no block missing, none twice).
SELECT count(*)::BIGINT AS row_count, count(DISTINCT block_number)::BIGINT AS block_count
FROM read_parquet($block_files)
WHERE block_number BETWEEN $from_block AND $to_block
