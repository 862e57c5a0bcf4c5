-- decode_syncs: one row per Uniswap V2 `Sync(uint112 reserve0, uint112 reserve1)` of a
-- registered pool, at any timestamp: the reserves from that log on (a Sync before the
-- window sets the window's opening reserves). classify_logs.sql checks both are uint112.
SELECT
    $epoch::BIGINT AS epoch,
    address AS pool,
    block_number,
    block_timestamp,
    log_index,
    u128_text(('0x' || substr(data, 35, 32))::UHUGEINT) AS reserve0,
    u128_text(('0x' || substr(data, 99, 32))::UHUGEINT) AS reserve1
FROM classified_logs
WHERE event = 'Sync' AND reason IS NULL
ORDER BY block_number, log_index
