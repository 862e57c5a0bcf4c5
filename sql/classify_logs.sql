-- classify_logs: names the event of every raw log of one epoch and, when the log cannot be
-- used, the reason why. Rows with a reason go to `quarantine`; all others are decoded by the
-- decode_* transformations. Nothing is dropped: every input row comes out exactly once.
--
-- Inputs (registered by the pipeline): epoch_logs (this epoch's raw_logs), event_types
-- (topic0, event), sources (address, source_kind, name, agent), agent_tokens (token, agent):
-- the contracts and agents in force at this epoch.
-- Hex layout of `data`: '0x' then 64 hex characters per 32-byte ABI word; word k starts at
-- character 3 + 64*k (1-based), byte b at character 3 + 2*b. Amounts must fit in 128 bits:
-- the first 32 hex characters of an amount word must be zero.
-- Every rule depends on the log alone, never on other epochs: duplicate contributionIds
-- are found by the `contributions` step, which sees every earlier epoch (SPEC 6.5).
-- A vote's `reason` string and `params` bytes are checked as eth_abi's strict decoder
-- checks them (sql/abi_tail_ok.sql): an offset into the data past the head, a length
-- whose padded bytes are all there, zero padding, and UTF-8 for the string.
WITH logs AS (
    SELECT
        l.*,
        e.event,
        s.source_kind,
        s.name AS source_name,
        s.agent AS source_agent,
        -- which of topic1..3 are present, as a 3-character pattern ('110': topic1 and 2)
        (l.topic1 IS NOT NULL)::INT::VARCHAR || (l.topic2 IS NOT NULL)::INT::VARCHAR
            || (l.topic3 IS NOT NULL)::INT::VARCHAR AS topics_present,
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
            WHEN event = 'Transfer' AND source_kind NOT IN ('vault', 'pool', 'wrapper')
                THEN 'Transfer from a contract that is not a position token'
            WHEN event IN ('Mint', 'Burn', 'Swap', 'Sync') AND source_kind <> 'pool'
                THEN event || ' from a contract that is not a pool'
            WHEN event IN ('VoteCast', 'VoteCastWithParams') AND source_kind <> 'governor'
                THEN event || ' from a contract that is not a governor'
            WHEN event = 'ContributionAccepted' AND source_kind <> 'contribution_registry'
                THEN 'ContributionAccepted from a contract that is not the registry'
            -- shapes: exactly the indexed topics of the event (a NULL where one is indexed
            -- is possible in files), and its data words
            WHEN event = 'Transfer' AND NOT (topics_present = '110' AND words = 1)
                THEN 'Transfer does not match (address indexed, address indexed, uint256)'
            WHEN event = 'Mint' AND NOT (topics_present = '100' AND words = 2)
                THEN 'Mint does not match (address indexed, uint256, uint256)'
            WHEN event = 'Burn' AND NOT (topics_present = '110' AND words = 2)
                THEN 'Burn does not match (address indexed, uint256, uint256, address indexed)'
            WHEN event = 'Swap' AND NOT (topics_present = '110' AND words = 4)
                THEN 'Swap does not match (address indexed, 4 x uint256, address indexed)'
            WHEN event = 'Sync' AND NOT (topics_present = '000' AND words = 2)
                THEN 'Sync does not match (uint112, uint112)'
            WHEN event = 'VoteCast' AND NOT (topics_present = '100' AND words >= 5)
                THEN 'VoteCast does not match (address indexed, uint256, uint8, uint256, string)'
            WHEN event = 'VoteCastWithParams' AND NOT (topics_present = '100' AND words >= 7)
                THEN 'VoteCastWithParams does not match its ABI'
            WHEN event = 'ContributionAccepted' AND NOT (topics_present = '111' AND words = 2)
                THEN 'ContributionAccepted does not match its ABI'
            -- address topics: 12 zero bytes, then 20 address bytes
            WHEN event IN ('Transfer', 'VoteCast', 'VoteCastWithParams')
                AND substr(topic1, 3, 24) <> repeat('0', 24)
                THEN 'address topic1 has non-zero high bytes'
            WHEN event = 'Transfer' AND substr(topic2, 3, 24) <> repeat('0', 24)
                THEN 'address topic2 has non-zero high bytes'
            WHEN event = 'Swap' AND (substr(topic1, 3, 24) <> repeat('0', 24)
                    OR substr(topic2, 3, 24) <> repeat('0', 24))
                THEN 'address topic has non-zero high bytes'
            WHEN event = 'ContributionAccepted'
                AND (substr(topic2, 3, 24) <> repeat('0', 24)
                    OR substr(topic3, 3, 24) <> repeat('0', 24))
                THEN 'address topic has non-zero high bytes'
            -- values
            WHEN event = 'Transfer' AND substr(data, 3, 32) <> repeat('0', 32)
                THEN 'amount exceeds 2^128-1'
            WHEN event = 'Swap' AND (substr(data, 3, 32) <> repeat('0', 32)
                    OR substr(data, 67, 32) <> repeat('0', 32)
                    OR substr(data, 131, 32) <> repeat('0', 32)
                    OR substr(data, 195, 32) <> repeat('0', 32))
                THEN 'Swap amount exceeds 2^128-1'
            WHEN event = 'Sync' AND (substr(data, 3, 36) <> repeat('0', 36)
                    OR substr(data, 67, 36) <> repeat('0', 36))
                THEN 'Sync reserve is not a uint112'
            WHEN event IN ('VoteCast', 'VoteCastWithParams')
                AND substr(data, 67, 62) <> repeat('0', 62)
                THEN 'support is not a uint8'
            WHEN event IN ('VoteCast', 'VoteCastWithParams')
                AND substr(data, 131, 32) <> repeat('0', 32)
                THEN 'vote weight exceeds 2^128-1'
            WHEN event IN ('VoteCast', 'VoteCastWithParams')
                AND NOT abi_tail_ok(data, 3, CASE event WHEN 'VoteCast' THEN 4 ELSE 5 END, true)
                THEN event || ' reason is not a valid ABI string (offset, length, padding '
                    || 'or UTF-8)'
            WHEN event = 'VoteCastWithParams' AND NOT abi_tail_ok(data, 4, 5, false)
                THEN 'VoteCastWithParams params is not valid ABI bytes (offset, length or '
                    || 'padding)'
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
        END AS reason
    FROM logs
)

-- No ORDER BY: the pipeline keeps this result in a temporary table, and every decode_*
-- file and quarantine sort their own output by (block_number, log_index).
SELECT * EXCLUDE (topics_present, words, data_ok, topics_ok)
FROM checked
