-- classify_logs: names the event of every raw log of one epoch and, when the log cannot be
-- used, the reason why. Rows with a reason go to `quarantine`; all others are decoded by the
-- decode_* transformations. Nothing is dropped: every input row comes out exactly once.
--
-- Inputs (registered by the pipeline): epoch_logs (this epoch's raw_logs), event_types
-- (topic0, event), sources (address, source_kind, name, agent), agent_tokens (token, agent),
-- known_contribution_ids (contribution_id, from earlier epochs).
-- Hex layout of `data`: '0x' then 64 hex characters per 32-byte ABI word; word k starts at
-- character 3 + 64*k (1-based). Amounts must fit in 128 bits: the first 32 hex characters
-- of an amount word must be zero.
WITH logs AS (
    SELECT
        l.*,
        e.event,
        s.source_kind,
        s.name AS source_name,
        s.agent AS source_agent,
        (l.topic1 IS NOT NULL)::INT + (l.topic2 IS NOT NULL)::INT
            + (l.topic3 IS NOT NULL)::INT AS extra_topics,
        (length(l.data) - 2) // 64 AS words,
        -- a NULL data (possible only in files, never from JSON-RPC) is not usable data
        coalesce(regexp_full_match(l.data, '0x([0-9a-f]{64})*'), false) AS data_ok,
        coalesce(regexp_full_match(l.topic1, '0x[0-9a-f]{64}'), true)
            AND coalesce(regexp_full_match(l.topic2, '0x[0-9a-f]{64}'), true)
            AND coalesce(regexp_full_match(l.topic3, '0x[0-9a-f]{64}'), true) AS topics_ok
    FROM epoch_logs AS l
    LEFT JOIN event_types AS e ON e.topic0 = l.topic0
    LEFT JOIN sources AS s ON s.address = l.address
),

checked AS (
    SELECT
        *,
        CASE
            WHEN source_kind IS NULL THEN 'log from an address that is not in the registry'
            WHEN event IS NULL THEN 'unknown event topic0'
            WHEN NOT data_ok THEN 'data is not a whole number of 32-byte hex words'
            WHEN NOT topics_ok THEN 'a topic is not 32 bytes of hex'
            -- which contracts may emit what
            WHEN event = 'Transfer' AND source_kind NOT IN ('vault', 'pool')
                THEN 'Transfer from a contract that is not a position token'
            WHEN event IN ('Mint', 'Burn', 'Swap', 'Sync') AND source_kind <> 'pool'
                THEN event || ' from a contract that is not a pool'
            WHEN event IN ('VoteCast', 'VoteCastWithParams') AND source_kind <> 'governor'
                THEN event || ' from a contract that is not a governor'
            WHEN event = 'ContributionAccepted' AND source_kind <> 'contribution_registry'
                THEN 'ContributionAccepted from a contract that is not the registry'
            -- shapes: indexed topics and static data words
            WHEN event = 'Transfer' AND NOT (extra_topics = 2 AND topic3 IS NULL AND words = 1)
                THEN 'Transfer does not match (address indexed, address indexed, uint256)'
            WHEN event = 'Mint' AND NOT (extra_topics = 1 AND topic2 IS NULL AND words = 2)
                THEN 'Mint does not match (address indexed, uint256, uint256)'
            WHEN event = 'Burn' AND NOT (extra_topics = 2 AND topic3 IS NULL AND words = 2)
                THEN 'Burn does not match (address indexed, uint256, uint256, address indexed)'
            WHEN event = 'Swap' AND NOT (extra_topics = 2 AND topic3 IS NULL AND words = 4)
                THEN 'Swap does not match (address indexed, 4 x uint256, address indexed)'
            WHEN event = 'Sync' AND NOT (extra_topics = 0 AND words = 2)
                THEN 'Sync does not match (uint112, uint112)'
            WHEN event = 'VoteCast' AND NOT (extra_topics = 1 AND topic2 IS NULL AND words >= 5)
                THEN 'VoteCast does not match (address indexed, uint256, uint8, uint256, string)'
            WHEN event = 'VoteCastWithParams'
                AND NOT (extra_topics = 1 AND topic2 IS NULL AND words >= 7)
                THEN 'VoteCastWithParams does not match its ABI'
            WHEN event = 'ContributionAccepted' AND NOT (extra_topics = 3 AND words = 2)
                THEN 'ContributionAccepted does not match its ABI'
            -- address topics: 12 zero bytes, then 20 address bytes
            WHEN event IN ('Transfer', 'VoteCast', 'VoteCastWithParams')
                AND substr(topic1, 3, 24) <> repeat('0', 24)
                THEN 'address topic1 has non-zero high bytes'
            WHEN event = 'Transfer' AND substr(topic2, 3, 24) <> repeat('0', 24)
                THEN 'address topic2 has non-zero high bytes'
            WHEN event = 'ContributionAccepted'
                AND (substr(topic2, 3, 24) <> repeat('0', 24)
                    OR substr(topic3, 3, 24) <> repeat('0', 24))
                THEN 'address topic has non-zero high bytes'
            -- values
            WHEN event = 'Transfer' AND substr(data, 3, 32) <> repeat('0', 32)
                THEN 'amount exceeds 2^128-1'
            WHEN event IN ('VoteCast', 'VoteCastWithParams')
                AND substr(data, 67, 62) <> repeat('0', 62)
                THEN 'support is not a uint8'
            WHEN event IN ('VoteCast', 'VoteCastWithParams')
                AND substr(data, 131, 32) <> repeat('0', 32)
                THEN 'vote weight exceeds 2^128-1'
            WHEN event = 'ContributionAccepted' AND substr(data, 3, 62) <> repeat('0', 62)
                THEN 'kind is not a uint8'
            WHEN event = 'ContributionAccepted' AND substr(data, 67, 32) <> repeat('0', 32)
                THEN 'score exceeds 2^128-1'
            WHEN event = 'ContributionAccepted'
                AND ('0x' || substr(data, 65, 2))::INTEGER NOT IN (0, 1, 2)
                THEN 'unknown contribution kind ' || ('0x' || substr(data, 65, 2))::INTEGER
            WHEN event = 'ContributionAccepted'
                AND ('0x' || substr(topic2, 27)) NOT IN (SELECT token FROM agent_tokens)
                THEN 'unregistered agent 0x' || substr(topic2, 27)
            WHEN event = 'ContributionAccepted'
                AND topic1 IN (SELECT contribution_id FROM known_contribution_ids)
                THEN 'duplicate contributionId (accepted in an earlier epoch)'
        END AS reason
    FROM logs
),

-- accepted contributions whose contributionId came earlier in this epoch; the window runs
-- over those rows only (over all rows it cost ~2.5 s per million logs). A log is identified
-- by (block_number, log_index).
repeated_ids AS (
    SELECT DISTINCT block_number, log_index
    FROM (
        SELECT block_number, log_index, row_number() OVER (
            PARTITION BY topic1 ORDER BY block_number, log_index) AS nth
        FROM checked
        WHERE event = 'ContributionAccepted' AND reason IS NULL
    )
    WHERE nth > 1
)

-- No ORDER BY: the pipeline keeps this result in a temporary table, and every decode_*
-- file and quarantine sort their own output by (block_number, log_index).
SELECT
    c.* EXCLUDE (reason, extra_topics, words, data_ok, topics_ok),
    CASE
        WHEN r.block_number IS NOT NULL
            THEN 'duplicate contributionId (accepted earlier in this epoch)'
        ELSE c.reason
    END AS reason
FROM checked AS c
LEFT JOIN repeated_ids AS r ON r.block_number = c.block_number AND r.log_index = c.log_index
