"""``make bench``: one epoch end to end at several sizes, the side-by-side comparisons, the
table of figures against SPEC 10's targets, and ``bench/results.json``.

Environment (each also an option, see ``--help``): ``BENCH_SIZES`` (default
``1000000,3000000,10000000`` Transfer logs in the measured epoch), ``BENCH_SWAPS`` (pool
trades, one ``Sync`` + one ``Swap`` each, per Transfer: 0.35, so pool events are 41 % of the
measured epoch's logs; 0 = none), ``BENCH_DIR`` (generated data and warehouses; default
``$AIMG_HOME/bench`` or ``/tmp/aimg-bench``; never inside git), ``BENCH_SEED`` (7),
``BENCH_SAMPLE`` (process_log sample, 20000), ``BENCH_OZ_SIZES`` (claims given to
OpenZeppelin: ``100000,0``, 0 = all), ``BENCH_OZ_CAP`` (seconds per OZ run, 1800).
``--no-compare`` skips the process_log and OpenZeppelin comparisons, ``--no-dagster`` the
Dagster run.

Per size, in fresh processes: generate the files (cached by size and seed), run the eight
history epochs (0-7: the balances and the cumulative claims the measured epoch opens with,
new holders every epoch), then epoch 8, the measured one, through the stage functions
(``bench/epoch.py``: a table per stage); then the same epochs the way users run them,
``aimg materialize`` through Dagster with every check, the yield assets and the report,
against a loopback JSON-RPC node serving the generated chain (``bench/dagster_run.py``,
``bench/chain_server.py``); then the comparisons on the measured epoch's logs and claims.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GIB = 1024


def _python(*args: str, out: Path) -> dict[str, Any]:
    subprocess.run([sys.executable, "-m", *args, "--out", str(out)], cwd=ROOT, check=True)
    return json.loads(out.read_text())


def _data(base: Path, logs: int, seed: int, swaps: float) -> Path:
    from bench.generate import GENERATOR_VERSION, SWAPS_PER_TRANSFER
    data = base / (f"data-{logs}-s{seed}" if swaps == SWAPS_PER_TRANSFER
                   else f"data-{logs}-s{seed}-swaps{swaps:g}")
    summary = data / "summary.json"
    if summary.exists() and json.loads(summary.read_text()).get(
            "generator_version") == GENERATOR_VERSION:
        return data
    shutil.rmtree(data, ignore_errors=True)
    print(f"generating {logs:,} logs in {data}", flush=True)
    subprocess.run([sys.executable, "-m", "bench.generate", "--logs", str(logs), "--out",
                    str(data), "--seed", str(seed), "--swaps", str(swaps)], cwd=ROOT,
                   check=True)
    return data


def _load() -> list[float]:
    """The 1, 5 and 15 minute load averages (other work on the machine skews the figures)."""
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _arguments() -> argparse.Namespace:
    from bench.generate import SWAPS_PER_TRANSFER
    home = os.environ.get("AIMG_HOME")
    parser = argparse.ArgumentParser(description="SPEC 10 benchmark (make bench): one epoch "
                                     "end to end per size, the comparisons, the targets.")
    parser.add_argument("--table", action="store_true",
                        help="print the table again from bench/results.json; no new run")
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES",
                                                          "1000000,3000000,10000000"),
                        help="Transfer logs in the measured epoch, comma-separated "
                        "(BENCH_SIZES)")
    parser.add_argument("--swaps", type=float, default=float(os.environ.get(
        "BENCH_SWAPS", SWAPS_PER_TRANSFER)), help="pool trades (Sync + Swap) per Transfer; "
        f"0 = no pool events (BENCH_SWAPS, {SWAPS_PER_TRANSFER})")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("BENCH_DIR") or (
        Path(home) / "bench" if home else "/tmp/aimg-bench")),
        help="generated data and warehouses, never in git (BENCH_DIR)")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("BENCH_SEED", "7")))
    parser.add_argument("--sample", default=os.environ.get("BENCH_SAMPLE", "20000"),
                        help="logs decoded one by one with process_log (BENCH_SAMPLE)")
    parser.add_argument("--oz-sizes", default=os.environ.get("BENCH_OZ_SIZES", "100000,0"),
                        help="claims given to OpenZeppelin, 0 = all (BENCH_OZ_SIZES)")
    parser.add_argument("--oz-cap", default=os.environ.get("BENCH_OZ_CAP", "1800"),
                        help="seconds per OpenZeppelin run, a safety cap (BENCH_OZ_CAP)")
    parser.add_argument("--no-dagster", action="store_true",
                        help="skip the Dagster run (aimg materialize against the loopback node)")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip the process_log and OpenZeppelin comparisons")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json",
                        help="where the results go (default bench/results.json)")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    if args.table:  # the table again from the results file, no new run
        results = json.loads(args.out.read_text())
        results["checks"] = checks(results)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print_table(results, args.out)
        return
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    seed = args.seed
    base = args.dir
    base.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sizes": [],
    }
    for logs in sizes:
        data = _data(base, logs, seed, args.swaps)
        generated = json.loads((data / "summary.json").read_text())
        work = base / data.name.replace("data-", "home-", 1)
        shutil.rmtree(work, ignore_errors=True)
        measured_epoch = generated["measured_epoch"]
        print(f"\n== {logs:,} logs: epochs 0-{measured_epoch - 1} (history), then epoch "
              f"{measured_epoch} (measured)", flush=True)
        for epoch in range(measured_epoch):
            history = _python("bench.epoch", "--data", str(data), "--home", str(work),
                              "--epoch", str(epoch), out=work / f"epoch{epoch}.json")
        load_before = _load()
        measured = _python("bench.epoch", "--data", str(data), "--home", str(work),
                           "--epoch", str(measured_epoch), out=work / "measured.json")
        entry = {"logs": logs, "generated": generated, "history_epoch": history,
                 "epoch": measured, "load_before": load_before, "load_after": _load()}
        print(f"   load average before / after the measured epoch: {load_before} / "
              f"{entry['load_after']}", flush=True)
        if not args.no_dagster:
            print(f"== {logs:,} logs through Dagster (aimg materialize, loopback node)",
                  flush=True)
            dagster_home = base / data.name.replace("data-", "dagster-", 1)
            shutil.rmtree(dagster_home, ignore_errors=True)
            run = _python("bench.dagster_run", "--data", str(data), "--home",
                          str(dagster_home), out=base / f"{dagster_home.name}.json")
            measured_run = run["epoch"]
            entry.update(dagster=run, dagster_run_seconds=measured_run["seconds"],
                         dagster_peak_rss_bytes=measured_run["peak_rss_bytes"],
                         rpc_requests=measured_run["rpc_requests"],
                         rpc_eth_call_requests=measured_run["rpc_by_method"].get(
                             "http eth_call", 0))
            shutil.rmtree(dagster_home / "warehouse" / "raw_logs", ignore_errors=True)
        if logs == max(sizes) and not args.no_compare:
            print("== web3.py process_log on a sample of the same logs", flush=True)
            entry["process_log"] = _python(
                "bench.compare", "process_log", "--home", str(work), "--epoch", str(measured_epoch),
                "--sample", args.sample, out=work / "pl.json")
            print("== Merkle tree + all proofs vs @openzeppelin/merkle-tree", flush=True)
            entry["merkle"] = _python(
                "bench.compare", "merkle", "--home", str(work), "--epoch", str(measured_epoch),
                "--oz-sizes", args.oz_sizes, "--oz-cap", args.oz_cap,
                out=work / "merkle.json")
        entry["ratios"] = _ratios(entry)
        results["sizes"].append(entry)
        shutil.rmtree(work / "warehouse" / "raw_logs", ignore_errors=True)  # the big one
    results["checks"] = checks(results)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results, args.out)


def _ratios(entry: dict[str, Any]) -> dict[str, float]:
    """The comparisons of one size as ratios (how many times faster ours is)."""
    out: dict[str, float] = {}
    if "process_log" in entry:
        per_log = entry["process_log"]["seconds_per_log"]
        epoch = entry["epoch"]
        out["decode_vs_process_log"] = round(
            per_log * epoch["facts"]["raw_logs"] / epoch["stages"]["decode"]["seconds"], 1)
    for oz in entry.get("merkle", {}).get("oz", []):
        if "ratio" in oz:
            out[f"merkle_oz_like_for_like_{oz['n']}"] = oz["ratio"]
            out[f"merkle_oz_checked_{oz['n']}"] = oz["checked_ratio"]
    return out


def checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each SPEC 10 figure next to its target."""
    sizes = results["sizes"]
    big, small = sizes[-1], sizes[0]
    epoch = big["epoch"]
    rows = [
        {"figure": f"whole epoch, {big['logs']:,} logs (ingest included)",
         "value": f"{epoch['seconds']:.1f} s", "target": "< 120 s",
         "ok": epoch["seconds"] < 120},
        {"figure": "  decode..yield (after ingest)",
         "value": f"{epoch['seconds_after_ingest']:.1f} s", "target": "< 120 s",
         "ok": epoch["seconds_after_ingest"] < 120},
        {"figure": "peak RSS of the epoch's process",
         "value": f"{epoch['peak_rss_mib'] / GIB:.2f} GiB", "target": "< 4 GiB",
         "ok": epoch["peak_rss_mib"] < 4 * GIB},
    ]
    if "yield" in epoch["stages"]:
        seconds = epoch["stages"]["yield"]["seconds"]
        share = seconds / (epoch["seconds"] - seconds)
        facts = epoch["facts"]
        pool_logs = facts["swaps"] + facts["syncs"]
        rows.append({"figure": f"yield stage (pool_yield, vault_yield, lp_earnings) on "
                     f"{pool_logs:,} pool logs ({pool_logs / facts['raw_logs']:.0%} of the "
                     f"epoch's), {seconds:.1f} s added to {epoch['seconds'] - seconds:.1f} s",
                     "value": f"{share:.1%}", "target": "< 10 %", "ok": share < 0.10})
        rows.append({"figure": f"  yield checks (fees <= volume, emissions = allocations, "
                     f"LP fee shares = pool fees; {facts['lp_earnings_rows']:,} LP rows)",
                     "value": "pass" if facts["yield_ok"] else "; ".join(
                         facts["yield_problems"][:3]), "target": "pass",
                     "ok": facts["yield_ok"]})
    if "process_log" in big:
        per_log = big["process_log"]["seconds_per_log"]
        decode = epoch["stages"]["decode"]["seconds"]
        logs = epoch["facts"]["raw_logs"]
        ratio = per_log * logs / decode
        rows.append({"figure": f"decode vs process_log ({per_log * 1e3:.3f} ms/log on "
                     f"{big['process_log']['sample']:,} logs, x {logs:,} logs = "
                     f"{per_log * logs:,.0f} s vs {decode:.1f} s)",
                     "value": f"{ratio:.0f}x", "target": ">= 50x", "ok": ratio >= 50})
    if "merkle" in big:
        m = big["merkle"]
        ours = m["ours"]
        rows.append({"figure": f"our Merkle tree + all proofs, {ours['n']:,} claims",
                     "value": f"{ours['total_s']:.1f} s", "target": "faster than OZ",
                     "ok": None})
        for oz in m["oz"]:
            if "total_s" in oz:
                rows.append({"figure": f"  OZ {oz['n']:,} claims, like for like (of + "
                             f"core.getProof): {oz['total_s']:.1f} s vs ours cold "
                             f"{oz['ours_total_s']:.1f} s (same root: {oz['same_root']})",
                             "value": f"{oz['ratio']:.1f}x faster", "target": "> 1x",
                             "ok": oz["ratio"] > 1 and oz["same_root"]})
                rows.append({"figure": f"  OZ {oz['n']:,} claims, checked getProof: "
                             f"{oz['checked_total_s']:.1f} s (same proofs: "
                             f"{oz['same_proofs']})", "value": f"{oz['checked_ratio']:.1f}x",
                             "target": "", "ok": None})
            elif "timeout_s" in oz:  # OZ stopped at the cap: slower than ours by at least
                rows.append({"figure": f"  OZ {oz['n']:,} claims: stopped after "
                             f"{oz['timeout_s']:.0f} s vs ours {oz['ours_total_s']:.1f} s",
                             "value": f"> {oz['timeout_s'] / oz['ours_total_s']:.0f}x faster",
                             "target": "> 1x", "ok": oz["ours_total_s"] < oz["timeout_s"]})
            else:
                rows.append({"figure": f"  OZ {oz['n']:,} claims", "value": oz["error"],
                             "target": "> 1x", "ok": None})
        if "oz_note" in m:
            rows.append({"figure": "  OZ", "value": m["oz_note"], "target": "", "ok": None})
    if "dagster" in big:
        run = big["dagster"]["epoch"]
        rows.append({"figure": f"Dagster run (aimg materialize, every asset and check, yield, "
                     f"report), {big['logs']:,} logs", "value": f"{run['seconds']:.1f} s",
                     "target": "< 120 s", "ok": run["seconds"] < 120})
        rows.append({"figure": "  peak RSS of its process tree",
                     "value": f"{run['peak_rss_bytes'] / 2**30:.2f} GiB",
                     "target": "< 4 GiB", "ok": run["peak_rss_bytes"] < 4 * 2**30})
        rows.append({"figure": f"  JSON-RPC requests (all: {run['rpc_requests']:,}; eth_call "
                     f"items: {run['rpc_by_method'].get('item eth_call', 0):,})",
                     "value": f"{big['rpc_eth_call_requests']:,} eth_call requests",
                     "target": "<= 2,000", "ok": big["rpc_eth_call_requests"] <= 2000})
    if len(sizes) > 1 and "dagster" in big and "dagster" in small:
        growth = big["dagster_run_seconds"] / small["dagster_run_seconds"]
        factor = big["logs"] / small["logs"]
        rows.append({"figure": f"Dagster run growth {small['logs']:,} -> {big['logs']:,} logs",
                     "value": f"x{growth:.1f} time", "target": f"<= x{factor:.0f}",
                     "ok": growth <= factor})
    if len(sizes) > 1:
        growth = epoch["seconds"] / small["epoch"]["seconds"]
        factor = big["logs"] / small["logs"]
        rows.append({"figure": f"growth {small['logs']:,} -> {big['logs']:,} logs "
                     f"(x{factor:.0f} logs)", "value": f"x{growth:.1f} time",
                     "target": f"<= x{factor:.0f}", "ok": growth <= factor})
    return rows


def print_table(results: dict[str, Any], out: Path) -> None:
    print("\nper size (the measured epoch; seconds, peak RSS of the stage in MiB)")
    stages = list(results["sizes"][0]["epoch"]["stages"])
    print(f"{'logs':>12} " + " ".join(f"{s:>13}" for s in stages) + f" {'total':>8} {'peak':>9}"
          f" {'yield':>6} {'load':>5}")
    for entry in results["sizes"]:
        e = entry["epoch"]
        cells = " ".join(f"{e['stages'][s]['seconds']:6.1f}/{e['stages'][s]['peak_rss_mib']:>6.0f}"
                         for s in stages)
        share = f"{e['yield_share']:6.1%}" if "yield_share" in e else f"{'-':>6}"
        load = f"{entry['load_before'][0]:5.2f}" if "load_before" in entry else f"{'-':>5}"
        print(f"{entry['logs']:>12,} {cells} {e['seconds']:8.1f} "
              f"{e['peak_rss_mib'] / GIB:7.2f}GiB {share} {load}")
    print("(yield: the yield stage's seconds over the rest of the epoch's; load: the 1-minute "
          "load average before the measured epoch, 2 cores)")
    print("\nSPEC 10 targets")
    for row in results["checks"]:
        mark = {True: "PASS", False: "FAIL", None: "    "}[row["ok"]]
        print(f"  [{mark}] {row['figure']}: {row['value']} (target {row['target']})")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
