"""The one Dagster ``Definitions`` of the project: every layer's assets and checks."""

import dagster as dg

from aimg_pipeline.defs import decoded, publish, raw, rewards, snapshots
from aimg_pipeline.defs.resources import AimgSettings, ChainResource

_modules = [raw, decoded, snapshots, rewards, publish]

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(_modules),
    asset_checks=dg.load_asset_checks_from_modules(_modules),
    resources={
        "settings": AimgSettings(),
        "chain": ChainResource(rpc_url=dg.EnvVar("AIMG_RPC_URL")),
    },
)
