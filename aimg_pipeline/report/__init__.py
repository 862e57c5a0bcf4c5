"""After publishing, for the people who sign: the epoch report, a self-contained HTML page
built from the published folders only (so it shows exactly what goes on chain), plus the
config for human names of vaults and pools when it is given.

``figures`` holds the numbers, ``charts`` the plots, ``page`` the HTML. The page lives
outside the immutable published folder (``AIMG_HOME/reports/``): it is a derived view,
regenerated at will (``aimg report``), and PNG rendering depends on the machine's matplotlib
and fonts, so it is not byte-reproducible and is not part of what a signer verifies.
"""
