"""Stage 3, snapshots: balances and balance-seconds per position token and holder
(``balances``), reconciled with the chain's own ``totalSupply``/``balanceOf`` (``reconcile``).
"""
