"""Side-by-side comparisons on the benchmark's own data (each run in a fresh process).

``python -m bench.compare process_log --home HOME --epoch E --sample N --out F``
    Decodes the first N raw logs of the epoch one by one with web3.py's
    ``contract.events.<Event>().process_log`` (the event chosen by topic0, as a per-log
    decoder must, among ``EVENTS``: the pairs' Swap, Sync and Mint too), and reports seconds
    per log and the sample's events.

``python -m bench.compare merkle --home HOME --epoch E --out F [--oz-sizes 100000,0]``
    For each K of ``--oz-sizes`` (0 = all claims): builds the Merkle tree and every proof of
    the first K claims with ``aimg_pipeline.lib.merkle`` (what ``publish.build_files`` runs)
    cold, in a fresh process (``merkle-ours``), then the same leaves with
    ``@openzeppelin/merkle-tree`` in node (``aimg_pipeline_tests/js/oz_oracle.mjs bench``):
    ``StandardMerkleTree.of`` plus ``core.getProof`` for every leaf (like for like: ours
    checks nothing either), and then its checked ``tree.getProof`` (which re-verifies every
    proof), each to completion within ``--oz-cap`` seconds. ``ratio`` is OZ's like-for-like
    time over ours, ``checked_ratio`` OZ's checked time (build + checked proofs) over ours.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
JS_DIR = ROOT / "aimg_pipeline_tests" / "js"

# the benchmark's events, as the demo contracts compile them: contract -> events
EVENTS = {"Token": ("Transfer",), "Governor": ("VoteCast",),
          "ContributionRegistry": ("ContributionAccepted",), "Pair": ("Swap", "Sync", "Mint")}


def _event_abis() -> list[dict[str, Any]]:
    """The ABI entries of ``EVENTS``."""
    from aimg_pipeline.demo.scenario import BUILD_DIR
    return [entry for contract, events in EVENTS.items()
            for entry in json.loads((BUILD_DIR / f"{contract}.json").read_text())["abi"]
            if entry.get("type") == "event" and entry["name"] in events]


def process_log(home: Path, epoch: int, sample: int) -> dict[str, Any]:
    import pyarrow.parquet as pq
    from hexbytes import HexBytes
    from web3 import Web3
    from web3.datastructures import AttributeDict

    from aimg_pipeline.lib.events import TOPIC0
    from aimg_pipeline.warehouse import Warehouse

    path = Warehouse(home).path("raw_logs", epoch)
    rows = next(pq.ParquetFile(path).iter_batches(batch_size=sample)).to_pylist()
    w3 = Web3()
    contract = w3.eth.contract(abi=_event_abis())
    by_topic = {TOPIC0[name]: getattr(contract.events, name)() for events in EVENTS.values()
                for name in events}
    logs = [AttributeDict({
        "address": Web3.to_checksum_address(r["address"]),
        "blockHash": HexBytes(r["block_hash"]), "blockNumber": r["block_number"],
        "data": HexBytes(r["data"]), "logIndex": r["log_index"],
        "topics": [HexBytes(t) for t in (r["topic0"], r["topic1"], r["topic2"], r["topic3"])
                   if t is not None],
        "transactionHash": HexBytes(r["transaction_hash"]),
        "transactionIndex": r["transaction_index"],
    }) for r in rows]
    started = time.perf_counter()
    for log in logs:
        by_topic["0x" + bytes(log["topics"][0]).hex()].process_log(log)
    seconds = time.perf_counter() - started
    events: dict[str, int] = {}
    names = {topic: name for name, topic in TOPIC0.items()}
    for log in logs:
        name = names["0x" + bytes(log["topics"][0]).hex()]
        events[name] = events.get(name, 0) + 1
    return {"sample": len(logs), "seconds": round(seconds, 3),
            "seconds_per_log": seconds / len(logs), "events": events}


def _node() -> tuple[str | None, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        return None, "node is not installed"
    if not (JS_DIR / "node_modules" / "@openzeppelin" / "merkle-tree").is_dir():
        if npm is None:
            return None, "npm is not installed (cannot install @openzeppelin/merkle-tree)"
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR,
                              capture_output=True, text=True, timeout=600)
        if done.returncode:
            return None, f"npm ci failed: {done.stderr[-300:]}"
    return node, ""


def _claims(home: Path, epoch: int, n: int) -> list[tuple[str, int]]:
    """The first ``n`` (0 = all) of the epoch's claims, by account."""
    from aimg_pipeline.warehouse import Warehouse

    claims = Warehouse(home).read("claims", epoch).to_pydict()
    values = sorted(zip(claims["account"], map(int, claims["cumulative_amount"]), strict=True))
    return values if n == 0 or n >= len(values) else values[:n]


def merkle_ours(home: Path, epoch: int, n: int) -> dict[str, Any]:
    """Our tree and every proof, timed once, cold: run in a process of its own."""
    from aimg_pipeline.lib.merkle import StandardMerkleTree

    values = _claims(home, epoch, n)
    started = time.perf_counter()
    tree = StandardMerkleTree.of(values)
    built = time.perf_counter()
    proofs = tree.proofs()
    done = time.perf_counter()
    return {"n": len(values), "build_s": round(built - started, 3),
            "proofs_s": round(done - built, 3), "total_s": round(done - started, 3),
            "root": tree.root, "proof_count": len(proofs),
            "values": [[a, str(v)] for a, v in tree.values]}


def merkle(home: Path, epoch: int, oz_sizes: list[int], oz_cap: float) -> dict[str, Any]:
    """Per size: ours cold in a fresh process, then OpenZeppelin on the same leaves (the
    checksummed values ours hashed) to completion, like for like and checked."""
    result: dict[str, Any] = {"ours": None, "oz": []}
    node, why = _node()
    for size in oz_sizes:
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "ours.json"
            subprocess.run([sys.executable, "-m", "bench.compare", "merkle-ours", "--home",
                            str(home), "--epoch", str(epoch), "--n", str(size), "--out",
                            str(out)], check=True, cwd=ROOT)
            ours = json.loads(out.read_text())
            values = ours.pop("values")
            if result["ours"] is None or ours["n"] > result["ours"]["n"]:
                result["ours"] = ours
            if node is None:
                result["oz_note"] = f"skipped: {why}"
                continue
            leaves = Path(scratch) / "values.json"
            leaves.write_text(json.dumps({"values": values}))
            del values
            try:
                run = subprocess.run(
                    [node, "--max-old-space-size=6144", str(JS_DIR / "oz_oracle.mjs"), "bench",
                     str(leaves)], capture_output=True, text=True, timeout=oz_cap)
            except subprocess.TimeoutExpired:
                result["oz"].append({"n": ours["n"], "timeout_s": oz_cap,
                                     "ours_total_s": ours["total_s"]})
                continue
            if run.returncode:
                result["oz"].append({"n": ours["n"], "error": run.stderr[-300:]})
                continue
            oz = json.loads(run.stdout)
            oz.update({"ours_total_s": ours["total_s"], "same_root": oz["root"] == ours["root"],
                       "ratio": round(oz["total_s"] / ours["total_s"], 2),
                       "checked_ratio": round(oz["checked_total_s"] / ours["total_s"], 2)})
            result["oz"].append(oz)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("process_log", "merkle", "merkle-ours"))
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--epoch", type=int, default=1)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--oz-sizes", default="100000,0")
    parser.add_argument("--oz-cap", type=float, default=1800.0)
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.what == "process_log":
        result = process_log(args.home, args.epoch, args.sample)
    elif args.what == "merkle-ours":
        result = merkle_ours(args.home, args.epoch, args.n)
    else:
        sizes = [int(s) for s in args.oz_sizes.split(",") if s.strip()]
        result = merkle(args.home, args.epoch, sizes, args.oz_cap)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
