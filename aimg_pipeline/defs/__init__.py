"""Dagster wiring only, one module per stage in data order — ``ingest`` (group ``raw``),
``decode`` (``decoded``), ``snapshots``, ``rewards``, ``publish`` — plus ``partitions`` (the
epochs and the rule that orders them), ``resources`` and ``sensors``. Each asset is a thin
call into its stage's package; ``aimg_pipeline.definitions`` loads this package whole.
"""

import warnings

import dagster as dg

# single-run backfills (each run walks its epochs in order) are relied on knowingly
warnings.filterwarnings("ignore", category=dg.BetaWarning)
# partitioned asset checks (a result per epoch, not one overwritten by every backfill) are
# a preview feature of Dagster 1.13; relied on knowingly, with runs of one epoch each
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
