-- The neighbours of an epoch's boundary blocks in cryo `blocks` files: whether the block
-- just before the first ($first - 1) and the block just after the last ($last + 1) are
-- there, and otherwise the nearest blocks the files do hold, to name what is missing.
-- (The block before the first block with timestamp >= start is older than the start, and
-- the block after the last block with timestamp < end is at or after the end, so seeing
-- both places the boundary exactly.)
SELECT
    max(block_number) FILTER (WHERE block_number = $first - 1)::BIGINT AS before_first,
    max(block_number) FILTER (WHERE block_number < $first)::BIGINT AS highest_below_first,
    max(block_number) FILTER (WHERE block_number = $last + 1)::BIGINT AS after_last,
    min(block_number) FILTER (WHERE block_number > $last)::BIGINT AS lowest_above_last
FROM read_parquet($block_files)
