"""Epoch-over-epoch changes a person should look at before signing: the recipients moving by
more than half, or a channel's unallocated share moving by 25 points or more.
"""

from __future__ import annotations

from collections import defaultdict

from aimg_pipeline.lib.policy import CHANNELS
from aimg_pipeline.warehouse import Warehouse, run_sql


def _summary(warehouse: Warehouse, epoch: int) -> tuple[int, dict[str, int], dict[str, int]]:
    """Recipients, amount per channel, and unallocated amount per channel of an epoch.

    One DuckDB pass over the epoch's file (``sql/allocation_summary.sql``, exact BIGNUM
    sums); 2M rows as Python ints took ~5 s per epoch.
    """
    con = warehouse.connect({"epoch_allocations": warehouse.path("allocations", epoch)})
    try:
        rows = run_sql(con, "allocation_summary").to_pylist()
    finally:
        con.close()
    total: dict[str, int] = defaultdict(int)
    unallocated: dict[str, int] = defaultdict(int)
    recipients = 0
    for row in rows:
        total[row["channel"]] = int(row["total"])
        unallocated[row["channel"]] = int(row["unallocated"])
        recipients = row["recipients"]
    return recipients, total, unallocated


def epoch_swings(warehouse: Warehouse, epoch: int) -> list[str]:
    """Epoch-over-epoch changes a person should look at before signing.

    Flags the number of recipients moving by more than half, and a channel whose share left
    unallocated moves by 25 percentage points or more. Integer arithmetic only.
    """
    if epoch == 0 or not warehouse.has("allocations", epoch - 1):
        return []
    warehouse.read_schema("allocations", epoch)  # the usual error when it is missing
    before_recipients, before_total, before_unallocated = _summary(warehouse, epoch - 1)
    recipients, total, unallocated = _summary(warehouse, epoch)
    swings = []
    if 2 * abs(recipients - before_recipients) > before_recipients:
        swings.append(f"recipients {before_recipients} -> {recipients}")
    for channel in CHANNELS:
        now = 100 * unallocated[channel] // total[channel] if total[channel] else 0
        then = (100 * before_unallocated[channel] // before_total[channel]
                if before_total[channel] else 0)
        if abs(now - then) >= 25:
            swings.append(f"{channel}: unallocated share {then}% -> {now}%")
    return swings
