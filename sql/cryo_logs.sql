-- raw_logs rows from cryo `logs` files: the watched topic0 of the $addresses' logs in blocks
-- $from_block..$to_block, and of the $history addresses' (position tokens first in force
-- this epoch) in blocks $history_from..$history_to, joined to the `blocks` files for hash and
-- timestamp (cryo logs carry no timestamp). Same columns, text form and order as JSON-RPC
-- ingestion. A NULL block_hash means the blocks files lack that block; the caller refuses
-- it. A log that overlapping files hold twice comes out twice, side by side; the caller
-- keeps it once.
WITH blocks AS (
    SELECT block_number::BIGINT AS block_number,
           cryo_hex(block_hash) AS block_hash,
           timestamp::BIGINT AS block_timestamp
    FROM read_parquet($block_files)
    WHERE block_number BETWEEN least($from_block, $history_from) AND $to_block
), logs AS (
    SELECT block_number::BIGINT AS block_number,
           cryo_hex(transaction_hash) AS transaction_hash,
           transaction_index::BIGINT AS transaction_index,
           log_index::BIGINT AS log_index,
           cryo_hex(address) AS address,
           cryo_hex(topic0) AS topic0,
           cryo_hex(topic1) AS topic1,
           cryo_hex(topic2) AS topic2,
           cryo_hex(topic3) AS topic3,
           cryo_hex(data) AS data
    FROM read_parquet($log_files)
    WHERE block_number BETWEEN least($from_block, $history_from) AND $to_block
)
SELECT l.block_number, b.block_hash, b.block_timestamp, l.transaction_hash,
       l.transaction_index, l.log_index, l.address, l.topic0, l.topic1, l.topic2, l.topic3,
       l.data
FROM logs AS l
LEFT JOIN blocks AS b USING (block_number)
WHERE list_contains($topics, l.topic0)
    AND ((l.block_number BETWEEN $from_block AND $to_block
            AND list_contains($addresses, l.address))
        OR (l.block_number BETWEEN $history_from AND $history_to
            AND list_contains($history, l.address)))
ORDER BY l.block_number, l.log_index
