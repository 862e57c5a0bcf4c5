"""``vault_yield``: per epoch and staking vault, time-weighted shares, the assets staked at
the epoch's end (ERC-4626 ``totalAssets``), their value in $AIMG at the agent's pool price,
the staking emissions and the emission APR (docs/economics.md, "Yield")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aimg_pipeline.lib import yields
from aimg_pipeline.lib.policy import Config
from aimg_pipeline.warehouse import Warehouse, run_sql
from aimg_pipeline.yields.pools import epoch_emissions_by_pool


def _price_pool(pools: Sequence[Mapping[str, Any]], agent: str) -> Mapping[str, Any] | None:
    """The agent's $AIMG-paired pool with a price and the largest TVL (ties: lower address)."""
    priced = [r for r in pools if r["agent"] == agent and r["price_aimg"] is not None]
    return min(priced, key=lambda r: (-r["tvl_aimg"], r["pool"]), default=None)


def write_vault_yield(config: Config, warehouse: Warehouse, epoch: int,
                      total_assets: Mapping[str, int | None],
                      pools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Compute and write ``vault_yield`` for ``epoch``; ``total_assets`` per vault
    (``chain_reads.vault_total_assets``), ``pools`` the epoch's ``pool_yield`` rows."""
    window = config.calendar().window(epoch)
    seconds = window.end - window.start
    warehouse.read_schema("position_snapshots", epoch)
    con = warehouse.connect({"epoch_snapshots": warehouse.path("position_snapshots", epoch)})
    try:
        share_seconds = {r["vault"]: int(r["share_seconds"])
                         for r in run_sql(con, "vault_share_seconds").to_pylist()}
    finally:
        con.close()
    emissions = epoch_emissions_by_pool(warehouse, epoch)
    agents = {a.name: a for a in config.agents_at(epoch)}
    rows = []
    for token in sorted((t for t in config.position_tokens(epoch).values() if t.kind == "vault"),
                        key=lambda t: t.address):
        assets = total_assets.get(token.address)
        earned = emissions.get(("staking", token.address), 0)
        row: dict[str, Any] = {
            "epoch": epoch, "vault": token.address, "vault_name": token.name,
            "agent": token.agent,
            "asset": config.aimg_token if token.agent is None else agents[token.agent].token,
            "share_seconds": share_seconds.get(token.address, 0),
            "twa_shares": share_seconds.get(token.address, 0) // seconds,
            "total_assets": assets, "price_aimg": None, "staked_aimg": None,
            "emissions": earned, "emission_apr": None, "note": None,
        }
        if token.agent is None:
            row["price_aimg"], row["staked_aimg"] = 1.0, assets
        elif (pool := _price_pool(pools, token.agent)) is not None:
            side = (pool["token0"], pool["token1"]).index(config.aimg_token)
            aimg_twa, agent_twa = pool[f"twa_reserve{side}"], pool[f"twa_reserve{1 - side}"]
            row["price_aimg"] = pool["price_aimg"]
            if assets is not None:
                row["staked_aimg"] = yields.in_aimg(assets, aimg_twa, agent_twa)
        else:
            row["note"] = f"no $AIMG pool with reserves for {token.agent}"
        if assets is None:
            row["note"] = "totalAssets() not callable at the epoch's last block"
        elif row["staked_aimg"] == 0:
            row["note"] = "nothing staked"
        elif row["staked_aimg"] is not None:
            row["emission_apr"] = yields.apr(earned, row["staked_aimg"], seconds)
        rows.append(row)
    warehouse.write_rows("vault_yield", epoch, rows)
    return rows
