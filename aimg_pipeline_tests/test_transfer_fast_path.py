"""The bulk Transfer path (``transfers.split_epoch_logs``) against the SQL-only path.

``decode_epoch`` decodes the clean Transfers of an epoch with numpy byte checks and leaves
every other log to ``sql/classify_logs.sql``. Whatever the logs, the decoded tables and the
quarantine must be exactly what the SQL alone produces: the SQL path is the oracle here. The
logs are near misses of a clean Transfer (uppercase or non-ASCII hex, a character too many or
too few, high bits set, amounts around 2^64 and 2^128), mixed with any other log.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aimg_pipeline.decode.logs as transform
from aimg_pipeline.decode.transfers import FastPathUnusable
from aimg_pipeline.warehouse import TABLES as WAREHOUSE_TABLES
from aimg_pipeline.warehouse import Warehouse
from aimg_pipeline_tests.test_decode_fuzz import (
    ACCOUNTS,
    AIMG_VAULT,
    ATLAS_VAULT,
    CFG,
    EPOCH,
    GOVERNOR,
    POOL,
    REGISTRY,
    T,
    addr,
    any_log,
    at,
    make_logs,
    word,
)

TABLES = ("quarantine", "position_changes", "votes", "contribution_events", "swaps", "syncs")


def decode(logs: list[dict[str, Any]], fast: bool, monkeypatch: pytest.MonkeyPatch,
           row_group_size: int | None = None) -> tuple[Any, dict[str, pa.Table], bool]:
    """Decode ``logs`` as epoch EPOCH in a scratch warehouse, with or without the bulk path."""
    real, used = transform.split_epoch_logs, []

    def spy(*args: Any, **kwargs: Any) -> int:
        if not fast:
            raise FastPathUnusable("forced off by the test")
        rows = real(*args, **kwargs)  # raises FastPathUnusable when it cannot be used
        used.append(True)
        return rows

    with tempfile.TemporaryDirectory() as home:
        warehouse = Warehouse(Path(home))
        schema = WAREHOUSE_TABLES["raw_logs"][0]
        table = pa.Table.from_pylist([{**log, "epoch": EPOCH} for log in logs], schema=schema)
        path = warehouse.path("raw_logs", EPOCH)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, row_group_size=row_group_size)
        monkeypatch.setattr(transform, "split_epoch_logs", spy)
        try:
            result = transform.decode_epoch(CFG, warehouse, EPOCH)
        finally:
            monkeypatch.setattr(transform, "split_epoch_logs", real)
        return result, {name: warehouse.read(name, EPOCH) for name in TABLES}, bool(used)


def assert_same_as_sql(logs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
                       row_group_size: int | None = None) -> bool:
    """Both paths give the same result and tables; returns whether the bulk path ran."""
    fast_result, fast_tables, used = decode(logs, True, monkeypatch, row_group_size)
    sql_result, sql_tables, _ = decode(logs, False, monkeypatch, row_group_size)
    assert fast_result == sql_result
    for name in TABLES:
        assert fast_tables[name].equals(sql_tables[name]), (
            name, fast_tables[name].to_pylist(), sql_tables[name].to_pylist())
    return used


HEX = "0123456789abcdef"


def hex_text(length: int, alphabet: str = HEX) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=length, max_size=length)


near_topic = st.one_of(
    st.sampled_from(ACCOUNTS).map(at),
    hex_text(40).map(lambda h: "0x" + "0" * 24 + h),
    hex_text(40, HEX.upper()).map(lambda h: "0x" + "0" * 24 + h),
    hex_text(39).map(lambda h: "0x" + "0" * 24 + h + "g"),
    hex_text(39).map(lambda h: "0x" + "0" * 24 + h + "é"),  # one char, two bytes
    hex_text(38).map(lambda h: "0x" + "0" * 24 + h + "é"),  # right byte length
    hex_text(40).map(lambda h: "0x" + "0" * 23 + "1" + h),  # high bytes not zero
    hex_text(40).map(lambda h: "0X" + "0" * 24 + h),
    hex_text(41).map(lambda h: "0x" + "0" * 24 + h),
    hex_text(39).map(lambda h: "0x" + "0" * 24 + h),
    st.just("0x" + "0" * 64),
)
amounts = st.one_of(
    st.integers(0, 2**64),
    st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**127, 2**128 - 1, 2**128,
                     2**255]),
    st.integers(0, 2**130),
)
near_data = st.one_of(
    amounts.map(lambda v: "0x" + word(v)),
    amounts.map(lambda v: "0x" + word(v).upper()),
    amounts.map(lambda v: "0x" + word(v)[:-1] + "g"),
    amounts.map(lambda v: "0x" + word(v)[:-1] + "é"),
    amounts.map(lambda v: "0x" + word(v) + word(v)),
    amounts.map(lambda v: "0x" + word(v)[:-1]),
    st.none(),
    st.just("0x"),
)


@st.composite
def transfer_like(draw: st.DrawFn) -> tuple[tuple[str, list[str | None], str | None],
                                            str | None]:
    topic0 = draw(st.sampled_from([T["Transfer"]] * 8
                                  + [T["Transfer"].upper(), T["Sync"], T["VoteCast"]]))
    first = draw(st.one_of(near_topic, st.none())) if draw(st.integers(0, 9)) == 0 \
        else draw(near_topic)
    topics = [first, draw(near_topic)]
    if draw(st.integers(0, 9)) == 0:
        topics.append(draw(near_topic))
    address = draw(st.sampled_from([AIMG_VAULT] * 3 + [ATLAS_VAULT, POOL] * 2 + [
        GOVERNOR, REGISTRY, addr(0xDEAD), AIMG_VAULT.upper(), None]))
    return (topic0, topics, draw(near_data)), address


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(transfer_like(), transfer_like(), any_log()), max_size=60))
def test_bulk_path_equals_sql(monkeypatch: pytest.MonkeyPatch, logs: list) -> None:
    built = make_logs([spec for spec, _ in logs], [address for _, address in logs])
    assert assert_same_as_sql(built, monkeypatch), "the bulk path was not taken"


def _transfers(count: int) -> list[dict[str, Any]]:
    specs = [(T["Transfer"], [at(ACCOUNTS[i % 6]), at(ACCOUNTS[(i + 1) % 6])],
              "0x" + word(i * 10**18)) for i in range(count)]
    specs.append((T["VoteCast"], [at(ACCOUNTS[1])],
                  "0x" + word(9) + word(2) + word(77) + word(0x80) + word(0)))
    addresses = [[AIMG_VAULT, POOL][i % 2] for i in range(count)] + [GOVERNOR]
    return make_logs(specs, addresses)


def test_logs_out_of_order_take_the_sql_path(monkeypatch: pytest.MonkeyPatch) -> None:
    logs = _transfers(10)
    logs.reverse()
    assert assert_same_as_sql(logs, monkeypatch) is False
    # 10 Transfers, two sides each, less the zero-address sides (ACCOUNTS[0]): senders of
    # i = 0 and 6, the receiver of i = 5
    assert decode(logs, True, monkeypatch)[1]["position_changes"].num_rows == 17


@pytest.mark.parametrize("swap", [False, True])
def test_row_groups(monkeypatch: pytest.MonkeyPatch, swap: bool) -> None:
    """Row groups of 3; with ``swap`` the 2nd group's first log precedes the 1st's last."""
    logs = _transfers(20)
    if swap:
        logs[2], logs[3] = logs[3], logs[2]
    assert assert_same_as_sql(logs, monkeypatch, row_group_size=3) is not swap


# Pool events: the bulk path (``pool_events``) against the same SQL oracle. Near misses of a
# clean Swap/Sync/Mint/Burn: a topic too many or missing, address topics with high bytes set
# or uppercase, data a word short or long, amounts around 2^64, 10^38, 2^112 and 2^128 (the
# limits of a uint112 reserve, of decimal128 and of a Swap amount), from a pool or not.
pool_amounts = st.one_of(
    st.integers(0, 2**64),
    st.sampled_from([0, 1, 2**64 - 1, 2**64, 10**38 - 1, 10**38, 2**112 - 1, 2**112,
                     2**127, 2**128 - 1, 2**128]),
    st.integers(0, 2**129),
)
full_topic = st.one_of(near_topic, hex_text(64).map(lambda h: "0x" + h),
                       hex_text(64, HEX.upper()).map(lambda h: "0x" + h))


@st.composite
def pool_event_like(draw: st.DrawFn) -> tuple[tuple[str, list[str | None], str | None],
                                              str | None]:
    event = draw(st.sampled_from(["Swap", "Swap", "Sync", "Sync", "Mint", "Burn"]))
    indexed = {"Swap": 2, "Sync": 0, "Mint": 1, "Burn": 2}[event]
    words = {"Swap": 4, "Sync": 2, "Mint": 2, "Burn": 2}[event]
    if draw(st.integers(0, 5)) == 0:
        indexed = draw(st.integers(0, 3))
    if draw(st.integers(0, 5)) == 0:
        words = draw(st.integers(0, 5))
    topics = [draw(full_topic if event in ("Mint", "Burn") else near_topic)
              for _ in range(indexed)]
    data = "0x" + "".join(word(draw(pool_amounts)) for _ in range(words))
    if draw(st.integers(0, 7)) == 0:
        data = draw(st.sampled_from([data.upper(), data[:-1] + "g", data[:-1], data + "0",
                                     "0X" + data[2:]]))
    address = draw(st.sampled_from([POOL] * 6 + [AIMG_VAULT, GOVERNOR, addr(0xDEAD)]))
    return (T[event], topics, data), address


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(pool_event_like(), pool_event_like(), transfer_like(), any_log()),
                max_size=60))
def test_bulk_pool_events_equal_sql(monkeypatch: pytest.MonkeyPatch, logs: list) -> None:
    built = make_logs([spec for spec, _ in logs], [address for _, address in logs])
    assert assert_same_as_sql(built, monkeypatch), "the bulk path was not taken"


def test_pool_events_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact decoded values, worked out by hand, at the limits of the bulk conversion."""
    a, b = ACCOUNTS[1], ACCOUNTS[2]
    specs = [
        (T["Swap"], [at(a), at(b)],
         "0x" + word(0) + word(2**64) + word(10**38) + word(2**128 - 1)),
        (T["Sync"], [], "0x" + word(2**112 - 1) + word(2**100 + 3)),
        (T["Mint"], [at(a)], "0x" + word(5) + word(7)),
        (T["Burn"], [at(a), at(b)], "0x" + word(5) + word(7)),
        (T["Sync"], [], "0x" + word(2**112) + word(1)),  # not a uint112: quarantined
    ]
    logs = make_logs(specs, [POOL] * len(specs))
    assert assert_same_as_sql(logs, monkeypatch)
    result, tables, _ = decode(logs, True, monkeypatch)
    assert tables["swaps"].select(["sender", "recipient", "amount0_in", "amount1_in",
                                   "amount0_out", "amount1_out"]).to_pylist() == [{
        "sender": a.lower(), "recipient": b.lower(), "amount0_in": "0",
        "amount1_in": "18446744073709551616",
        "amount0_out": "100000000000000000000000000000000000000",
        "amount1_out": "340282366920938463463374607431768211455"}]
    assert tables["syncs"].select(["reserve0", "reserve1"]).to_pylist() == [{
        "reserve0": "5192296858534827628530496329220095",
        "reserve1": "1267650600228229401496703205379"}]
    assert (result.swaps, result.syncs, result.quarantine) == (1, 1, 1)
    assert result.quarantine_reasons == {"Sync reserve is not a uint112": 1}
