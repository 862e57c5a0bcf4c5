"""Raw layer: the chain's logs for an epoch, stored verbatim."""

import dagster as dg

from aimg_pipeline.defs.partitions import epoch_backfill_policy, epoch_partitions, epochs_of
from aimg_pipeline.defs.resources import AimgSettings, ChainResource
from aimg_pipeline.ingest import ingest_epoch


@dg.asset(
    key_prefix="raw",
    group_name="raw",
    kinds={"ethereum", "parquet"},
    partitions_def=epoch_partitions,
    backfill_policy=epoch_backfill_policy,
    description="Every log of the registry's contracts in the epoch's blocks, verbatim, "
    "plus the epoch's boundary blocks and hashes (table `epochs`).",
)
def raw_logs(
    context: dg.AssetExecutionContext, settings: AimgSettings, chain: ChainResource
) -> dg.MaterializeResult:
    config, warehouse, client = settings.config(), settings.warehouse(), chain.client()
    results = [
        ingest_epoch(client, config, warehouse, epoch, progress=context.log.info)
        for epoch in epochs_of(context, config.calendar())
    ]
    last = results[-1]
    window = config.calendar().window(last.epoch)
    return dg.MaterializeResult(metadata={
        "epoch": last.epoch,
        "window": window.describe(),
        "log_count": sum(r.log_count for r in results),
        "blocks": f"{last.from_block}..{last.to_block}",
        "first_block_hash": last.blocks.first_hash or "(no block in window)",
        "last_block_hash": last.blocks.last_hash or "(no block in window)",
        "rpc": client.redacted_url,
        "seconds": round(sum(r.seconds for r in results), 3),
    })
