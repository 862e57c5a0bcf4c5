"""Hand-off layer: the on-chain guard of each published epoch (blocking checks) and the
treasury's Safe Transaction Builder batch, both under ``AIMG_HOME/handoff/epoch-NNNNN``."""

import dagster as dg

from aimg_pipeline.defs.partitions import epoch_partitions, epochs_of
from aimg_pipeline.defs.resources import AimgSettings, ChainResource
from aimg_pipeline.defs.rewards import aimg_text
from aimg_pipeline.handoff.epoch import SAFE_TX_FILE, guard_epochs, handoff_folder, write_safe_tx

GUARD = ["handoff", "onchain_guard"]
CHECKS = {
    "root_on_chain_is_published": "The distributor's current root is none, or one we "
    "published for an epoch up to this one (a later epoch's root: superseded, nothing sent).",
    "no_overclaimed_accounts": "No account of the new claims has claimed on chain more than "
    "its new cumulative amount (it could never be made whole).",
    "top_up_within_limit": "The top-up (new total minus everything claimed, less the "
    "distributor's balance) is at most deployment.max_top_up, when one is set.",
}


@dg.asset(
    key_prefix="handoff", group_name="handoff", kinds={"python", "json"},
    deps=[["publish", "distribution"]], partitions_def=epoch_partitions,
    check_specs=[dg.AssetCheckSpec(name, asset=GUARD, partitions_def=epoch_partitions,
                                   blocking=True, description=text)
                 for name, text in CHECKS.items()],
    description="Reads registry.distributor at the chain's final block (merkleRoot, "
    "claimed(account) of every claimant, its AIMG balance; batched eth_calls) and decides "
    "whether the epoch's published root may go on chain and what top-up it needs: "
    "AIMG_HOME/handoff/epoch-NNNNN/guard.json.",
)
def onchain_guard(context: dg.AssetExecutionContext, settings: AimgSettings,
                  chain: ChainResource):
    config = settings.config()
    epochs = epochs_of(context, settings)
    if config.distributor is None:
        yield dg.MaterializeResult(metadata={"note": "no registry.distributor: nothing to "
                                                     "hand off"})
        for name in CHECKS:
            yield dg.AssetCheckResult(check_name=name, passed=True,
                                      metadata={"note": "no registry.distributor"})
        return
    client, warehouse = chain.client(), settings.warehouse()
    guards = guard_epochs(config, warehouse, client, settings.home_path, epochs)
    for guard in guards:
        context.log.info(f"epoch {guard.epoch}: root on chain {guard.root_on_chain} "
                         f"({guard.state}), top-up {guard.top_up} wei")
    last = guards[-1]
    yield dg.MaterializeResult(metadata={
        "epoch": last.epoch, "state": last.state, "block": last.block,
        "root_on_chain_before": last.root_on_chain, "root_on_chain_after": last.root_after,
        "top_up": aimg_text(last.top_up), "claimed_accounts": last.claimed_accounts,
        "claimed_total": aimg_text(last.claimed_total),
        "distributor_balance": aimg_text(last.balance),
        "path": dg.MetadataValue.path(str(handoff_folder(settings.home_path, last.epoch))),
        "summary": dg.MetadataValue.md(
            f"| epoch {last.epoch} | |\n|---|---|\n| state | {last.state} |\n"
            f"| root on chain | `{last.root_on_chain}` → `{last.root_after}` |\n"
            f"| claimed so far | {last.claimed_accounts} accounts, "
            f"{aimg_text(last.claimed_total)} |\n"
            f"| distributor holds | {aimg_text(last.balance)} |\n"
            f"| needed | {aimg_text(last.needed)} |\n| top-up | {aimg_text(last.top_up)} |"),
    })
    for name in CHECKS:
        failed = {g.epoch: g.problems[name] for g in guards if name in g.problems}
        yield dg.AssetCheckResult(
            check_name=name, passed=not failed, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"failed_epochs": dg.MetadataValue.json(sorted(failed)),
                      "error": dg.MetadataValue.text("\n".join(failed.values()))}
            if failed else {"epochs": dg.MetadataValue.json(epochs)})


@dg.asset(
    key_prefix="handoff", group_name="handoff", kinds={"json"},
    deps=[onchain_guard], partitions_def=epoch_partitions,
    description="AIMG_HOME/handoff/epoch-NNNNN/safe-tx.json: the Safe Transaction Builder "
    "batch the treasury imports (setRoot(root) on the distributor and, when needed, the AIMG "
    "transfer(distributor, topUp)); rewritten each time the guard runs.",
)
def safe_tx(context: dg.AssetExecutionContext, settings: AimgSettings, chain: ChainResource):
    config = settings.config()
    epochs = epochs_of(context, settings)
    if config.distributor is None:
        return dg.MaterializeResult(metadata={"note": "no registry.distributor"})
    chain_id = chain.client().chain_id()
    for epoch in epochs:
        batch = write_safe_tx(config, settings.home_path, epoch, chain_id)
        path = handoff_folder(settings.home_path, epoch) / SAFE_TX_FILE
        context.log.info(f"epoch {epoch}: " + (f"{path} ({len(batch['transactions'])} "
                                               "transactions)" if batch else "nothing to send"))
    metadata = {"epoch": epochs[-1], "transactions": len(batch["transactions"]) if batch else 0}
    if batch:
        metadata["path"] = dg.MetadataValue.path(str(path))
        metadata["calls"] = dg.MetadataValue.json(
            [f"{t['contractMethod']['name']}({', '.join(t['contractInputsValues'].values())})"
             for t in batch["transactions"]])
    return dg.MaterializeResult(metadata=metadata)
