"""Acceptance: ingestion through a hostile provider stores exactly what a polite one gives.

The fault-injecting proxy (``rpcproxy.py``) sits in front of the demo devchain after the
seeded scenario, drops and resets connections, answers 429 (Alchemy and Infura shapes) and
503, hangs past the client's timeout, delays answers, rate-limits single batch items, and
rejects ``eth_getLogs`` over 40 blocks or 15 results with real providers' messages. Every
epoch's ``raw_logs`` and ``epochs`` rows must equal those of a direct ingestion, and the
direct ingestion must hold exactly the logs one plain ``eth_getLogs`` over the whole chain
returns (an independent reading through web3).
"""

from __future__ import annotations

import json
import shutil

import pytest
from web3 import HTTPProvider

from aimg_pipeline.decode.logs import decode_epoch
from aimg_pipeline.ingest.chain import ChainClient
from aimg_pipeline.ingest.rpc import ingest_epoch
from aimg_pipeline.ingest.scope import watched_addresses
from aimg_pipeline.lib.config import load_config, parse_config
from aimg_pipeline.lib.events import TOPIC0
from aimg_pipeline.warehouse import Warehouse
from aimg_pipeline_tests.fakechain import FakeChain
from aimg_pipeline_tests.rpcproxy import Faults, RpcProxy
from aimg_pipeline_tests.test_e2e_handworked import CONFIG, build_chain

FAULTS = Faults(
    seed=11, drop=0.05, reset=0.05, http429=0.08, http503=0.06, hang=0.02, hang_seconds=0.5,
    delay=0.2, delay_seconds=0.005, batch_item_rate_limit=0.15, max_log_blocks=40,
    max_log_results=15, max_consecutive=3,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_chain):
    home = tmp_path_factory.mktemp("faults")
    chain, summary = demo_chain["chain"], demo_chain["summary"]
    shutil.copy(demo_chain["config_path"], home / "aimg.toml")
    config = load_config(home / "aimg.toml")
    epochs = list(range(summary["last_closed_epoch"] + 1))
    direct = Warehouse(home / "direct")
    client = ChainClient(chain.url)
    direct_results = [ingest_epoch(client, config, direct, e) for e in epochs]
    proxied = Warehouse(home / "proxied")
    with RpcProxy(chain.url, FAULTS, path="/v2/SECRETKEY123") as proxy:
        hostile = ChainClient(proxy.url, timeout=0.3, backoff_seconds=0.005,
                              max_backoff_seconds=0.05, max_attempts=8, seed=2)
        proxied_results = [ingest_epoch(hostile, config, proxied, e) for e in epochs]
    watched = {e: set(watched_addresses(config, e)) for e in epochs}
    plain = HTTPProvider(chain.url).make_request("eth_getLogs", [{
        "fromBlock": "0x0", "toBlock": hex(summary["last_block"]),
        "address": sorted(set().union(*watched.values())),
        "topics": [sorted(TOPIC0.values())]}])
    yield {"epochs": epochs, "direct": direct, "proxied": proxied, "proxy": proxy,
           "watched": watched, "summary": summary,
           "client": hostile, "plain_logs": plain["result"],
           "direct_results": direct_results, "proxied_results": proxied_results}


def test_hostile_provider_gives_identical_raw_logs(demo) -> None:
    for epoch in demo["epochs"]:
        for table in ("raw_logs", "epochs"):
            assert demo["proxied"].read(table, epoch).equals(demo["direct"].read(table, epoch)), (
                table, epoch)
    # the report's numbers (pytest -s shows them)
    print(json.dumps({"faults": dict(demo["proxy"].stats), "client": dict(demo["client"].stats),
                      "logs": [r.log_count for r in demo["direct_results"]]}, indent=1))


def test_every_fault_kind_was_injected_and_survived(demo) -> None:
    stats = demo["proxy"].stats
    for kind in ("dropped connection", "reset connection", "HTTP 429 (Alchemy)",
                 "HTTP 429 (Infura -32005 rate)", "HTTP 503", "hang past the client timeout",
                 "delayed answer", "batch item rate-limited", "getLogs block range rejected",
                 "getLogs result count rejected"):
        assert stats[kind] >= 1, kind
    assert demo["client"].stats["retries"] >= 10
    assert demo["client"].stats["range splits"] >= 5


def test_direct_ingestion_holds_exactly_the_chains_logs(demo) -> None:
    # one plain eth_getLogs over all blocks, read through web3, keyed (block, log index).
    # A log is stored when its contract is watched in its block's epoch or in a later one
    # (a contract first watched later, the demo wrapper's token from epoch 4, has its
    # history read with that epoch); blocks before genesis belong to epoch 0.
    last_blocks = [demo["direct"].read_rows("epochs", e)[0]["to_block"] for e in demo["epochs"]]

    def kept(log: dict) -> bool:
        block = int(log["blockNumber"], 16)
        epoch = next(e for e, last in enumerate(last_blocks) if block <= last)
        return any(log["address"].lower() in demo["watched"][e] for e in demo["epochs"][epoch:])

    expected = sorted((int(g["blockNumber"], 16), int(g["logIndex"], 16),
                       g["transactionHash"].lower(), g["data"].lower())
                      for g in demo["plain_logs"] if kept(g))
    wrapper = demo["summary"]["wrapper"]  # before genesis, in epochs 1, 4 and 5
    assert sum(g["address"].lower() == wrapper for g in demo["plain_logs"] if kept(g)) >= 4
    stored = []
    for epoch in demo["epochs"]:
        t = demo["direct"].read("raw_logs", epoch).to_pydict()
        stored += zip(t["block_number"], t["log_index"], t["transaction_hash"], t["data"],
                      strict=True)
    assert len(expected) > 400
    assert sorted(stored) == expected


class RepeatingChain(FakeChain):
    """A provider that answers every eth_getLogs with some logs twice (as one serving
    overlapping ranges from two backends can)."""

    def _logs(self, query: dict) -> list[dict]:
        logs = super()._logs(query)
        return logs + logs[::2]


def test_logs_delivered_twice_are_stored_and_counted_once(tmp_path) -> None:
    """Issue 13.4: the same (block hash, log index) counts once; the drop is reported."""
    config = parse_config(CONFIG)
    plain, repeating = build_chain(), build_chain()
    repeating.__class__ = RepeatingChain
    stored = {}
    for name, chain in (("plain", plain), ("repeating", repeating)):
        warehouse = Warehouse(tmp_path / name)
        with chain.serve() as server:
            result = ingest_epoch(ChainClient(server.url), config, warehouse, 0)
        decode_epoch(config, warehouse, 0)
        stored[name] = (result, warehouse.read("raw_logs", 0), warehouse.read("votes", 0))
    (clean, clean_logs, clean_votes), (dup, dup_logs, dup_votes) = (stored["plain"],
                                                                     stored["repeating"])
    assert dup_logs.equals(clean_logs)
    assert dup_votes.equals(clean_votes) and clean_votes.num_rows == 2  # C's and D's, once
    assert clean.duplicates_dropped == 0
    assert dup.duplicates_dropped == (clean.log_count + 1) // 2  # every other log again
