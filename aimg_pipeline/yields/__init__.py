"""6. Yield: what participants earned in an epoch (SPEC 11, docs/economics.md "Yield").

``pools`` (``pool_yield``: volumes, fees, reserves, price, TVL, APRs), ``vaults``
(``vault_yield``: staking emission APR), ``lp`` (``lp_earnings``: each LP's fee share), and
``chain_reads`` (the few ``eth_call`` answers they need). Read-only over the decoded tables,
the snapshots and the allocations: nothing here moves money.
"""
