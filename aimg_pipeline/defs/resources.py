"""Resources: where the pipeline's files live, and the chain it reads."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from aimg_pipeline.chain import ChainClient
from aimg_pipeline.lib.config import Config, load_config
from aimg_pipeline.warehouse import Warehouse


class AimgSettings(dg.ConfigurableResource):
    """The policy/registry file (``AIMG_CONFIG``) and the data home (``AIMG_HOME``)."""

    home: str
    config_path: str

    def config(self) -> Config:
        return load_config(self.config_path)

    def warehouse(self) -> Warehouse:
        warehouse = Warehouse(Path(self.home))
        warehouse.ensure_analytics_db()
        return warehouse

    @property
    def publish_root(self) -> Path:
        return Path(self.home) / "published"


class ChainResource(dg.ConfigurableResource):
    """A JSON-RPC endpoint; the URL comes from ``AIMG_RPC_URL`` and is never displayed."""

    rpc_url: str
    timeout_seconds: float = 60.0

    def client(self) -> ChainClient:
        return ChainClient(self.rpc_url, timeout=self.timeout_seconds)
