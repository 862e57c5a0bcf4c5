"""The JSON-RPC client against real providers' behaviour: error texts, retries, splits,
batched block reads, boundary search, finality.

Every provider error below is quoted from the providers' sources or live answers
(docs/ingestion.md); the expected classification and suggested range are read off the text
by hand, not from the code under test.
"""

from __future__ import annotations

import pytest

from aimg_pipeline.ingest.chain import ChainClient, ChainError, EpochNotFinalError, RpcRejected
from aimg_pipeline.ingest.provider import classify
from aimg_pipeline.lib.calendar import EpochWindow
from aimg_pipeline_tests.fakechain import FakeChain, address_topic, word
from aimg_pipeline_tests.rpcproxy import Faults, RpcProxy

TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
TOKEN = "0x" + "ab" * 20

ALCHEMY_SIZE = (
    "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range "
    "and no limit on the response size, or you can request any block range with a cap of 10K "
    "logs in the response. Based on your parameters and the response size limit, this block "
    "range should work: [0x0, 0xd043b8]")

# (HTTP status, JSON-RPC error, expected kind, expected suggested range, expected span limit)
PROVIDER_ERRORS = [
    # Alchemy -32602, suggested range [0x0, 0xd043b8] = [0, 13*16^5 + 4*16^3 + 3*16^2 + 11*16 + 8]
    # = [0, 13_648_824]
    (200, {"code": -32602, "message": ALCHEMY_SIZE}, "range", (0, 13_648_824), None),
    # Infura -32005 too many results: the range comes in data.from/to (and in the text)
    (200, {"code": -32005, "message": "query returned more than 10000 results. Try with this "
           "block range [0xBDE5F8, 0x102DBCC].",
           "data": {"from": "0xBDE5F8", "to": "0x102DBCC", "limit": 10000}},
     "range", (12_445_176, 16_964_556), None),
    # the same text without data: the bracketed range in the message
    (200, {"code": -32005, "message": "query returned more than 10000 results. Try with this "
           "block range [0xBDE5F8, 0x102DBCC]."}, "range", (12_445_176, 16_964_556), None),
    # Infura live: a span limit of 10000 blocks
    (200, {"code": -32602, "message": "range 1000000 exceeds limit of 10000"},
     "range", None, 10_000),
    # geth --rpc.rangelimit
    (200, {"code": -32602, "message": "exceed maximum block range 5000"}, "range", None, 5_000),
    # reth: span limit, and result limit with a suggested range 100-150
    (200, {"code": -32602, "message": "query exceeds max block range 100000"},
     "range", None, 100_000),
    (200, {"code": -32602, "message": "query exceeds max results 20000, retry with the range "
           "100-150"}, "range", (100, 150), None),
    # erigon
    (200, {"code": -32000, "message": "query block range exceeds server limit, narrow your "
           "filter: 1000"}, "range", None, 1_000),
    # QuickNode, as an HTTP error
    (413, {"code": -32614, "message": "eth_getLogs is limited to a 10,000 range"},
     "range", None, 10_000),
    # Ankr, llamarpc: no hint, halve
    (200, {"code": -32600, "message": "block range is too wide"}, "range", None, None),
    (200, {"code": -32000, "message": "query exceeds max results"}, "range", None, None),
    # rate limits: retry, never split (Infura shares -32005 with "too many results")
    (429, {"code": 429, "message": "Your app has exceeded its compute units per second "
           "capacity. If you have retries enabled, you can safely ignore this message."},
     "transient", None, None),
    (429, {"code": -32005, "message": "project ID request rate exceeded",
           "data": {"rate": {"backoff_seconds": 30}}}, "transient", None, None),
    (200, {"code": -32005, "message": "project ID request rate exceeded"},
     "transient", None, None),
    # Alchemy's monthly cap: not retryable
    (403, {"code": -32600, "message": "Monthly capacity limit exceeded. Visit "
           "https://dashboard.alchemy.com/settings/billing to upgrade your scaling policy for "
           "continued service."}, "fatal", None, None),
    # plain server errors
    (503, "<html>503 Service Unavailable</html>", "transient", None, None),
    (502, None, "transient", None, None),
]


@pytest.mark.parametrize(("status", "error", "kind", "suggested", "limit"), PROVIDER_ERRORS)
def test_provider_errors_are_classified(status, error, kind, suggested, limit) -> None:
    failure = classify("eth_getLogs", status, error)
    assert (failure.kind, failure.suggested, failure.span_limit) == (kind, suggested, limit)


def test_infura_backoff_hint_is_honoured() -> None:
    failure = classify("eth_getLogs", 429, {"code": -32005, "message": "project ID request rate "
                       "exceeded", "data": {"rate": {"backoff_seconds": 7.5}}})
    client = ChainClient("http://127.0.0.1:1", backoff_seconds=0.01, seed=1)
    assert failure.retry_after == 7.5
    assert client._backoff_delay(1, failure) >= 7.5


def test_range_texts_of_other_methods_are_not_split() -> None:
    # only eth_getLogs ranges can be split; a revert mentioning a limit is a revert (an
    # answer of the contract: never retried, never split)
    failure = classify("eth_call", 200, {"code": 3, "message": "execution reverted: "
                       "exceeds limit"})
    assert failure.kind == "reverted"
    assert classify("eth_call", 200, {"code": -32000, "message": "execution reverted"}
                    ).kind == "reverted"
    # a revert-like text from another method, or an HTTP error, is no revert
    assert classify("eth_getBalance", 200, {"code": 3, "message": "reverted"}).kind == "fatal"
    assert classify("eth_call", 403, {"message": "reverted"}).kind == "fatal"


def _chain(blocks: int = 200, logs_per_block: int = 2) -> FakeChain:
    """Blocks 12 s apart from t=1000 (block n at 1000 + 12 n); logs in every third block."""
    chain = FakeChain(chain_id=1)
    for n in range(blocks):
        chain.add_block(1000 + 12 * n)
        if n % 3 == 0:
            for i in range(logs_per_block):
                chain.add_log(n, TOKEN, [TRANSFER, address_topic("0x" + "00" * 20),
                                         address_topic(f"0x{n + 1:040x}")], "0x" + word(i + 1))
    return chain


def _all_logs(client: ChainClient, to_block: int) -> list[tuple[int, int]]:
    out = []
    for chunk in client.get_logs([TOKEN], [TRANSFER], 0, to_block):
        out += [(int(g["blockNumber"], 16), int(g["logIndex"], 16)) for g in chunk.logs]
    return out


def test_rejected_log_ranges_are_split_and_nothing_is_lost() -> None:
    chain = _chain()
    # 67 blocks hold logs (0, 3, ..., 198), 2 logs each: 134 logs
    expected = [(n, i) for n in range(0, 200, 3) for i in range(2)]
    with chain.serve() as server, RpcProxy(server.url, Faults(
            max_log_blocks=25, max_log_results=7)) as proxy:
        client = ChainClient(proxy.url, log_chunk_blocks=1000, seed=1)
        assert _all_logs(client, 199) == expected
        # both limits were hit and answered by splitting, not by retrying. The first span
        # rejection is geth's "exceed maximum block range 25": the client remembers the
        # limit, so it is rejected for the span only once
        assert proxy.stats["getLogs block range rejected"] == 1
        assert proxy.stats["getLogs result count rejected"] >= 4
        assert client.stats["range splits"] == (proxy.stats["getLogs block range rejected"]
                                                + proxy.stats["getLogs result count rejected"])
        assert client.stats["retries"] == 0
        # a stated span limit (geth "exceed maximum block range 25") is remembered
        assert client._span_limit == 25


def test_transient_faults_are_retried_with_backoff() -> None:
    chain = _chain()
    expected = [(n, i) for n in range(0, 200, 3) for i in range(2)]
    sleeps: list[float] = []
    faults = Faults(seed=5, drop=0.15, reset=0.1, http429=0.15, http503=0.15, delay=0.2,
                    delay_seconds=0.001, max_consecutive=3, batch_item_rate_limit=0.3)
    with chain.serve() as server, RpcProxy(server.url, faults) as proxy:
        client = ChainClient(proxy.url, log_chunk_blocks=5, max_log_chunk_blocks=5,
                             backoff_seconds=0.001, batch_size=4,
                             sleep=sleeps.append, seed=1)
        assert _all_logs(client, 199) == expected
        found = client.blocks(range(0, 200, 7))
        assert {n: b.timestamp for n, b in found.items()} == {
            n: 1000 + 12 * n for n in range(0, 200, 7)}
        transport = sum(v for k, v in proxy.stats.items()
                        if k not in ("requests", "delayed answer", "batch item rate-limited"))
        assert transport >= 5
        assert client.stats["retries"] == len(sleeps) >= transport


def test_giving_up_names_the_block_range_and_backs_off_exponentially() -> None:
    sleeps: list[float] = []
    with _chain().serve() as server, RpcProxy(server.url, Faults(
            http503=1.0, max_consecutive=1000), path="/v3/KEYKEYKEY42") as proxy:
        client = ChainClient(proxy.url, max_attempts=5, backoff_seconds=1.0,
                             max_backoff_seconds=100, sleep=sleeps.append, seed=3)
        with pytest.raises(ChainError) as caught:
            _all_logs(client, 150)
    message = str(caught.value)
    assert "eth_getLogs for blocks 0..150" in message
    assert "after 5 attempts" in message and "HTTP 503" in message
    assert "KEYKEYKEY42" not in message and "/***" in message
    assert proxy.stats["requests"] == 5
    # attempt i (1-based) waits between 2^(i-1)/2 and 2^(i-1) seconds (equal jitter)
    assert len(sleeps) == 4
    for i, delay in enumerate(sleeps):
        assert 2**i / 2 <= delay <= 2**i


def test_monthly_cap_is_not_retried() -> None:
    with _chain().serve() as server, RpcProxy(server.url, Faults(
            always="alchemy-monthly-cap"), path="/v2/CAPPEDKEY99") as proxy:
        client = ChainClient(proxy.url, sleep=lambda s: None)
        with pytest.raises(RpcRejected) as caught:
            _all_logs(client, 10)
    assert proxy.stats["requests"] == 1
    assert "Monthly capacity limit exceeded" in str(caught.value)
    assert "eth_getLogs for blocks 0..10" in str(caught.value)
    assert "CAPPEDKEY99" not in str(caught.value)


def test_boundary_blocks_by_batched_search_and_cached() -> None:
    chain = FakeChain(chain_id=1)
    # irregular times: block n at 5000 + n*n (strictly increasing)
    times = [5000 + n * n for n in range(400)]
    for t in times:
        chain.add_block(t)
    with chain.serve() as server, RpcProxy(server.url) as proxy:
        client = ChainClient(proxy.url)
        final = client.block(399)
        window = EpochWindow(epoch=2, start=5000 + 10_000, end=5000 + 40_000)
        # first block with n*n >= 10000 is 100; last with n*n < 40000 is 199
        before = proxy.stats["requests"]
        blocks = client.epoch_blocks(window, final)
        assert (blocks.first, blocks.last) == (100, 199)
        assert blocks.first_hash == chain.blocks[100]["hash"]
        assert blocks.last_hash == chain.blocks[199]["hash"]
        used = proxy.stats["requests"] - before
        # k-ary (16) search in batches: a few round trips, not ~2 * log2(400) = 18 calls
        assert used <= 8
        again = proxy.stats["requests"]
        assert client.epoch_blocks(window, final) == blocks
        assert proxy.stats["requests"] == again  # all from the cache


def test_open_epoch_is_refused_saying_when_it_will_be_final() -> None:
    chain = FakeChain(chain_id=1)
    for n in range(50):
        chain.add_block(1_000_000 + 10 * n)  # the head is block 49 at 1_000_490
    window = EpochWindow(epoch=4, start=1_000_400, end=1_000_500)  # closes after the head
    with chain.serve() as server:
        client = ChainClient(server.url)
        with pytest.raises(EpochNotFinalError) as caught:
            client.require_final(window, confirmations=0)
    message = str(caught.value)
    # the fake chain's finalized block is its head: no lag, final at the window's end
    # 1_000_500 = 11*86_400 + 13*3_600 + 55*60 -> 1970-01-12T13:55:00Z
    assert "final at about 1970-01-12T13:55:00Z" in message
    assert "epoch 4" in message


@pytest.mark.parametrize("style", ["geth", "alchemy"])
def test_an_oversize_batch_is_halved_not_sent_one_by_one(style: str) -> None:
    """An endpoint with a batch limit of 300 items (geth's and Alchemy's answers): 2,500
    eth_calls of batches of 1,000 are halved twice, to 250, and then all sent: 2 rejected
    requests at 1,000, 2 at 500, then ceil(2,500 / 250) = 10 accepted ones."""
    chain = _chain(blocks=3)
    calls = [[{"to": f"0x{i:040x}", "data": "0x18160ddd"}, "0x2"] for i in range(2_500)]
    for i in range(2_500):
        chain.fixed_calls[(f"0x{i:040x}", "0x18160ddd")] = "0x" + word(i)
    with chain.serve() as server, RpcProxy(server.url, Faults(
            max_batch=300, max_batch_style=style)) as proxy:
        client = ChainClient(proxy.url, sleep=lambda _: None)
        answers = client.call_batch("eth_call", calls)
        assert [int(a, 16) for a in answers] == list(range(2_500))
        assert proxy.stats["batch too large"] == 2
        assert proxy.stats["requests"] == 2 + 10
        assert client.stats["batch halved"] == 2
        # later batches start at the size that worked
        assert client.call_batch("eth_call", calls[:600]) is not None
        assert proxy.stats["requests"] == 12 + 3
