"""Materializing epochs through Dagster from Python: what ``make demo`` and tests use.

It runs the very ``Definitions`` the UI loads, as one run per epoch in epoch order (each
epoch needs the previous epoch's balances and claims), recorded in the given instance.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from aimg_pipeline.defs.partitions import epoch_partitions
from aimg_pipeline.ingest.chain import ChainClient
from aimg_pipeline.lib.policy import Config


def closed_epochs(client: ChainClient, config: Config) -> list[int]:
    """Every epoch whose window the chain has finalized."""
    final = client.final_block(config.confirmations)
    return list(range(config.calendar().closed_through(final.timestamp)))


def materialize_epochs(
    epochs: Iterable[int],
    config: Config,
    instance: dg.DagsterInstance,
    run_config: dict | None = None,
    log_level: str = "INFO",
) -> list[dg.ExecuteInProcessResult]:
    """Add the epochs' partitions and materialize every asset for each, in order."""
    from aimg_pipeline.definitions import defs

    calendar = config.calendar()
    keys = [calendar.partition_key(e) for e in sorted(epochs)]
    existing = set(instance.get_dynamic_partitions(epoch_partitions.name))
    instance.add_dynamic_partitions(epoch_partitions.name, [k for k in keys if k not in existing])
    job = defs.resolve_implicit_global_asset_job_def()
    run_config = {**(run_config or {}),
                  "loggers": {"console": {"config": {"log_level": log_level}}}}
    return [
        job.execute_in_process(partition_key=key, instance=instance, run_config=run_config)
        for key in keys
    ]
