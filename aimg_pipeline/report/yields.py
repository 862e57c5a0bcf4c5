"""The report's yield figures: the warehouse's ``pool_yield`` and ``vault_yield``
(docs/economics.md, "Yield") for the trend epochs up to the report's, ranked and formatted.

Unlike the rest of the report these are analytics, not published files: nothing in them is
paid. Amounts stay exact integers (text through ``figures.units``); prices and APRs are the
tables' DOUBLEs, display figures, shown as percentages. An epoch whose file is missing is
skipped; the report's own epoch missing is said in one line, never an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from aimg_pipeline.lib.policy import Config
from aimg_pipeline.report.figures import TREND_EPOCHS, short_address
from aimg_pipeline.warehouse import TABLES, Warehouse, WarehouseError

MAX_POOL_CHARTS = 8  # pools charted (the largest by TVL); the table lists every pool
# vaults charted (the aimg vault, then the agents' largest by emissions); the table lists all
MAX_VAULT_CHARTS = 8


@dataclass
class YieldHistory:
    """``pool_yield`` / ``vault_yield`` rows (big integers as ``int``) of the epochs that
    have a readable file, oldest first, and why the report's own epoch has none."""

    epoch: int
    pools: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    vaults: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # table -> why (its epoch only)

    @property
    def current_pools(self) -> list[dict[str, Any]]:
        return ranked(self.pools.get(self.epoch, []))

    @property
    def current_vaults(self) -> list[dict[str, Any]]:
        return sorted(self.vaults.get(self.epoch, []),
                      key=lambda r: (r["agent"] is not None, r["vault_name"] or "", r["vault"]))

    @property
    def epochs(self) -> list[int]:
        return sorted(set(self.pools) | set(self.vaults))


@dataclass
class PoolSeries:
    """One pool over the epochs it has a row in (charts only)."""

    name: str
    epochs: list[int]
    fees_aimg: list[int | None]
    emissions: list[int]
    fee_apr: list[float | None]
    emission_apr: list[float | None]
    total_apr: list[float | None]


@dataclass
class VaultSeries:
    name: str
    epochs: list[int]
    emission_apr: list[float | None]


def _rows(warehouse: Warehouse, table: str, epoch: int) -> list[dict[str, Any]]:
    big = TABLES[table][1]
    return [{k: int(v) if k in big and v is not None else v for k, v in row.items()}
            for row in warehouse.read(table, epoch).to_pylist()]


def load_yields(home: Path, epoch: int) -> YieldHistory:
    """The yield rows of epochs ``epoch - TREND_EPOCHS + 1 .. epoch`` under ``home``."""
    warehouse = Warehouse(home)
    history = YieldHistory(epoch)
    for table, into in (("pool_yield", history.pools), ("vault_yield", history.vaults)):
        for e in range(max(0, epoch - TREND_EPOCHS + 1), epoch + 1):
            try:
                into[e] = _rows(warehouse, table, e)
            except WarehouseError:
                if e == epoch:
                    history.missing[table] = f"no {table} file for this epoch"
            except (pa.ArrowException, OSError, ValueError) as exc:  # unreadable: say so
                if e == epoch:
                    history.missing[table] = f"{table} unreadable: {type(exc).__name__}: {exc}"
    return history


def ranked(pools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pools by TVL descending (no TVL last), then name and address."""
    return sorted(pools, key=lambda r: (r["tvl_aimg"] is None, -(r["tvl_aimg"] or 0),
                                        r["pool_name"] or "", r["pool"]))


def charted_pools(history: YieldHistory) -> list[PoolSeries]:
    """The epoch's ``MAX_POOL_CHARTS`` largest pools by TVL, each over the trend epochs."""
    out = []
    for current in history.current_pools[:MAX_POOL_CHARTS]:
        rows = [(e, r) for e in sorted(history.pools) for r in history.pools[e]
                if r["pool"] == current["pool"]]
        out.append(PoolSeries(
            name=current["pool_name"] or short_address(current["pool"]),
            epochs=[e for e, _ in rows], fees_aimg=[r["fees_aimg"] for _, r in rows],
            emissions=[r["emissions"] or 0 for _, r in rows],
            fee_apr=[r["fee_apr"] for _, r in rows],
            emission_apr=[r["emission_apr"] for _, r in rows],
            total_apr=[r["total_apr"] for _, r in rows]))
    return out


def charted_vaults(history: YieldHistory) -> list[VaultSeries]:
    """The epoch's ``MAX_VAULT_CHARTS`` vaults with the largest emissions (the $AIMG vault
    first), each over the trend epochs: 334 lines would be unreadable and take seconds."""
    vaults = sorted(history.current_vaults, key=lambda r: (r["agent"] is not None,
                                                          -(r["emissions"] or 0)))
    out = []
    for current in vaults[:MAX_VAULT_CHARTS]:
        rows = [(e, r) for e in sorted(history.vaults) for r in history.vaults[e]
                if r["vault"] == current["vault"]]
        out.append(VaultSeries(vault_label(current), [e for e, _ in rows],
                               [r["emission_apr"] for _, r in rows]))
    return out


def apr_text(value: float | None) -> str:
    """An APR (a fraction per year, DOUBLE) as a percentage with 2 decimals; "–" when NULL."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value * 100:,.2f} %"


def token_label(address: str | None, config: Config | None) -> str:
    """``AIMG``, the agent whose token it is, or the short address ("?" when NULL)."""
    if address is None:
        return "?"
    if config is not None:
        if address.lower() == config.aimg_token.lower():
            return "AIMG"
        for agent in config.agents:
            if address.lower() == agent.token.lower():
                return agent.name
    return short_address(address)


def vault_label(row: dict[str, Any]) -> str:
    """``aimg vault`` / ``<agent> vault``, as the rest of the report names vaults."""
    return f"{row['vault_name']} vault" if row["vault_name"] else short_address(row["vault"])
