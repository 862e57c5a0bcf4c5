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
| yield | yield/* | ``yields``: ``write_pool_yield``, ``write_vault_yield``, ``write_lp_earnings`` |

``publish`` verifies the folder it wrote before renaming it into place, and the asset uses that
report (``result.report``), so there is no second verification to time.

``yield`` runs after ``publish`` (its assets need the decoded swaps and syncs, the snapshots and
the allocations; in Dagster only the HTML ``epoch_report`` waits for both). It times what
the three assets do per epoch: each write function, the ``pool_yield`` rows the other two read
back (``warehouse.read_rows``), and their blocking checks (``checks``: fees within volume, each
pool's and vault's emissions equal to its earned allocations, the LPs' fee shares summing to
the pool's fees per side, and here also the LPs' emissions summing to the pool's), over the
warehouse views as the assets' checks read them. A failed check makes the epoch fail (exit 1)
after its figures are written, so a broken result is never reported as a timing. Chain reads
are replaced: the pairs' ``token0()``/``token1()`` are the generator's (``DATA/pairs.json``)
and each vault's ``totalAssets()`` is its share supply (the sum of its holders' closing
balances in the epoch's snapshot, i.e. one asset per share), computed before the stage.

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


# The assets' checks, over the warehouse views (defs/yields.py reads the same sums).
_EARNED = ("SELECT pool, sum(amount)::VARCHAR FROM allocations WHERE epoch = $epoch "
           "AND channel = $channel AND reason = 'earned' GROUP BY pool")
_SHARED = ("SELECT pool, sum(fees0)::VARCHAR, sum(fees1)::VARCHAR, sum(emissions)::VARCHAR "
           "FROM lp_earnings WHERE epoch = $epoch GROUP BY pool")
_SHARE_SUPPLY = ("SELECT pool, sum(CAST(closing_balance AS BIGNUM))::VARCHAR FROM snapshot "
                 "WHERE token_kind = 'vault' GROUP BY pool")


def _sums(warehouse: Any, sql: str, **params: Any) -> dict[str, tuple[int, ...]]:
    con = warehouse.connect()
    try:
        rows = con.execute(sql, params).fetchall()
    finally:
        con.close()
    return {key: tuple(int(v) for v in values) for key, *values in rows}


def yield_problems(warehouse: Any, epoch: int, pools: list[dict[str, Any]],
                   vaults: list[dict[str, Any]]) -> list[str]:
    """What the yield assets' blocking checks (and one more sum) find wrong; [] when fine."""
    problems = [f"{r['pool_name']}: fees {r['fees0']}/{r['fees1']} over volume "
                f"{r['volume0']}/{r['volume1']}" for r in pools
                if r["fees0"] > r["volume0"] or r["fees1"] > r["volume1"]]
    liquidity = _sums(warehouse, _EARNED, epoch=epoch, channel="liquidity")
    staking = _sums(warehouse, _EARNED, epoch=epoch, channel="staking")
    shared = _sums(warehouse, _SHARED, epoch=epoch)
    for r in pools:
        if (r["emissions"],) != liquidity.get(r["pool"], (0,)):
            problems.append(f"{r['pool_name']}: emissions {r['emissions']} vs allocations "
                            f"{liquidity.get(r['pool'], (0,))[0]}")
        if shared.get(r["pool"], (0, 0, 0)) != (r["fees0"], r["fees1"], r["emissions"]):
            problems.append(f"{r['pool_name']}: fees/emissions {r['fees0']}/{r['fees1']}/"
                            f"{r['emissions']}, LPs' shares sum to "
                            f"{shared.get(r['pool'], (0, 0, 0))}")
    problems += [f"{r['vault_name']}: emissions {r['emissions']} vs allocations "
                 f"{staking.get(r['vault'], (0,))[0]}" for r in vaults
                 if (r["emissions"],) != staking.get(r["vault"], (0,))]
    return problems


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
    from aimg_pipeline.yields.lp import write_lp_earnings
    from aimg_pipeline.yields.pools import write_pool_yield
    from aimg_pipeline.yields.vaults import write_vault_yield

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

    # stand-ins for the yield assets' eth_calls (not timed, like the other chain reads)
    untimed = time.perf_counter()
    pairs = {pool: (t0, t1) for pool, (t0, t1) in
             json.loads((data / "pairs.json").read_text()).items()}
    con = warehouse.connect({"snapshot": warehouse.path("position_snapshots", epoch)})
    supply = {pool: int(v) for pool, v in con.execute(_SHARE_SUPPLY).fetchall()}
    con.close()
    total_assets = {t.address: supply.get(t.address, 0)
                    for t in config.position_tokens(epoch).values() if t.kind == "vault"}
    untimed = time.perf_counter() - untimed
    yield_parts: dict[str, float] = {}

    def yields() -> dict[str, Any]:
        def part(name: str, fn: Callable[[], Any]) -> Any:
            return _timed(yield_parts, name, fn)()
        pool_result = part("pool_yield", lambda: write_pool_yield(config, warehouse, epoch,
                                                                  pairs))
        pools = part("read_pool_yield", lambda: warehouse.read_rows("pool_yield", epoch))
        vaults = part("vault_yield", lambda: write_vault_yield(config, warehouse, epoch,
                                                               total_assets, pools))
        pools = part("read_pool_yield", lambda: warehouse.read_rows("pool_yield", epoch))
        lp_rows = part("lp_earnings", lambda: write_lp_earnings(warehouse, epoch, pools))
        problems = part("checks", lambda: yield_problems(warehouse, epoch, pools, vaults))
        return {"pool_result": pool_result, "pools": pools, "vaults": vaults,
                "lp_rows": lp_rows, "problems": problems}

    yielded = stage("yield", yields)
    total = time.perf_counter() - started - untimed
    sampler.stop()
    facts.update({
        "raw_logs": ingested.log_count, "position_changes": decoded.position_changes,
        "votes": decoded.votes, "contribution_events": decoded.contribution_events,
        "quarantine": decoded.quarantine, "snapshot_rows": snap.rows,
        "holders": snap.holders, "negative_balances": len(snap.negative),
        "allocation_rows": alloc.table.num_rows, "conserved": alloc.total == alloc.emission,
        "claims": len(claims), "merkle_root": published.merkle_root,
        # None when the folder was already published (a rerun in the same home): not verified
        "verified_accounts": published.report["accounts"] if published.report else None,
        "published_bytes": sum(p.stat().st_size for p in published.folder.iterdir()),
        "swaps": decoded.swaps, "syncs": decoded.syncs,
        "pool_yield_rows": len(yielded["pools"]),
        "pools_traded": sum(1 for r in yielded["pools"] if r["swaps"]),
        "pool_swaps": sum(r["swaps"] for r in yielded["pools"]),
        "pools_priced": sum(1 for r in yielded["pools"] if r["total_apr"] is not None),
        "pool_notes": sorted({r["note"] for r in yielded["pools"] if r["note"]}),
        "swaps_without_sync": yielded["pool_result"].swaps_without_sync,
        "vault_yield_rows": len(yielded["vaults"]),
        "vaults_with_apr": sum(1 for r in yielded["vaults"] if r["emission_apr"] is not None),
        "lp_earnings_rows": yielded["lp_rows"],
        "yield_problems": yielded["problems"][:20],
        "yield_ok": not yielded["problems"],
    })
    seconds_yield = stages["yield"]["seconds"]
    return {
        "epoch": epoch, "seconds": round(total, 3),
        "seconds_after_ingest": round(total - stages["ingest"]["seconds"], 3),
        "seconds_without_yield": round(total - seconds_yield, 3),
        # what the yield assets add to the rest of the epoch (issue 15: under 10 %)
        "yield_share": round(seconds_yield / (total - seconds_yield), 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "stages": stages,
        "publish_parts": {k: round(v, 3) for k, v in publish_parts.items()},
        "yield_parts": {k: round(v, 3) for k, v in yield_parts.items()},
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
    if not result["facts"]["yield_ok"]:
        raise SystemExit(f"epoch {args.epoch}: yield checks failed: "
                         + "; ".join(result["facts"]["yield_problems"]))


if __name__ == "__main__":
    main()
