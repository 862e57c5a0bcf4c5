-- u128_text(v): the decimal text of a UHUGEINT, exactly what v::VARCHAR gives, but fast.
-- DuckDB's own UHUGEINT/HUGEINT -> VARCHAR cast costs about 10 µs a value (measured: 11 s
-- for 1M Transfer amounts), while UBIGINT -> VARCHAR is ~100x faster; so the value is cut
-- into base-10^19 pieces that each fit a UBIGINT. Values below 10^38 (every realistic
-- amount) take one or two pieces.
CREATE OR REPLACE MACRO u128_text(v) AS (
    CASE
        WHEN v < 10000000000000000000::UHUGEINT THEN v::UBIGINT::VARCHAR
        WHEN v < 100000000000000000000000000000000000000::UHUGEINT THEN
            (v // 10000000000000000000::UHUGEINT)::UBIGINT::VARCHAR
            || lpad((v % 10000000000000000000::UHUGEINT)::UBIGINT::VARCHAR, 19, '0')
        ELSE
            (v // 100000000000000000000000000000000000000::UHUGEINT)::UBIGINT::VARCHAR
            || lpad(((v // 10000000000000000000::UHUGEINT)
                     % 10000000000000000000::UHUGEINT)::UBIGINT::VARCHAR, 19, '0')
            || lpad((v % 10000000000000000000::UHUGEINT)::UBIGINT::VARCHAR, 19, '0')
    END
);

-- i128_text(v): the same for a signed HUGEINT (a leading '-' for negative values).
CREATE OR REPLACE MACRO i128_text(v) AS (
    CASE WHEN v < 0 THEN '-' || u128_text((-(v + 1))::UHUGEINT + 1) ELSE u128_text(v::UHUGEINT) END
);

-- hex_u128(hex32): 32 hex digits (no 0x) as a UHUGEINT, through two 64-bit halves, because
-- DuckDB's '0x…'::UHUGEINT cast is as slow as the text cast above.
CREATE OR REPLACE MACRO hex_u128(hex32) AS (
    (('0x' || substr(hex32, 1, 16))::UBIGINT::UHUGEINT << 64)
    + ('0x' || substr(hex32, 17, 16))::UBIGINT::UHUGEINT
);
