"""Stage 1, ingest: the chain's logs of an epoch into ``raw_logs``, verbatim, and its block
range into ``epochs``.

``chain`` is the JSON-RPC client, ``scope`` what an epoch reads, ``rpc`` and ``files`` the two
sources (JSON-RPC, cryo-layout Parquet files), ``store`` where both end.
"""
