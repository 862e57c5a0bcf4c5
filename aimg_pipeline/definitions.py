"""The one Dagster ``Definitions`` of the project, loaded from the ``defs`` package
(``dg.load_from_defs_folder``).

Every asset, asset check and sensor defined at the top of a module of
``aimg_pipeline.defs`` is picked up, with no hand-kept list (as in dagster-open-platform);
the resources and the executor are ``defs/resources.py``'s.
"""

from pathlib import Path

import dagster as dg

# the project's [tool.dg] table in pyproject.toml names aimg_pipeline.defs
defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
