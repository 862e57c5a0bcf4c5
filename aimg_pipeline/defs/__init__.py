"""The Dagster layers: raw → decoded → snapshots → rewards → publish."""

import warnings

import dagster as dg

# single-run backfills (each run walks its epochs in order) are relied on knowingly
warnings.filterwarnings("ignore", category=dg.BetaWarning)
