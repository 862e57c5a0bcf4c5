"""Raw layer: the chain's logs for an epoch, stored verbatim.

The source is selectable per run: JSON-RPC (``AIMG_RPC_URL``, the default) or a directory
of cryo-layout Parquet files for history (``source: files`` with ``files_dir`` in the run
config of ``raw/raw_logs``, or the ``AIMG_LOG_FILES`` environment variable). Both store
identical ``raw_logs``.
"""

import os

import dagster as dg

from aimg_pipeline.defs.partitions import epoch_partitions, epochs_of
from aimg_pipeline.defs.resources import AimgSettings, ChainResource
from aimg_pipeline.defs.tables import column_schema
from aimg_pipeline.ingest.files import FileSource
from aimg_pipeline.ingest.rpc import ingest_epoch


class RawLogsConfig(dg.Config):
    """Where the logs come from; empty fields fall back to ``AIMG_LOG_FILES`` / JSON-RPC."""

    source: str = ""  # 'rpc' or 'files'; empty: 'files' when AIMG_LOG_FILES is set
    files_dir: str = ""
    network: str = ""

    def file_source(self) -> FileSource | None:
        """The file source this run reads, or None for JSON-RPC."""
        directory = self.files_dir or os.environ.get("AIMG_LOG_FILES", "")
        source = self.source or ("files" if directory else "rpc")
        if source == "rpc":
            return None
        if source != "files":
            raise ValueError(f"raw/raw_logs config source must be 'rpc' or 'files', "
                             f"not {source!r}")
        if not directory:
            raise ValueError("raw/raw_logs source 'files' needs files_dir or AIMG_LOG_FILES")
        return FileSource(directory, self.network or None)


@dg.asset(
    key_prefix="raw",
    group_name="raw",
    kinds={"ethereum", "parquet"},
    metadata=column_schema("raw_logs", "epochs"),
    partitions_def=epoch_partitions,
    description="Every log of the registry's contracts in the epoch's blocks, verbatim, "
    "plus the epoch's boundary blocks and hashes (table `epochs`). Source: JSON-RPC, or "
    "cryo-layout Parquet files (config `source: files`, `files_dir`, or AIMG_LOG_FILES).",
)
def raw_logs(
    context: dg.AssetExecutionContext,
    config: RawLogsConfig,
    settings: AimgSettings,
    chain: ChainResource,
) -> dg.MaterializeResult:
    policy_config, warehouse = settings.config(), settings.warehouse()
    files = config.file_source()
    client = None if files is not None else chain.client()
    results = []
    for epoch in epochs_of(context, settings, ingested=False):
        if files is not None:
            result = files.ingest_epoch(policy_config, warehouse, epoch,
                                        progress=context.log.info)
        else:
            assert client is not None
            result = ingest_epoch(client, policy_config, warehouse, epoch,
                                  progress=context.log.info)
        results.append(result)
    last = results[-1]
    window = policy_config.calendar().window(last.epoch)
    metadata = {
        "epoch": last.epoch,
        "window": window.describe(),
        "log_count": sum(r.log_count for r in results),
        # the same log delivered twice (overlapping answers or files), stored once
        "duplicate_logs_dropped": sum(r.duplicates_dropped for r in results),
        "blocks": f"{last.from_block}..{last.to_block}",
        "first_block_hash": last.blocks.first_hash or "(no block in window)",
        "last_block_hash": last.blocks.last_hash or "(no block in window)",
        "source": files.describe() if files is not None else "rpc",
        "seconds": round(sum(r.seconds for r in results), 3),
    }
    if client is not None:
        metadata["rpc"] = client.redacted_url
        metadata["rpc_requests"] = client.stats["requests"]
        metadata["rpc_retries"] = client.stats["retries"]
        metadata["log_range_splits"] = client.stats["range splits"]
    return dg.MaterializeResult(metadata=metadata)
