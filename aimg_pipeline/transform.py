"""Decoding and snapshotting one epoch: the SQL in ``sql/`` run by DuckDB, glued exactly.

Decoding is columnar: the clean Transfers (nearly every log) are decoded in bulk by
``transfers.split_epoch_logs``, every other log by ``sql/classify_logs.sql`` and the decode
files, which stay the definition of what is valid. Every raw log ends up exactly once:
decoded, analytics-only (pool Mint/Burn/Swap/Sync), in ``quarantine``, or — a vote or
contribution before genesis — counted nowhere (SPEC 3). Decoding reads the epoch's own raw
logs only, so epochs decode in any order and in parallel; the one rule that needs earlier
epochs, duplicate contributionIds, is ``accept_contributions``' (an epoch-ordered step).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aimg_pipeline.events import TOPIC0
from aimg_pipeline.lib.config import Config
from aimg_pipeline.transfers import LOG_COLUMNS, FastPathUnusable, PositionTokens, split_epoch_logs
from aimg_pipeline.warehouse import SQL_DIR, TABLES, Warehouse, WarehouseError, run_sql


def _literal(path: Path) -> str:
    """A path as a SQL string literal (paths are the warehouse's own, never user values)."""
    return "'" + str(path).replace("'", "''") + "'"


@dataclass(frozen=True)
class DecodeResult:
    raw_logs: int
    position_changes: int
    votes: int
    contribution_events: int
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

    The clean Transfers (nearly every log; see ``transfers``) are decoded in bulk, in the raw
    logs' order, straight into position_changes; only the other logs go through
    ``sql/classify_logs.sql`` and the decode_* SQL. When raw_logs is not in (block, log
    index) order, or the SQL would find a reason-free Transfer among the others (it cannot:
    the two sets are the same rules), the whole epoch goes through the SQL instead.
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
    position = sources.filter(pc.is_in(sources["source_kind"], pa.array(["vault", "pool"])))
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
        with warehouse.writer("position_changes", epoch) as writer:
            changes = split_epoch_logs(raw_path, writer.write_table, keep, epoch, tokens,
                                       TOPIC0["Transfer"])
            con.execute(classify)
            if con.execute("SELECT count(*) FROM classified_logs "
                           "WHERE event = 'Transfer' AND reason IS NULL").fetchall()[0][0]:
                raise FastPathUnusable("a reason-free Transfer was left to the SQL")
    except FastPathUnusable:
        # raw_logs out of order, or holding a log twice (a file not written by ingestion):
        # the SQL decodes each (block hash, log index) once
        con.execute("DROP TABLE IF EXISTS classified_logs")
        con.execute("DROP TABLE epoch_logs")
        con.execute(f"CREATE VIEW epoch_logs AS SELECT {', '.join(LOG_COLUMNS)} "
                    f"FROM read_parquet({_literal(raw_path)}) "
                    "QUALIFY row_number() OVER (PARTITION BY block_hash, log_index "
                    "ORDER BY block_number) = 1")
        duplicates = raw_count - con.execute("SELECT count(*) FROM epoch_logs").fetchall()[0][0]
        con.execute(classify)
        changes = warehouse.write_query("position_changes", epoch, con, "decode_position_changes")

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
        quarantine=warehouse.write("quarantine", epoch, quarantine),
        quarantine_reasons=reasons,
        before_window=before_window,
        duplicate_logs=duplicates,
    )


@dataclass(frozen=True)
class ContributionResult:
    accepted: int
    duplicates: int


def accept_contributions(config: Config, warehouse: Warehouse, epoch: int) -> ContributionResult:
    """The epoch's accepted contributions, and its duplicate contributionIds into
    ``contribution_quarantine`` (shown in the ``quarantine`` view).

    An id accepted in any earlier epoch, or earlier in this one, is a duplicate, whatever
    order the epochs were decoded in: this step reads every earlier epoch's accepted
    contributions, so it needs all of them (each computed by this step in turn).
    """
    missing = [e for e in range(epoch) if not warehouse.has("contributions", e)]
    if missing:
        raise WarehouseError(
            f"epoch {epoch}'s contributions need the accepted contributions of every earlier "
            f"epoch; epochs {_ranges(missing)} are not materialized (decoded/contributions)")
    warehouse.read_schema("contribution_events", epoch)  # the usual error when missing
    con = warehouse.connect({
        "epoch_contribution_events": warehouse.path("contribution_events", epoch)})
    try:
        con.execute("CREATE TEMP TABLE earlier_contributions AS SELECT contribution_id "
                    "FROM contributions WHERE epoch < $epoch", {"epoch": epoch})
        decided = run_sql(con, "contributions")
    finally:
        con.close()
    duplicate = pc.is_valid(decided["reason"])
    accepted = decided.filter(pc.invert(duplicate)).to_pydict()
    multipliers = config.policy_for(epoch).kind_multiplier_bps
    accepted["weight"] = [
        str(int(score) * multipliers[kind])
        for score, kind in zip(accepted["score"], accepted["kind"], strict=True)
    ]
    rejected = decided.filter(duplicate)
    return ContributionResult(
        accepted=warehouse.write("contributions", epoch, {
            name: accepted[name] for name in TABLES["contributions"][0].names}),
        duplicates=warehouse.write("contribution_quarantine", epoch, {
            "epoch": rejected["epoch"], "reason": rejected["reason"],
            "block_number": rejected["block_number"],
            "transaction_hash": rejected["transaction_hash"],
            "log_index": rejected["log_index"],
            "address": [config.contribution_registry] * rejected.num_rows,
            "topic0": [TOPIC0["ContributionAccepted"]] * rejected.num_rows}),
    )


def _ranges(numbers: list[int]) -> str:
    """``[0, 1, 2, 5]`` as ``0..2, 5``: missing epochs named briefly."""
    out, start = [], numbers[0]
    for previous, number in zip(numbers, [*numbers[1:], None], strict=True):
        if number != previous + 1:
            out.append(f"{start}..{previous}" if previous > start else str(start))
            start = number
    return ", ".join(out)


@dataclass(frozen=True)
class SnapshotResult:
    rows: int
    holders: int
    negative: list[tuple[str, str, int]]  # (pool, account, closing) that went below zero


# What DuckDB raises instead of wrapping when a value leaves HUGEINT (a cast, sum or product),
# and what error() in position_snapshots_hugeint.sql raises: the fast path could not prove
# its answer, so the general path computes it.
_NOT_HUGEINT = (duckdb.ConversionException, duckdb.OutOfRangeException,
                duckdb.InvalidInputException)


def _snapshot_hugeint(con: duckdb.DuckDBPyConnection, epoch: int, start: int,
                      end: int) -> pa.Table:
    """The snapshot rows computed in HUGEINT (every realistic epoch), or a _NOT_HUGEINT error.

    Two statements (sql/position_sums.sql, then sql/position_snapshots_hugeint.sql) so the
    15M-row aggregate has released its memory before the join and sort run.
    """
    # Row order of the temporary table is irrelevant (the last query sorts), and keeping it
    # costs memory and time in DuckDB's parallel insert.
    con.execute("SET preserve_insertion_order = false")
    con.execute((SQL_DIR / "position_sums.sql").read_text(), {"start": start, "end": end})
    con.execute("SET preserve_insertion_order = true")
    return run_sql(con, "position_snapshots_hugeint", epoch=epoch, start=start, end=end)


def _snapshot_limbs(con: duckdb.DuckDBPyConnection, epoch: int, start: int,
                    end: int) -> pa.Table:
    """The snapshot rows for any values: 64-bit limbs in SQL, recombined with Python ints."""
    table = run_sql(con, "position_snapshots", start=start, end=end)

    # Rows the SQL could finish in HUGEINT come with fast_* filled; the others are
    # recombined here from the 64-bit limbs with Python integers.
    slow_mask = pc.is_null(table["fast_seconds"])
    slow = table.filter(slow_mask).to_pydict()
    length = end - start
    opening, closing, seconds = [], [], []
    for i in range(len(slow["pool"])):
        def limbs(name: str, i: int = i) -> int:
            return (int(slow[f"{name}_hi"][i]) << 64) + int(slow[f"{name}_lo"][i])

        open_balance = int(slow["previous_closing"][i]) + limbs("before")
        close_balance = open_balance + limbs("window")
        opening.append(str(open_balance))
        closing.append(str(close_balance))
        seconds.append(str(open_balance * length + limbs("timed")))

    def column(fast: str, computed: list[str]) -> pa.Array:
        values = table[fast].combine_chunks()
        if not computed:
            return values
        return pc.replace_with_mask(values, slow_mask.combine_chunks(),
                                    pa.array(computed, pa.string()))

    return pa.table({
        "epoch": pa.array([epoch] * table.num_rows, pa.int64()), "pool": table["pool"],
        "pool_name": table["pool_name"], "token_kind": table["token_kind"],
        "account": table["account"], "opening_balance": column("fast_opening", opening),
        "closing_balance": column("fast_closing", closing),
        "balance_seconds": column("fast_seconds", seconds),
    })


def snapshot_epoch(config: Config, warehouse: Warehouse, epoch: int) -> SnapshotResult:
    """Opening/closing balances and balance-seconds per position token and account.

    DuckDB reads both files itself (15M position changes as Arrow in Python took 2.5 GB) and
    computes every row in HUGEINT, exactly or not at all: when a value leaves HUGEINT (only
    amounts near 2^127) it raises, and the general limb path computes the same table.
    """
    window = config.calendar().window(epoch)
    columns = ["pool", "pool_name", "token_kind", "account", "closing_balance"]
    if epoch > 0:
        warehouse.read_schema("position_snapshots", epoch - 1)  # clear error when missing
    warehouse.read_schema("position_changes", epoch)
    files = {"epoch_position_changes": warehouse.path("position_changes", epoch)}
    if epoch > 0:
        files["previous_snapshots"] = warehouse.path("position_snapshots", epoch - 1)

    def connect() -> duckdb.DuckDBPyConnection:
        con = warehouse.connect(files)
        if epoch == 0:
            con.register("previous_snapshots",
                         TABLES["position_snapshots"][0].empty_table().select(columns))
        return con

    con = connect()
    try:
        try:
            result = _snapshot_hugeint(con, epoch, window.start, window.end)
        except _NOT_HUGEINT:
            con.close()  # a fresh connection: the fast path's temporary table is memory
            con = connect()
            result = _snapshot_limbs(con, epoch, window.start, window.end)
        con.register("snapshot_rows", result)  # DuckDB's parallel count: half of Arrow's
        holders = con.sql("SELECT count(DISTINCT account) FROM snapshot_rows").fetchall()[0][0]
    finally:
        con.close()

    rows = warehouse.write("position_snapshots", epoch, result)
    below = result.filter(pc.or_(pc.starts_with(result["opening_balance"], "-"),
                                 pc.starts_with(result["closing_balance"], "-")))
    negative = [(pool, account, int(closing_balance)) for pool, account, closing_balance in zip(
        below["pool"].to_pylist(), below["account"].to_pylist(),
        below["closing_balance"].to_pylist(), strict=True)]
    return SnapshotResult(rows, holders, negative)
