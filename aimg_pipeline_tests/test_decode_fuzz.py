"""Bad chain data: every raw log comes out exactly once, decoded or quarantined with a reason.

``raw_logs`` are written with ``Warehouse.write`` (so any string, wrong length, non-hex,
upper case, huge value, NULL or unknown address reaches the SQL exactly as stored) and
``transform.decode_epoch`` then ``transform.accept_contributions`` run on them. The expected
outcome of every log is computed by ``reference`` below: the classification rules of README
"Decoding" / SPEC 2 written again in plain Python, one log at a time (the pipeline does it in
one columnar SQL pass), with eth_abi's strict decoder itself as the judge of a vote's
``reason`` string and ``params`` bytes. Both must agree on every row: the quarantine
reasons, every decoded value, and counts in = counts out.

Registry: the hand-worked deployment of test_e2e_handworked (the $AIMG vault, the atlas
vault, one pool, the atlas governor, the contribution registry). Epoch 1 is decoded, with
contribution ids 0x..01 and 0x..02 already accepted in epoch 0.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import eth_abi
from eth_abi.exceptions import DecodingError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimg_pipeline.decode.contributions import accept_contributions
from aimg_pipeline.decode.logs import decode_epoch
from aimg_pipeline.lib.config import parse_config
from aimg_pipeline.lib.events import TOPIC0
from aimg_pipeline.warehouse import Warehouse
from aimg_pipeline_tests.fakechain import address_topic, word
from aimg_pipeline_tests.test_e2e_handworked import (
    AIMG_VAULT,
    ATLAS_TOKEN,
    ATLAS_VAULT,
    CONFIG,
    GOVERNOR,
    POOL,
    REGISTRY,
    ZERO,
    addr,
)

EPOCH = 1
CFG = parse_config(CONFIG)
SOURCES = {AIMG_VAULT: "vault", ATLAS_VAULT: "vault", POOL: "pool", GOVERNOR: "governor",
           REGISTRY: "contribution_registry"}
EVENTS = {topic: name for name, topic in TOPIC0.items()}
EARLIER_IDS = ["0x" + word(1), "0x" + word(2)]
MULTIPLIER = {0: 10_000, 1: 15_000, 2: 20_000}  # kind_multiplier_bps of CONFIG
HEX64 = re.compile(r"0x[0-9a-f]{64}")
Z = "0" * 64


# ------------------------------------------------------------------------ the reference


def _abi_rejects(data: str, types: list[str]) -> bool:
    """eth_abi's strict decoder refuses ``data`` as ``types`` (bad offset, length, padding,
    or a string that is not UTF-8)."""
    try:
        eth_abi.decode(types, bytes.fromhex(data[2:]))
    except (DecodingError, UnicodeDecodeError, OverflowError):  # Overflow: a length >= 2^63
        return True
    return False



def _reason(log: dict[str, Any]) -> str | None:
    """Why a log cannot be used (None: usable), by the documented rules, in their order."""
    kind, event = SOURCES.get(log["address"]), EVENTS.get(log["topic0"])
    data, t1, t2, t3 = log["data"], log["topic1"], log["topic2"], log["topic3"]
    if kind is None:
        return "log from an address that is not in the registry"
    if event is None:
        return "unknown event topic0"
    if data is None or not re.fullmatch(r"0x(?:[0-9a-f]{64})*", data):
        return "data is not a whole number of 32-byte hex words"
    if not all(t is None or HEX64.fullmatch(t) for t in (t1, t2, t3)):
        return "a topic is not 32 bytes of hex"
    if event == "Transfer" and kind not in ("vault", "pool"):
        return "Transfer from a contract that is not a position token"
    if event in ("Mint", "Burn", "Swap", "Sync") and kind != "pool":
        return f"{event} from a contract that is not a pool"
    if event in ("VoteCast", "VoteCastWithParams") and kind != "governor":
        return f"{event} from a contract that is not a governor"
    if event == "ContributionAccepted" and kind != "contribution_registry":
        return "ContributionAccepted from a contract that is not the registry"
    # exactly the event's indexed topics: a NULL where one is indexed does not match
    present = tuple(t is not None for t in (t1, t2, t3))
    one, two, three = (True, False, False), (True, True, False), (True, True, True)
    words = (len(data) - 2) // 64
    shapes = {
        "Transfer": (present == two and words == 1,
                     "Transfer does not match (address indexed, address indexed, uint256)"),
        "Mint": (present == one and words == 2,
                 "Mint does not match (address indexed, uint256, uint256)"),
        "Burn": (present == two and words == 2,
                 "Burn does not match (address indexed, uint256, uint256, address indexed)"),
        "Swap": (present == two and words == 4,
                 "Swap does not match (address indexed, 4 x uint256, address indexed)"),
        "Sync": (present == (False, False, False) and words == 2,
                 "Sync does not match (uint112, uint112)"),
        "VoteCast": (present == one and words >= 5,
                     "VoteCast does not match (address indexed, uint256, uint8, uint256, "
                     "string)"),
        "VoteCastWithParams": (present == one and words >= 7,
                               "VoteCastWithParams does not match its ABI"),
        "ContributionAccepted": (present == three and words == 2,
                                 "ContributionAccepted does not match its ABI"),
    }
    ok, why = shapes[event]
    if not ok:
        return why
    w = [data[2 + 64 * k: 66 + 64 * k] for k in range(words)]
    if event in ("Transfer", "VoteCast", "VoteCastWithParams") and t1[2:26] != "0" * 24:
        return "address topic1 has non-zero high bytes"
    if event == "Transfer" and t2[2:26] != "0" * 24:
        return "address topic2 has non-zero high bytes"
    if event == "ContributionAccepted" and (t2[2:26] != "0" * 24 or t3[2:26] != "0" * 24):
        return "address topic has non-zero high bytes"
    if event == "Swap" and (t1[2:26] != "0" * 24 or t2[2:26] != "0" * 24):
        return "address topic has non-zero high bytes"
    if event == "Swap" and any(int(x, 16) >= 2**128 for x in w):
        return "Swap amount exceeds 2^128-1"
    if event == "Sync" and _abi_rejects(data, ["uint112", "uint112"]):
        return "Sync reserve is not a uint112"
    if event == "Transfer" and int(w[0], 16) >= 2**128:
        return "amount exceeds 2^128-1"
    if event in ("VoteCast", "VoteCastWithParams"):
        if int(w[1], 16) > 255:
            return "support is not a uint8"
        if int(w[2], 16) >= 2**128:
            return "vote weight exceeds 2^128-1"
        # the reason string alone (a static 5th word keeps params out of it), then params
        head = ["uint256", "uint8", "uint256", "string"]
        if _abi_rejects(data, head + (["uint256"] if event == "VoteCastWithParams" else [])):
            return f"{event} reason is not a valid ABI string (offset, length, padding or UTF-8)"
        if event == "VoteCastWithParams" and _abi_rejects(data, [*head, "bytes"]):
            return "VoteCastWithParams params is not valid ABI bytes (offset, length or padding)"
    if event == "ContributionAccepted":
        if int(w[0], 16) > 255:
            return "kind is not a uint8"
        if int(w[1], 16) >= 2**128:
            return "score exceeds 2^128-1"
        if int(w[0], 16) not in MULTIPLIER:
            return f"unknown contribution kind {int(w[0], 16)}"
        if "0x" + t2[26:] != ATLAS_TOKEN:
            return "unregistered agent 0x" + t2[26:]
        if t1 in EARLIER_IDS:
            return "duplicate contributionId (accepted in an earlier epoch)"
    return None


def reference(logs: list[dict[str, Any]]) -> dict[str, list]:
    """Expected quarantine and decoded rows; logs are in (block, log index) order."""
    out: dict[str, list] = {"quarantine": [], "position_changes": [], "votes": [],
                            "contributions": [], "swaps": [], "syncs": [],
                            "analytics_only": []}
    seen_ids: set[str] = set()
    for log in logs:
        key = (log["block_number"], log["log_index"])
        reason, event = _reason(log), EVENTS.get(log["topic0"])
        if reason is None and event == "ContributionAccepted":
            if log["topic1"] in seen_ids:
                reason = "duplicate contributionId (accepted earlier in this epoch)"
            seen_ids.add(log["topic1"])
        if reason is not None:
            out["quarantine"].append((*key, reason, log["address"], log["topic0"]))
            continue
        data = log["data"]
        w = [data[2 + 64 * k: 66 + 64 * k] for k in range((len(data) - 2) // 64)]
        if event == "Transfer":
            value = int(w[0], 16)
            # the sender's row first (the SQL orders by block, log index, side)
            for topic, delta in ((log["topic1"], f"-{value}" if value else "0"),
                                 (log["topic2"], str(value))):
                if "0x" + topic[26:] != ZERO:
                    out["position_changes"].append(
                        (*key, log["address"], "0x" + topic[26:], delta))
        elif event in ("VoteCast", "VoteCastWithParams"):
            out["votes"].append((*key, "atlas", GOVERNOR, "0x" + log["topic1"][26:],
                                 "0x" + w[0], int(w[1], 16), str(int(w[2], 16))))
        elif event == "ContributionAccepted":
            kind, score = int(w[0], 16), int(w[1], 16)
            out["contributions"].append((*key, "atlas", "0x" + log["topic3"][26:],
                                         log["topic1"], kind, str(score),
                                         str(score * MULTIPLIER[kind])))
        elif event == "Swap":
            out["swaps"].append((*key, log["address"], "0x" + log["topic1"][26:],
                                 "0x" + log["topic2"][26:], *(str(int(x, 16)) for x in w)))
        elif event == "Sync":
            out["syncs"].append((*key, log["address"], *(str(int(x, 16)) for x in w)))
        else:
            out["analytics_only"].append(key)
    return out


# ------------------------------------------------------------------------ running the pipeline


def decode(logs: list[dict[str, Any]], home: Path) -> tuple[Any, dict[str, list]]:
    warehouse = Warehouse(home)
    warehouse.write("contributions", EPOCH - 1, {
        "epoch": [EPOCH - 1] * 2, "agent": ["atlas"] * 2, "contributor": [addr(0xF1)] * 2,
        "contribution_id": EARLIER_IDS, "kind": [0, 0], "score": ["1", "1"],
        "weight": ["10000", "10000"], "block_number": [1, 1], "log_index": [0, 1]})
    columns = ("block_number", "block_hash", "block_timestamp", "transaction_hash",
               "transaction_index", "log_index", "address", "topic0", "topic1", "topic2",
               "topic3", "data")
    warehouse.write("raw_logs", EPOCH, {"epoch": [EPOCH] * len(logs),
                                        **{c: [log[c] for log in logs] for c in columns}})
    result = decode_epoch(CFG, warehouse, EPOCH)
    accept_contributions(CFG, warehouse, EPOCH)
    tables = {t: warehouse.read(t, EPOCH).to_pylist() for t in
              ("quarantine", "position_changes", "votes", "contributions", "swaps", "syncs")}
    # the quarantine view shows both: what decoding and what the contributions step rejected
    tables["quarantine"] = sorted(
        tables["quarantine"] + warehouse.read("contribution_quarantine", EPOCH).to_pylist(),
        key=lambda r: (r["block_number"], r["log_index"]))
    got = {
        "quarantine": [(r["block_number"], r["log_index"], r["reason"], r["address"],
                        r["topic0"]) for r in tables["quarantine"]],
        "position_changes": [(r["block_number"], r["log_index"], r["pool"], r["account"],
                              r["delta"]) for r in tables["position_changes"]],
        "votes": [(r["block_number"], r["log_index"], r["agent"], r["governor"], r["voter"],
                   r["proposal_id"], r["support"], r["weight"]) for r in tables["votes"]],
        "contributions": [(r["block_number"], r["log_index"], r["agent"], r["contributor"],
                           r["contribution_id"], r["kind"], r["score"], r["weight"])
                          for r in tables["contributions"]],
        "swaps": [(r["block_number"], r["log_index"], r["pool"], r["sender"], r["recipient"],
                   r["amount0_in"], r["amount1_in"], r["amount0_out"], r["amount1_out"])
                  for r in tables["swaps"]],
        "syncs": [(r["block_number"], r["log_index"], r["pool"], r["reserve0"], r["reserve1"])
                  for r in tables["syncs"]],
    }
    return result, got


def check(logs: list[dict[str, Any]]) -> dict[str, list]:
    expected = reference(logs)
    with tempfile.TemporaryDirectory() as home:
        result, got = decode(logs, Path(home))
    for table in ("quarantine", "votes", "contributions", "swaps", "syncs"):
        assert got[table] == expected[table], table
    assert got["position_changes"] == expected["position_changes"]
    # counts in = counts out: every raw log exactly once
    transfer_logs = {(b, i) for b, i, *_ in expected["position_changes"]}
    decoded_transfers = [log for log in logs if _reason(log) is None
                         and EVENTS.get(log["topic0"]) == "Transfer"]
    out = (len(got["quarantine"]) + len(decoded_transfers) + len(got["votes"])
           + len(got["contributions"]) + len(got["swaps"]) + len(got["syncs"])
           + len(expected["analytics_only"]))
    assert out == len(logs) == result.raw_logs
    assert transfer_logs <= {(log["block_number"], log["log_index"]) for log in decoded_transfers}
    keys = [(b, i) for b, i, *_ in got["quarantine"]] + [
        (b, i) for b, i, *_ in got["votes"]] + [(b, i) for b, i, *_ in got["contributions"]]
    assert len(keys) == len(set(keys))  # nobody is both quarantined and decoded
    decoding = [r for r in got["quarantine"] if not r[2].startswith("duplicate contributionId")]
    assert result.quarantine == len(decoding)
    assert result.quarantine_reasons == dict(Counter(r[2] for r in decoding))
    return expected


# ------------------------------------------------------------------------ building logs


def make_logs(specs: list[tuple[str | None, list[str | None], str | None]],
              addresses: list[str | None]) -> list[dict[str, Any]]:
    logs = []
    for n, ((topic0, topics, data), address) in enumerate(zip(specs, addresses, strict=True)):
        topics = (topics + [None, None, None])[:3]
        logs.append({
            "block_number": 100 + n // 3, "block_hash": "0x" + word(100 + n // 3),
            "block_timestamp": 1_000_100 + n // 3, "transaction_hash": "0x" + word(n),
            "transaction_index": 0, "log_index": n, "address": address, "topic0": topic0,
            "topic1": topics[0], "topic2": topics[1], "topic3": topics[2], "data": data,
        })
    return logs


def at(a: str) -> str:
    return address_topic(a)


T = TOPIC0
A, B = addr(0xA0), addr(0xB0)
VALID_VOTE = "0x" + eth_abi.encode(["uint256", "uint8", "uint256", "string"],
                                   [9, 2, 77, "ok"]).hex()
HAND: list[tuple[str, tuple[str | None, list[str | None], str | None], str | None]] = [
    # (expected reason or outcome, (topic0, topics, data), address)
    ("decoded", (T["Transfer"], [at(A), at(B)], "0x" + word(5)), AIMG_VAULT),
    ("decoded", (T["Transfer"], [at(ZERO), at(A)], "0x" + word(2**128 - 1)), POOL),
    ("decoded", (T["VoteCast"], [at(A)], "0x" + word(9) + word(2) + word(77) + word(0x80)
                 + word(0)), GOVERNOR),
    ("decoded", (T["ContributionAccepted"], ["0x" + word(3), at(ATLAS_TOKEN), at(B)],
                 "0x" + word(2) + word(40)), REGISTRY),
    ("sync", (T["Sync"], [], "0x" + word(1) + word(2)), POOL),
    ("swap", (T["Swap"], [at(A), at(B)], "0x" + word(1) + word(0) + word(0) + word(2)), POOL),
    ("analytics", (T["Mint"], [at(A)], "0x" + word(1) + word(2)), POOL),
    ("Sync reserve is not a uint112", (T["Sync"], [], "0x" + word(2**112) + word(2)), POOL),
    ("Swap amount exceeds 2^128-1",
     (T["Swap"], [at(A), at(B)], "0x" + word(1) + word(2**128) + word(0) + word(2)), POOL),
    ("address topic has non-zero high bytes",
     (T["Swap"], [at(A), "0x" + word(2**160)], "0x" + word(1) * 4), POOL),
    ("log from an address that is not in the registry",
     (T["Transfer"], [at(A), at(B)], "0x" + word(5)), addr(0xDEAD)),
    ("log from an address that is not in the registry", (T["Transfer"], [], "0x"), None),
    ("unknown event topic0", ("0x" + word(12345), [], "0x"), AIMG_VAULT),
    ("unknown event topic0", (None, [], "0x"), AIMG_VAULT),
    ("data is not a whole number of 32-byte hex words",
     (T["Transfer"], [at(A), at(B)], "0x" + word(5)[:-1]), AIMG_VAULT),
    ("data is not a whole number of 32-byte hex words",
     (T["Transfer"], [at(A), at(B)], "0x" + word(0xABC).upper()), AIMG_VAULT),
    ("data is not a whole number of 32-byte hex words",
     (T["Transfer"], [at(A), at(B)], "0x" + "zz" * 32), AIMG_VAULT),
    ("data is not a whole number of 32-byte hex words",
     (T["Transfer"], [at(A), at(B)], None), AIMG_VAULT),
    ("a topic is not 32 bytes of hex", (T["Transfer"], [at(A)[:-2], at(B)], "0x" + word(5)),
     AIMG_VAULT),
    ("Transfer from a contract that is not a position token",
     (T["Transfer"], [at(A), at(B)], "0x" + word(5)), GOVERNOR),
    ("Swap from a contract that is not a pool", (T["Swap"], [], "0x"), AIMG_VAULT),
    ("VoteCast from a contract that is not a governor", (T["VoteCast"], [], "0x"), POOL),
    ("ContributionAccepted from a contract that is not the registry",
     (T["ContributionAccepted"], [], "0x"), POOL),
    ("Transfer does not match (address indexed, address indexed, uint256)",
     (T["Transfer"], [at(A), at(B)], "0x" + word(5) + word(5)), AIMG_VAULT),
    ("Sync does not match (uint112, uint112)", (T["Sync"], [at(A)], "0x" + Z * 2), POOL),
    ("VoteCast does not match (address indexed, uint256, uint8, uint256, string)",
     (T["VoteCast"], [at(A)], "0x" + Z * 4), GOVERNOR),
    ("ContributionAccepted does not match its ABI",
     (T["ContributionAccepted"], ["0x" + word(4), at(ATLAS_TOKEN)], "0x" + Z * 2), REGISTRY),
    ("address topic1 has non-zero high bytes",
     (T["Transfer"], ["0x" + "1" * 64, at(B)], "0x" + word(5)), AIMG_VAULT),
    ("address topic2 has non-zero high bytes",
     (T["Transfer"], [at(A), "0x" + "f" * 64], "0x" + word(5)), AIMG_VAULT),
    ("address topic has non-zero high bytes",
     (T["ContributionAccepted"], ["0x" + word(5), at(ATLAS_TOKEN), "0x" + "f" * 64],
      "0x" + word(0) + word(1)), REGISTRY),
    ("amount exceeds 2^128-1", (T["Transfer"], [at(A), at(B)], "0x" + word(2**128)),
     AIMG_VAULT),
    ("amount exceeds 2^128-1", (T["Transfer"], [at(A), at(B)], "0x" + "f" * 64), AIMG_VAULT),
    ("support is not a uint8", (T["VoteCast"], [at(A)], "0x" + word(1) + word(256) + word(1)
                                + word(0x80) + word(0)), GOVERNOR),
    ("vote weight exceeds 2^128-1", (T["VoteCast"], [at(A)], "0x" + word(1) + word(1)
                                     + word(2**200) + word(0x80) + word(0)), GOVERNOR),
    ("kind is not a uint8", (T["ContributionAccepted"], ["0x" + word(6), at(ATLAS_TOKEN),
                                                          at(A)], "0x" + word(256) + word(1)),
     REGISTRY),
    ("score exceeds 2^128-1", (T["ContributionAccepted"], ["0x" + word(7), at(ATLAS_TOKEN),
                                                            at(A)], "0x" + word(1)
                               + word(2**255)), REGISTRY),
    ("unknown contribution kind 3", (T["ContributionAccepted"], ["0x" + word(8),
                                                                  at(ATLAS_TOKEN), at(A)],
                                     "0x" + word(3) + word(1)), REGISTRY),
    (f"unregistered agent {addr(0x99)}",
     (T["ContributionAccepted"], ["0x" + word(9), at(addr(0x99)), at(A)],
      "0x" + word(0) + word(1)), REGISTRY),
    ("VoteCast does not match (address indexed, uint256, uint8, uint256, string)",
     (T["VoteCast"], [None, None, at(A)], VALID_VOTE), GOVERNOR),
    ("Transfer does not match (address indexed, address indexed, uint256)",
     (T["Transfer"], [None, at(A), at(B)], "0x" + word(5)), AIMG_VAULT),
    ("VoteCast reason is not a valid ABI string (offset, length, padding or UTF-8)",
     (T["VoteCast"], [at(A)], "0x" + word(1) + word(1) + word(1) + word(0) + word(0)),
     GOVERNOR),  # offset 0 points into the head
    ("VoteCast reason is not a valid ABI string (offset, length, padding or UTF-8)",
     (T["VoteCast"], [at(A)], "0x" + word(1) + word(1) + word(1) + word(0x80) + word(33)
      + word(0)), GOVERNOR),  # 33 bytes claimed, 32 there
    ("VoteCast reason is not a valid ABI string (offset, length, padding or UTF-8)",
     (T["VoteCast"], [at(A)], "0x" + word(1) + word(1) + word(1) + word(0x80) + word(1)
      + "ff" + "0" * 62), GOVERNOR),  # one byte 0xff: not UTF-8
    ("VoteCast reason is not a valid ABI string (offset, length, padding or UTF-8)",
     (T["VoteCast"], [at(A)], "0x" + word(1) + word(1) + word(1) + word(0x80) + word(1)
      + "61" + "0" * 61 + "1"), GOVERNOR),  # "a", padding not zero
    ("VoteCastWithParams params is not valid ABI bytes (offset, length or padding)",
     (T["VoteCastWithParams"], [at(A)], "0x" + word(1) + word(1) + word(1) + word(0xa0)
      + word(2**64) + word(0) + word(0)), GOVERNOR),  # params offset beyond the data
    ("duplicate contributionId (accepted in an earlier epoch)",
     (T["ContributionAccepted"], [EARLIER_IDS[1], at(ATLAS_TOKEN), at(A)],
      "0x" + word(0) + word(1)), REGISTRY),
    ("duplicate contributionId (accepted earlier in this epoch)",
     (T["ContributionAccepted"], ["0x" + word(3), at(ATLAS_TOKEN), at(A)],
      "0x" + word(1) + word(1)), REGISTRY),
]


def test_one_log_per_rule_lands_where_the_rule_says() -> None:
    """Hand-written expectations (not the reference): one log per quarantine reason."""
    logs = make_logs([spec for _, spec, _ in HAND], [a for _, _, a in HAND])
    expected = check(logs)
    reasons = {(b, i): why for b, i, why, *_ in expected["quarantine"]}
    for log, (want, _, _) in zip(logs, HAND, strict=True):
        key = (log["block_number"], log["log_index"])
        if want == "decoded":
            assert key not in reasons
        elif want == "analytics":
            assert key in expected["analytics_only"]
        elif want in ("swap", "sync"):
            assert key in [(b, i) for b, i, *_ in expected[f"{want}s"]]
        else:
            assert reasons.get(key) == want, (log, reasons.get(key))
    # and the decoded values by hand
    with tempfile.TemporaryDirectory() as home:
        _, got = decode(logs, Path(home))
    assert [r[2:] for r in got["position_changes"]] == [
        (AIMG_VAULT, A, "-5"), (AIMG_VAULT, B, "5"), (POOL, A, str(2**128 - 1))]
    assert [r[2:] for r in got["votes"]] == [("atlas", GOVERNOR, A, "0x" + word(9), 2, "77")]
    assert [r[2:] for r in got["contributions"]] == [
        ("atlas", B, "0x" + word(3), 2, "40", "800000")]  # 40 x 20000 bps (algorithm)
    assert [r[2:] for r in got["swaps"]] == [(POOL, A, B, "1", "0", "0", "2")]
    assert [r[2:] for r in got["syncs"]] == [(POOL, "1", "2")]


# ------------------------------------------------------------------------ hypothesis


def hex_word(max_bits: int = 256) -> st.SearchStrategy[str]:
    return st.one_of(st.integers(0, 2**max_bits - 1), st.integers(0, 300),
                     st.sampled_from([2**128 - 1, 2**128, 2**256 - 1, 255, 256])).map(word)


ADDRESSES = [AIMG_VAULT, ATLAS_VAULT, POOL, GOVERNOR, REGISTRY]
ACCOUNTS = [ZERO, A, B, ATLAS_TOKEN, addr(0x99), POOL]
topic_values = st.one_of(
    st.sampled_from(ACCOUNTS).map(at),
    hex_word().map(lambda w: "0x" + w),
    st.sampled_from(EARLIER_IDS + ["0x" + word(3), "0x" + word(4)]),
    st.text(alphabet="0123456789abcdefABCDEFxz", max_size=70).map(lambda s: "0x" + s),
    st.text(max_size=8),
)
data_values = st.one_of(
    st.lists(hex_word(), max_size=8).map(lambda ws: "0x" + "".join(ws)),
    st.lists(hex_word(), max_size=3).map(lambda ws: ("0x" + "".join(ws)).upper()),
    st.text(alphabet="0123456789abcdefxg", max_size=140).map(lambda s: "0x" + s),
    st.text(max_size=10),
    st.none(),
)


@st.composite
def any_log(draw: st.DrawFn) -> tuple[tuple[str | None, list[str | None], str | None],
                                      str | None]:
    event = draw(st.sampled_from([*TOPIC0, "random"]))
    topic0 = T[event] if event != "random" else draw(st.one_of(
        hex_word().map(lambda w: "0x" + w), st.text(max_size=6), st.none()))
    shaped = draw(st.booleans())  # half the logs follow the event's ABI shape
    if shaped and event == "Transfer":
        topics: list[str | None] = [at(draw(st.sampled_from(ACCOUNTS))),
                                    at(draw(st.sampled_from(ACCOUNTS)))]
        data = "0x" + draw(hex_word(draw(st.sampled_from([64, 128, 129, 256]))))
    elif shaped and event in ("VoteCast", "VoteCastWithParams"):
        topics = [at(draw(st.sampled_from(ACCOUNTS)))]
        # a real encoding (reason string, params bytes), then maybe one word or byte changed
        types = ["uint256", "uint8", "uint256", "string"]
        values: list[Any] = [draw(st.integers(0, 2**256 - 1)),
                             draw(st.sampled_from([0, 1, 2, 255])),
                             draw(st.integers(0, 2**draw(st.sampled_from([100, 128, 129])) - 1)),
                             draw(st.text(max_size=40))]
        if event == "VoteCastWithParams":
            types.append("bytes")
            values.append(draw(st.binary(max_size=70)))
        raw = bytearray(eth_abi.encode(types, values))
        if draw(st.booleans()):
            at_word = draw(st.integers(1, len(raw) // 32 - 1))
            raw[32 * at_word:32 * at_word + 32] = draw(st.one_of(
                st.integers(0, 400), st.sampled_from([2**64, 2**255]))).to_bytes(32, "big")
        elif draw(st.booleans()) and len(raw) > 160:
            raw[draw(st.integers(128, len(raw) - 1))] = draw(st.integers(0, 255))
        data = "0x" + raw.hex()
    elif shaped and event == "Swap":
        topics = [at(draw(st.sampled_from(ACCOUNTS))), at(draw(st.sampled_from(ACCOUNTS)))]
        data = "0x" + "".join(draw(hex_word(draw(st.sampled_from([64, 112, 128, 129, 256]))))
                              for _ in range(4))
    elif shaped and event == "Sync":
        topics = []
        data = "0x" + "".join(draw(hex_word(draw(st.sampled_from([64, 112, 113, 256]))))
                              for _ in range(2))
    elif shaped and event == "ContributionAccepted":
        topics = [draw(st.sampled_from(EARLIER_IDS + ["0x" + word(3), "0x" + word(4)])),
                  at(draw(st.sampled_from([ATLAS_TOKEN, addr(0x99)]))),
                  at(draw(st.sampled_from(ACCOUNTS)))]
        data = "0x" + word(draw(st.sampled_from([0, 1, 2, 3, 300]))) \
            + draw(hex_word(draw(st.sampled_from([64, 128, 129]))))
    else:
        topics = draw(st.lists(st.one_of(topic_values, st.none()), max_size=3))
        data = draw(data_values)
    address = draw(st.one_of(st.sampled_from(ADDRESSES), st.sampled_from(ADDRESSES),
                             st.sampled_from([addr(0xDEAD), AIMG_VAULT.upper(), None])))
    return (topic0, topics, data), address


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(any_log(), min_size=0, max_size=40))
def test_random_logs_are_each_decoded_or_quarantined_exactly_once(logs: list) -> None:
    check(make_logs([spec for spec, _ in logs], [address for _, address in logs]))
