-- An epoch's boundary blocks from cryo `blocks` files (SPEC 3): the first block with
-- timestamp >= $start, the last with timestamp < $end, and how far the files reach (an
-- epoch is ingested from files only when they hold a block at or after its end).
SELECT
    min(block_number) FILTER (WHERE timestamp >= $start)::BIGINT AS first_block,
    max(block_number) FILTER (WHERE timestamp < $end)::BIGINT AS last_block,
    max(timestamp)::BIGINT AS max_timestamp,
    max(block_number)::BIGINT AS max_block
FROM read_parquet($block_files)
