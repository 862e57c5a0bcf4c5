"""Yield layer: what LPs and stakers earned per epoch (fees, emissions, APRs). Read-only over
the rewards: nothing here changes what is paid."""

import dagster as dg

from aimg_pipeline.defs.partitions import (
    epoch_partitions,
    epochs_of,
    needs_previous_epoch,
)
from aimg_pipeline.defs.resources import AimgSettings, ChainResource
from aimg_pipeline.defs.tables import column_schema
from aimg_pipeline.yields.chain_reads import pair_tokens, vault_total_assets
from aimg_pipeline.yields.lp import write_lp_earnings
from aimg_pipeline.yields.pools import write_pool_yield
from aimg_pipeline.yields.vaults import write_vault_yield

_COMMON = dict(
    key_prefix="yield", group_name="yield", kinds={"duckdb", "parquet"},
    partitions_def=epoch_partitions,
)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def _last_block(settings: AimgSettings, epoch: int) -> int:
    return settings.warehouse().read("epochs", epoch)["last_block"][0].as_py()


def _sums(settings: AimgSettings, sql: str, epoch: int, **params: str) -> dict[str, tuple]:
    """Exact sums read back from the warehouse views: the checks' own reading, not the
    numbers the asset computed."""
    con = settings.warehouse().connect()
    try:
        rows = con.execute(sql, {"epoch": epoch, **params}).fetchall()
    finally:
        con.close()
    return {key: tuple(int(v) for v in values) for key, *values in rows}


ALLOCATED = ("SELECT pool, sum(amount)::VARCHAR FROM allocations WHERE epoch = $epoch "
             "AND channel = $channel AND reason = 'earned' GROUP BY pool")
SHARED = ("SELECT pool, sum(fees0)::VARCHAR, sum(fees1)::VARCHAR FROM lp_earnings "
          "WHERE epoch = $epoch GROUP BY pool")


@dg.asset(
    **_COMMON,
    deps=[["decoded", "swaps"], ["decoded", "syncs"], ["rewards", "allocations"]],
    metadata=column_schema("pool_yield"),
    check_specs=[
        dg.AssetCheckSpec(
            "fees_within_volume", asset=["yield", "pool_yield"],
            partitions_def=epoch_partitions, blocking=True,
            description="No pool's fees exceed its volume (fee_bps ≤ 10000, floor)."),
        dg.AssetCheckSpec(
            "emissions_match_allocations", asset=["yield", "pool_yield"],
            partitions_def=epoch_partitions, blocking=True,
            description="Every pool's emissions equal the sum of its earned liquidity "
            "allocations in the allocations view."),
        dg.AssetCheckSpec(
            "swaps_have_syncs", asset=["yield", "pool_yield"], partitions_def=epoch_partitions,
            description="Warns when a pool has a Swap in the epoch but no Sync among the "
            "epoch's logs (a V2 pair emits one with every Swap): logs are missing, and its "
            "reserves, price, TVL and APRs are stale or unknown."),
    ],
    description="Per pool: swaps, volumes, fees (fee_bps), reserves and their time-weighted "
    "averages, price and TVL in $AIMG, emissions, fee / emission / total APR.",
)
@needs_previous_epoch("pool_yield")
def pool_yield(context: dg.AssetExecutionContext, settings: AimgSettings,
               chain: ChainResource):
    config, warehouse, client = settings.config(), settings.warehouse(), chain.client()
    epochs = epochs_of(context, settings)
    results = []
    for epoch in epochs:
        pools = sorted(p.address for a in config.agents_at(epoch) for p in a.pools)
        tokens = pair_tokens(client, pools, _last_block(settings, epoch))
        results.append((epoch, write_pool_yield(config, warehouse, epoch, tokens)))
    epoch, last = results[-1]
    lines = ["| pool | swaps | fee APR | emission APR | total APR | note |",
             "|---|---:|---:|---:|---:|---|"]
    lines += [f"| {r['pool_name']} | {r['swaps']} | {_percent(r['fee_apr'])} | "
              f"{_percent(r['emission_apr'])} | {_percent(r['total_apr'])} | {r['note'] or ''} |"
              for r in last.rows]
    yield dg.MaterializeResult(metadata={
        "epoch": epoch,
        "rows": len(last.rows),
        "swaps": sum(r["swaps"] for r in last.rows),
        "summary": dg.MetadataValue.md("\n".join(lines)),
        # one number per pool, so the UI plots each pool's APR across epochs
        **{f"total_apr_{r['pool_name']}": r["total_apr"] for r in last.rows
           if r["total_apr"] is not None},
    })
    over = [f"epoch {e} {r['pool_name']}: fees {r['fees0']}/{r['fees1']} on volume "
            f"{r['volume0']}/{r['volume1']}" for e, res in results for r in res.rows
            if r["fees0"] > r["volume0"] or r["fees1"] > r["volume1"]]
    yield dg.AssetCheckResult(check_name="fees_within_volume", passed=not over,
                              metadata={"problems": "; ".join(over) or "none"})
    differ = []
    for e, res in results:
        allocated = _sums(settings, ALLOCATED, e, channel="liquidity")
        differ += [f"epoch {e} {r['pool_name']}: {r['emissions']} vs allocations "
                   f"{allocated.get(r['pool'], (0,))[0]}" for r in res.rows
                   if (r["emissions"],) != allocated.get(r["pool"], (0,))]
    yield dg.AssetCheckResult(check_name="emissions_match_allocations", passed=not differ,
                              metadata={"problems": "; ".join(differ) or "none"})
    silent = [f"epoch {e}: {name}" for e, res in results for name in res.swaps_without_sync]
    yield dg.AssetCheckResult(
        check_name="swaps_have_syncs", passed=not silent, severity=dg.AssetCheckSeverity.WARN,
        metadata={"pools": "; ".join(silent) or "none"})


@dg.asset(
    **_COMMON,
    deps=[pool_yield, ["snapshots", "position_snapshots"]],
    metadata=column_schema("vault_yield"),
    check_specs=[dg.AssetCheckSpec(
        "emissions_match_allocations", asset=["yield", "vault_yield"],
        partitions_def=epoch_partitions, blocking=True,
        description="Every vault's emissions equal the sum of its earned staking allocations "
        "in the allocations view.")],
    description="Per staking vault: time-weighted shares, totalAssets at the epoch's end, "
    "their value in $AIMG, the staking emissions and the emission APR.",
)
def vault_yield(context: dg.AssetExecutionContext, settings: AimgSettings,
                chain: ChainResource):
    config, warehouse, client = settings.config(), settings.warehouse(), chain.client()
    epochs = epochs_of(context, settings)
    results = []
    for epoch in epochs:
        vaults = sorted(t.address for t in config.position_tokens(epoch).values()
                        if t.kind == "vault")
        assets = vault_total_assets(client, vaults, _last_block(settings, epoch))
        pools = warehouse.read_rows("pool_yield", epoch)
        results.append((epoch, write_vault_yield(config, warehouse, epoch, assets, pools)))
    epoch, rows = results[-1]
    lines = ["| vault | emission APR | note |", "|---|---:|---|"]
    lines += [f"| {r['vault_name']} | {_percent(r['emission_apr'])} | {r['note'] or ''} |"
              for r in rows]
    yield dg.MaterializeResult(metadata={
        "epoch": epoch, "rows": len(rows), "summary": dg.MetadataValue.md("\n".join(lines)),
        **{f"emission_apr_{r['vault_name']}": r["emission_apr"] for r in rows
           if r["emission_apr"] is not None},
    })
    differ = []
    for e, res in results:
        allocated = _sums(settings, ALLOCATED, e, channel="staking")
        differ += [f"epoch {e} {r['vault_name']}: {r['emissions']} vs allocations "
                   f"{allocated.get(r['vault'], (0,))[0]}" for r in res
                   if (r["emissions"],) != allocated.get(r["vault"], (0,))]
    yield dg.AssetCheckResult(check_name="emissions_match_allocations", passed=not differ,
                              metadata={"problems": "; ".join(differ) or "none"})


@dg.asset(
    **_COMMON,
    deps=[pool_yield, ["snapshots", "position_snapshots"]],
    metadata=column_schema("lp_earnings"),
    check_specs=[dg.AssetCheckSpec(
        "lp_fees_shared", asset=["yield", "lp_earnings"],
        partitions_def=epoch_partitions, blocking=True,
        description="Per pool and token side, the LPs' fee shares sum exactly to the pool's "
        "fees (a pool with fees and no LP-token-seconds fails).")],
    description="Per pool and LP holder: its share of the pool's fees by LP-token-seconds "
    "(exact, SPEC 6.1) next to its liquidity emission.",
)
def lp_earnings(context: dg.AssetExecutionContext, settings: AimgSettings):
    warehouse = settings.warehouse()
    epochs = epochs_of(context, settings)
    problems, rows = [], 0
    for epoch in epochs:
        pools = warehouse.read_rows("pool_yield", epoch)
        rows = write_lp_earnings(warehouse, epoch, pools)
        shared = _sums(settings, SHARED, epoch)
        problems += [f"epoch {epoch} {r['pool_name']}: fees {r['fees0']}/{r['fees1']}, LPs' "
                     f"shares sum to {'/'.join(map(str, shared.get(r['pool'], (0, 0))))}"
                     for r in pools if shared.get(r["pool"], (0, 0)) != (r["fees0"], r["fees1"])]
    yield dg.MaterializeResult(metadata={"epoch": epochs[-1], "rows": rows})
    yield dg.AssetCheckResult(check_name="lp_fees_shared", passed=not problems,
                              metadata={"problems": "; ".join(problems) or "none"})
