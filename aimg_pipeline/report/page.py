"""The epoch report page: one self-contained HTML file per published epoch, written to
``AIMG_HOME/reports/epoch-NNNNN.html``, and its optional screenshot (headless Chromium).
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from aimg_pipeline.lib.policy import CHANNELS, Config
from aimg_pipeline.publish.layout import epoch_folder
from aimg_pipeline.report.charts import (
    TOP_N,
    plot_agents,
    plot_channels,
    plot_distribution,
    plot_emissions,
    plot_pool_yield,
    plot_trends,
    plot_vault_apr,
)
from aimg_pipeline.report.figures import (
    TREND_EPOCHS,
    ReportError,
    aimg,
    claim_amounts,
    fraction_text,
    load_epoch,
    load_trend,
    manifest_of,
    names_of,
    percent,
    run_checks,
    save_trend,
    signed,
    subpool_label,
    units,
)
from aimg_pipeline.report.yields import (
    MAX_POOL_CHARTS,
    MAX_VAULT_CHARTS,
    apr_text,
    charted_pools,
    charted_vaults,
    load_yields,
    token_label,
    vault_label,
)
from aimg_pipeline.warehouse import Warehouse


def _table(header: list[str], rows: list[list[str]], numeric_from: int = 1,
           text_from: int | None = None) -> str:
    """Cells are HTML; columns ``numeric_from`` up to ``text_from`` are right-aligned."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f"<td class='{'num' if numeric_from <= i < (text_from or len(row)) else ''}'>"
            f"{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: str, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{png}'>"


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f6f7f9;
color:#1d2330}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{margin:0 0 4px 0;font-size:26px}h2{margin:28px 0 10px 0;font-size:19px}
h3{margin:18px 0 8px 0;font-size:15px}
.sub{color:#5b6475;margin-bottom:18px}
.cards{display:grid;grid-template-columns:repeat(5,1fr);gap:12px}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px #0001}
.card .k{color:#5b6475;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:20px;font-weight:600;margin-top:4px}
section{background:#fff;border-radius:8px;padding:4px 18px 16px;margin-top:16px;
box-shadow:0 1px 2px #0001}
img{max-width:100%}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #e6e8ec;text-align:left;vertical-align:top}
td small{white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.PASS{color:#fff;background:#2e7d32}.FAIL{color:#fff;background:#c62828}
.WARN{color:#1d2330;background:#f9c74f}
.badge{padding:2px 8px;border-radius:10px;font-weight:600;font-size:12px}
.foot{color:#5b6475;font-size:12px;margin-top:16px}
.note{color:#5b6475}
"""


def _amount(raw: int | None, places: int = 2) -> str:
    """An exact 18-decimal amount as truncated text, its exact base units on hover."""
    if raw is None:
        return "–"
    return f"<span title='{raw} wei'>{units(raw, places)}</span>"


def _yield_section(home: Path, epoch: int, config: Config | None) -> str:
    """The "Yield" section: pools and vaults of the epoch, and their trends (warehouse)."""
    history = load_yields(home, epoch)
    head = "<section><h2>Yield</h2>"
    if "pool_yield" in history.missing:
        return (f"{head}<p class='note'>Yield for epoch {epoch}: the yield assets were not "
                f"materialized ({html.escape(history.missing['pool_yield'])}).</p></section>")
    parts = [
        "<p class='note'>From the warehouse's <code>pool_yield</code> and "
        "<code>vault_yield</code>: analytics, not part of the published files, nothing here "
        "is paid. Token amounts are truncated from the exact integers (hover for base units); "
        "TVL and fees in AIMG at the time-weighted average price; an APR is one epoch's value "
        "over TVL, annualized (365 days / epoch length).</p>"]
    pools = history.current_pools
    rows = []
    for r in pools:
        tokens = (f"{html.escape(token_label(r['token0'], config))} / "
                  f"{html.escape(token_label(r['token1'], config))}")
        rows.append([
            f"<b>{html.escape(r['pool_name'] or r['pool'])}</b><br><small>{tokens} · fee "
            f"{percent(r['fee_bps'], 10_000)}</small>",
            f"{r['swaps']:,}", _amount(r["volume0"]), _amount(r["volume1"]),
            _amount(r["fees0"], 4), _amount(r["fees1"], 4), _amount(r["tvl_aimg"]),
            _amount(r["fees_aimg"], 4), _amount(r["emissions"]), apr_text(r["fee_apr"]),
            apr_text(r["emission_apr"]), apr_text(r["total_apr"]),
            html.escape(r["note"] or "")])
    parts.append(f"<h3>Pools, epoch {epoch}</h3>")
    parts.append(_table(
        ["pool", "swaps", "volume0", "volume1", "fees0", "fees1", "TVL (AIMG)",
         "fees (AIMG)", "emissions (AIMG)", "fee APR", "emission APR", "total APR", "note"],
        rows, 1, 12) if rows else "<p class='note'>No pool in force this epoch.</p>")
    if pools:
        epochs = history.epochs
        shown = (f"the {MAX_POOL_CHARTS} largest of {len(pools)} pools by TVL this epoch"
                 if len(pools) > MAX_POOL_CHARTS else "every pool")
        parts.append(f"<h3>Pools over epochs {epochs[0]}–{epochs[-1]} ({shown})</h3>"
                     "<p class='note'>Fees (green) are stacked under emissions: next to large "
                     "emissions they may be too small to see. The APR axis turns logarithmic "
                     "when the APRs differ by more than 100×; a 0 % APR is a gap there.</p>")
        parts.append(_img(plot_pool_yield(charted_pools(history), epochs), "pool yield"))
    parts.append(f"<h3>Vaults, epoch {epoch}</h3>")
    if "vault_yield" in history.missing:
        parts.append(f"<p class='note'>Vaults for epoch {epoch}: not materialized "
                     f"({html.escape(history.missing['vault_yield'])}).</p>")
    elif not history.current_vaults:
        parts.append("<p class='note'>No vault in force this epoch.</p>")
    else:
        vault_rows = [[html.escape(vault_label(r)), html.escape(token_label(r["asset"], config)),
                       _amount(r["staked_aimg"]), _amount(r["emissions"]),
                       apr_text(r["emission_apr"]), html.escape(r["note"] or "")]
                      for r in history.current_vaults]
        parts.append(_table(["vault", "asset", "staked (AIMG)", "emissions (AIMG)",
                             "emission APR", "note"], vault_rows, 2, 5))
        if len(history.current_vaults) > MAX_VAULT_CHARTS:
            parts.append(f"<p>Charted: the $AIMG vault and the largest agent vaults by "
                         f"emissions, {MAX_VAULT_CHARTS} of {len(history.current_vaults)}."
                         "</p>")
        parts.append(_img(plot_vault_apr(charted_vaults(history), history.epochs),
                          "vault emission APR"))
    return head + "".join(parts) + "</section>"


def _contracts_section(home: Path, epoch: int, config: Config | None) -> str:
    """Amounts paid to contracts (the warehouse's ``recipients``): the share of every
    channel, the largest contract recipients, and what the policy's redirects moved."""
    warehouse = Warehouse(home)
    head = "<section><h2>Paid to contracts</h2>"
    if not warehouse.has("recipients", epoch):
        return f"{head}<p class='note'>rewards/recipients was not materialized.</p></section>"
    recipients = warehouse.read("recipients", epoch, ["account", "amount", "code_kind"])
    kind = dict(zip(recipients["account"].to_pylist(), recipients["code_kind"].to_pylist(),
                    strict=True))
    allocations = warehouse.read("allocations", epoch, ["channel", "account", "amount", "via"])
    by_channel: dict[str, list[int]] = {}
    moved: dict[str, tuple[int, set[str]]] = {}  # via -> (amount, accounts paid)
    for channel, account, amount, via in zip(*(allocations[c].to_pylist() for c in
                                               ("channel", "account", "amount", "via")),
                                             strict=True):
        totals = by_channel.setdefault(channel, [0, 0])
        totals[0] += int(amount)
        totals[1] += int(amount) if kind.get(account.lower()) == "contract" else 0
        if via is not None:
            total, accounts = moved.get(via, (0, set()))
            moved[via] = (total + int(amount), accounts | {account})
    rows = [[html.escape(c), aimg(t[1]), percent(t[1], t[0]) if t[0] else "–"]
            for c, t in sorted(by_channel.items())]
    top = sorted(((int(v), a) for a, v, k in zip(*(recipients[c].to_pylist() for c in (
        "account", "amount", "code_kind")), strict=True) if k == "contract"), reverse=True)[:10]
    names = names_of(config)
    top_rows = [[f"<code>{a}</code> {html.escape(names.get(a, ('', ''))[0])}", aimg(v)]
                for v, a in top]
    moved_rows = [[f"<code>{via}</code>", aimg(total), str(len(accounts))]
                  for via, (total, accounts) in sorted(moved.items())]
    return (f"{head}<p class='note'>A contract (code at the epoch's last block; an EIP-7702 "
            "delegated EOA counts as a person) usually cannot call claim: what it receives "
            "is stranded unless redirected.</p>"
            + _table(["channel", "to contracts (AIMG)", "of the channel"], rows)
            + (_table(["contract", "received (AIMG)"], top_rows) if top_rows
               else "<p>No contract received anything this epoch.</p>")
            + (_table(["redirected from (via)", "moved (AIMG)", "to accounts"], moved_rows)
               if moved_rows else "<p>No redirect applied this epoch.</p>") + "</section>")


def _handoff_section(home: Path, epoch: int) -> str:
    """The on-chain guard's result (AIMG_HOME/handoff/epoch-NNNNN/guard.json), if it ran."""
    path = Path(home) / "handoff" / f"epoch-{epoch:05d}" / "guard.json"
    if not path.is_file():
        return ("<section><h2>Hand-off</h2><p>The on-chain guard has not run for this epoch "
                "(no registry.distributor, or handoff/onchain_guard not materialized).</p>"
                "</section>")
    g = json.loads(path.read_text())
    verdict = ("<b>blocked</b>: " + html.escape("; ".join(g["problems"].values()))
               if g["problems"] else f"passed ({html.escape(g['state'])})")
    rows = [["guard", verdict], ["read at block", f"{g['block']:,}"],
            ["root on chain before", f"<code>{g['root_on_chain_before']}</code>"],
            ["root on chain after the hand-off", f"<code>{g['root_on_chain_after']}</code>"],
            ["accounts that claimed so far", f"{g['claimed_accounts']:,} of {g['accounts']:,}"],
            ["claimed so far (AIMG)", aimg(int(g["claimed_total"]))],
            ["distributor balance (AIMG)", aimg(int(g["balance"]))],
            ["needed (AIMG)", aimg(int(g["needed"]))],
            ["top-up (AIMG)", f"{aimg(int(g['top_up']))} ({g['top_up']} wei)"]]
    return f"<section><h2>Hand-off</h2>{_table(['', ''], rows, 99)}</section>"


def render(root: Path, epoch: int, config: Config | None = None,
           home: Path | None = None) -> str:
    """The HTML of epoch ``epoch``'s report, from the folders under publish root ``root``;
    the yield section reads the warehouse of ``home`` (default: the parent of ``root``)."""
    root = Path(root)
    home = root.parent if home is None else Path(home)
    data = load_epoch(root, epoch)
    # the previous epoch's allocations.csv is read (amounts per account); the earlier
    # epochs of the trend come from the points their own reports saved
    previous = load_epoch(root, epoch - 1, detail=False) if epoch else None
    history = [load_trend(home, root, e)
               for e in range(max(0, epoch - TREND_EPOCHS + 1), epoch - 1)]
    if previous is not None:
        history.append(save_trend(home, root, previous))
    history.append(save_trend(home, root, data))
    names = names_of(config)
    m = data.manifest
    emissions = [int(manifest_of(root, e)["emission"]) for e in range(epoch + 1)]

    recipients = data.recipients
    g = data.gini
    checks = run_checks(root, data, config, home)
    failed = sum(1 for _, status, _ in checks if status == "FAIL")

    by_agent: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    subpools: dict[tuple[str, str, str], list[int]] = {}
    for (channel, pool, reason), (amount, earned) in data.groups.items():
        label, agent = subpool_label(channel, pool, names)
        if reason == "unallocated":
            agent = "treasury (unallocated)"
        by_agent[agent][channel] += amount
        entry = subpools.setdefault((channel, label, agent), [0, 0])
        entry[0] += amount
        entry[1] += earned

    cards = [
        ("emission this epoch", f"{aimg(data.emission, 0)} AIMG"),
        ("emitted to date", f"{aimg(sum(emissions), 0)} AIMG"),
        ("recipients", f"{len(recipients):,}"),
        ("Gini (this epoch)", fraction_text(g, 3)),
        ("checks", f"{len(checks) - failed}/{len(checks)} not failing"),
    ]
    card_html = "".join(
        f"<div class='card'><div class='k'>{html.escape(k)}</div>"
        f"<div class='v'>{html.escape(v)}</div></div>" for k, v in cards)

    check_rows = [[html.escape(name), f"<span class='badge {status}'>{status}</span>",
                   html.escape(detail)] for name, status, detail in checks]

    channel_rows = []
    for c in CHANNELS:
        now = data.by_channel.get(c, 0)
        before = previous.by_channel.get(c, 0) if previous else None
        channel_rows.append([
            c, percent(now, data.emission), aimg(now), f"<span class='mono'>{now}</span>",
            signed(now - before) if before is not None else "–",
            percent(now - before, before) if before else "–",
        ])
    channel_rows.append(["<b>total</b>", "100.00 %", f"<b>{aimg(data.emission)}</b>",
                         f"<span class='mono'>{data.emission}</span>",
                         signed(data.emission - previous.emission) if previous else "–",
                         percent(data.emission - previous.emission, previous.emission)
                         if previous else "–"])

    subpool_rows = [
        [html.escape(channel), html.escape(label), html.escape(agent), f"{count:,}",
         aimg(amount), percent(amount, data.emission)]
        for (channel, label, agent), (amount, count) in sorted(
            subpools.items(), key=lambda kv: (CHANNELS.index(kv[0][0])
                                              if kv[0][0] in CHANNELS else 99, -kv[1][0],
                                              kv[0][1]))
    ]

    total_received = sum(recipients.values())
    top = sorted(recipients.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
    claims = claim_amounts(root, epoch, [account for account, _ in top])
    claims_before = claim_amounts(root, epoch - 1, [a for a, _ in top]) if previous else {}
    top_rows = []
    for rank, (account, amount) in enumerate(top, start=1):
        label = names.get(account.lower(), (None,))[0]
        who = f"<span class='mono'>{html.escape(account)}</span>" + (
            f" <small>({html.escape(label)})</small>" if label else "")
        cumulative = claims.get(account, 0)
        before = claims_before.get(account, 0)
        top_rows.append([str(rank), who, html.escape(", ".join(sorted(data.channels_of(account)))),
                         aimg(amount), percent(amount, total_received), aimg(cumulative),
                         signed(cumulative - before)])

    eoe_rows: list[list[str]] = []
    if previous is not None:
        prev_recipients = previous.recipients
        new = set(recipients) - set(prev_recipients)
        gone = set(prev_recipients) - set(recipients)
        top10_now = sum(sorted(recipients.values(), reverse=True)[:10])
        top10_before = sum(sorted(prev_recipients.values(), reverse=True)[:10])
        g_before = previous.gini

        def row(name: str, before: str, now: str, change: str) -> list[str]:
            return [html.escape(name), before, now, change]

        eoe_rows = [
            row("emission (AIMG)", aimg(previous.emission), aimg(data.emission),
                signed(data.emission - previous.emission)),
            row("recipients", f"{len(prev_recipients):,}", f"{len(recipients):,}",
                f"{len(recipients) - len(prev_recipients):+,} ({len(new):,} new, "
                f"{len(gone):,} gone)"),
            row("accounts with a claim", f"{previous.accounts:,}", f"{data.accounts:,}",
                f"{data.accounts - previous.accounts:+,}"),
            row("Gini", fraction_text(g_before), fraction_text(g),
                f"{'+' if g >= g_before else '-'}{fraction_text(abs(g - g_before))}"),
            row("top-10 share", percent(top10_before, sum(prev_recipients.values())),
                percent(top10_now, total_received), ""),
            row("total claimable (AIMG)", aimg(int(previous.manifest["total"])),
                aimg(int(m["total"])), signed(int(m["total"]) - int(previous.manifest["total"]))),
        ]
        for table in sorted(m.get("input_rows", {})):
            b, n = previous.manifest["input_rows"].get(table, 0), m["input_rows"][table]
            eoe_rows.append(row(f"input rows: {table}", f"{b:,}", f"{n:,}", f"{n - b:+,}"))

    window = m["window"]
    blocks = m["blocks"]
    republished = ""
    if "republished" in m:
        note = m["republished"]
        republished = (f"<p><b>Republished</b>: {html.escape(str(note.get('reason')))} "
                       f"(previous root <code>{html.escape(str(note.get('previous_root')))}"
                       "</code>)</p>")
    sections = [
        f"<section><h2>Checks</h2>{_table(['check', 'result', 'detail'], check_rows, 99)}"
        "</section>",
        f"<section><h2>Emission curve to date</h2>{_img(plot_emissions(emissions, epoch), 'emission curve')}"  # noqa: E501
        "</section>",
        f"<section><h2>Channel split</h2>{_img(plot_channels(data, previous), 'channel split')}"
        + _table(["channel", "share", "AIMG", "wei (exact)", "vs previous (AIMG)", "change"],
                 channel_rows) + "</section>",
        f"<section><h2>Allocation by agent and pool</h2>"
        f"{_img(plot_agents(by_agent), 'allocation by agent')}"
        + _table(["channel", "sub-pool", "agent", "recipients", "AIMG", "of emission"],
                 subpool_rows, 3) + "</section>",
        f"<section><h2>Distribution of recipients</h2>"
        f"{_img(plot_distribution(list(recipients.values()), fraction_text(g, 3)), 'lorenz')}"
        f"<p>Gini coefficient of this epoch's amounts per recipient: <b>{fraction_text(g)}"
        f"</b> (exact over {len(recipients):,} recipients).</p></section>",
        f"<section><h2>Top {len(top_rows)} recipients</h2>"
        + _table(["#", "account", "channels", "this epoch (AIMG)", "share", "cumulative claim",
                  "claim change"], top_rows, 3) + "</section>",
        f"<section><h2>Epoch over epoch</h2>{_img(plot_trends(history), 'trends')}"
        + (_table(["", f"epoch {epoch - 1}", f"epoch {epoch}", "change"], eoe_rows)
           if eoe_rows else "<p>First epoch: nothing to compare with.</p>") + "</section>",
        _contracts_section(home, epoch, config),
        _handoff_section(home, epoch),
        _yield_section(home, epoch, config),
    ]
    title = f"AIMG distribution — epoch {epoch}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{CSS}</style></head><body><main>
<h1>{html.escape(title)}</h1>
<div class="sub">{window['start_utc']} → {window['end_utc']} · blocks {blocks['from_block']}–{blocks['to_block']}
· policy {html.escape(m['policy']['version'])} · code {html.escape(m['code_version'])}<br>
Merkle root <code>{m['merkle_root']}</code> · {m['accounts']:,} claims totalling {aimg(int(m['total']))} AIMG</div>
{republished}
<div class="cards">{card_html}</div>
{''.join(sections)}
<p class="foot">Generated from {html.escape(str(epoch_folder(root, epoch)))}. Amounts in AIMG
(10<sup>18</sup> wei) are truncated to 2 decimals from the exact integers; charts are
approximate, tables and the published files are exact.</p>
</main></body></html>
"""  # noqa: E501


def report_path(home: Path, epoch: int) -> Path:
    """``AIMG_HOME/reports/epoch-NNNNN.html``."""
    return Path(home) / "reports" / f"epoch-{epoch:05d}.html"


def write_report(home: Path, epoch: int, config: Config | None = None) -> Path:
    """Render epoch ``epoch`` of ``home/published`` and write it atomically; return its path."""
    page = render(Path(home) / "published", epoch, config, home)
    target = report_path(home, epoch)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, target)
    return target


def find_chromium() -> str | None:
    """The headless browser used for screenshots, if installed."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 2400,
               timeout: float = 120) -> Path:
    """Render ``page`` with headless Chromium into ``png`` (no network, throwaway profile)."""
    browser = find_chromium()
    if browser is None:
        raise ReportError("chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="aimg-chromium-") as profile:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", f"--screenshot={png}",
             f"--window-size={width},{height}", Path(page).resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    if done.returncode != 0 or not Path(png).is_file():
        raise ReportError(f"chromium failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return Path(png)
