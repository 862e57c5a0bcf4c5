"""Rewards layer: the epoch's emission by channel, every allocation, cumulative claims."""

import dagster as dg

from aimg_pipeline.defs.partitions import (
    epoch_partitions,
    epochs_of,
    needs_previous_epoch,
)
from aimg_pipeline.defs.resources import AimgSettings, ChainResource
from aimg_pipeline.defs.tables import column_schema
from aimg_pipeline.lib.policy import CHANNELS
from aimg_pipeline.rewards.allocations import write_allocations
from aimg_pipeline.rewards.claims import write_claims
from aimg_pipeline.rewards.emissions import write_emissions
from aimg_pipeline.rewards.recipients import contracts_above, write_recipients
from aimg_pipeline.rewards.swings import epoch_swings

_COMMON = dict(
    key_prefix="rewards", group_name="rewards", kinds={"python", "parquet"},
    partitions_def=epoch_partitions,
)


def aimg_text(wei: int) -> str:
    """An amount as a person reads it, AIMG to two decimals (truncated), then the exact wei
    (text: the UI loses integers above 2^53)."""
    return f"{wei // 10**18:,}.{wei % 10**18 // 10**16:02d} AIMG ({wei} wei)"


@dg.asset(**_COMMON, deps=[["raw", "raw_logs"]], metadata=column_schema("epoch_emissions"),
          description="E(epoch) from the emission schedule, split by channel bps (only for an "
          "epoch ingested as closed and final).")
def epoch_emissions(context: dg.AssetExecutionContext, settings: AimgSettings):
    config, warehouse = settings.config(), settings.warehouse()
    for epoch in epochs_of(context, settings):
        by_channel = write_emissions(config, warehouse, epoch)
    return dg.MaterializeResult(metadata={
        "emission": aimg_text(sum(by_channel.values())),
        "emission_whole_aimg": sum(by_channel.values()) // 10**18,  # plottable integer
        "policy_version": config.policy_for(epoch).version,
        **{f"channel_{c}": aimg_text(by_channel[c]) for c in CHANNELS},
    })


@dg.asset(
    **_COMMON,
    metadata=column_schema("allocations"),
    deps=[epoch_emissions, ["snapshots", "position_snapshots"], ["decoded", "votes"],
          ["decoded", "contributions"]],
    check_specs=[
        dg.AssetCheckSpec(
            "conservation", asset=["rewards", "allocations"],
            partitions_def=epoch_partitions, blocking=True,
            description="The epoch's allocations sum exactly to its emission (SPEC 6.4).",
        ),
        dg.AssetCheckSpec(
            "no_unusual_swings", asset=["rewards", "allocations"], partitions_def=epoch_partitions,
            description="Warns when recipients move by more than half or a channel's "
            "unallocated share moves by 25 points or more since the previous epoch.",
        ),
    ],
    description="Every account's share of every channel and sub-pool, with the treasury "
    "receiving empty sub-pools as `unallocated`.",
)
def allocations(context: dg.AssetExecutionContext, settings: AimgSettings):
    config, warehouse = settings.config(), settings.warehouse()
    epochs = epochs_of(context, settings)
    results = [write_allocations(config, warehouse, e) for e in epochs]
    last = results[-1]
    unallocated, recipients = last.unallocated(), last.recipients()
    lines = [f"**{config.calendar().window(epochs[-1]).describe()}**: "
             f"{aimg_text(last.emission)} to {recipients} recipients.", "",
             "| channel | amount | unallocated |", "|---|---:|---:|"]
    lines += [f"| {c} | {aimg_text(last.by_channel[c])} | {aimg_text(unallocated[c])} |"
              for c in CHANNELS]
    yield dg.MaterializeResult(metadata={
        "epoch": epochs[-1],
        "rows": last.table.num_rows,
        "recipients": recipients,
        "emission": aimg_text(last.emission),
        "emission_whole_aimg": last.emission // 10**18,
        "unallocated": aimg_text(sum(unallocated.values())),
        "redirected": aimg_text(last.redirected()),
        "summary": dg.MetadataValue.md("\n".join(lines)),
    })
    broken = [(r.emission, r.total) for r in results if r.total != r.emission]
    yield dg.AssetCheckResult(
        check_name="conservation", passed=not broken,
        metadata={"epochs_checked": len(results),
                  "mismatches": str(broken) if broken else "none"},
    )
    swings = [s for e in epochs for s in epoch_swings(warehouse, e)]
    yield dg.AssetCheckResult(
        check_name="no_unusual_swings", passed=not swings, severity=dg.AssetCheckSeverity.WARN,
        metadata={"swings": "; ".join(swings) if swings else "none"},
    )


@dg.asset(**_COMMON, deps=[allocations], metadata=column_schema("claims"),
          description="Cumulative claim per account: the previous epoch's claims plus this "
          "epoch's allocations.")
@needs_previous_epoch("claims")
def claims(context: dg.AssetExecutionContext, settings: AimgSettings) -> dg.MaterializeResult:
    warehouse = settings.warehouse()
    epochs = epochs_of(context, settings)
    for epoch in epochs:
        result = write_claims(warehouse, epoch)
    return dg.MaterializeResult(metadata={
        "accounts": len(result), "total": aimg_text(sum(result.values())),
    })


@dg.asset(
    **{**_COMMON, "kinds": {"python", "parquet", "ethereum"}}, deps=[allocations],
    metadata=column_schema("recipients"),
    check_specs=[dg.AssetCheckSpec(
        "no_unredirected_contracts", asset=["rewards", "recipients"],
        partitions_def=epoch_partitions,
        description="Warns when a contract (code at the epoch's last block, not an EIP-7702 "
        "delegated EOA) received more than deployment.contract_warning_bps of the emission: "
        "a contract usually cannot claim, so its share is stranded unless the policy "
        "redirects it (docs/economics.md, Redirects).")],
    description="Every account with an allocation this epoch, classified by its code at the "
    "epoch's last block (eth_getCode, batched; contracts remembered across epochs): eoa, "
    "delegated_eoa or contract, with the code hash and the amount received.",
)
def recipients(context: dg.AssetExecutionContext, settings: AimgSettings,
               chain: ChainResource):
    config, warehouse, client = settings.config(), settings.warehouse(), chain.client()
    epochs = epochs_of(context, settings)
    flagged: dict[int, list[tuple[str, int]]] = {}
    for epoch in epochs:
        counts = write_recipients(warehouse, client, epoch)
        emission = sum(int(v) for v in warehouse.read("epoch_emissions", epoch,
                                                      ["amount"])["amount"].to_pylist())
        flagged[epoch] = contracts_above(warehouse, epoch, emission,
                                         config.contract_warning_bps)
    yield dg.MaterializeResult(metadata={
        "epoch": epochs[-1], **{f"{kind}_recipients": n for kind, n in sorted(counts.items())},
    })
    found = [f"epoch {e}: {a} received {aimg_text(v)}" for e, rows in flagged.items()
             for a, v in rows]
    yield dg.AssetCheckResult(
        check_name="no_unredirected_contracts", passed=not found,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"threshold_bps": config.contract_warning_bps,
                  "contracts": "\n".join(found) if found else "none"})
