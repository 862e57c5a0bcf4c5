"""The report's charts: matplotlib PNGs (embedded as base64, so the page works offline);
only the chart axes use floats.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from fractions import Fraction
from typing import Any

from aimg_pipeline.lib.policy import CHANNELS
from aimg_pipeline.report.figures import WEI, EpochData, TrendPoint
from aimg_pipeline.report.yields import PoolSeries, VaultSeries

TOP_N = 15


COLORS = {"staking": "#4C72B0", "governance": "#DD8452", "subdao": "#55A868",
          "liquidity": "#C44E52", "contribution": "#8172B3"}


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


MAX_AGENT_BARS = 20  # agents drawn as bars; the rest are one "other agents" bar


def plot_agents(by_agent: dict[str, dict[str, int]]) -> str:
    agents = sorted(by_agent, key=lambda a: -sum(by_agent[a].values()))
    if len(agents) > MAX_AGENT_BARS:  # hundreds of bars: unreadable, and seconds to draw
        rest = agents[MAX_AGENT_BARS - 1:]
        other: dict[str, int] = defaultdict(int)
        for agent in rest:
            for channel, amount in by_agent[agent].items():
                other[channel] += amount
        label = f"other {len(rest)} agents"
        by_agent = {**{a: by_agent[a] for a in agents[:MAX_AGENT_BARS - 1]}, label: other}
        agents = [*agents[:MAX_AGENT_BARS - 1], label]
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


def plot_trends(history: list[TrendPoint]) -> str:
    fig = _figure(11, 3.2)
    count, ineq = fig.subplots(1, 2)
    epochs = [d.epoch for d in history]
    count.plot(epochs, [d.recipients for d in history], marker="o", color="#4C72B0")
    count.set_title("Recipients per epoch")
    count.set_xlabel("epoch")
    count.set_xticks(epochs)
    _style(count)
    ineq.plot(epochs, [float(d.gini) for d in history], marker="o",
              color="#C44E52")
    ineq.set_title("Gini per epoch")
    ineq.set_xlabel("epoch")
    ineq.set_ylim(0, 1)
    ineq.set_xticks(epochs)
    _style(ineq)
    return _png(fig)


def _in_aimg(wei: int | None) -> float:
    """Wei as AIMG for an axis (exact until the last conversion); NULL plots as 0."""
    return float(Fraction(wei or 0, WEI))


def _apr(values: list[float | None]) -> list[float]:
    """APRs in percent for an axis; NULL leaves a gap."""
    return [float("nan") if v is None else v * 100 for v in values]


def _percent_axis(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f} %"))


YIELD_COLORS = {"fees": "#55A868", "emissions": COLORS["liquidity"], "total": "#333333"}


def _log_percent_axis(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, numticks=6))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g} %"))
    axis.set_minor_formatter(NullFormatter())


def _apr_scale(ax: Any, series: list[list[float]]) -> None:
    """Linear from 0, or logarithmic when the positive APRs span more than 100× (the demo's
    fee APRs are fractions of a percent beside emission APRs of thousands of percent)."""
    positive = [v for values in series for v in values if v == v and v > 0]  # not NaN
    if positive and max(positive) > 100 * min(positive):
        ax.set_yscale("log", nonpositive="mask")  # a 0 % APR leaves a gap
        ax.set_ylabel("log scale", fontsize=8)
        _log_percent_axis(ax.yaxis)
    else:
        ax.set_ylim(bottom=0)
        _percent_axis(ax.yaxis)


APR_LINES = (("fee APR", "fees", "-", 1.6), ("emission APR", "emissions", "-", 2.6),
             ("total APR", "total", "--", 1.4))


def plot_pool_yield(pools: list[PoolSeries], epochs: list[int]) -> str:
    """Per pool, a row: fees and emissions in AIMG stacked per epoch, and the three APRs."""
    height = 2.3 * len(pools) + 0.6
    fig = _figure(11, height)
    axes = fig.subplots(len(pools), 2, squeeze=False)
    for (bars, lines), pool in zip(axes, pools, strict=True):
        fees = [_in_aimg(f) for f in pool.fees_aimg]
        emitted = [_in_aimg(e) for e in pool.emissions]
        bars.bar(pool.epochs, fees, color=YIELD_COLORS["fees"], label="fees (AIMG)")
        bars.bar(pool.epochs, emitted, bottom=fees, color=YIELD_COLORS["emissions"],
                 label="emissions (AIMG)")
        bars.set_title(f"{pool.name}: fees + emissions (AIMG)", fontsize=10)
        _thousands(bars.yaxis)
        values = [_apr(pool.fee_apr), _apr(pool.emission_apr), _apr(pool.total_apr)]
        for (label, key, style, width), ys in zip(APR_LINES, values, strict=True):
            lines.plot(pool.epochs, ys, marker="o", markersize=3, linestyle=style,
                       linewidth=width, color=YIELD_COLORS[key], label=label)
        lines.set_title(f"{pool.name}: APR", fontsize=10)
        _apr_scale(lines, values)
        for ax in (bars, lines):
            ax.set_xticks(epochs)
            ax.set_xlim(min(epochs) - 0.6, max(epochs) + 0.6)
            _style(ax)
    axes[-1][0].set_xlabel("epoch")
    axes[-1][1].set_xlabel("epoch")
    handles = [h for ax in axes[0] for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles, [h.get_label() for h in handles], loc="upper center", ncol=5,
               frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / height))
    return _png(fig)


def plot_vault_apr(vaults: list[VaultSeries], epochs: list[int]) -> str:
    """The emission APR of every vault over the epochs, one line each."""
    fig = _figure(11, 3.2)
    ax = fig.add_subplot()
    for vault in vaults:
        ax.plot(vault.epochs, _apr(vault.emission_apr), marker="o", markersize=4,
                label=vault.name)
    ax.set_title("Vault emission APR per epoch")
    ax.set_xlabel("epoch")
    ax.set_xticks(epochs)
    ax.set_xlim(min(epochs) - 0.4, max(epochs) + 0.4)
    _apr_scale(ax, [_apr(v.emission_apr) for v in vaults])
    _style(ax)
    ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _png(fig)
