"""Where the project and the pipeline's data home are, from the environment alone.

Kept free of Dagster (and of anything heavy) so that quick commands such as ``aimg proof``
start in milliseconds; ``AimgSettings`` resolves its defaults through it.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def home_path(explicit: str = "") -> Path:
    """The data home: ``explicit``, else ``AIMG_HOME``, else ``.aimg`` in the project root."""
    return Path(explicit or os.environ.get("AIMG_HOME") or PROJECT_ROOT / ".aimg").resolve()
