"""Publish layer: the epoch's immutable distribution folder, its row in `distributions`, and
the human-readable epoch report linked from the asset's metadata."""

import dagster as dg

from aimg_pipeline.defs.partitions import (
    epoch_partitions,
    epochs_of,
    needs_previous_epoch,
)
from aimg_pipeline.defs.resources import AimgSettings, ChainResource
from aimg_pipeline.defs.rewards import aimg_text
from aimg_pipeline.defs.tables import column_schema
from aimg_pipeline.publish.release import publish_epoch
from aimg_pipeline.report.figures import save_verification
from aimg_pipeline.report.page import write_report
from aimg_pipeline.serve import report_link
from aimg_pipeline.verify import VerifyError, verify


class PublishConfig(dg.Config):
    """Set a reason to replace an already published epoch whose content changed."""

    republish_reason: str = ""


@dg.asset(
    key_prefix="publish",
    group_name="publish",
    kinds={"json", "csv"},
    deps=[["rewards", "claims"]],
    metadata=column_schema("distributions"),
    partitions_def=epoch_partitions,
    check_specs=[dg.AssetCheckSpec(
        "verified", asset=["publish", "distribution"],
        partitions_def=epoch_partitions, blocking=True,
        description="`aimg verify` on the published folder: hashes, root, every proof, "
        "totals, cumulative amounts never lower than the previous epoch's.",
    )],
    description="merkle_tree.json (OpenZeppelin standard-v1), claims.json, allocations.csv "
    "and manifest.json under AIMG_HOME/published/epoch-NNNNN.",
)
@needs_previous_epoch("distributions")
def distribution(
    context: dg.AssetExecutionContext,
    config: PublishConfig,
    settings: AimgSettings,
    chain: ChainResource,
):
    policy_config, warehouse = settings.config(), settings.warehouse()
    client = chain.client()
    epochs = epochs_of(context, settings)
    failures: dict[int, str] = {}
    report: dict | None = None
    for epoch in epochs:
        result = publish_epoch(
            policy_config, warehouse, client, settings.publish_root, epoch,
            republish_reason=config.republish_reason or None,
        )
        context.log.info(f"epoch {epoch}: {result.status} {result.folder}"
                         + (f" (old folder archived at {result.archived})"
                            if result.archived else ""))
        # A folder written now was verified (aimg_pipeline.verify) just before it was renamed
        # into place: that is its report. An unchanged one is verified as it stands on disk,
        # and a failure is the check's result, not an exception that hides it.
        report = result.report
        if report is None:
            try:
                report = verify(result.folder)
            except VerifyError as exc:
                failures[epoch] = str(exc)
                context.log.error(f"epoch {epoch}: {exc}")
        if epoch not in failures:  # the report shows this result instead of verifying again
            save_verification(settings.home_path, epoch, report)
    metadata = {
        "epoch": epochs[-1],
        "status": result.status,
        "merkle_root": result.merkle_root,
        "path": dg.MetadataValue.path(str(result.folder)),
    }
    if report is not None:
        metadata.update(accounts=report["accounts"], total=aimg_text(report["total"]))
    if result.archived:
        metadata["archived_previous"] = dg.MetadataValue.path(str(result.archived))
    yield dg.MaterializeResult(metadata=metadata)
    if failures:
        yield dg.AssetCheckResult(
            check_name="verified", passed=False, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"failed_epochs": dg.MetadataValue.json(sorted(failures)),
                      "error": dg.MetadataValue.text("\n".join(failures.values()))})
    else:
        yield dg.AssetCheckResult(check_name="verified", passed=True, metadata={
            "checked_previous_epoch": report["checked_previous"] if report else False})


@dg.asset(
    key_prefix="publish",
    group_name="publish",
    kinds={"html"},
    deps=[distribution, ["yield", "vault_yield"], ["yield", "lp_earnings"],
          ["handoff", "onchain_guard"]],
    partitions_def=epoch_partitions,
    description="A self-contained HTML page per published epoch (AIMG_HOME/reports/"
    "epoch-NNNNN.html): emission curve, channel split, allocation by agent and pool, "
    "recipient distribution (Lorenz curve, Gini), top recipients, epoch-over-epoch changes, "
    "the checks, the hand-off (root on chain, claimed so far, top-up) and the yield section "
    "(pool fees vs emissions, APRs, vault APRs). Outside the immutable published folder: it "
    "can be regenerated.",
)
def epoch_report(context: dg.AssetExecutionContext, settings: AimgSettings):
    policy_config = settings.config()
    for epoch in epochs_of(context, settings):
        path = write_report(settings.home_path, epoch, policy_config)
        context.log.info(f"epoch {epoch}: report {path}")
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.path(str(path)),
        "open": dg.MetadataValue.url(report_link(path, settings.home_path)),
        "bytes": path.stat().st_size,
    })
