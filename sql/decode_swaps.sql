-- decode_swaps: one row per Uniswap V2 `Swap(address indexed sender, uint256 amount0In,
-- uint256 amount1In, uint256 amount0Out, uint256 amount1Out, address indexed to)` of a
-- registered pool, at any timestamp (the yield tables count only the window's swaps).
-- Amounts are checked to fit 128 bits by classify_logs.sql; word k starts at 3 + 64k and its
-- low 16 bytes at 35 + 64k.
SELECT
    $epoch::BIGINT AS epoch,
    address AS pool,
    block_number,
    block_timestamp,
    log_index,
    '0x' || substr(topic1, 27) AS sender,
    '0x' || substr(topic2, 27) AS recipient,
    u128_text(('0x' || substr(data, 35, 32))::UHUGEINT) AS amount0_in,
    u128_text(('0x' || substr(data, 99, 32))::UHUGEINT) AS amount1_in,
    u128_text(('0x' || substr(data, 163, 32))::UHUGEINT) AS amount0_out,
    u128_text(('0x' || substr(data, 227, 32))::UHUGEINT) AS amount1_out
FROM classified_logs
WHERE event = 'Swap' AND reason IS NULL
ORDER BY block_number, log_index
