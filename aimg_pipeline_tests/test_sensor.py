"""The epoch sensor requests closed, final epochs once each and leaves open ones alone."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from aimg_pipeline.defs.resources import AimgSettings, ChainResource
from aimg_pipeline.defs.sensors import epoch_sensor
from aimg_pipeline_tests.fakechain import FakeChain
from aimg_pipeline_tests.test_e2e_handworked import CONFIG, GENESIS, L


def _evaluate(instance: dg.DagsterInstance, url: str, config: Path):
    context = dg.build_sensor_context(instance=instance, resources={
        "settings": AimgSettings(home=str(config.parent / "home"), config_path=str(config)),
        "chain": ChainResource(rpc_url=url),
    })
    return epoch_sensor(context)


def test_sensor_requests_each_final_epoch_once(tmp_path: Path) -> None:
    config = tmp_path / "aimg.toml"
    config.write_text(CONFIG)  # genesis G, 100-second epochs, confirmations 0
    chain = FakeChain(chain_id=1337)
    chain.add_block(GENESIS - 10)
    chain.add_block(GENESIS + 150)  # final head inside epoch 1: only epoch 0 is closed
    with chain.serve() as server, dg.DagsterInstance.ephemeral() as instance:
        first = _evaluate(instance, server.url, config)
        assert [r.partition_key for r in first.run_requests] == ["00000_1970-01-12T13:46Z"]
        instance.add_dynamic_partitions("epochs", ["00000_1970-01-12T13:46Z"])

        # nothing new: a skip that names the next epoch's window
        again = _evaluate(instance, server.url, config)
        assert isinstance(again, dg.SkipReason)
        assert "epoch 1" in again.skip_message

        # the chain finalizes past the end of epochs 1 and 2 (end = G + 3L): both requested
        chain.add_block(GENESIS + 3 * L)
        later = _evaluate(instance, server.url, config)
        assert [r.partition_key for r in later.run_requests] == [
            "00001_1970-01-12T13:48Z", "00002_1970-01-12T13:50Z"]
        added = later.dynamic_partitions_requests[0].partition_keys
        assert list(added) == ["00001_1970-01-12T13:48Z", "00002_1970-01-12T13:50Z"]
