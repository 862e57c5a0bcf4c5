-- abi_tail_ok(data, k, head_words, utf8): is the dynamic `string` (utf8 = true) or `bytes`
-- value whose offset sits in head word k of an event's `data` (hex text '0x' + whole 32-byte
-- words) well formed, exactly as eth_abi's strict decoder requires?
--   * the offset (a uint256, in bytes from the start of the data) points past the head
--     (head_words words) and inside the data;
--   * the 32-byte length word at that offset is all there, and so are the value's bytes
--     padded to a multiple of 32;
--   * the padding bytes are zero; a string's bytes are valid UTF-8.
-- Offsets need not be multiples of 32 and tails may overlap: eth_abi accepts both.
-- Nested CASEs (evaluated lazily) keep every substr position within the data.

-- bytes of a hex data string
CREATE OR REPLACE MACRO abi_bytes(data) AS (length(data) - 2) // 2;

-- the 32-byte word starting at byte `pos`, as an integer, when it is all inside the data and
-- below 2^64 (anything larger cannot be an offset or length inside a log), else NULL
CREATE OR REPLACE MACRO abi_u64(data, pos) AS (
    CASE
        WHEN pos + 32 > abi_bytes(data) THEN NULL
        WHEN substr(data, (3 + 2 * pos)::BIGINT, 48) <> repeat('0', 48) THEN NULL
        ELSE ('0x' || substr(data, (3 + 2 * pos + 48)::BIGINT, 16))::UBIGINT::HUGEINT
    END
);

CREATE OR REPLACE MACRO abi_value_ok(data, pos, len, utf8) AS (
    CASE
        WHEN len IS NULL THEN false
        WHEN pos + 32 + (len + 31) // 32 * 32 > abi_bytes(data) THEN false
        WHEN substr(data, (3 + 2 * (pos + 32 + len))::BIGINT,
                    (2 * ((len + 31) // 32 * 32 - len))::BIGINT)
            <> repeat('0', (2 * ((len + 31) // 32 * 32 - len))::BIGINT) THEN false
        WHEN utf8 AND try(decode(unhex(substr(data, (3 + 2 * (pos + 32))::BIGINT,
                                              (2 * len)::BIGINT)))) IS NULL THEN false
        ELSE true
    END
);

CREATE OR REPLACE MACRO abi_offset_ok(data, pos, head_words, utf8) AS (
    CASE
        WHEN pos IS NULL OR pos < 32 * head_words OR pos >= abi_bytes(data) THEN false
        ELSE abi_value_ok(data, pos, abi_u64(data, pos), utf8)
    END
);

CREATE OR REPLACE MACRO abi_tail_ok(data, k, head_words, utf8) AS
    coalesce(abi_offset_ok(data, abi_u64(data, 32 * k), head_words, utf8), false);
