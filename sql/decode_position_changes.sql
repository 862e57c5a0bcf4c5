-- decode_position_changes: one row per balance change from a position token's Transfer
-- (staking-vault shares and pool LP tokens): the sender loses `value`, the receiver gains it.
-- The zero-address side of a mint or burn is not a holder and is left out.
-- `delta` is a signed decimal string (exact; up to 2^128-1 in magnitude); u128_text
-- (sql/u128_macros.sql) is an exact, fast stand-in for DuckDB's slow UHUGEINT::VARCHAR.
WITH transfers AS (
    SELECT
        address,
        source_name,
        source_kind,
        block_number,
        block_timestamp,
        log_index,
        '0x' || substr(topic1, 27) AS sender,
        '0x' || substr(topic2, 27) AS receiver,
        ('0x' || substr(data, 35, 32))::UHUGEINT AS value
    FROM classified_logs
    WHERE event = 'Transfer' AND reason IS NULL
),

sides AS (
    SELECT *, sender AS account, 0 AS side,
        CASE WHEN value = 0 THEN '0' ELSE '-' || u128_text(value) END AS delta
    FROM transfers
    UNION ALL
    SELECT *, receiver AS account, 1 AS side, u128_text(value) AS delta
    FROM transfers
)

SELECT
    $epoch::BIGINT AS epoch,
    address AS pool,
    source_name AS pool_name,
    source_kind AS token_kind,
    account,
    block_number,
    block_timestamp,
    log_index,
    delta
FROM sides
WHERE account <> '0x0000000000000000000000000000000000000000'
ORDER BY block_number, log_index, side
