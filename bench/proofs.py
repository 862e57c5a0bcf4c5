"""Issue 18 at 1M claimants: ``aimg proof`` (wall time, peak RSS of the process) and
``aimg serve`` (1,000 random lookups over HTTP), and that the proof shards hold exactly
``claims.json``'s claims.

``python -m bench.proofs [--claims 1000000] [--dir DIR]``: publishes one synthetic epoch
(random addresses, amounts up to 2^100) under ``DIR/home/published`` (kept between runs:
generated once per size and seed), then measures, and prints/writes
``DIR/proofs-<n>.json``. The shards are compared with claims.json byte for byte: in the
published layout each shard's claims are a run of claims.json's, so claims.json must equal
its head, the shards' claim bodies joined by ",", and its tail; this reads the 1.6 GB file
once, sequentially, without parsing it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AIMG = ROOT / ".venv" / "bin" / "aimg"


def publish_synthetic(home: Path, n: int, seed: int) -> list[str]:
    """Publish epoch 0 of ``n`` random claimants once; their checksummed addresses."""
    from aimg_pipeline.lib.eip55 import checksum_rows
    from aimg_pipeline.publish.artifacts import EpochRelease, build_artifacts
    from aimg_pipeline.publish.folder import publish

    rng = random.Random(seed)
    raw = rng.randbytes(20 * n).hex()
    accounts, _ = checksum_rows(["0x" + raw[i:i + 40] for i in range(0, 40 * n, 40)])
    folder = home / "published" / "epoch-00000"
    if not (folder / "manifest.json").is_file():
        claims = {a: rng.getrandbits(100) + 1 for a in accounts}
        rows = [("staking", "0x" + "0d" * 20, a, v, v, "earned", None) for a, v in claims.items()]
        release = EpochRelease(
            epoch=0, window_start=1_000, window_end=2_000, blocks={"first_block": 0},
            policy_version="v1", policy_hash="ab" * 32, code_version="bench",
            input_rows={"raw_logs": n}, emission=sum(claims.values()),
            by_channel={"staking": sum(claims.values())}, allocations=rows, claims=claims)
        started = time.perf_counter()
        root = home / "published"
        root.mkdir(parents=True, exist_ok=True)
        publish(root, 0, build_artifacts(release, spool=root))
        print(f"published {n:,} claims in {time.perf_counter() - started:.1f} s", flush=True)
    return accounts


def shards_equal_claims(folder: Path) -> tuple[bool, int]:
    """claims.json == its head + ",".join(shard claim bodies) + its tail, compared in
    sequence (the shards in prefix order); and the number of shards."""
    manifest = json.loads((folder / "manifest.json").read_text())
    shards = sorted(n for n in manifest["files"] if n.startswith("proofs/"))
    opening, closing = b'  "claims": {', b"\n  }\n}\n"
    with open(folder / "claims.json", "rb") as claims:
        head = claims.read(4096)
        start = head.index(opening) + len(opening)
        claims.seek(start)
        for i, name in enumerate(shards):
            data = (folder / name).read_bytes()
            body = data[data.index(opening) + len(opening):len(data) - len(closing)]
            expected = (b"," if i else b"") + body
            if claims.read(len(expected)) != expected:
                return False, len(shards)
        return claims.read() == closing, len(shards)


def time_proof(home: Path, accounts: list[str], runs: int) -> dict[str, Any]:
    """``aimg proof`` in fresh processes: wall time and peak RSS (GNU time)."""
    env = {**os.environ, "AIMG_HOME": str(home)}
    walls, peaks = [], []
    for account in random.Random(1).sample(accounts, runs):
        started = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", str(AIMG), "proof", "0", account],
                              env=env, capture_output=True, text=True, check=True)
        walls.append((time.perf_counter() - started) * 1000)
        peaks.append(int(done.stderr.strip().splitlines()[-1]) / 1024)
        assert json.loads(done.stdout)["account"] == account
    return {"runs": runs, "wall_ms_median": round(statistics.median(walls), 1),
            "wall_ms_max": round(max(walls), 1), "peak_rss_mib_max": round(max(peaks), 1)}


def time_serve(home: Path, accounts: list[str], lookups: int) -> dict[str, Any]:
    """``aimg serve`` in its own process; ``lookups`` random GETs, one connection each,
    timed from the client (cold: the first request of each shard hashes it)."""
    env = {**os.environ, "AIMG_HOME": str(home)}
    server = subprocess.Popen([str(AIMG), "serve", "--port", "0"], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        base = re.search(r"(http://127\.0\.0\.1:\d+)", line).group(1)
        times = []
        for account in random.Random(2).choices(accounts, k=lookups):
            started = time.perf_counter()
            with urllib.request.urlopen(f"{base}/epochs/0/claims/{account}") as answer:
                body = json.loads(answer.read())
            times.append((time.perf_counter() - started) * 1000)
            assert body["account"] == account
    finally:
        server.terminate()
        server.wait(10)
    times_sorted = sorted(times)
    return {"lookups": lookups, "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times_sorted[int(0.99 * len(times)) - 1], 2),
            "max_ms": round(times_sorted[-1], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/aimg-bench-proofs"))
    args = parser.parse_args()
    home = args.dir / f"home-{args.claims}-{args.seed}"
    accounts = publish_synthetic(home, args.claims, args.seed)
    folder = home / "published" / "epoch-00000"
    equal, shards = shards_equal_claims(folder)
    result = {
        "claims": args.claims, "shards": shards, "shards_equal_claims_json": equal,
        "claims_json_bytes": (folder / "claims.json").stat().st_size,
        "largest_shard_bytes": max(p.stat().st_size for p in (folder / "proofs").iterdir()),
        "aimg_proof": time_proof(home, accounts, 20),
        "aimg_serve": time_serve(home, accounts, 1_000),
    }
    print(json.dumps(result, indent=2))
    (args.dir / f"proofs-{args.claims}.json").write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0 if equal else 1)


if __name__ == "__main__":
    main()
