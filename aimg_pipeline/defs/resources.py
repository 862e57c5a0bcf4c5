"""Resources: where the pipeline's files live, and the chain it reads; with the executor,
the part of the project's Definitions that is not an asset."""

import os
from pathlib import Path

import dagster as dg

from aimg_pipeline import analytics
from aimg_pipeline.home import home_path
from aimg_pipeline.ingest.chain import ChainClient
from aimg_pipeline.lib.config import load_config
from aimg_pipeline.lib.policy import Config
from aimg_pipeline.warehouse import Warehouse


class AimgSettings(dg.ConfigurableResource):
    """The policy/registry file and the data home.

    Empty fields fall back, when a run starts, to ``AIMG_HOME`` (default ``.aimg`` in the
    project root) and ``AIMG_CONFIG`` (default the config the demo writes into the home).
    """

    home: str = ""
    config_path: str = ""

    @property
    def home_path(self) -> Path:
        return home_path(self.home)

    @property
    def config_file(self) -> Path:
        chosen = self.config_path or os.environ.get("AIMG_CONFIG")
        return Path(chosen).resolve() if chosen else self.home_path / "demo" / "aimg.toml"

    def config(self) -> Config:
        return load_config(self.config_file)

    def warehouse(self) -> Warehouse:
        warehouse = Warehouse(self.home_path)
        analytics.ensure(warehouse)
        return warehouse

    @property
    def publish_root(self) -> Path:
        return self.home_path / "published"


class ChainResource(dg.ConfigurableResource):
    """A JSON-RPC endpoint; the URL comes from ``AIMG_RPC_URL`` and is never displayed."""

    rpc_url: str
    timeout_seconds: float = 60.0
    # eth_call items per JSON-RPC batch (reconciliation, pair tokens, vault assets); halved
    # automatically when the endpoint answers "batch too large"
    call_batch_size: int = 1_000

    def client(self) -> ChainClient:
        return ChainClient(self.rpc_url, timeout=self.timeout_seconds,
                           call_batch_size=self.call_batch_size)


@dg.definitions
def resources() -> dg.Definitions:
    """The resources every asset uses, and the executor.

    An epoch's steps run one after another, so one process per run (2 s) beats one process
    per step (10+ s per run); epochs still run in parallel as separate runs.
    """
    return dg.Definitions(
        resources={
            "settings": AimgSettings(),
            "chain": ChainResource(rpc_url=dg.EnvVar("AIMG_RPC_URL")),
        },
        executor=dg.in_process_executor,
    )
