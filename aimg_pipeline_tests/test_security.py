"""Security: secrets only through the environment, no SQL built from values, no path out of
AIMG_HOME from a partition key or epoch, safe permissions on everything published, and the
CI dependency audit's decision rules. (The RPC URL never leaking into logs, metadata, errors
or files is test_secrets.py.)
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import stat
import sys
from pathlib import Path

import dagster as dg
import pytest

from aimg_pipeline.definitions import defs
from aimg_pipeline.lib.calendar import EpochCalendar
from aimg_pipeline.publish.artifacts import build_files
from aimg_pipeline.publish.folder import publish
from aimg_pipeline.publish.layout import PublishError, epoch_folder
from aimg_pipeline.warehouse import Warehouse, WarehouseError
from aimg_pipeline_tests.test_publish import release, shifted

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "aimg_pipeline"

# ------------------------------------------------------------------------ secrets


def test_the_rpc_url_comes_only_from_the_environment() -> None:
    chain = defs.resources["chain"]
    assert isinstance(chain.rpc_url, dg.EnvVar)  # resolved at run time, never stored
    assert chain.rpc_url.env_var_name == "AIMG_RPC_URL"


def test_no_endpoint_or_key_is_written_into_the_code() -> None:
    """No provider URL with a key in the source (the demo's local chain is not a secret)."""
    provider = re.compile(r"https?://[^\s\"']*(infura|alchemy|quiknode|ankr|chainstack)",
                          re.IGNORECASE)
    offenders = [f"{p.relative_to(REPO)}:{n}" for p in sorted(PACKAGE.rglob("*.py"))
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if provider.search(line)]
    assert offenders == []


# ------------------------------------------------------------------------ SQL

SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|ATTACH|COPY|PRAGMA)\b")
# (file, function): the places SQL text is formatted, each reviewed: they interpolate only
# table/column names from the fixed TABLES dict, SQL text read from sql/*.sql, and our own
# file paths quoted by warehouse.sql_literal -- never a value.
ALLOWED = {("warehouse.py", "view_sql"), ("warehouse.py", "connect"),
           ("analytics.py", "view_sql"), ("analytics.py", "ensure"),
           ("warehouse.py", "write_query"),  # COPY (<sql/ text>) TO <quoted temp path>
           ("logs.py", "decode_epoch")}  # view over a quoted path; <sql/ text> as table


def _formatted_sql(tree: ast.AST) -> list[tuple[str, int]]:
    """(function, line) of every SQL-looking string built by f-string, % or .format()."""
    hits: list[tuple[str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        text = None
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values
                           if isinstance(v, ast.Constant) and isinstance(v.value, str))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add) and \
                isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            text = node.left.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr == "format" and isinstance(node.func.value, ast.Constant) and \
                isinstance(node.func.value.value, str):
            text = node.func.value.value
        if text is not None and SQL_WORDS.search(text):
            hits.append((function, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    return hits


def test_sql_is_never_built_by_formatting_values() -> None:
    found = {(p.name, function, line) for p in sorted(PACKAGE.rglob("*.py"))
             for function, line in _formatted_sql(ast.parse(p.read_text()))}
    offenders = sorted(hit for hit in found if hit[:2] not in ALLOWED)
    assert offenders == [], "SQL must live in sql/*.sql with $parameters (or review and " \
        "allowlist a place that formats only names, sql/ text and quoted paths)"
    assert ("warehouse.py", "connect") in {hit[:2] for hit in found}  # the scan sees them


def test_the_scanner_catches_each_way_of_formatting() -> None:
    code = '''
def a(x): con.execute(f"SELECT * FROM t WHERE id = {x}")
def b(x): con.execute("DELETE FROM t WHERE id = %s" % x)
def c(x): con.sql("SELECT {}".format(x))
def d(x): con.sql("INSERT INTO t VALUES (" + x + ")")
def e(x): con.sql("SELECT * FROM t WHERE id = $id", params={"id": x})
'''
    assert [f for f, _ in _formatted_sql(ast.parse(code))] == ["a", "b", "c", "d"]


def test_sql_files_take_values_only_as_parameters() -> None:
    for path in sorted((REPO / "sql").glob("*.sql")):
        text = path.read_text()
        assert not re.search(r"\{[a-z_]*\}|%\(?[a-z_]*\)?s", text), path.name


# ------------------------------------------------------------------------ paths

TRAVERSAL = ["../00001_2026-01-01T00:00Z", "00001_2026-01-01T00:00Z/../../x",
             "00001_../../../etc/passwd", "/etc/passwd", "00001_2026-01-01T00:00Z\n",
             "..", "", "0001_2026-01-01T00:00Z", "-0001_1969-12-31T23:59Z", "00001",
             "00001_2026-01-01T00:00Z\x00", "00001_2026-01-01T00:00Z/"]


@pytest.mark.parametrize("key", TRAVERSAL)
def test_partition_keys_that_are_not_exactly_ours_are_refused(key: str) -> None:
    calendar = EpochCalendar(1_767_225_600, 86_400)  # 2026-01-01T00:00Z, daily
    assert calendar.epoch_of_key(calendar.partition_key(1)) == 1
    with pytest.raises(ValueError, match="invalid partition key"):
        calendar.epoch_of_key(key)


@pytest.mark.parametrize("epoch", [-1, 100_000, True, 1.0, "1", "../1", None])
def test_epochs_that_could_escape_or_alias_a_path_are_refused(epoch: object,
                                                             tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="outside 0..99999"):
        epoch_folder(tmp_path, epoch)  # type: ignore[arg-type]
    with pytest.raises(WarehouseError, match="outside 0..99999"):
        Warehouse(tmp_path).path("raw_logs", epoch)  # type: ignore[arg-type]


def test_table_names_are_only_the_documented_ones(tmp_path: Path) -> None:
    for table in ("../raw_logs", "raw_logs/../../x", "RAW_LOGS"):
        with pytest.raises(WarehouseError, match="unknown table"):
            Warehouse(tmp_path).path(table, 0)


def test_every_path_an_epoch_names_stays_under_aimg_home(tmp_path: Path) -> None:
    home = tmp_path.resolve()
    warehouse = Warehouse(home)
    from aimg_pipeline.warehouse import TABLES

    for epoch in (0, 1, 99_999):
        paths = [warehouse.path(t, epoch) for t in TABLES] + [
            epoch_folder(home / "published", epoch)]
        assert all(p.resolve().is_relative_to(home) for p in paths)


# ------------------------------------------------------------------------ permissions


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_published_tree_is_never_group_or_world_writable_even_with_umask_0(
    tmp_path: Path,
) -> None:
    """Under umask 0 the publish root was created 0777 (anyone could rename epochs in it)
    and the lock file 0666; now: folders 0755, artifacts 0444, the lock 0644."""
    root = tmp_path / "published"
    old = os.umask(0)
    try:
        publish(root, 0, build_files(release(0)))
        publish(root, 1, build_files(release(1)))
        publish(root, 0, build_files(shifted(55)), republish_reason="policy fix (test)")
    finally:
        os.umask(old)
    assert _mode(root) == 0o755
    assert _mode(root / ".publish.lock") == 0o644
    for path in root.rglob("*"):
        if path.name == ".publish.lock":
            continue
        assert _mode(path) == (0o755 if path.is_dir() else 0o444), path
    assert (root / "archive" / "epoch-00000.1").is_dir()  # the republish was archived


# ------------------------------------------------------------------------ the CI audit


def _audit_module():
    spec = importlib.util.spec_from_file_location("pip_audit_ci", REPO / ".ci" / "pip_audit.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_ci_audit_fails_only_on_unhandled_findings() -> None:
    audit = _audit_module()
    vuln = {"id": "PYSEC-1", "aliases": ["GHSA-aaaa"], "fix_versions": ["2.0"]}
    report = {"dependencies": [
        {"name": "a", "version": "1.0", "vulns": [vuln]},
        {"name": "b", "version": "1.0", "vulns": []},
        {"name": "c", "skip_reason": "Dependency not found on PyPI"},
    ]}
    verdict = audit.evaluate(report, {})
    assert (verdict.audited, verdict.skipped, verdict.performed) == (2, 1, True)
    assert verdict.failing == ["a 1.0: PYSEC-1 (fixed in 2.0)"]
    accepted = audit.evaluate(report, {"GHSA-aaaa": "not reachable: we never call a.f()"})
    assert accepted.failing == [] and "not reachable" in accepted.ignored[0]
    unreachable = audit.evaluate({"dependencies": [{"name": "c", "skip_reason": "x"}]}, {})
    assert not unreachable.performed and unreachable.failing == []


def test_ci_audit_ignore_entries_need_a_reason(tmp_path: Path) -> None:
    audit = _audit_module()
    assert audit.load_ignores() == {}  # the project's list is empty today
    bad = tmp_path / "ignore.toml"
    bad.write_text('[[ignore]]\nid = "PYSEC-1"\nreason = " "\n')
    with pytest.raises(SystemExit, match="needs an id and a reason"):
        audit.load_ignores(bad)
    good = tmp_path / "good.toml"
    good.write_text('[[ignore]]\nid = "PYSEC-1"\nreason = "dev tool only"\n')
    assert audit.load_ignores(good) == {"PYSEC-1": "dev tool only"}


def test_ci_runs_the_audit_after_the_tests() -> None:
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert lines.index("make test") < lines.index(".venv/bin/python .ci/pip_audit.py")
