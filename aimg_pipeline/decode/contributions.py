"""Accepting contributions: the epoch's contribution events whose id no earlier accepted
contribution used (SPEC 6.5), weighted by score x kind multiplier.

The one decoding rule that needs earlier epochs, so it is its own, epoch-ordered step: it
reads every earlier epoch's accepted contributions, and gives the same answer whatever
order the epochs were decoded in.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow.compute as pc

from aimg_pipeline.lib.events import TOPIC0
from aimg_pipeline.lib.policy import Config
from aimg_pipeline.warehouse import TABLES, Warehouse, WarehouseError, run_sql


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
