"""Decoding one epoch's raw logs into position changes, votes, contribution events, pool
swaps and syncs, and the quarantine: the SQL in ``sql/`` run by DuckDB, glued exactly.

Decoding is columnar: the clean Transfers and pool events (nearly every log) are decoded in
bulk by ``transfers.split_epoch_logs`` (and ``pool_events``), every other log by
``sql/classify_logs.sql`` and the decode files, which stay the definition of what is valid.
Every raw log ends up exactly once: decoded (pool Swap/Sync into ``swaps``/``syncs`` for the
yield tables), analytics-only (pool Mint/Burn), in ``quarantine``, or — a vote or
contribution before genesis — counted nowhere (SPEC 3). Decoding reads the epoch's own raw
logs only, so epochs decode in any order and in parallel; the one rule that needs earlier
epochs, duplicate contributionIds, is ``decode.contributions``' (an epoch-ordered step).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aimg_pipeline.decode.transfers import (
    LOG_COLUMNS,
    FastPathUnusable,
    PositionTokens,
    Sinks,
    split_epoch_logs,
)
from aimg_pipeline.lib.events import TOPIC0
from aimg_pipeline.lib.policy import Config
from aimg_pipeline.warehouse import SQL_DIR, TABLES, Warehouse, run_sql, sql_literal


@dataclass(frozen=True)
class DecodeResult:
    raw_logs: int
    position_changes: int
    votes: int
    contribution_events: int
    swaps: int
    syncs: int
    quarantine: int
    quarantine_reasons: dict[str, int]
    before_window: int  # well-formed votes and contributions before genesis: counted nowhere
    duplicate_logs: int  # repeated (block hash, log index) in raw_logs, decoded once


def _sources(config: Config, epoch: int) -> pa.Table:
    """What each contract in force at ``epoch`` is, for classify_logs.sql."""
    rows = [(t.address, t.kind, t.name, t.agent)
            for t in config.position_tokens(epoch).values()]
    rows += [(a.governor, "governor", a.name, a.name) for a in config.agents_at(epoch)]
    rows.append((config.contribution_registry, "contribution_registry", "contributions", None))
    address, kind, name, agent = (list(column) for column in zip(*rows, strict=True))
    return pa.table({"address": address, "source_kind": kind, "name": name, "agent": agent})


def decode_epoch(config: Config, warehouse: Warehouse, epoch: int) -> DecodeResult:
    """Classify and decode one epoch's raw logs into the decoded tables and quarantine.

    The clean Transfers and pool events (nearly every log; see ``transfers`` and
    ``pool_events``) are decoded in bulk, in the raw logs' order, straight into
    position_changes, swaps and syncs; only the other logs go through
    ``sql/classify_logs.sql`` and the decode_* SQL. When raw_logs is not in (block, log
    index) order, or the SQL would find a reason-free Transfer, Swap or Sync among the
    others (it cannot: the two sets are the same rules), the whole epoch goes through the
    SQL instead.
    """
    start = config.calendar().window(epoch).start
    con = warehouse.connect()
    raw_path = warehouse.path("raw_logs", epoch)
    warehouse.read_schema("raw_logs", epoch)  # a clear error when it is not materialized
    raw_count = pq.read_metadata(raw_path).num_rows
    con.register("event_types", pa.table({
        "topic0": list(TOPIC0.values()), "event": list(TOPIC0.keys())}))
    sources = _sources(config, epoch)
    con.register("sources", sources)
    agents = config.agents_at(epoch)
    con.register("agent_tokens", pa.table({
        "token": [a.token for a in agents], "agent": [a.name for a in agents]}))
    # The classified logs stay in DuckDB (a temporary table, spilled past its memory cap),
    # kept narrow: transaction_hash and topic0 only where a later step reports them.
    classify = f"""CREATE TEMP TABLE classified_logs AS
        SELECT * EXCLUDE (transaction_hash, topic0),
            CASE WHEN reason IS NOT NULL OR event = 'ContributionAccepted'
                THEN transaction_hash END AS transaction_hash,
            CASE WHEN reason IS NOT NULL THEN topic0 END AS topic0
        FROM ({(SQL_DIR / "classify_logs.sql").read_text()})"""
    position = sources.filter(pc.is_in(sources["source_kind"],
                                       pa.array(["vault", "pool", "wrapper"])))
    tokens = PositionTokens(*(position[c].combine_chunks()
                              for c in ("address", "name", "source_kind")))
    con.register("empty_logs", pa.schema(
        [TABLES["raw_logs"][0].field(c) for c in LOG_COLUMNS]).empty_table())
    con.execute("CREATE TEMP TABLE epoch_logs AS SELECT * FROM empty_logs")

    def keep(logs: pa.Table) -> None:  # the logs for the SQL, into DuckDB (spills, not swells)
        con.register("more_logs", logs)
        con.execute("INSERT INTO epoch_logs SELECT * FROM more_logs")
        con.unregister("more_logs")

    duplicates = 0
    try:
        with (warehouse.writer("position_changes", epoch) as changes_writer,
              warehouse.writer("swaps", epoch) as swaps_writer,
              warehouse.writer("syncs", epoch) as syncs_writer):
            sinks = Sinks(changes_writer.write_table, swaps_writer.write_table,
                          syncs_writer.write_table, keep)
            written = split_epoch_logs(raw_path, sinks, epoch, tokens, TOPIC0)
            con.execute(classify)
            if con.execute("SELECT count(*) FROM classified_logs WHERE reason IS NULL "
                           "AND event IN ('Transfer', 'Swap', 'Sync')").fetchall()[0][0]:
                raise FastPathUnusable("a reason-free Transfer, Swap or Sync was left to the SQL")
        changes, swaps, syncs = (written[t] for t in ("position_changes", "swaps", "syncs"))
    except FastPathUnusable:
        # raw_logs out of order, or holding a log twice (a file not written by ingestion):
        # the SQL decodes each (block hash, log index) once
        con.execute("DROP TABLE IF EXISTS classified_logs")
        con.execute("DROP TABLE epoch_logs")
        con.execute(f"CREATE VIEW epoch_logs AS SELECT {', '.join(LOG_COLUMNS)} "
                    f"FROM read_parquet({sql_literal(raw_path)}) "
                    "QUALIFY row_number() OVER (PARTITION BY block_hash, log_index "
                    "ORDER BY block_number) = 1")
        duplicates = raw_count - con.execute("SELECT count(*) FROM epoch_logs").fetchall()[0][0]
        con.execute(classify)
        changes = warehouse.write_query("position_changes", epoch, con, "decode_position_changes")
        swaps = warehouse.write_query("swaps", epoch, con, "decode_swaps")
        syncs = warehouse.write_query("syncs", epoch, con, "decode_syncs")

    votes = run_sql(con, "decode_votes", epoch=epoch, start=start)
    events = run_sql(con, "decode_contribution_events", epoch=epoch, start=start)
    before_window = con.execute(
        "SELECT count(*) FROM classified_logs WHERE reason IS NULL AND block_timestamp < $start"
        " AND event IN ('VoteCast', 'VoteCastWithParams', 'ContributionAccepted')",
        {"start": start}).fetchall()[0][0]
    quarantine = run_sql(con, "quarantine", epoch=epoch)
    reasons: dict[str, int] = {}
    for reason in quarantine["reason"].to_pylist():
        reasons[reason] = reasons.get(reason, 0) + 1
    con.close()
    return DecodeResult(
        raw_logs=raw_count,
        position_changes=changes,
        votes=warehouse.write("votes", epoch, votes),
        contribution_events=warehouse.write("contribution_events", epoch, events),
        swaps=swaps,
        syncs=syncs,
        quarantine=warehouse.write("quarantine", epoch, quarantine),
        quarantine_reasons=reasons,
        before_window=before_window,
        duplicate_logs=duplicates,
    )
