"""The one Dagster ``Definitions`` of the project, loaded from the ``defs`` package.

Every asset, asset check and sensor defined at the top of a module of
``aimg_pipeline.defs`` is picked up, with no hand-kept list (as in dagster-open-platform);
the resources and the executor are ``defs/resources.py``'s.
"""

import dagster as dg

import aimg_pipeline.defs

defs = dg.components.load_defs(aimg_pipeline.defs)
