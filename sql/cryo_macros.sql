-- cryo writes hashes, addresses, topics and data as binary, or with --hex as lowercase
-- '0x...' strings; raw_logs stores lowercase '0x...' text as JSON-RPC sends it. One macro
-- serves both layouts: typeof() is fixed per column, so DuckDB folds the CASE away.
CREATE OR REPLACE MACRO cryo_hex(x) AS
    CASE WHEN typeof(x) = 'BLOB' THEN '0x' || lower(hex(x)) ELSE lower(CAST(x AS VARCHAR)) END
