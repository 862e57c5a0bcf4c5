"""Property tests: random histories through the pipeline equal the reference to the wei.

Hypothesis builds a history over the fixed registry of economics_harness (the $AIMG vault,
two agents, three pools): many holders, transfers between them, several changes of one
holder in one block, mints and burns, holders that leave and come back, transfers to the
token's own contract and to excluded addresses, empty epochs, amounts up to 2^128 - 1 and
some above, votes, contributions with duplicate ids / unknown kinds / unregistered agents,
undecodable logs, and one to three policy versions with random weights, bps, multipliers,
decay, tail and exclusions, with or without a max_total_emission cap, and (issue 19)
redirects: a wrapper that holds positions and is its own token (holders redirect, in every
version so its token is read in every epoch), a farm whose receipt token is another
contract, and per version maybe a `to` redirect of one holder to another or the treasury.

The pipeline's position_snapshots, allocations, epoch_emissions, quarantine and claims
(read through the analytics views) must equal reference.py's, and every epoch must
conserve its emission exactly. Most examples run the stage functions directly on a
temporary warehouse (fast); some go through the JSON-RPC client and ingest on the scripted
chain, and a few through Dagster.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aimg_pipeline.ingest.chain import ChainClient
from aimg_pipeline_tests import economics_harness as h
from aimg_pipeline_tests import reference as ref

LIMIT = 2**128
HOLDERS = tuple(h.addr(0xA0 + i) for i in range(6))
OTHERS = (h.TREASURY, h.ATLAS.treasury, h.addr(0xE1), h.addr(0xE2), h.AIMG_VAULT)
EXCLUDABLE = (h.addr(0xE1), h.addr(0xE2), HOLDERS[0], h.ATLAS.treasury)
TOKENS = h.VAULTS + h.POOLS
UNREGISTERED_TOKEN = h.addr(0x9999)
WRAPPER = h.addr(0x4001)  # holds positions, issues itself as its token
FARM, FARM_RECEIPT = h.addr(0x4002), h.addr(0x4003)  # holds positions; receipts elsewhere
WRAPPER_TOKENS = (WRAPPER, FARM_RECEIPT)
HOLDS_POSITIONS = (WRAPPER, FARM)

amounts = st.one_of(
    st.sampled_from([1, 2, 3, 10]),  # equal holdings make remainder ties
    st.integers(0, 1000),
    st.integers(0, LIMIT - 1),
    st.sampled_from([LIMIT - 1, 2**64, 2**64 - 1]),
)
too_large = st.integers(LIMIT, 2**256 - 1)


def bps_split(parts: int) -> st.SearchStrategy[tuple[int, ...]]:
    """Non-negative integers summing to 10000 (zeros included: empty channels and pools),
    often equal ones (remainder ties between sub-pools)."""
    cuts = st.lists(st.integers(0, 10_000), min_size=parts - 1, max_size=parts - 1)
    even = [10_000 // parts] * parts
    even[0] += 10_000 - sum(even)
    return st.one_of(
        cuts.map(lambda c: tuple(b - a for a, b in zip([0, *sorted(c)],
                                                        [*sorted(c), 10_000], strict=True))),
        st.just(tuple(even)),
        st.permutations([5000, 5000] + [0] * (parts - 2)).map(tuple),
    )


@st.composite
def policies(draw: st.DrawFn, epochs: int, wrapped: bool) -> tuple[ref.Policy, ...]:
    later = draw(st.sets(st.integers(1, max(1, epochs)), max_size=2))
    starts = [0, *sorted(s for s in later if s < epochs + 1)]
    holders_redirects = ((WRAPPER, None, WRAPPER), (FARM, None, FARM_RECEIPT)) if wrapped \
        else ()
    out = []
    for i, start in enumerate(starts):
        to = draw(st.sampled_from([(), ((HOLDERS[5], HOLDERS[4], None),),
                                   ((HOLDERS[5], h.TREASURY, None),)]))
        out.append(h.policy(
            f"v{i + 1}", start,
            decay_bps=draw(st.one_of(st.integers(0, 10_000), st.sampled_from([0, 10_000]))),
            tail=draw(st.one_of(st.just(0), st.integers(0, 10**6), st.integers(0, LIMIT - 1))),
            channels=draw(bps_split(5)),
            kinds=tuple(draw(st.lists(st.integers(0, 30_000), min_size=3, max_size=3))),
            agents=draw(bps_split(2)),
            vaults=draw(bps_split(3)),
            pools=draw(bps_split(3)),
            excluded=frozenset(draw(st.sets(st.sampled_from(EXCLUDABLE), max_size=2))),
            redirects=holders_redirects + to,
        ))
    return tuple(out)


@st.composite
def histories(
    draw: st.DrawFn, small_epochs: bool = False
) -> tuple[ref.Deployment, h.History, int]:
    """A deployment, a valid-or-broken chain history, and how many epochs to compute."""
    epochs = draw(st.sampled_from([3, 2, 4, 1]))
    length = draw(st.just(100) if small_epochs else st.one_of(
        st.sampled_from([1, 7, 100, 86_400, 604_800]), st.integers(1, 10**6),
        st.just(2**35)))  # ~1089 years: 4 of them end before 9999
    genesis = 1_700_000_000
    # the config refuses a deployment that emits nothing (issue 13.8): initial and cap >= 1
    initial = draw(st.one_of(st.integers(1, 100), st.integers(1, 10**6),
                             st.integers(1, LIMIT - 1), st.just(LIMIT - 1)))
    cap = draw(st.one_of(st.none(), st.integers(1, min(3 * initial, LIMIT - 1))))
    wrapped = draw(st.booleans())
    dep = h.deployment(
        draw(policies(epochs, wrapped)), genesis=genesis, epoch_seconds=length,
        initial_emission=initial, max_total_emission=cap,
        excluded=frozenset(draw(st.sets(st.sampled_from(EXCLUDABLE), max_size=2))),
    )

    # block times: some before genesis, then per epoch either none at all (an empty epoch,
    # one in four) or a few, with a bias to the window's first and last second
    times = draw(st.lists(st.integers(genesis - 1000, genesis - 1), max_size=2))
    for e in range(epochs):
        first, last = genesis + e * length, genesis + (e + 1) * length - 1
        if draw(st.sampled_from([True, True, True, False])):
            times += draw(st.lists(st.one_of(st.integers(first, last),
                                             st.sampled_from([first, last])),
                                   min_size=1, max_size=3))

    history = h.History()
    balances: dict[tuple[str, str], int] = {}
    ids: list[int] = []  # contribution ids used so far: reused often, to make duplicates
    tokens = TOKENS + WRAPPER_TOKENS if wrapped else TOKENS
    for timestamp in sorted(times):
        block = history.block(timestamp)
        for _ in range(draw(st.integers(1, 4))):
            _draw_log(draw, history, block, balances, ids, tokens)
    return dep, history, epochs


def _draw_log(draw: st.DrawFn, history: h.History, block: int,
              balances: dict[tuple[str, str], int], ids: list[int],
              tokens: tuple[str, ...]) -> None:
    action = draw(st.sampled_from(
        ["mint", "mint", "transfer", "transfer", "transfer", "burn", "vote", "contribution",
         "contribution",
         "sync", "bad"]))
    holders = HOLDERS + OTHERS + HOLDS_POSITIONS
    if action in ("transfer", "burn"):
        funded = sorted(k for k, v in balances.items() if v > 0)
        if funded:
            token, sender = draw(st.sampled_from(funded))
            value = draw(st.integers(0, balances[(token, sender)]))
            receiver = ref.ZERO if action == "burn" else draw(
                st.sampled_from(holders + (token,)))
            history.transfer(block, token, sender, receiver, value)
            balances[(token, sender)] -= value
            if receiver != ref.ZERO:  # burnt shares are gone, not held by the zero address
                balances[(token, receiver)] = balances.get((token, receiver), 0) + value
            return
        action = "mint"
    if action == "mint":
        token = draw(st.sampled_from(tokens))
        receiver = draw(st.sampled_from(holders + (token,)))
        value = draw(st.one_of(amounts, too_large) if draw(st.integers(0, 9)) == 0 else amounts)
        history.transfer(block, token, ref.ZERO, receiver, value)
        if value < LIMIT:
            balances[(token, receiver)] = balances.get((token, receiver), 0) + value
    elif action == "vote":
        weight = draw(too_large) if draw(st.integers(0, 9)) == 0 else draw(amounts)
        history.vote(block, draw(st.sampled_from([h.ATLAS.governor, h.BOREAS.governor])),
                     draw(st.sampled_from(holders)), weight,
                     with_params=draw(st.booleans()), reason=draw(st.binary(max_size=40)),
                     support=draw(st.integers(0, 2)))
    elif action == "contribution":
        score = draw(too_large) if draw(st.integers(0, 9)) == 0 else draw(amounts)
        reuse = ids and draw(st.sampled_from([True, True, False]))
        contribution_id = draw(st.sampled_from(ids) if reuse else st.integers(0, 2**256 - 1))
        ids.append(contribution_id)
        history.contribution(
            block, contribution_id,
            draw(st.sampled_from([h.ATLAS.token, h.BOREAS.token, h.ATLAS.token,
                                  UNREGISTERED_TOKEN])),
            draw(st.sampled_from(holders)), draw(st.sampled_from([0, 1, 2, 0, 1, 2, 3, 300])),
            score)
    elif action == "sync":
        history.log(block, draw(st.sampled_from(h.POOLS)), [ref.TOPIC0_OF["Sync"]],
                    "0x" + h.word(draw(amounts) % 2**112) + h.word(7))
    else:
        transfer, vote = ref.TOPIC0_OF["Transfer"], ref.TOPIC0_OF["VoteCast"]
        a, b = h.address_topic(HOLDERS[1]), h.address_topic(HOLDERS[2])
        token = draw(st.sampled_from(TOKENS))
        address, topics, data = draw(st.sampled_from([
            (token, [transfer, a, b], "0x" + h.word(1) + h.word(2)),  # two data words
            (token, [transfer, a], "0x" + h.word(1)),  # a topic missing
            (token, [transfer, a, b], "0x123"),  # not whole words
            (token, [transfer, "0x" + "ff" * 32, b], "0x" + h.word(1)),  # not an address
            (h.ATLAS.governor, [transfer, a, b], "0x" + h.word(5)),  # not a position token
            (h.ATLAS.governor, [vote, a], "0x" + h.word(1) * 3),  # VoteCast too short
            (h.REGISTRY, ["0x" + "ab" * 32, a], "0x"),  # unknown event
            (h.AIMG_VAULT, [ref.TOPIC0_OF["Sync"]], "0x" + h.word(1) * 2),  # Sync on a vault
        ]))
        history.log(block, address, topics, data)


def assert_matches_reference(dep: ref.Deployment, history: h.History, epochs: int,
                             home: Path) -> None:
    """Every epoch's views equal the reference, conserve E(e), and account for every log."""
    expected = ref.run(dep, history.logs, epochs - 1)
    outputs = h.read_all(home, epochs)
    for e, (got, want) in enumerate(zip(outputs, expected, strict=True)):
        assert got.snapshot == want.snapshot, f"position_snapshots of epoch {e}"
        assert sorted(got.allocations) == sorted(want.allocations), f"allocations of epoch {e}"
        assert got.channels == want.channels, f"epoch_emissions of epoch {e}"
        assert got.policy_version == {ref.policy_at(dep, e).version}
        assert sum(got.channels.values()) == want.emission
        assert sum(row[4] for row in got.allocations) == want.emission, f"conservation {e}"
        assert sorted((b, i, h.category(r)) for b, i, r in got.quarantine) == sorted(
            want.decoded.quarantined), f"quarantine of epoch {e}"
        assert got.claims == want.claims, f"claims of epoch {e}"
        # counts in = counts out: every raw log is decoded, analytics-only, quarantined, or
        # a vote or contribution before genesis (counted nowhere)
        raw = sum(1 for x in history.logs if ref.epoch_of_timestamp(dep, x.block_timestamp) == e)
        assert got.counts["raw_logs"] == raw
        assert got.counts["votes"] == len(want.decoded.votes)
        assert got.counts["contributions"] == len(want.decoded.contributions)
        assert raw == (got.counts["transfer_logs"] + got.counts["votes"]
                       + got.counts["contributions"] + got.counts["quarantine"]
                       + len(want.decoded.analytics) + len(want.decoded.before_genesis))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=histories())
def test_stages_equal_reference(case: tuple[ref.Deployment, h.History, int]) -> None:
    dep, history, epochs = case
    with tempfile.TemporaryDirectory() as tmp:
        h.run_stages(dep, history.logs, epochs, Path(tmp))
        assert_matches_reference(dep, history, epochs, Path(tmp))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=histories())
def test_ingest_over_json_rpc_equals_reference(
    case: tuple[ref.Deployment, h.History, int],
) -> None:
    """Same, but epochs are cut and read by the chain client from the scripted chain."""
    dep, history, epochs = case
    # the chain client only asks for the events of SPEC 2 from registered contracts
    history.logs = [x for x in history.logs if x.topics and x.topics[0] in ref.EVENT_OF_TOPIC0
                    and x.address in set(h.VAULTS + h.POOLS + WRAPPER_TOKENS) | {
                        h.REGISTRY, h.ATLAS.governor, h.BOREAS.governor}]
    history = _renumbered(history)
    closing = dep.genesis + epochs * dep.epoch_seconds
    with tempfile.TemporaryDirectory() as tmp, history.fake_chain(closing).serve() as server:
        h.run_stages(dep, history.logs, epochs, Path(tmp), client=ChainClient(server.url))
        assert_matches_reference(dep, history, epochs, Path(tmp))


def _well_formed(log: ref.Log) -> bool:
    """A Transfer a real ERC-20 could emit: two address topics, one word below 2^128."""
    return (len(log.topics) == 3 and len(log.data) == 66 and int(log.data, 16) < LIMIT
            and all(t.startswith("0x" + "0" * 24) for t in log.topics[1:]))


def _renumbered(history: h.History) -> h.History:
    """The history with log indexes made dense again after filtering."""
    out = h.History(blocks=list(history.blocks))
    for log in history.logs:
        out.log(log.block_number, log.address, list(log.topics), log.data)
    return out


@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=histories(small_epochs=True))
def test_dagster_equals_reference(
    case: tuple[ref.Deployment, h.History, int], tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A few examples through the Dagster definitions, as the UI materializes them."""
    dep, history, epochs = case
    # a real token emits only well-formed Transfers (the reconciliation check replays them
    # against totalSupply/balanceOf); malformed ones are covered by the tests above
    history.logs = [x for x in history.logs if x.topics and x.topics[0] in ref.EVENT_OF_TOPIC0
                    and x.address in set(h.VAULTS + h.POOLS + WRAPPER_TOKENS) | {
                        h.REGISTRY, h.ATLAS.governor, h.BOREAS.governor}
                    and (x.topics[0] != ref.TOPIC0_OF["Transfer"] or _well_formed(x))]
    history = _renumbered(history)
    # an epoch that emits nothing cannot be published yet (reported separately; see
    # test_economics_edges.test_epochs_after_the_cap_publish_through_dagster)
    assume(all(ref.emissions(dep, epochs - 1)))
    tmp = tmp_path_factory.mktemp("dagster")
    results = h.run_dagster(dep, history, epochs, tmp, monkeypatch)
    assert all(r.success for r in results)
    assert_matches_reference(dep, history, epochs, tmp / "home")
