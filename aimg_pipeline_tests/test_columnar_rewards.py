"""The HUGEINT fast paths (snapshots, claims) give exactly what their exact fallbacks give.

Each sits with its fallback behind one function: ``snapshots.balances.snapshot_epoch``
(64-bit limbs recombined as Python ints) and ``rewards.claims.write_claims`` (Python ints).
Here both run on the same random histories (values up to 2^128 - 1, so the SQL's HUGEINT
overflows sometimes and the fallback is taken naturally too) and every written table
downstream must be equal.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aimg_pipeline.snapshots.balances as balances
from aimg_pipeline.lib.apportion import apportion, apportion_in_order
from aimg_pipeline.rewards.claims import cumulative_claims, write_claims
from aimg_pipeline.warehouse import TABLES, Warehouse
from aimg_pipeline_tests import economics_harness as h
from aimg_pipeline_tests import reference as ref
from aimg_pipeline_tests.test_economics_properties import histories


@given(
    total=st.integers(min_value=0, max_value=2**128 - 1),
    weights=st.lists(st.integers(min_value=0, max_value=2**160), min_size=1, max_size=40)
    .filter(lambda w: sum(w) > 0),
)
def test_apportion_in_order_is_apportion_over_sorted_keys(total: int, weights: list[int]) -> None:
    keys = [f"0x{i:04x}" for i in range(len(weights))]  # ascending
    assert apportion_in_order(total, weights) == list(
        apportion(total, dict(zip(keys, weights, strict=True))).values())


@pytest.mark.parametrize("weights", [[-1, 2], [1.0], [True], ["1"], [], [0, 0]])
def test_apportion_in_order_rejects_what_apportion_rejects(weights: list) -> None:
    with pytest.raises(ValueError):
        apportion_in_order(10, weights)


def _tables(home: Path, epochs: int) -> dict[tuple[str, int], object]:
    warehouse = Warehouse(home)
    return {(table, epoch): pq.read_table(warehouse.path(table, epoch), schema=TABLES[table][0])
            for table in ("position_snapshots", "allocations", "claims")
            for epoch in range(epochs)}


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=histories())
def test_fast_paths_equal_exact_fallbacks(
    case: tuple[ref.Deployment, h.History, int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    dep, history, epochs = case
    with tempfile.TemporaryDirectory() as tmp:
        fast, general = Path(tmp) / "fast", Path(tmp) / "general"
        h.run_stages(dep, history.logs, epochs, fast)
        with monkeypatch.context() as patch:  # undone before the next example
            def no_hugeint(*args: object) -> None:
                raise duckdb.OutOfRangeException("forced general path")

            write_query = Warehouse.write_query

            def no_sql_claims(self: Warehouse, table: str, *args: object, **kw: object) -> int:
                if table == "claims":
                    raise duckdb.InvalidInputException("forced general path")
                return write_query(self, table, *args, **kw)

            patch.setattr(balances, "_snapshot_hugeint", no_hugeint)
            patch.setattr(Warehouse, "write_query", no_sql_claims)
            h.run_stages(dep, history.logs, epochs, general)
        got, want = _tables(fast, epochs), _tables(general, epochs)
        for key, table in want.items():
            assert got[key].equals(table), key
        warehouse = Warehouse(fast)
        for epoch in range(epochs):
            claims = write_claims(warehouse, epoch)
            assert dict(claims) == cumulative_claims(warehouse, epoch)


def test_balance_seconds_beyond_hugeint_stay_on_the_fast_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A balance of 2^110 wei held for a week has balance-seconds 2^110 x 604,800 > 2^127:
    only that row leaves HUGEINT. The fast path multiplies it out in Python ints (the limb
    path is not taken) and the table equals the limb path's."""
    dep = h.deployment(epoch_seconds=604_800)
    history = h.History()
    whale, minnow = h.addr(0xA1), h.addr(0xB2)
    block = history.block(dep.genesis - 10)
    history.transfer(block, h.AIMG_VAULT, ref.ZERO, whale, 2**110)
    history.transfer(block, h.AIMG_VAULT, ref.ZERO, minnow, 5)
    later = history.block(dep.genesis + 604_800 + 100)  # epoch 1: the minnow adds 7
    history.transfer(later, h.AIMG_VAULT, ref.ZERO, minnow, 7)
    history.block(dep.genesis + 2 * 604_800)
    with tempfile.TemporaryDirectory() as tmp:
        fast, general = Path(tmp) / "fast", Path(tmp) / "general"
        with monkeypatch.context() as patch:
            limbs = balances._snapshot_limbs

            def no_limbs(con: object, epoch: int, *args: object) -> object:
                # epoch 0 may take it (its timed sum, 2^110 x a week, leaves HUGEINT too)
                assert epoch == 0, "the limb path was taken for epoch 1"
                return limbs(con, epoch, *args)

            patch.setattr(balances, "_snapshot_limbs", no_limbs)
            h.run_stages(dep, history.logs, 2, fast)
        with monkeypatch.context() as patch:
            def no_hugeint(*args: object) -> None:
                raise duckdb.OutOfRangeException("forced general path")

            patch.setattr(balances, "_snapshot_hugeint", no_hugeint)
            h.run_stages(dep, history.logs, 2, general)
        got = pq.read_table(Warehouse(fast).path("position_snapshots", 1)).to_pylist()
        want = pq.read_table(Warehouse(general).path("position_snapshots", 1)).to_pylist()
        assert got == want
        seconds = {r["account"]: int(r["balance_seconds"]) for r in got}
        # by hand: the whale's 2^110 all week; the minnow's 5 all week plus 7 for the
        # 604,800 - 100 seconds after its mint
        assert seconds == {whale.lower(): 2**110 * 604_800,
                           minnow.lower(): 5 * 604_800 + 7 * (604_800 - 100)}
