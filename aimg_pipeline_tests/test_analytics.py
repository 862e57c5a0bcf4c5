"""What analysts run: every view of analytics.duckdb in pandas, polars and Arrow; the DuckDB
CLI that `make install` provides; a copied home reading its own files; and every question of
docs/analytics.md, answered in SQL and in Python, checked against the published files
(allocations.csv, claims.json, manifest.json), which these tests read with the csv and json
modules only."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from aimg_pipeline.analytics import connect
from aimg_pipeline.warehouse import TABLES

DOCS = Path(__file__).resolve().parents[1] / "docs" / "analytics.md"
CLI = Path(sys.executable).parent / "duckdb"
EPOCH = 6


def published_rows(home: Path) -> list[dict[str, Any]]:
    """Every allocations.csv row of every published epoch, addresses lowercase, ints."""
    rows = []
    for folder in sorted((home / "published").glob("epoch-[0-9]*")):
        with open(folder / "allocations.csv", newline="") as handle:
            for r in csv.DictReader(handle):
                rows.append({"epoch": int(r["epoch"]), "channel": r["channel"],
                             "pool": r["pool"].lower(), "account": r["account"].lower(),
                             "amount": int(r["amount"]), "reason": r["reason"]})
    return rows


@pytest.fixture(scope="module")
def home(demo: dict[str, Any]) -> Path:
    return demo["home"]


@pytest.fixture(scope="module")
def rows(home: Path) -> list[dict[str, Any]]:
    return published_rows(home)


@pytest.fixture(scope="module")
def con(home: Path) -> Any:
    con = connect(home)
    yield con
    con.close()


@pytest.fixture(scope="module")
def account(home: Path) -> str:
    """A checksummed address, as a user pastes it: the first recipient of epoch 6."""
    with open(home / "published" / f"epoch-{EPOCH:05d}" / "allocations.csv") as handle:
        return next(csv.DictReader(handle))["account"]


def test_every_view_loads_exactly_in_pandas_polars_and_arrow(con: Any, rows: list) -> None:
    for table in TABLES:
        con.sql(f"SELECT * FROM {table}").df()  # noqa: S608 (our table names)
        con.sql(f"SELECT * FROM {table}").pl()  # noqa: S608
        con.sql(f"SELECT * FROM {table}").to_arrow_table()  # noqa: S608
    query = ("SELECT epoch, channel, lower(pool) AS pool, account, amount, reason "
             "FROM allocations ORDER BY epoch, channel, pool, account")
    expected = sorted((r["epoch"], r["channel"], r["pool"], r["account"], r["amount"],
                        r["reason"]) for r in rows)
    df = con.sql(query).df()
    assert sorted((int(e), c, p, a, int(x), why) for e, c, p, a, x, why
                  in df.itertuples(index=False)) == expected
    assert df["amount"].map(type).eq(str).all()  # exact text, never float64
    polars = con.sql(query).pl()
    assert sorted((e, c, p, a, int(x), why) for e, c, p, a, x, why
                  in polars.iter_rows()) == expected
    arrow = con.sql(query).to_arrow_table()
    assert arrow.schema.field("amount").type == pa.string()
    assert sorted((r["epoch"], r["channel"], r["pool"], r["account"], int(r["amount"]),
                   r["reason"]) for r in arrow.to_pylist()) == expected
    # the token-unit companion and the time columns
    first = con.execute("SELECT amount, amount_tokens FROM allocations LIMIT 1").fetchone()
    assert first[1] == pytest.approx(int(first[0]) / 10**18, rel=1e-12)
    assert con.execute("SELECT typeof(block_time) FROM raw_logs LIMIT 1").fetchone()[0] == (
        "TIMESTAMP WITH TIME ZONE")


def test_the_duckdb_cli_opens_the_file(home: Path, rows: list) -> None:
    version = subprocess.run([str(CLI), "--version"], capture_output=True, text=True,
                             check=True).stdout
    assert version.startswith("v1.5.6"), version
    out = subprocess.run(
        [str(CLI), "-readonly", "-csv", "analytics.duckdb", "-c",
         "SELECT sum(amount::BIGNUM)::VARCHAR FROM allocations WHERE epoch = 6"],
        cwd=home, capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == str(sum(r["amount"] for r in rows if r["epoch"] == EPOCH))


def test_a_copied_home_reads_its_own_files(home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("dagster", "tmp"))
    (copy / "warehouse" / "allocations" / f"epoch={EPOCH:05d}.parquet").unlink()
    count = "SELECT count(*) FROM allocations WHERE epoch = 6"
    with connect(copy) as copied, connect(home) as original:
        assert copied.execute(count).fetchone()[0] == 0
        assert original.execute(count).fetchone()[0] > 0
    # a plain duckdb.connect from the copy's directory sees the copy too
    out = subprocess.run([str(CLI), "-readonly", "-csv", "analytics.duckdb", "-c", count],
                         cwd=copy, capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == "0"


# ---------------------------------------------------------------- docs/analytics.md


def questions() -> dict[int, tuple[str, str]]:
    """Question number -> (its SQL block, its Python block)."""
    text = DOCS.read_text()
    out = {}
    for number, body in re.findall(r"^### (\d+)\. .*?\n(.*?)(?=^### |\Z)", text, re.M | re.S):
        sql = re.search(r"```sql\n(.*?)```", body, re.S).group(1)
        python = re.search(r"```python\n(.*?)```", body, re.S).group(1)
        out[int(number)] = (sql, python)
    return out


def run_sql(con: Any, sql: str, **params: Any) -> list[tuple]:
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    return con.execute(sql, used).fetchall()


def run_python(con: Any, code: str, **names: Any) -> Any:
    scope: dict[str, Any] = {"con": con, **names}
    exec(code, scope)  # noqa: S102 (the documented example, run as a user would)
    return scope["result"]


def test_the_page_has_ten_questions() -> None:
    assert sorted(questions()) == list(range(1, 11))


@pytest.mark.parametrize("number", range(1, 11))
def test_question(number: int, con: Any, rows: list, home: Path, account: str) -> None:
    sql, python = questions()[number]
    params = {"epoch": EPOCH, "account": account}
    got = run_sql(con, sql, **params)
    answer = run_python(con, python, **params)
    me = account.lower()
    by = defaultdict(int)
    if number == 1:
        for r in rows:
            by[(r["epoch"], r["channel"])] += r["amount"]
        assert {(e, c): int(a) for e, c, a, _ in got} == dict(by) == answer
        for e in {r["epoch"] for r in rows}:
            manifest = json.loads((home / "published" / f"epoch-{e:05d}" /
                                   "manifest.json").read_text())
            assert sum(v for (ep, _), v in by.items() if ep == e) == int(manifest["emission"])
    elif number == 2:
        assert answer is True or bool(answer)
        for e, allocated, emitted in got:
            assert allocated == emitted == str(sum(r["amount"] for r in rows if r["epoch"] == e))
    elif number == 3:
        for r in rows:
            if r["epoch"] == EPOCH and r["reason"] == "earned":
                by[r["account"]] += r["amount"]
        top = sorted(by.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        assert [(a, int(x)) for a, x in got] == top == answer
    elif number == 4:
        expected = {(r["channel"], r["pool"]): r["amount"] for r in rows
                    if r["epoch"] == EPOCH and r["account"] == me}
        assert expected
        assert {(c, p.lower()): int(a) for c, p, a, _ in got} == expected
        assert {(c, p.lower()): a for (c, p), a in answer.items()} == expected
    elif number == 5:
        names = {p.address: p.name for a in load_demo_config(home).agents for p in a.pools}
        for r in rows:
            if r["channel"] == "liquidity" and r["reason"] == "earned":
                by[(r["epoch"], names[r["pool"]])] += r["amount"]
        assert {(e, n): int(x) for e, n, x in got} == dict(by) == answer
    elif number == 6:
        expected = {(r["epoch"], r["channel"], r["pool"]): r["amount"] for r in rows
                    if r["reason"] == "unallocated"}
        assert expected  # the demo drains a pool and leaves an agent idle
        assert {(e, c, p.lower()): int(a) for e, c, p, a in got} == expected
        assert {(e, c, p.lower()): a for (e, c, p), a in answer.items()} == expected
    elif number == 7:
        for r in rows:
            if r["epoch"] == EPOCH and r["channel"] == "staking" and r["reason"] == "earned":
                by[r["pool"]] += r["amount"]
        names = {t.address: t.name for t in load_demo_config(home).position_tokens(EPOCH).values()}
        assert {n: int(paid) for _, n, _, paid in got} == {names[p]: a for p, a in by.items()}
        assert answer == {n: Fraction(int(paid), int(s)) for _, n, s, paid in got}
    elif number == 8:
        history = {}
        for folder in sorted((home / "published").glob("epoch-[0-9]*")):
            claims = json.loads((folder / "claims.json").read_text())
            entry = {a.lower(): c for a, c in claims["claims"].items()}.get(me)
            if entry is not None:
                history[claims["epoch"]] = int(entry["amount"])
        assert {e: int(c) for e, c, _ in got} == history == answer
    elif number == 9:
        assert len(got) == 3 * 7
        assert {(r[0], r[1]): r[8] for r in got} == answer
    elif number == 10:
        adds_up, mine = answer
        assert adds_up is True
        assert all(row[-1] for row in got)
        names = {p.address: p.name for a in load_demo_config(home).agents for p in a.pools}
        assert {(e, n): (int(f0), int(f1), int(m)) for e, n, f0, f1, m, _ in got} == {
            (e, names[p]): v for (e, p), v in mine.items()}


def load_demo_config(home: Path) -> Any:
    from aimg_pipeline.lib.config import load_config

    return load_config(home / "demo" / "aimg.toml")


def test_views_reject_nothing_a_client_needs(con: Any) -> None:
    """No view exposes a type pandas cannot load (BIGNUM, UHUGEINT) or loads as a float
    where an exact integer belongs (HUGEINT, DECIMAL)."""
    for table in TABLES:
        for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall():  # noqa: S608
            assert kind not in ("BIGNUM", "UHUGEINT", "HUGEINT") and not kind.startswith(
                "DECIMAL"), (table, name, kind)
