"""Decoding and snapshotting one epoch: the SQL in ``sql/`` run by DuckDB, glued exactly.

Decoding is columnar (one SQL pass over the epoch's raw logs), and every raw log ends up
exactly once: decoded, analytics-only (pool Mint/Burn/Swap/Sync), or in ``quarantine``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aimg_pipeline.events import TOPIC0
from aimg_pipeline.lib.config import Config
from aimg_pipeline.warehouse import SQL_DIR, TABLES, Warehouse, run_sql


def _literal(path: Path) -> str:
    """A path as a SQL string literal (paths are the warehouse's own, never user values)."""
    return "'" + str(path).replace("'", "''") + "'"


@dataclass(frozen=True)
class DecodeResult:
    raw_logs: int
    position_changes: int
    votes: int
    contributions: int
    quarantine: int
    quarantine_reasons: dict[str, int]


def _sources(config: Config) -> pa.Table:
    rows = [(t.address, t.kind, t.name, t.agent) for t in config.position_tokens().values()]
    rows += [(a.governor, "governor", a.name, a.name) for a in config.agents]
    rows.append((config.contribution_registry, "contribution_registry", "contributions", None))
    address, kind, name, agent = (list(column) for column in zip(*rows, strict=True))
    return pa.table({"address": address, "source_kind": kind, "name": name, "agent": agent})


def decode_epoch(config: Config, warehouse: Warehouse, epoch: int) -> DecodeResult:
    """Classify and decode one epoch's raw logs into the decoded tables and quarantine."""
    con = warehouse.connect()
    earlier_ids = con.sql(
        "SELECT DISTINCT contribution_id FROM contributions WHERE epoch < $epoch",
        params={"epoch": epoch},
    ).to_arrow_table()
    # DuckDB reads the epoch's raw_logs file itself and keeps the classified logs in a
    # temporary table (spilled to disk past its memory cap): a 10M-log epoch never becomes
    # Python/Arrow objects, and position_changes (two rows a Transfer) is written by COPY.
    raw_path = warehouse.path("raw_logs", epoch)
    warehouse.read_schema("raw_logs", epoch)  # a clear error when it is not materialized
    con.execute(f"CREATE VIEW epoch_logs AS SELECT * FROM read_parquet({_literal(raw_path)})")
    raw_count = pq.read_metadata(raw_path).num_rows
    con.register("event_types", pa.table({
        "topic0": list(TOPIC0.values()), "event": list(TOPIC0.keys())}))
    con.register("sources", _sources(config))
    con.register("agent_tokens", pa.table({
        "token": [a.token for a in config.agents], "agent": [a.name for a in config.agents]}))
    con.register("known_contribution_ids", earlier_ids)
    text = (SQL_DIR / "classify_logs.sql").read_text()
    # Kept narrow (it spills past DuckDB's memory cap at 10M logs): the decoders never read
    # block_hash / transaction_index, and transaction_hash / topic0 only of quarantined rows.
    con.execute(f"""CREATE TEMP TABLE classified_logs AS
        SELECT * EXCLUDE (block_hash, transaction_index, transaction_hash, topic0),
            CASE WHEN reason IS NOT NULL THEN transaction_hash END AS transaction_hash,
            CASE WHEN reason IS NOT NULL THEN topic0 END AS topic0
        FROM ({text})""")

    changes = warehouse.write_query("position_changes", epoch, con, "decode_position_changes")
    votes = run_sql(con, "decode_votes", epoch=epoch)
    contributions = run_sql(con, "decode_contributions", epoch=epoch).to_pydict()
    multipliers = config.policy_for(epoch).kind_multiplier_bps
    contributions["weight"] = [
        str(int(score) * multipliers[kind])
        for score, kind in zip(contributions["score"], contributions["kind"], strict=True)
    ]
    quarantine = run_sql(con, "quarantine", epoch=epoch)
    reasons: dict[str, int] = {}
    for reason in quarantine["reason"].to_pylist():
        reasons[reason] = reasons.get(reason, 0) + 1
    con.close()
    return DecodeResult(
        raw_logs=raw_count,
        position_changes=changes,
        votes=warehouse.write("votes", epoch, votes),
        contributions=warehouse.write("contributions", epoch, contributions),
        quarantine=warehouse.write("quarantine", epoch, quarantine),
        quarantine_reasons=reasons,
    )


@dataclass(frozen=True)
class SnapshotResult:
    rows: int
    holders: int
    negative: list[tuple[str, str, int]]  # (pool, account, closing) that went below zero


def snapshot_epoch(config: Config, warehouse: Warehouse, epoch: int) -> SnapshotResult:
    """Opening/closing balances and balance-seconds per position token and account."""
    window = config.calendar().window(epoch)
    # DuckDB reads both files itself: 15M position changes as Arrow in Python took 2.5 GB.
    columns = ["pool", "pool_name", "token_kind", "account", "closing_balance"]
    if epoch > 0:
        warehouse.read_schema("position_snapshots", epoch - 1)  # clear error when missing
    warehouse.read_schema("position_changes", epoch)
    files = {"epoch_position_changes": warehouse.path("position_changes", epoch)}
    if epoch > 0:
        files["previous_snapshots"] = warehouse.path("position_snapshots", epoch - 1)
    con = warehouse.connect(files)
    if epoch == 0:
        con.register("previous_snapshots",
                     TABLES["position_snapshots"][0].empty_table().select(columns))
    table = run_sql(con, "position_snapshots", start=window.start, end=window.end)
    con.close()

    # Rows the SQL could finish in HUGEINT (every realistic row) come with fast_* filled;
    # the others are recombined here from the 64-bit limbs with Python integers.
    slow_mask = pc.is_null(table["fast_seconds"])
    slow = table.filter(slow_mask).to_pydict()
    length = window.length
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

    result = pa.table({
        "epoch": pa.array([epoch] * table.num_rows, pa.int64()), "pool": table["pool"],
        "pool_name": table["pool_name"], "token_kind": table["token_kind"],
        "account": table["account"], "opening_balance": column("fast_opening", opening),
        "closing_balance": column("fast_closing", closing),
        "balance_seconds": column("fast_seconds", seconds),
    })
    rows = warehouse.write("position_snapshots", epoch, result)
    below = result.filter(pc.or_(pc.starts_with(result["opening_balance"], "-"),
                                 pc.starts_with(result["closing_balance"], "-")))
    negative = [(pool, account, int(closing_balance)) for pool, account, closing_balance in zip(
        below["pool"].to_pylist(), below["account"].to_pylist(),
        below["closing_balance"].to_pylist(), strict=True)]
    return SnapshotResult(rows, pc.count_distinct(table["account"]).as_py(), negative)
