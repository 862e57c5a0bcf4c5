"""The one Dagster ``Definitions`` of the project: every layer's assets and checks."""

import dagster as dg

from aimg_pipeline.defs import decoded, publish, raw, rewards, snapshots
from aimg_pipeline.defs.resources import AimgSettings, ChainResource
from aimg_pipeline.defs.sensors import epoch_sensor

_modules = [raw, decoded, snapshots, rewards, publish]

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(_modules),
    asset_checks=dg.load_asset_checks_from_modules(_modules),
    sensors=[epoch_sensor],
    # an epoch's steps run one after another, so one process per run (2 s) beats one process
    # per step (10+ s per run); epochs still run in parallel as separate runs
    executor=dg.in_process_executor,
    resources={
        "settings": AimgSettings(),
        "chain": ChainResource(rpc_url=dg.EnvVar("AIMG_RPC_URL")),
    },
)
