"""Cumulative claims (SPEC 7): ``claim(a, e) = claim(a, e-1) + a's allocations in e``.

DuckDB computes and writes them (``sql/claims.sql``, HUGEINT, sorted by account); a value
outside HUGEINT raises there, and the exact fallback (``cumulative_claims``: Python integers)
computes the same rows. One function, one contract: ``write_claims``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import ItemsView, Iterator, Mapping, ValuesView

import pyarrow as pa
import pyarrow.parquet as pq

from aimg_pipeline.warehouse import NOT_HUGEINT, TABLES, Warehouse


def cumulative_claims(warehouse: Warehouse, epoch: int) -> dict[str, int]:
    """claim(a, e) = claim(a, e-1) + a's allocations in e; accounts with 0 are left out.

    The plain Python definition (``write_claims`` computes the same in DuckDB).
    """
    claims: dict[str, int] = defaultdict(int)
    if epoch > 0:
        previous = warehouse.read("claims", epoch - 1).to_pydict()
        for account, amount in zip(
            previous["account"], previous["cumulative_amount"], strict=True
        ):
            claims[account] = int(amount)
    allocations = warehouse.read("allocations", epoch).to_pydict()
    for account, amount in zip(allocations["account"], allocations["amount"], strict=True):
        claims[account] += int(amount)
    return {account: claims[account] for account in sorted(claims) if claims[account]}


class Claims(Mapping[str, int]):
    """Cumulative claim per account, ascending: the written claims columns as a ``Mapping``.

    Callers use it as the dict ``write_claims`` used to return; the dict of ints is only
    made on first use beyond ``len`` (1M accounts at 10M logs).
    """

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self._dict: dict[str, int] | None = None

    def _claims(self) -> dict[str, int]:
        if self._dict is None:
            self._dict = dict(zip(self._table["account"].to_pylist(),
                                  map(int, self._table["cumulative_amount"].to_pylist()),
                                  strict=True))
        return self._dict

    def __len__(self) -> int:
        return self._table.num_rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims())

    def __getitem__(self, account: str) -> int:
        return self._claims()[account]

    def items(self) -> ItemsView[str, int]:
        return self._claims().items()

    def values(self) -> ValuesView[int]:
        return self._claims().values()


def write_claims(warehouse: Warehouse, epoch: int) -> Mapping[str, int]:
    """Write and return the epoch's cumulative claims (``cumulative_claims``' definition).

    DuckDB computes and writes them (``sql/claims.sql``, HUGEINT, sorted by account): 1M
    Python ints, a dict and a sort took ~6 s at 10M logs. Values outside HUGEINT and
    files the pipeline does not write take ``cumulative_claims``.
    """
    files = {"epoch_allocations": warehouse.path("allocations", epoch)}
    warehouse.read_schema("allocations", epoch)  # the usual errors when missing
    if epoch > 0:
        warehouse.read_schema("claims", epoch - 1)
        files["previous_claims"] = warehouse.path("claims", epoch - 1)
    con = warehouse.connect(files)
    try:
        if epoch == 0:
            con.register("previous_claims", TABLES["claims"][0].empty_table())
        warehouse.write_query("claims", epoch, con, "claims")
    except NOT_HUGEINT:
        claims = cumulative_claims(warehouse, epoch)
        warehouse.write("claims", epoch, {
            "epoch": [epoch] * len(claims), "account": list(claims),
            "cumulative_amount": [str(v) for v in claims.values()],
        })
    finally:
        con.close()
    return Claims(pq.read_table(warehouse.path("claims", epoch),
                                columns=["account", "cumulative_amount"]))
