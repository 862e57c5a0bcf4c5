"""Run one epoch end to end through the pipeline's stage functions, timing every stage.

``python -m bench.epoch --data DIR --home HOME --epoch E --out result.json``

The stages are the functions the Dagster assets call, in the assets' order:

| stage | asset | function |
|---|---|---|
| ingest | raw/raw_logs (``source: files``) | ``FileSource.ingest_epoch`` |
| decode | decoded/* | ``decode.logs.decode_epoch`` |
| snapshot | snapshots/position_snapshots | ``snapshots.balances.snapshot_epoch`` |
| emissions | rewards/epoch_emissions | ``rewards.write_emissions`` |
| allocations | rewards/allocations | ``rewards.write_allocations`` + ``rewards.epoch_swings`` |
| claims | rewards/claims | ``rewards.write_claims`` |
| publish | publish/distribution | ``publish.release.publish_epoch`` (assemble, build, publish) |

``publish`` verifies the folder it wrote before renaming it into place, and the asset uses that
report (``result.report``), so there is no second verification to time.

Left out, because there is no chain: the snapshot asset's ``reconcile_epoch`` (eth_call
totalSupply/balanceOf) and the publish asset's ``publish.release.check_blocks`` (reorg re-check of
block hashes). Also left out: the Dagster run itself (event log, metadata) and the HTML
``epoch_report`` asset.

Peak memory: the process's ``ru_maxrss`` (one fresh process per epoch), and per stage the
highest RSS seen by a sampler thread reading ``/proc/self/statm`` every 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")


class RssSampler(threading.Thread):
    """Highest resident set size seen since the last ``take()``."""

    def __init__(self, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.every, self.peak, self._stop = every, 0, threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * PAGE

    def run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.every)

    def take(self) -> int:
        peak, self.peak = max(self.peak, self.rss()), self.rss()
        return peak

    def stop(self) -> None:
        self._stop.set()


def _timed(table: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            table[name] = table.get(name, 0.0) + time.perf_counter() - started
    return wrapper


def run(data: Path, home: Path, epoch: int) -> dict[str, Any]:
    import aimg_pipeline.publish.release as release
    from aimg_pipeline.decode.contributions import accept_contributions
    from aimg_pipeline.decode.logs import decode_epoch
    from aimg_pipeline.ingest.files import FileSource
    from aimg_pipeline.lib.config import load_config
    from aimg_pipeline.rewards.allocations import write_allocations
    from aimg_pipeline.rewards.claims import write_claims
    from aimg_pipeline.rewards.emissions import write_emissions
    from aimg_pipeline.rewards.swings import epoch_swings
    from aimg_pipeline.snapshots.balances import snapshot_epoch
    from aimg_pipeline.warehouse import Warehouse

    config = load_config(data / "aimg.toml")
    warehouse = Warehouse(home)
    root = home / "published"
    source = FileSource(data / "files", "bench")
    publish_parts: dict[str, float] = {}
    release.assemble = _timed(publish_parts, "assemble", release.assemble)
    release.build_artifacts = _timed(publish_parts, "build_files", release.build_artifacts)
    release.publish = _timed(publish_parts, "publish_and_verify", release.publish)

    sampler = RssSampler()
    sampler.start()
    stages: dict[str, dict[str, float]] = {}
    facts: dict[str, Any] = {}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        sampler.take()
        started = time.perf_counter()
        result = fn()
        stages[name] = {"seconds": round(time.perf_counter() - started, 3),
                        "peak_rss_mib": round(sampler.take() / 2**20, 1)}
        print(f"  epoch {epoch} {name:<12} {stages[name]['seconds']:8.2f} s "
              f"{stages[name]['peak_rss_mib']:8.0f} MiB", flush=True)
        return result

    started = time.perf_counter()
    ingested = stage("ingest", lambda: source.ingest_epoch(config, warehouse, epoch))
    decoded = stage("decode", lambda: (decode_epoch(config, warehouse, epoch),
                                       accept_contributions(config, warehouse, epoch))[0])
    snap = stage("snapshot", lambda: snapshot_epoch(config, warehouse, epoch))
    stage("emissions", lambda: write_emissions(config, warehouse, epoch))
    alloc = stage("allocations", lambda: (write_allocations(config, warehouse, epoch),
                                          epoch_swings(warehouse, epoch))[0])
    claims = stage("claims", lambda: write_claims(warehouse, epoch))
    published = stage("publish", lambda: release.publish_epoch(config, warehouse, None, root,
                                                              epoch))
    total = time.perf_counter() - started
    sampler.stop()
    facts.update({
        "raw_logs": ingested.log_count, "position_changes": decoded.position_changes,
        "votes": decoded.votes, "contribution_events": decoded.contribution_events,
        "quarantine": decoded.quarantine, "snapshot_rows": snap.rows,
        "holders": snap.holders, "negative_balances": len(snap.negative),
        "allocation_rows": alloc.table.num_rows, "conserved": alloc.total == alloc.emission,
        "claims": len(claims), "merkle_root": published.merkle_root,
        "verified_accounts": published.report["accounts"],
        "published_bytes": sum(p.stat().st_size for p in published.folder.iterdir()),
    })
    return {
        "epoch": epoch, "seconds": round(total, 3),
        "seconds_after_ingest": round(total - stages["ingest"]["seconds"], 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "stages": stages,
        "publish_parts": {k: round(v, 3) for k, v in publish_parts.items()},
        "facts": facts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--epoch", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = run(args.data, args.home, args.epoch)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
