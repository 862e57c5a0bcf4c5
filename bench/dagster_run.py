"""The benchmark on the path users run: ``aimg materialize`` (every asset, every check, the
yield assets and the HTML report, through Dagster) against a loopback JSON-RPC node serving
the generated chain (``bench.chain_server``), logs from the generated cryo files.

``python -m bench.dagster_run --data DIR --home HOME --out F``

The history epochs (0-7) are materialized first, in one ``aimg materialize`` (their figures
are kept as ``history_epochs``), then the measured epoch (8): the wall time of its
``aimg materialize`` process, the peak RSS of that process tree (the sum over the process
and its children, sampled every 50 ms from ``/proc``), the node's HTTP requests and
JSON-RPC items during it, and each step's seconds from the run's Dagster event log.

Before each run the node is warmed: one ``eth_call`` at the epoch's last block makes it
replay the Transfer logs into balances at that block (15-30 s at 10M logs), which a real
node has in its state already; that time is reported (``node_warmup_seconds``), not counted
in the run's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_rss(root: int) -> int:
    """Resident bytes of process ``root`` and all its descendants."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                continue
    tree, grown = {root}, True
    while grown:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grown = bool(more)
    total = 0
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, ValueError):
            continue
    return total


def _timed_run(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``command``; its wall seconds, exit code and the peak RSS of its process tree."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return {"seconds": round(seconds, 3), "returncode": code, "peak_rss_bytes": peak}


def _stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _steps(dagster_home: Path) -> dict[str, Any]:
    """Per run (newest last): each step's seconds and the asset checks' outcomes."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with dg.DagsterInstance.get() as instance:
        runs = sorted(instance.get_runs(), key=lambda r: instance.get_run_stats(r.run_id)
                      .start_time or 0)
        last = runs[-1]
        started: dict[str, float] = {}
        steps: dict[str, float] = {}
        checks: dict[str, bool] = {}
        for record in instance.all_logs(last.run_id):
            event = record.dagster_event
            if event is None:
                continue
            if event.event_type_value == "STEP_START":
                started[event.step_key] = record.timestamp
            elif event.event_type_value == "STEP_SUCCESS":
                steps[event.step_key] = round(record.timestamp - started[event.step_key], 3)
            elif event.event_type_value == "ASSET_CHECK_EVALUATION":
                data = event.event_specific_data
                checks[f"{data.asset_key.to_user_string()}:{data.check_name}"] = data.passed
        return {"run_id": last.run_id, "status": last.status.value, "steps": steps,
                "checks": checks}


def _last_block(data: Path, epoch: int) -> int:
    """The last block of ``epoch`` (timestamp below the window's end) in the blocks file."""
    import tomllib

    import pyarrow.parquet as pq

    deployment = tomllib.loads((data / "aimg.toml").read_text())["deployment"]
    end = int(deployment["genesis"]) + (epoch + 1) * int(deployment["epoch_seconds"])
    blocks = pq.read_table(next((data / "files").glob("*__blocks__*.parquet")),
                           columns=["block_number", "timestamp"]).to_pydict()
    return max(n for n, t in zip(blocks["block_number"], blocks["timestamp"], strict=True)
               if t < end)


def _warm(url: str, data: Path, epoch: int) -> float:
    """Seconds the node takes for its first eth_call at ``epoch``'s last block."""
    import tomllib

    vault = tomllib.loads((data / "aimg.toml").read_text())["registry"]["aimg_vault"]
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [
        {"to": vault, "data": "0x18160ddd"}, hex(_last_block(data, epoch))]}).encode()
    started = time.perf_counter()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        response.read()
    return round(time.perf_counter() - started, 3)


def run(data: Path, home: Path) -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)
    port_file = home / "node.port"
    port_file.unlink(missing_ok=True)
    node = subprocess.Popen([sys.executable, "-m", "bench.chain_server", "--data", str(data),
                             "--port-file", str(port_file)], cwd=ROOT)
    try:
        for _ in range(600):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        env = {**os.environ, "AIMG_HOME": str(home), "AIMG_CONFIG": str(data / "aimg.toml"),
               "AIMG_RPC_URL": url, "AIMG_LOG_FILES": str(data / "files"),
               "DAGSTER_HOME": str(home / "dagster")}
        (home / "dagster").mkdir(exist_ok=True)
        aimg = [sys.executable, "-m", "aimg_pipeline.cli", "materialize"]
        result: dict[str, Any] = {}
        measured = json.loads((data / "summary.json").read_text())["measured_epoch"]
        for first, last, name in ((0, measured - 1, "history_epochs"),
                                  (measured, measured, "epoch")):
            warmup = _warm(url, data, first)
            print(f"  aimg materialize --first {first} --last {last} (node warmed in "
                  f"{warmup:.1f} s)", flush=True)
            before = _stats(url)
            timed = _timed_run([*aimg, "--first", str(first), "--last", str(last)], env)
            after = _stats(url)
            timed["node_warmup_seconds"] = warmup
            timed["rpc_requests"] = after.get("http requests", 0) - before.get(
                "http requests", 0)
            timed["rpc_by_method"] = {k: after[k] - before.get(k, 0) for k in after
                                      if k != "http requests" and after[k] != before.get(k, 0)}
            timed.update(_steps(home / "dagster"))
            print(f"    {timed['seconds']:.1f} s, peak {timed['peak_rss_bytes'] / 2**30:.2f} GiB"
                  f", {timed['rpc_requests']} JSON-RPC requests, {timed['status']}", flush=True)
            result[name] = timed
            if timed["returncode"]:
                break
        return result
    finally:
        node.terminate()
        node.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = run(args.data, args.home)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if any(r["returncode"] for r in result.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
