"""``aimg``: the operator's command line (demo, dev UI, materialize, verify, proofs and the
claims server, the hand-off, report)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from aimg_pipeline.home import PROJECT_ROOT, home_path

# Commands import what they use: ``aimg proof`` must not pay for Dagster, web3 or numpy.


class CliError(RuntimeError):
    """A refusal the operator can act on: printed as one ``error:`` line, exit 2."""


def _use_home(home: Path) -> None:
    """Point the pipeline and Dagster at one home (Dagster keeps its runs under it)."""
    import shutil

    os.environ["AIMG_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_HOME", str(home / "dagster"))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    dagster_yaml = Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml"
    if not dagster_yaml.exists():  # SQLite storage, several epoch runs in flight
        shutil.copy(PROJECT_ROOT / "docs" / "dagster.yaml", dagster_yaml)


def _start_demo_chain(home: Path, seed: int):
    """Start the embedded chain, play the seeded scenario, write the demo config."""
    import time

    from aimg_pipeline.demo.devchain import start_devchain
    from aimg_pipeline.demo.scenario import run_scenario

    chain = start_devchain()
    config_path = home / "demo" / "aimg.toml"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    summary = run_scenario(chain.url, config_path, seed=seed)
    print(f"chain: {summary['tx_count']} transactions, {summary['last_block'] + 1} blocks, "
          f"scenario in {time.monotonic() - started:.1f} s")
    os.environ["AIMG_RPC_URL"] = chain.url
    os.environ["AIMG_CONFIG"] = str(config_path)
    return chain, summary


def cmd_demo(args: argparse.Namespace) -> int:
    import dagster as dg
    from web3 import Web3

    from aimg_pipeline.demo.devchain import derive_private_key
    from aimg_pipeline.demo.scenario import DEPLOYER
    from aimg_pipeline.handoff.distributor import claim, token_balance
    from aimg_pipeline.handoff.epoch import SAFE_TX_FILE, handoff_folder
    from aimg_pipeline.handoff.send import root_on_chain, send_batch
    from aimg_pipeline.ingest.chain import ChainClient
    from aimg_pipeline.lib.config import load_config
    from aimg_pipeline.orchestrate import closed_epochs, materialize_epochs

    home = home_path()
    _use_home(home)
    chain, summary = _start_demo_chain(home, args.seed)
    try:
        config = load_config(os.environ["AIMG_CONFIG"])
        epochs = closed_epochs(ChainClient(chain.url), config)
        with dg.DagsterInstance.get() as instance:
            results = materialize_epochs(epochs, config, instance, log_level="WARNING")
        if not all(r.success for r in results):
            print("a materialization failed; see the Dagster run logs", file=sys.stderr)
            return 1
        _print_summary(home, epochs)

        last = home / "published" / f"epoch-{epochs[-1]:05d}"
        claims = json.loads((last / "claims.json").read_text())
        account, entry = next(iter(claims["claims"].items()))
        w3 = Web3(Web3.HTTPProvider(chain.url))
        batch = json.loads((handoff_folder(home, epochs[-1]) / SAFE_TX_FILE).read_text())
        sent = send_batch(w3, batch, "0x" + derive_private_key(DEPLOYER).hex())
        print(f"\nhand-off of epoch {epochs[-1]}: its safe-tx.json sent by the distributor's "
              f"owner ({len(sent)} transactions); root on chain "
              f"{root_on_chain(w3, config.distributor)}")
        before = token_balance(w3, config.aimg_token, account)
        paid = claim(w3, config.distributor, account, account, int(entry["amount"]),
                     entry["proof"])
        after = token_balance(w3, config.aimg_token, account)
        print(f"\non-chain claim with the published proof of epoch {epochs[-1]}: {account} "
              f"{'received' if paid else 'FAILED to receive'} {after - before} wei")
        print(f"\nanalytics database: {home / 'analytics.duckdb'} (open read-only: "
              f"cd {home} && duckdb -readonly analytics.duckdb)")
        print(f"published artifacts: {home / 'published'}")
        print(f"epoch reports (HTML): {home / 'reports'}")
        print(f"Dagster runs: {os.environ['DAGSTER_HOME']} (make dev opens the UI)")
        return 0 if paid else 1
    finally:
        chain.stop()


def _print_summary(home: Path, epochs: list[int]) -> None:
    """One line per published epoch: window, emission, recipients, root (each verified)."""
    from aimg_pipeline.verify import verify

    print(f"\n{'epoch':>5}  {'window (UTC)':<37} {'emission (wei)':>28} "
          f"{'recipients':>10}  merkle root")
    for epoch in epochs:
        folder = home / "published" / f"epoch-{epoch:05d}"
        manifest = json.loads((folder / "manifest.json").read_text())
        verify(folder)
        window = manifest["window"]
        print(f"{epoch:>5}  {window['start_utc']} → {window['end_utc']}  "
              f"{manifest['emission']:>28} {_recipients(folder):>10}  {manifest['merkle_root']}")
    _print_handoff(home, epochs)


def _print_handoff(home: Path, epochs: list[int]) -> None:
    """One line per epoch the guard ran for: its verdict, the top-up, the Safe batch."""
    from aimg_pipeline.handoff.epoch import GUARD_FILE, SAFE_TX_FILE, handoff_folder

    lines = []
    for epoch in epochs:
        folder = handoff_folder(home, epoch)
        if (folder / GUARD_FILE).is_file():
            guard = json.loads((folder / GUARD_FILE).read_text())
            verdict = "BLOCKED: " + "; ".join(guard["problems"].values()) if guard[
                "problems"] else f"passed ({guard['state']})"
            batch = folder / SAFE_TX_FILE
            lines.append(f"{epoch:>5}  guard {verdict}, top-up {guard['top_up']} wei, "
                         + (f"{batch}" if batch.is_file() else "nothing to send"))
    if lines:
        print("\nhand-off (on-chain guard, Safe Transaction Builder batch):", *lines, sep="\n")


def _recipients(folder: Path) -> int:
    import csv

    with open(folder / "allocations.csv", newline="") as handle:
        return len({row["account"] for row in csv.DictReader(handle) if int(row["amount"])})


def cmd_dev(args: argparse.Namespace) -> int:
    """The Dagster UI on 127.0.0.1 with the demo chain running behind it."""
    import subprocess

    from aimg_pipeline import serve

    for port, flag in ((args.port, "--port"), (args.reports_port, "--reports-port")):
        if not _port_free(port):  # before anything starts (the UI would hang half-up)
            print(f"error: port {port} on 127.0.0.1 is already in use (another `aimg dev`?);"
                  f" choose another with {flag}", file=sys.stderr)
            return 1
    home = home_path()
    _use_home(home)
    chain, _ = _start_demo_chain(home, args.seed)
    reports = serve.start(home, args.reports_port)
    os.environ[serve.URL_VARIABLE] = f"http://127.0.0.1:{args.reports_port}"
    try:
        print(f"Dagster UI: http://127.0.0.1:{args.port}")
        print(f"reports and published files: {os.environ[serve.URL_VARIABLE]}/reports/")
        return subprocess.call(
            [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(args.port),
             "-w", str(PROJECT_ROOT / "workspace.yaml")],
            cwd=PROJECT_ROOT,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        reports.shutdown()
        chain.stop()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _epochs_to_run(first: int | None, last: int | None, closed: list[int]) -> list[int]:
    """The epochs ``--first``/``--last`` select among the closed ones (either may be
    omitted: from epoch 0, through the last closed epoch)."""
    if first is not None and first < 0 or last is not None and last < 0:
        raise CliError("--first and --last are epoch numbers >= 0")
    if first is not None and last is not None and first > last:
        raise CliError(f"--first {first} is after --last {last}")
    newest = closed[-1] if closed else -1
    wanted = last if last is not None else first if first is not None else None
    if wanted is not None and wanted > newest:
        state = (f"the chain is final through epoch {newest}" if closed
                 else "no epoch is closed and final yet")
        raise CliError(f"epoch {wanted} is not closed and final: {state}")
    return list(range(first or 0, (last if last is not None else newest) + 1))


def cmd_materialize(args: argparse.Namespace) -> int:
    """Materialize epochs against ``AIMG_RPC_URL`` (every closed one by default)."""
    import dagster as dg

    from aimg_pipeline.ingest.chain import ChainClient
    from aimg_pipeline.orchestrate import closed_epochs, materialize_epochs

    home = home_path()
    _use_home(home)
    from aimg_pipeline.defs.resources import AimgSettings

    config = AimgSettings().config()
    rpc_url = os.environ.get("AIMG_RPC_URL")
    if not rpc_url:
        raise CliError("AIMG_RPC_URL is not set: point it at the chain's JSON-RPC endpoint")
    epochs = _epochs_to_run(args.first, args.last, closed_epochs(ChainClient(rpc_url), config))
    if not epochs:
        print("nothing to do: no epoch is closed and final yet")
        return 0
    run_config = ({"ops": {"publish__distribution": {"config": {
        "republish_reason": args.republish_reason}}}} if args.republish_reason else None)
    print(f"materializing epochs {epochs[0]}..{epochs[-1]} through Dagster "
          f"(runs under {os.environ['DAGSTER_HOME']})")
    with dg.DagsterInstance.get() as instance:
        materialize_epochs(epochs, config, instance, run_config=run_config,
                           log_level="DEBUG" if args.debug else "CRITICAL")
    _print_summary(home, epochs)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check each folder with ``aimg_pipeline.verify`` (no code shared with publishing);
    1 if any fails, each failure on stderr."""
    from aimg_pipeline.verify import VerifyError, verify

    status = 0
    for path in args.paths:
        try:
            report = verify(Path(path))
        except VerifyError as exc:
            print(f"FAILED {exc}", file=sys.stderr)
            status = 1
            continue
        previous = "checked against the previous epoch" if report["checked_previous"] else (
            "no previous epoch folder beside it")
        print(f"OK {path}: epoch {report['epoch']}, root {report['merkle_root']}, "
              f"{report['accounts']} accounts, total {report['total']} wei ({previous})")
    return status


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report of published epochs (the latest by default)."""
    from aimg_pipeline.defs.resources import AimgSettings
    from aimg_pipeline.lib.config import ConfigError
    from aimg_pipeline.report.figures import ReportError
    from aimg_pipeline.report.page import screenshot, write_report

    settings = AimgSettings()
    home = settings.home_path
    published = sorted(int(p.name[6:]) for p in (home / "published").glob("epoch-[0-9]*")
                       if (p / "manifest.json").is_file())
    if not published:
        print(f"no published epoch under {home / 'published'}", file=sys.stderr)
        return 2
    epochs = published if args.all else (args.epoch or [published[-1]])
    try:
        config = settings.config()
    except (ConfigError, OSError) as exc:  # names of vaults/pools are optional
        print(f"note: no config ({exc}); vaults and pools are shown by address",
              file=sys.stderr)
        config = None
    try:
        for epoch in epochs:
            path = write_report(home, epoch, config)
            print(f"epoch {epoch}: {path}")
        if args.screenshot:
            print(f"screenshot: {screenshot(path, Path(args.screenshot))}")
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_set_root(args: argparse.Namespace) -> int:
    """Send epoch N's ``safe-tx.json`` from ``AIMG_SIGNER_KEY`` (a dev chain's owner key),
    refusing when the guard blocked or the distributor's root moved since it ran."""
    from web3 import Web3

    from aimg_pipeline.handoff.epoch import GUARD_FILE, SAFE_TX_FILE, handoff_folder
    from aimg_pipeline.handoff.send import root_on_chain, send_batch

    folder = handoff_folder(home_path(), args.epoch)
    if not (folder / GUARD_FILE).is_file():
        raise CliError(f"epoch {args.epoch} has no guard result in {folder}: materialize it "
                       "(handoff/onchain_guard) first")
    guard = json.loads((folder / GUARD_FILE).read_text())
    if guard["problems"]:
        raise CliError(f"the guard of epoch {args.epoch} blocked: "
                       + "; ".join(guard["problems"].values()))
    if not (folder / SAFE_TX_FILE).is_file():
        raise CliError(f"epoch {args.epoch} has nothing to send ({guard['state']}, no top-up)")
    key, rpc_url = os.environ.get("AIMG_SIGNER_KEY"), os.environ.get("AIMG_RPC_URL")
    if not key or not rpc_url:
        raise CliError("set AIMG_RPC_URL and AIMG_SIGNER_KEY (the distributor owner's key)")
    batch = json.loads((folder / SAFE_TX_FILE).read_text())
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    distributor = guard["distributor"]
    now = root_on_chain(w3, distributor)
    if now != guard["root_on_chain_before"]:
        raise CliError(f"the distributor's root is {now}, not {guard['root_on_chain_before']} "
                       f"as when the guard ran (block {guard['block']}): materialize epoch "
                       f"{args.epoch} again")
    for tx_hash in send_batch(w3, batch, key):
        print(f"sent {tx_hash}")
    print(f"epoch {args.epoch}: root on chain {root_on_chain(w3, distributor)}")
    return 0


def cmd_proof(args: argparse.Namespace) -> int:
    """One account's amount and proof in a published epoch, read from its proof shard."""
    from aimg_pipeline.publish.lookup import find_claim

    claim = find_claim(home_path() / "published", args.epoch, args.address)
    print(json.dumps(claim, indent=2))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve claims (``/epochs/N/claims/ADDRESS``), reports and published files until
    interrupted."""
    import threading

    from aimg_pipeline import serve

    home = home_path()
    try:
        server = serve.start(home, args.port, args.host)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    base = f"http://{args.host}:{server.server_port}"
    print(f"serving {home / 'published'} on {base}/epochs/N/claims/ADDRESS "
          f"(files: {base}/published/, {base}/reports/); Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    finally:
        server.shutdown()
    return 0


ENVIRONMENT = """environment:
  AIMG_HOME           everything the pipeline writes (default: .aimg in the project root)
  AIMG_CONFIG         the policy/registry TOML (default: $AIMG_HOME/demo/aimg.toml)
  AIMG_RPC_URL        the chain's JSON-RPC endpoint (never printed; required to materialize)
  AIMG_DUCKDB_MEMORY  DuckDB's memory cap per connection (default: 2GB)
  AIMG_REPORTS_URL    where reports/ are served over HTTP (set by `aimg dev`)
  AIMG_SIGNER_KEY     `aimg set-root`'s private key, dev chains only (never printed)
  DAGSTER_HOME        the Dagster instance (default: $AIMG_HOME/dagster)
"""


def _cause(exc: BaseException) -> BaseException:
    """The exception a Dagster step raised, under Dagster's wrappers."""
    while True:
        inner = getattr(exc, "user_exception", None) or exc.__cause__
        if inner is None or inner is exc:
            return exc
        exc = inner


_KNOWN = (("aimg_pipeline.lib.config", "ConfigError"), ("aimg_pipeline.ingest.chain", "ChainError"),
          ("aimg_pipeline.publish.layout", "PublishError"),
          ("aimg_pipeline.lib.eip55", "AddressError"),
          ("aimg_pipeline.publish.lookup", "ClaimNotFound"),
          ("aimg_pipeline.publish.lookup", "ShardError"),
          ("aimg_pipeline.handoff.send", "SendError"))


def _known_errors() -> tuple[type[BaseException], ...]:
    """The refusals printed as one ``error:`` line: those of the modules the command
    imported (a module never imported raised nothing), so no command pays for the rest."""
    return (CliError, *(getattr(sys.modules[module], name) for module, name in _KNOWN
                        if module in sys.modules))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="aimg", description=__doc__, epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="show Dagster's logs and the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="local chain + seeded scenario + every closed epoch")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(run=cmd_demo)
    dev = sub.add_parser("dev", help="the Dagster UI with the demo chain behind it")
    dev.add_argument("--seed", type=int, default=7)
    dev.add_argument("--port", type=int, default=3000, help="the UI's port (default: 3000)")
    dev.add_argument("--reports-port", type=int, default=3001,
                     help="where reports/ and published/ are served (default: 3001)")
    dev.set_defaults(run=cmd_dev)
    mat = sub.add_parser("materialize", help="materialize closed epochs from AIMG_RPC_URL")
    mat.add_argument("--first", type=int, metavar="EPOCH",
                     help="first epoch to materialize (default: 0)")
    mat.add_argument("--last", type=int, metavar="EPOCH",
                     help="last epoch to materialize (default: the last closed and final one)")
    mat.add_argument("--republish-reason", default="", metavar="TEXT",
                     help="republish already published epochs whose result changed, saying why")
    mat.set_defaults(run=cmd_materialize)
    ver = sub.add_parser("verify", help="check published epoch folders on their own")
    ver.add_argument("paths", nargs="+")
    ver.set_defaults(run=cmd_verify)
    proof = sub.add_parser("proof", help="one account's amount and Merkle proof in an epoch")
    proof.add_argument("epoch", type=int)
    proof.add_argument("address")
    proof.set_defaults(run=cmd_proof)
    sr = sub.add_parser("set-root", help="send an epoch's safe-tx.json with AIMG_SIGNER_KEY "
                        "(a dev chain)")
    sr.add_argument("epoch", type=int)
    sr.set_defaults(run=cmd_set_root)
    srv = sub.add_parser("serve", help="read-only HTTP: GET /epochs/N/claims/ADDRESS (JSON)")
    srv.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default: 127.0.0.1, this machine only)")
    srv.add_argument("--port", type=int, default=3001, help="default: 3001")
    srv.set_defaults(run=cmd_serve)
    rep = sub.add_parser("report", help="write the HTML epoch report(s) under AIMG_HOME/reports")
    rep.add_argument("--epoch", type=int, action="append",
                     help="epoch to report (repeatable; default: the latest published)")
    rep.add_argument("--all", action="store_true", help="every published epoch")
    rep.add_argument("--screenshot", metavar="PNG",
                     help="also render the last report with headless Chromium into PNG")
    rep.set_defaults(run=cmd_report)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for the operator; --debug shows the traceback
        if args.debug:
            raise
        cause = _cause(exc)
        known = isinstance(cause, _known_errors())
        text = str(cause).strip().splitlines()[0] if str(cause).strip() else repr(cause)
        print(f"error: {text if known else f'{type(cause).__name__}: {text}'}",
              file=sys.stderr)
        return 2 if known else 1


if __name__ == "__main__":
    sys.exit(main())
