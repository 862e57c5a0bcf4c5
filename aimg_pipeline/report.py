"""The epoch report: one self-contained HTML page per published epoch, for people who sign.

It is built from the published folders only (``published/epoch-NNNNN`` for the epoch and
those before it), plus the config for human names of vaults and pools when it is given, so
it shows exactly what goes on chain. Plots are matplotlib PNGs embedded as base64: the page
works offline and from an e-mail attachment. Every amount in a table is formatted from the
exact integer in wei (AIMG = 10^18 wei, truncated, never through a float); only the chart
axes use floats.

The page is written to ``AIMG_HOME/reports/epoch-NNNNN.html``, outside the immutable
published folder: it is a derived view, regenerated at will (``aimg report``), and PNG
rendering depends on the machine's matplotlib and fonts, so it is not byte-reproducible
and is not part of what a signer verifies.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import shutil
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from aimg_pipeline.lib.config import CHANNELS, Config
from aimg_pipeline.publish import MANIFEST, epoch_folder
from aimg_pipeline.verify import VerifyError, verify

WEI = 10**18
TREND_EPOCHS = 12  # epochs of per-account history read for the trend charts
TOP_N = 15
COLORS = {"staking": "#4C72B0", "governance": "#DD8452", "subdao": "#55A868",
          "liquidity": "#C44E52", "contribution": "#8172B3"}


class ReportError(RuntimeError):
    """The report cannot be built (the epoch is not published)."""


# ----------------------------------------------------------------------- exact formatting


def aimg(wei: int, decimals: int = 2) -> str:
    """``wei`` in AIMG with thousands separators, truncated to ``decimals`` (integer math)."""
    sign = "-" if wei < 0 else ""
    whole, rest = divmod(abs(wei), WEI)
    if decimals == 0:
        return f"{sign}{whole:,}"
    frac = rest * 10**decimals // WEI
    return f"{sign}{whole:,}.{frac:0{decimals}d}"


def percent(part: int, whole: int, decimals: int = 2) -> str:
    """``part / whole`` as a percentage, rounded half up from exact integers."""
    if whole == 0:
        return "–"
    scaled = (abs(part) * 100 * 10**decimals * 2 + whole) // (2 * whole)
    sign = "-" if part < 0 else ""
    return f"{sign}{scaled // 10**decimals}.{scaled % 10**decimals:0{decimals}d} %"


def signed(wei: int, decimals: int = 2) -> str:
    return ("+" if wei > 0 else "") + aimg(wei, decimals)


def gini(amounts: list[int]) -> Fraction:
    """Exact Gini coefficient of non-negative integers (0 = equal, → 1 = one takes all).

    With x sorted ascending and i = 1..n: G = 2·Σ i·x_i / (n·Σx) − (n+1)/n.
    """
    xs = sorted(a for a in amounts if a > 0)
    n, total = len(xs), sum(xs)
    if n == 0 or total == 0:
        return Fraction(0)
    weighted = sum(i * x for i, x in enumerate(xs, start=1))
    return Fraction(2 * weighted, n * total) - Fraction(n + 1, n)


def fraction_text(value: Fraction, decimals: int = 4) -> str:
    scaled = round(value * 10**decimals)
    return f"{scaled // 10**decimals}.{scaled % 10**decimals:0{decimals}d}"


# ----------------------------------------------------------------------- data


@dataclass
class EpochData:
    """One published epoch as the report needs it (exact integers throughout)."""

    epoch: int
    manifest: dict[str, Any]
    claims: dict[str, int]  # checksummed account -> cumulative amount
    rows: list[dict[str, Any]]  # allocations.csv rows with int amount
    by_account: dict[str, int] = field(default_factory=dict)

    @property
    def emission(self) -> int:
        return int(self.manifest["emission"])

    @property
    def by_channel(self) -> dict[str, int]:
        return {c: int(a) for c, a in self.manifest["totals_by_channel"].items()}

    @property
    def recipients(self) -> dict[str, int]:
        return {a: v for a, v in self.by_account.items() if v > 0}


def load_epoch(root: Path, epoch: int) -> EpochData:
    """Read one published epoch folder (manifest, claims, allocations)."""
    folder = epoch_folder(root, epoch)
    if not (folder / MANIFEST).is_file():
        raise ReportError(f"epoch {epoch} is not published ({folder} has no manifest)")
    manifest = json.loads((folder / MANIFEST).read_text())
    claims_doc = json.loads((folder / "claims.json").read_text())
    claims = {a: int(c["amount"]) for a, c in claims_doc["claims"].items()}
    rows = []
    by_account: dict[str, int] = defaultdict(int)
    with open(folder / "allocations.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            row["amount"] = int(row["amount"])
            rows.append(row)
            by_account[row["account"]] += row["amount"]
    return EpochData(epoch, manifest, claims, rows, dict(by_account))


def _manifest(root: Path, epoch: int) -> dict[str, Any]:
    return json.loads((epoch_folder(root, epoch) / MANIFEST).read_text())


def _names(config: Config | None) -> dict[str, tuple[str, str]]:
    """Lowercase address -> (label, agent) for vaults, pools, agent treasuries, the treasury."""
    if config is None:
        return {}
    out: dict[str, tuple[str, str]] = {}
    for address, token in config.position_tokens().items():
        agent = token.agent or token.name
        label = f"{token.name} vault" if token.kind == "vault" else f"{token.name} pool"
        out[address.lower()] = (label, agent)
    for agent in config.agents:
        out.setdefault(agent.treasury.lower(), (f"{agent.name} SubDAO treasury", agent.name))
    out.setdefault(config.treasury.lower(), ("treasury", "treasury"))
    return out


def _short(address: str) -> str:
    return f"{address[:8]}…{address[-6:]}" if address.startswith("0x") else address


def _subpool(row: dict[str, Any], names: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """(sub-pool label, agent) of an allocation row."""
    pool, channel = row["pool"], row["channel"]
    if pool.lower() in names:
        return names[pool.lower()]
    if channel in ("governance", "subdao"):
        return (f"{pool} {channel}", pool)
    if channel == "contribution":
        return ("contributions", "contributions")
    return (_short(pool), _short(pool))


# ----------------------------------------------------------------------- checks


def run_checks(root: Path, data: EpochData, config: Config | None) -> list[tuple[str, str, str]]:
    """(check, PASS/WARN/FAIL, detail): what a signer wants to see before signing."""
    out: list[tuple[str, str, str]] = []
    folder = epoch_folder(root, data.epoch)
    try:
        result = verify(folder)
        previous = ("and against the previous epoch" if result["checked_previous"]
                    else "(no previous epoch beside it)")
        out.append(("aimg verify", "PASS",
                    f"file hashes, root, {result['accounts']} proofs, totals {previous}"))
    except VerifyError as exc:
        out.append(("aimg verify", "FAIL", str(exc)))
    allocated = sum(r["amount"] for r in data.rows)
    out.append(("conservation", "PASS" if allocated == data.emission else "FAIL",
                f"allocations sum to {allocated} wei, emission {data.emission} wei"))
    if config is not None:
        expected = config.emissions_through(data.epoch)[data.epoch]
        out.append(("emission schedule", "PASS" if expected == data.emission else "FAIL",
                    f"SPEC 5 schedule gives {expected} wei for epoch {data.epoch}"))
        policy = config.policy_for(data.epoch)
        same = (policy.version, policy.digest) == (data.manifest["policy"]["version"],
                                                   data.manifest["policy"]["hash"])
        out.append(("policy", "PASS" if same else "FAIL",
                    f"published with {data.manifest['policy']['version']}, the config in force "
                    f"is {policy.version} ({policy.digest[:12]}…)"))
    if data.epoch > 0:
        before = _manifest(root, data.epoch - 1)
        lower = [a for a, v in load_epoch(root, data.epoch - 1).claims.items()
                 if data.claims.get(a, 0) < v]
        out.append(("cumulative claims never decrease", "FAIL" if lower else "PASS",
                    f"{len(lower)} accounts lower than in epoch {data.epoch - 1}"))
        out.append(("block continuity",
                    "PASS" if before["blocks"]["to_block"] + 1 == data.manifest["blocks"][
                        "from_block"] else "WARN",
                    f"previous epoch ended at block {before['blocks']['to_block']}, this one "
                    f"starts at {data.manifest['blocks']['from_block']}"))
    quarantined = int(data.manifest.get("input_rows", {}).get("quarantine", 0))
    out.append(("quarantined logs", "WARN" if quarantined else "PASS",
                f"{quarantined} logs kept out of the weights (see the quarantine table)"))
    unallocated = sum(r["amount"] for r in data.rows if r["reason"] == "unallocated")
    out.append(("unallocated to treasury", "WARN" if unallocated else "PASS",
                f"{aimg(unallocated)} AIMG of empty sub-pools went to the treasury"))
    if "republished" in data.manifest:
        note = data.manifest["republished"]
        out.append(("republished", "WARN", f"reason: {note.get('reason')}; previous root "
                    f"{note.get('previous_root')}"))
    return out


# ----------------------------------------------------------------------- plots


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight",
                metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode()


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure  # Agg canvas, no pyplot global state

    fig = Figure(figsize=(width, height))
    return fig


def _thousands(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)


def plot_emissions(emissions: list[int], current: int) -> str:
    fig = _figure(11, 3.6)
    ax = fig.add_subplot()
    epochs = list(range(len(emissions)))
    values = [e / WEI for e in emissions]
    ax.bar(epochs, values, color=["#4C72B0" if e != current else "#DD8452" for e in epochs])
    ax.set_xlabel("epoch")
    ax.set_ylabel("emission per epoch (AIMG)")
    _style(ax)
    cumulative, running = [], 0
    for e in emissions:
        running += e
        cumulative.append(running / WEI)
    twin = ax.twinx()
    twin.plot(epochs, cumulative, color="#333333", marker="o", label="cumulative")
    twin.set_ylabel("cumulative (AIMG)")
    twin.set_ylim(bottom=0)
    twin.legend(loc="upper center", frameon=False)
    _thousands(ax.yaxis)
    _thousands(twin.yaxis)
    ax.set_xticks(epochs)
    ax.set_title("Emission curve to date (this epoch highlighted)")
    return _png(fig)


def plot_channels(data: EpochData, previous: EpochData | None) -> str:
    fig = _figure(11, 3.4)
    pie, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    amounts = [data.by_channel.get(c, 0) for c in CHANNELS]
    if any(amounts):
        pie.pie([a / WEI for a in amounts], autopct="%1.1f%%", pctdistance=0.78,
                colors=[COLORS[c] for c in CHANNELS], startangle=90, counterclock=False,
                wedgeprops={"width": 0.45}, textprops={"fontsize": 8})
        pie.legend(list(CHANNELS), loc="center left", bbox_to_anchor=(-0.45, 0.5),
                   frameon=False)
    else:  # nothing emitted (after max_total_emission): no wedges to draw
        pie.text(0.5, 0.5, "nothing emitted", ha="center", va="center")
        pie.set_axis_off()
    pie.set_title(f"Channel split, epoch {data.epoch}")
    positions = range(len(CHANNELS))
    if previous is not None:
        bars.barh([p + 0.2 for p in positions],
                  [previous.by_channel.get(c, 0) / WEI for c in CHANNELS], height=0.4,
                  color="#BBBBBB", label=f"epoch {previous.epoch}")
    bars.barh([p - 0.2 for p in positions], [a / WEI for a in amounts], height=0.4,
              color=[COLORS[c] for c in CHANNELS], label=f"epoch {data.epoch}")
    bars.set_yticks(list(positions), list(CHANNELS))
    bars.invert_yaxis()
    bars.set_xlabel("AIMG")
    _thousands(bars.xaxis)
    bars.legend(frameon=False)
    bars.spines[["top", "right"]].set_visible(False)
    bars.set_title("Per channel, against the previous epoch")
    return _png(fig)


def plot_agents(by_agent: dict[str, dict[str, int]]) -> str:
    agents = sorted(by_agent, key=lambda a: -sum(by_agent[a].values()))
    fig = _figure(11, 0.5 * len(agents) + 1.4)
    ax = fig.add_subplot()
    left = [0.0] * len(agents)
    for channel in CHANNELS:
        values = [by_agent[a].get(channel, 0) / WEI for a in agents]
        if any(values):
            ax.barh(agents, values, left=left, color=COLORS[channel], label=channel)
            left = [x + v for x, v in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("AIMG")
    _thousands(ax.xaxis)
    ax.legend(frameon=False, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.12 * 5 /
              (len(agents) + 2)))
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Allocation by agent, stacked by channel")
    return _png(fig)


def plot_distribution(amounts: list[int], gini_text: str) -> str:
    import math

    fig = _figure(11, 3.6)
    lorenz, hist = fig.subplots(1, 2)
    xs = sorted(a for a in amounts if a > 0)
    n, total = len(xs), sum(xs)
    step = max(1, n // 2000)  # at most ~2000 points on the curve
    points_x, points_y, running = [0.0], [0.0], 0
    for i, x in enumerate(xs, start=1):
        running += x
        if i % step == 0 or i == n:
            points_x.append(i / n)
            points_y.append(running / total if total else 0.0)
    lorenz.plot([0, 1], [0, 1], color="#999999", linestyle="--", label="perfect equality")
    lorenz.plot(points_x, points_y, color="#4C72B0", label="recipients")
    lorenz.fill_between(points_x, points_y, points_x, color="#4C72B0", alpha=0.15)
    lorenz.set_xlabel("share of recipients (poorest first)")
    lorenz.set_ylabel("share of the epoch's AIMG")
    lorenz.set_title(f"Lorenz curve — Gini {gini_text}")
    lorenz.legend(frameon=False)
    logs = [math.log10(x / WEI) for x in xs if x / WEI > 0]
    if logs:
        hist.hist(logs, bins=min(30, max(5, n // 3)), color="#55A868")
    hist.set_xlabel("log10(AIMG received this epoch)")
    hist.set_ylabel("recipients")
    hist.set_title(f"Recipients by amount ({n} recipients)")
    _style(hist)
    return _png(fig)


def plot_trends(history: list[EpochData]) -> str:
    fig = _figure(11, 3.2)
    count, ineq = fig.subplots(1, 2)
    epochs = [d.epoch for d in history]
    count.plot(epochs, [len(d.recipients) for d in history], marker="o", color="#4C72B0")
    count.set_title("Recipients per epoch")
    count.set_xlabel("epoch")
    count.set_xticks(epochs)
    _style(count)
    ineq.plot(epochs, [float(gini(list(d.recipients.values()))) for d in history], marker="o",
              color="#C44E52")
    ineq.set_title("Gini per epoch")
    ineq.set_xlabel("epoch")
    ineq.set_ylim(0, 1)
    ineq.set_xticks(epochs)
    _style(ineq)
    return _png(fig)


# ----------------------------------------------------------------------- page


def _table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f"<td class='{'num' if i >= numeric_from else ''}'>{cell}</td>"
            for i, cell in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: str, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{png}'>"


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f6f7f9;
color:#1d2330}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{margin:0 0 4px 0;font-size:26px}h2{margin:28px 0 10px 0;font-size:19px}
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
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.PASS{color:#fff;background:#2e7d32}.FAIL{color:#fff;background:#c62828}
.WARN{color:#1d2330;background:#f9c74f}
.badge{padding:2px 8px;border-radius:10px;font-weight:600;font-size:12px}
.foot{color:#5b6475;font-size:12px;margin-top:16px}
"""


def render(root: Path, epoch: int, config: Config | None = None) -> str:
    """The HTML of epoch ``epoch``'s report, from the folders under publish root ``root``."""
    root = Path(root)
    data = load_epoch(root, epoch)
    previous = load_epoch(root, epoch - 1) if epoch > 0 else None
    names = _names(config)
    m = data.manifest
    emissions = [int(_manifest(root, e)["emission"]) for e in range(epoch + 1)]
    history = [load_epoch(root, e) for e in range(max(0, epoch - TREND_EPOCHS + 1), epoch)]
    history.append(data)

    recipients = data.recipients
    g = gini(list(recipients.values()))
    checks = run_checks(root, data, config)
    failed = sum(1 for _, status, _ in checks if status == "FAIL")

    by_agent: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    subpools: dict[tuple[str, str, str], list[int]] = {}
    channels_of: dict[str, set[str]] = defaultdict(set)
    for row in data.rows:
        label, agent = _subpool(row, names)
        if row["reason"] == "unallocated":
            agent = "treasury (unallocated)"
        by_agent[agent][row["channel"]] += row["amount"]
        key = (row["channel"], label, agent)
        entry = subpools.setdefault(key, [0, 0])
        entry[0] += row["amount"]
        entry[1] += 1 if row["amount"] > 0 and row["reason"] == "earned" else 0
        if row["amount"]:
            channels_of[row["account"]].add(row["channel"])

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
                                              if kv[0][0] in CHANNELS else 99, -kv[1][0]))
    ]

    total_received = sum(recipients.values())
    top = sorted(recipients.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
    top_rows = []
    for rank, (account, amount) in enumerate(top, start=1):
        label = names.get(account.lower(), (None,))[0]
        who = f"<span class='mono'>{html.escape(account)}</span>" + (
            f" <small>({html.escape(label)})</small>" if label else "")
        cumulative = data.claims.get(account, 0)
        before = previous.claims.get(account, 0) if previous else 0
        top_rows.append([str(rank), who, html.escape(", ".join(sorted(channels_of[account]))),
                         aimg(amount), percent(amount, total_received), aimg(cumulative),
                         signed(cumulative - before)])

    eoe_rows: list[list[str]] = []
    if previous is not None:
        prev_recipients = previous.recipients
        new = set(recipients) - set(prev_recipients)
        gone = set(prev_recipients) - set(recipients)
        top10_now = sum(sorted(recipients.values(), reverse=True)[:10])
        top10_before = sum(sorted(prev_recipients.values(), reverse=True)[:10])
        g_before = gini(list(prev_recipients.values()))

        def row(name: str, before: str, now: str, change: str) -> list[str]:
            return [html.escape(name), before, now, change]

        eoe_rows = [
            row("emission (AIMG)", aimg(previous.emission), aimg(data.emission),
                signed(data.emission - previous.emission)),
            row("recipients", f"{len(prev_recipients):,}", f"{len(recipients):,}",
                f"{len(recipients) - len(prev_recipients):+,} ({len(new):,} new, "
                f"{len(gone):,} gone)"),
            row("accounts with a claim", f"{len(previous.claims):,}", f"{len(data.claims):,}",
                f"{len(data.claims) - len(previous.claims):+,}"),
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
    page = render(Path(home) / "published", epoch, config)
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
