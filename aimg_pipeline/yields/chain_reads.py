"""What the yield tables read from the chain at an epoch's last block, in batched
``eth_call``s: each pair's ``token0()``/``token1()`` and each vault's ERC-4626
``totalAssets()``. A contract without code (``0x``) or without the function (a revert)
answers None, and the tables say so in their ``note``.
"""

from __future__ import annotations

from collections.abc import Sequence

from aimg_pipeline.ingest.chain import ChainClient, abi_uint

TOKEN0, TOKEN1, TOTAL_ASSETS = "0x0dfe1681", "0xd21220a7", "0x01e1d114"


def _calls(client: ChainClient, calls: Sequence[tuple[str, str]], block: int) -> list[int | None]:
    if block < 0 or not calls:  # no block before the epoch's end: no contract to ask
        return [None] * len(calls)
    answers = client.call_batch(
        "eth_call", [[{"to": to, "data": data}, hex(block)] for to, data in calls],
        what=f"eth_call at block {block}", reverted_as_none=True)
    return [abi_uint(a) for a in answers]


def pair_tokens(client: ChainClient, pools: Sequence[str],
                block: int) -> dict[str, tuple[str, str] | None]:
    """Pool -> (token0, token1) lowercase, or None when the pair does not answer both."""
    words = _calls(client, [(p, d) for p in pools for d in (TOKEN0, TOKEN1)], block)
    out: dict[str, tuple[str, str] | None] = {}
    for i, pool in enumerate(pools):
        t0, t1 = words[2 * i], words[2 * i + 1]
        ok = t0 is not None and t1 is not None and t0 < 2**160 and t1 < 2**160
        out[pool] = (f"0x{t0:040x}", f"0x{t1:040x}") if ok else None
    return out


def vault_total_assets(client: ChainClient, vaults: Sequence[str],
                       block: int) -> dict[str, int | None]:
    """Vault -> ``totalAssets()``, or None when the vault does not answer it."""
    return dict(zip(vaults, _calls(client, [(v, TOTAL_ASSETS) for v in vaults], block),
                    strict=True))
