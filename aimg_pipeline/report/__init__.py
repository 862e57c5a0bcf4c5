"""After publishing, for the people who sign: the epoch report, a self-contained HTML page
built from the published folders (so it shows exactly what goes on chain), plus the config
for human names of vaults and pools when it is given.

The one exception is the yield section: fees, emissions and APRs per pool and vault, read
from the warehouse's ``pool_yield`` / ``vault_yield`` (analytics, not published; ``yields``).

``figures`` holds the numbers, ``yields`` the yield figures, ``charts`` the plots, ``page``
the HTML. The page lives outside the immutable published folder (``AIMG_HOME/reports/``): it
is a derived view, regenerated at will (``aimg report``), and PNG rendering depends on the
machine's matplotlib and fonts, so it is not byte-reproducible and is not part of what a
signer verifies.
"""
