"""The yield tables (docs/economics.md, "Yield", SPEC 11) through Dagster on a scripted chain,
against numbers worked out by hand from the documented definitions.

Two epochs of L = 1000 s from genesis G = 1_000_000: epoch 0 = [G, G+1000), epoch 1 =
[G+1000, G+2000). Annualisation: 365 * 86400 / 1000 = 31_536. Every expected number below
is derived in the comments; amounts are Python ints, prices and APRs Fractions compared to
the pipeline's DOUBLEs at 1e-12 relative.

One agent, atlas, with three pools:
- P1 `atlas-aimg`: token0 = atlas token, token1 = $AIMG, default fee 30 bps. Its epoch 0 is
  the worked example of docs/economics.md to the number (reserves carried in from before
  genesis, LP holders A = 0xaa.. and B = 0xbb.. with the remainder tie).
- P2 `aimg-atlas`: token0 = $AIMG, token1 = atlas token, fee_bps 25; first Sync inside
  epoch 0 (reserves 0 before it), two Syncs in one block, no log at all in epoch 1
  (reserves carried over).
- P3 `atlas-usdc`: not paired with $AIMG (NULL price, TVL, fees_aimg, APRs and a note); in
  epoch 1 a Swap without a Sync of its own (reserves carried over from epoch 0).
- P4 `aimg-atlas-v3`: token0 = $AIMG, never a Sync: NULL reserves, no reserves over the
  window (a note); in epoch 1 a Swap, so the `swaps_have_syncs` warning fails.
Vaults: $AIMG's (totalAssets answers in epoch 0, reverts in epoch 1) and atlas's (answers
in both; valued through P1 in epoch 0 and P2 in epoch 1, whichever has the larger TVL).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from aimg_pipeline.analytics import connect as analytics_connect
from aimg_pipeline.lib.config import load_config
from aimg_pipeline.orchestrate import materialize_epochs
from aimg_pipeline.warehouse import TABLES, Warehouse
from aimg_pipeline_tests.fakechain import FakeChain, address_topic, word
from aimg_pipeline_tests.test_e2e_handworked import addr, topic  # keccak of the signature

ZERO = addr(0)
AIMG_TOKEN, AIMG_VAULT = addr(0x101), addr(0x102)
ATLAS_TOKEN, ATLAS_VAULT = addr(0x103), addr(0x104)
P1, GOVERNOR, REGISTRY, ATLAS_TREASURY, TREASURY = (
    addr(0x105), addr(0x106), addr(0x107), addr(0x108), addr(0x109))
P2, P3, USDC, P4 = addr(0x10A), addr(0x10B), addr(0x10C), addr(0x10D)
ROUTER, TRADER = addr(0x1F0), addr(0x1F1)
# LP holders: A < B < C as lowercase hex (the tie break); C is an excluded address
A, B, C = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20
D, E, F, H = "0x" + "dd" * 20, "0x" + "ee" * 20, "0x" + "f1" * 20, "0x" + "a4" * 20
V1, V2, W1 = addr(0xC1), addr(0xC2), addr(0xC3)  # vault holders
GENESIS, L = 1_000_000, 1000
YEAR = 365 * 86400  # APR = value / TVL * YEAR / L = value / TVL * 31_536
S0, T0, S1, T1 = GENESIS, GENESIS + L, GENESIS + L, GENESIS + 2 * L

TOKEN0, TOKEN1, TOTAL_ASSETS = "0x0dfe1681", "0xd21220a7", "0x01e1d114"

CONFIG = f"""
treasury = "{TREASURY}"
excluded_addresses = ["{C}"]
[deployment]
name = "yield-handworked"
chain_id = 1337
genesis = {GENESIS}
epoch_seconds = {L}
initial_emission = "20000"
confirmations = 0
[registry]
aimg_token = "{AIMG_TOKEN}"
aimg_vault = "{AIMG_VAULT}"
contribution_registry = "{REGISTRY}"
[[registry.agents]]
name = "atlas"
token = "{ATLAS_TOKEN}"
vault = "{ATLAS_VAULT}"
governor = "{GOVERNOR}"
treasury = "{ATLAS_TREASURY}"
pools = [{{ name = "atlas-aimg", address = "{P1}" }},
         {{ name = "aimg-atlas", address = "{P2}", fee_bps = 25 }},
         {{ name = "atlas-usdc", address = "{P3}" }},
         {{ name = "aimg-atlas-v3", address = "{P4}" }}]
[[policy]]
version = "v1"
effective_from_epoch = 0
decay_bps = 1000
tail_emission = "0"
channel_bps = {{ staking = 4000, governance = 2000, subdao = 1000, liquidity = 2000, \
  contribution = 1000 }}
kind_multiplier_bps = {{ dataset = 10000, model = 15000, algorithm = 20000 }}
agent_weight_bps = {{ atlas = 10000 }}
vault_weight_bps = {{ aimg = 6000, atlas = 4000 }}
pool_weight_bps = {{ "atlas-aimg" = 5000, "aimg-atlas" = 3000, "atlas-usdc" = 1000, \
  "aimg-atlas-v3" = 1000 }}
"""

# ---- emissions, by hand (SPEC 5, 6.2) -------------------------------------------------------
# E(0) = 20_000 -> staking 8_000, liquidity 4_000 (bps 4000 / 2000, no remainders).
#   staking: aimg vault 6000 bps -> 4_800, atlas vault 4000 bps -> 3_200.
#   liquidity: P1 5000 bps -> 2_000, P2 3000 -> 1_200, P3 1000 -> 400, P4 1000 -> 400.
# E(1) = floor(20_000 * 9000 / 10000) = 18_000 -> staking 7_200, liquidity 3_600.
#   staking: aimg 4_320, atlas 2_880.  liquidity: P1 1_800, P2 1_080, P3 360, P4 360.
# Every vault and pool has eligible holders in both epochs, so each one's `emissions` (the
# sum of its `earned` rows) is its whole sub-pool amount.


def transfer(chain: FakeChain, block: int, token: str, sender: str, receiver: str,
             value: int) -> None:
    chain.add_log(block, token, [topic("Transfer"), address_topic(sender),
                                 address_topic(receiver)], "0x" + word(value))


def swap(chain: FakeChain, block: int, pool: str, in0: int, in1: int, out0: int,
         out1: int) -> None:
    # Swap(address indexed sender, uint256 amount0In, uint256 amount1In, uint256 amount0Out,
    #      uint256 amount1Out, address indexed to)
    chain.add_log(block, pool, [topic("Swap"), address_topic(ROUTER), address_topic(TRADER)],
                  "0x" + word(in0) + word(in1) + word(out0) + word(out1))


def sync(chain: FakeChain, block: int, pool: str, reserve0: int, reserve1: int) -> None:
    # Sync(uint112 reserve0, uint112 reserve1)
    chain.add_log(block, pool, [topic("Sync")], "0x" + word(reserve0) + word(reserve1))


def build_chain() -> FakeChain:
    chain = FakeChain(chain_id=1337)
    b = chain.add_block(GENESIS - 300)
    transfer(chain, b, P1, ZERO, A, 300)  # A's 300 LP of P1 from before genesis
    transfer(chain, b, AIMG_VAULT, ZERO, V1, 3000)  # V1 stakes 3000 $AIMG-vault shares
    b = chain.add_block(GENESIS - 200)
    sync(chain, b, P1, 995_000, 4_020_000)  # an earlier state, replaced before genesis
    b = chain.add_block(GENESIS - 100)
    swap(chain, b, P1, 5_000, 0, 0, 20_000)  # before genesis: no volume, no fee
    sync(chain, b, P1, 1_000_000, 4_000_000)  # epoch 0's opening reserves of P1
    b = chain.add_block(GENESIS - 50)
    transfer(chain, b, P3, ZERO, F, 500)
    sync(chain, b, P3, 10_000, 20_000)
    # ---- epoch 0 -----------------------------------------------------------------------
    b = chain.add_block(GENESIS + 100)
    transfer(chain, b, ATLAS_VAULT, ZERO, W1, 700)
    transfer(chain, b, P4, ZERO, H, 10)  # H's 10 LP of P4 (which never Syncs)
    b = chain.add_block(GENESIS + 200)
    swap(chain, b, P1, 10_000, 0, 0, 39_600)
    sync(chain, b, P1, 1_010_000, 3_960_400)
    b = chain.add_block(GENESIS + 250)  # P2 is created: D adds liquidity
    transfer(chain, b, P2, ZERO, D, 1000)
    sync(chain, b, P2, 5_000_000, 1_250_000)
    chain.add_log(b, P2, [topic("Mint"), address_topic(ROUTER)],
                  "0x" + word(5_000_000) + word(1_250_000))
    b = chain.add_block(GENESIS + 400)
    transfer(chain, b, AIMG_VAULT, ZERO, V2, 1001)
    swap(chain, b, P3, 1_000, 0, 0, 1_800)
    sync(chain, b, P3, 11_000, 18_200)
    b = chain.add_block(GENESIS + 500)
    transfer(chain, b, P1, ZERO, B, 200)
    b = chain.add_block(GENESIS + 600)  # two swaps and two Syncs of P2 in one block
    swap(chain, b, P2, 40_000, 0, 0, 9_900)
    sync(chain, b, P2, 5_040_000, 1_240_100)
    swap(chain, b, P2, 0, 7_000, 28_000, 0)
    sync(chain, b, P2, 5_012_000, 1_247_100)
    b = chain.add_block(GENESIS + 700)
    swap(chain, b, P1, 0, 50_000, 12_500, 0)
    sync(chain, b, P1, 997_500, 4_010_400)
    b = chain.add_block(GENESIS + 900)
    transfer(chain, b, P2, ZERO, E, 3)
    chain.add_block(GENESIS + 990)  # epoch 0's last block: no logs
    # ---- epoch 1 -----------------------------------------------------------------------
    b = chain.add_block(GENESIS + 1200)
    transfer(chain, b, AIMG_VAULT, V1, V2, 500)
    b = chain.add_block(GENESIS + 1300)  # two swaps and two Syncs of P1 in one block
    swap(chain, b, P1, 20_000, 0, 0, 78_000)
    sync(chain, b, P1, 1_017_500, 3_932_400)
    swap(chain, b, P1, 0, 8_000, 2_000, 0)
    sync(chain, b, P1, 1_015_500, 3_940_400)
    b = chain.add_block(GENESIS + 1400)
    swap(chain, b, P4, 10_000, 0, 0, 2_000)  # P4's only Swap; P4 never had a Sync
    b = chain.add_block(GENESIS + 1500)
    swap(chain, b, P3, 0, 2_000, 1_000, 0)  # a Swap without its Sync (no real pair does it)
    b = chain.add_block(GENESIS + 1600)
    transfer(chain, b, P1, B, C, 100)  # C (excluded) gets 100 LP
    b = chain.add_block(GENESIS + 1800)  # epoch 1's last block
    swap(chain, b, P1, 3_333, 0, 0, 12_900)
    sync(chain, b, P1, 1_018_833, 3_927_500)
    chain.add_block(GENESIS + 2000)  # closes epoch 1

    last = {max(n for n, blk in enumerate(chain.blocks) if blk["timestamp"] < end): epoch
            for epoch, end in ((0, T0), (1, T1))}

    def at_last_block(by_epoch: dict[int, int | None]):
        """An answer per epoch at that epoch's last block; any other block answers a value
        nothing below expects (so reading at another block shows)."""
        def answer(block: int) -> str | None:
            if block not in last:
                return "0x" + word(777)
            value = by_epoch[last[block]]
            return None if value is None else "0x" + word(value)
        return answer

    def address_word(a: str) -> str:
        return "0x" + word(int(a, 16))

    for pool, t0, t1 in ((P1, ATLAS_TOKEN, AIMG_TOKEN), (P2, AIMG_TOKEN, ATLAS_TOKEN),
                         (P3, ATLAS_TOKEN, USDC), (P4, AIMG_TOKEN, ATLAS_TOKEN)):
        chain.fixed_calls[(pool, TOKEN0)] = address_word(t0)
        chain.fixed_calls[(pool, TOKEN1)] = address_word(t1)
    # $AIMG vault: 5_000_000 $AIMG wei staked at epoch 0's end; totalAssets reverts in epoch 1
    chain.fixed_calls[(AIMG_VAULT, TOTAL_ASSETS)] = at_last_block({0: 5_000_000, 1: None})
    # atlas vault: 900_000 / 950_000 atlas-token wei
    chain.fixed_calls[(ATLAS_VAULT, TOTAL_ASSETS)] = at_last_block({0: 900_000, 1: 950_000})
    return chain


# ---- pool_yield, by hand ----------------------------------------------------------------
# P1 (token0 atlas, token1 $AIMG, fee 30), epoch 0 = the worked example of economics.md:
#   the pre-genesis Swap (5_000 in) counts nothing; the last Sync before S, (1_000_000,
#   4_000_000) at G-100, holds from S; the one at G-200 is replaced before S.
#   swaps 2 (G+200, G+700); volume0 10_000, volume1 50_000;
#   fees0 = floor(10_000*30/10000) = 30, fees1 = floor(50_000*30/10000) = 150.
#   reserve_seconds0 = 1_000_000*200 + 1_010_000*500 + 997_500*300 = 1_004_250_000
#   reserve_seconds1 = 4_000_000*200 + 3_960_400*500 + 4_010_400*300 = 3_983_320_000
#   twa 1_004_250 / 3_983_320; end reserves (997_500, 4_010_400).
#   price = 3_983_320 / 1_004_250; tvl = 2*3_983_320 = 7_966_640.
#   fees_aimg = 150 + floor(30*3_983_320/1_004_250) = 150 + floor(118.99..) = 268.
#   emissions 2_000: fee_apr = 268/7_966_640*31_536, emission_apr = 2_000/7_966_640*31_536.
# P1 epoch 1: opening (997_500, 4_010_400); block G+1300 has two Syncs: the first holds 0 s.
#   swaps 3; volume0 = 20_000 + 3_333 = 23_333, volume1 = 8_000;
#   fees0 = floor(23_333*30/10000) = floor(69.999) = 69, fees1 = floor(8_000*30/10000) = 24.
#   reserve_seconds0 = 997_500*300 + 1_017_500*0 + 1_015_500*500 + 1_018_833*200
#                    = 299_250_000 + 507_750_000 + 203_766_600 = 1_010_766_600
#   reserve_seconds1 = 4_010_400*300 + 3_940_400*500 + 3_927_500*200
#                    = 1_203_120_000 + 1_970_200_000 + 785_500_000 = 3_958_820_000
#   twa 1_010_766 / 3_958_820 (floor of 1_010_766.6); end (1_018_833, 3_927_500).
#   price = 3_958_820/1_010_766; tvl = 7_917_640;
#   fees_aimg = 24 + floor(69*3_958_820/1_010_766) = 24 + floor(270.25..) = 294; emissions 1_800.
# P2 (token0 $AIMG, token1 atlas, fee 25), epoch 0: no Sync before G+250 -> reserves 0.
#   swaps 2 (both at G+600); volume0 40_000, volume1 7_000;
#   fees0 = floor(40_000*25/10000) = 100, fees1 = floor(7_000*25/10000) = floor(17.5) = 17.
#   reserve_seconds0 = 0*250 + 5_000_000*350 + 5_040_000*0 + 5_012_000*400 = 3_754_800_000
#   reserve_seconds1 = 0*250 + 1_250_000*350 + 1_240_100*0 + 1_247_100*400 = 936_340_000
#   twa 3_754_800 / 936_340; end (5_012_000, 1_247_100).
#   $AIMG is token0: price = 3_754_800/936_340; tvl = 2*3_754_800 = 7_509_600.
#   fees_aimg = 100 + floor(17*3_754_800/936_340) = 100 + floor(68.17..) = 168; emissions 1_200.
# P2 epoch 1: no log at all -> swaps 0, volumes 0, fees 0; reserves carried over:
#   reserve_seconds = 5_012_000*1000, 1_247_100*1000; twa 5_012_000 / 1_247_100;
#   price = 5_012_000/1_247_100; tvl = 10_024_000; fees_aimg 0; emissions 1_080.
# P3 (token0 atlas, token1 USDC, fee 30): no $AIMG side -> price, tvl, fees_aimg, APRs NULL,
#   a note; reserves and emissions are still there.
#   epoch 0: opening (10_000, 20_000) from G-50; swaps 1, volume0 1_000 -> fees0 3; fees1 0.
#     reserve_seconds0 = 10_000*400 + 11_000*600 = 10_600_000 -> twa 10_600;
#     reserve_seconds1 = 20_000*400 + 18_200*600 = 18_920_000 -> twa 18_920; emissions 400.
#   epoch 1: swaps 1 (no Sync), volume1 2_000 -> fees1 6; reserves carried (11_000, 18_200)
#     -> reserve_seconds 11_000_000 / 18_200_000, twa 11_000 / 18_200; emissions 360.
# P4 (token0 $AIMG, token1 atlas, fee 30): never a Sync -> reserve0/1 NULL ("NULL before its
#   first Sync"), reserve_seconds 0 ("before the first Sync the reserves are 0"), twa 0,
#   price and APRs NULL with a note (no reserves over the window).
#   epoch 0: swaps 0, volumes 0, fees 0; emissions 400.
#   epoch 1: swaps 1, volume0 10_000 -> fees0 floor(10_000*30/10000) = 30; emissions 360.
#   tvl_aimg (2*0 = 0, or NULL?) and fees_aimg (30 + floor(0*0/0): undefined) are not
#   pinned down by the docs for a pool without reserves: they are not asserted.


def _pool(epoch: int, pool: str, name: str, token0: str, token1: str, fee_bps: int,
          swaps: int, volume: tuple[int, int], reserves: tuple[int | None, int | None],
          reserve_seconds: tuple[int, int], emissions: int, aimg_side: int | None,
          fees_aimg: int | None) -> dict[str, Any]:
    fees0, fees1 = (v * fee_bps // 10000 for v in volume)  # recomputed below by hand too
    twa = (reserve_seconds[0] // L, reserve_seconds[1] // L)
    row = {"epoch": epoch, "pool": pool, "pool_name": name, "agent": "atlas",
           "token0": token0, "token1": token1, "fee_bps": fee_bps, "swaps": swaps,
           "volume0": volume[0], "volume1": volume[1], "fees0": fees0, "fees1": fees1,
           "reserve0": reserves[0], "reserve1": reserves[1],
           "reserve_seconds0": reserve_seconds[0], "reserve_seconds1": reserve_seconds[1],
           "twa_reserve0": twa[0], "twa_reserve1": twa[1], "emissions": emissions,
           "fees_aimg": fees_aimg}
    if aimg_side is None:
        row.update(price_aimg=None, tvl_aimg=None, fee_apr=None, emission_apr=None,
                   total_apr=None)
    elif twa == (0, 0):  # no reserves over the window
        row.update(price_aimg=None, fee_apr=None, emission_apr=None, total_apr=None)
        del row["fees_aimg"]  # not asserted (see above); nor is tvl_aimg
    else:
        aimg, other = twa[aimg_side], twa[1 - aimg_side]
        tvl = 2 * aimg
        fee_apr = Fraction(fees_aimg, tvl) * YEAR / L
        emission_apr = Fraction(emissions, tvl) * YEAR / L
        row.update(price_aimg=Fraction(aimg, other), tvl_aimg=tvl, fee_apr=fee_apr,
                   emission_apr=emission_apr, total_apr=fee_apr + emission_apr)
    return row


POOL_YIELD = {
    (0, P1): _pool(0, P1, "atlas-aimg", ATLAS_TOKEN, AIMG_TOKEN, 30, 2, (10_000, 50_000),
                   (997_500, 4_010_400), (1_004_250_000, 3_983_320_000), 2_000, 1, 268),
    (1, P1): _pool(1, P1, "atlas-aimg", ATLAS_TOKEN, AIMG_TOKEN, 30, 3, (23_333, 8_000),
                   (1_018_833, 3_927_500), (1_010_766_600, 3_958_820_000), 1_800, 1, 294),
    (0, P2): _pool(0, P2, "aimg-atlas", AIMG_TOKEN, ATLAS_TOKEN, 25, 2, (40_000, 7_000),
                   (5_012_000, 1_247_100), (3_754_800_000, 936_340_000), 1_200, 0, 168),
    (1, P2): _pool(1, P2, "aimg-atlas", AIMG_TOKEN, ATLAS_TOKEN, 25, 0, (0, 0),
                   (5_012_000, 1_247_100), (5_012_000_000, 1_247_100_000), 1_080, 0, 0),
    (0, P3): _pool(0, P3, "atlas-usdc", ATLAS_TOKEN, USDC, 30, 1, (1_000, 0),
                   (11_000, 18_200), (10_600_000, 18_920_000), 400, None, None),
    (1, P3): _pool(1, P3, "atlas-usdc", ATLAS_TOKEN, USDC, 30, 1, (0, 2_000),
                   (11_000, 18_200), (11_000_000, 18_200_000), 360, None, None),
    (0, P4): _pool(0, P4, "aimg-atlas-v3", AIMG_TOKEN, ATLAS_TOKEN, 30, 0, (0, 0),
                   (None, None), (0, 0), 400, 0, None),
    (1, P4): _pool(1, P4, "aimg-atlas-v3", AIMG_TOKEN, ATLAS_TOKEN, 30, 1, (10_000, 0),
                   (None, None), (0, 0), 360, 0, None),
}
# the hand-worked figures written out, so the helper's arithmetic is itself checked
HAND = {  # (epoch, pool): (fees0, fees1, twa0, twa1, tvl)
    (0, P1): (30, 150, 1_004_250, 3_983_320, 7_966_640),
    (1, P1): (69, 24, 1_010_766, 3_958_820, 7_917_640),
    (0, P2): (100, 17, 3_754_800, 936_340, 7_509_600),
    (1, P2): (0, 0, 5_012_000, 1_247_100, 10_024_000),
    (0, P3): (3, 0, 10_600, 18_920, None),
    (1, P3): (0, 6, 11_000, 18_200, None),
}
for _key in ((0, P4), (1, P4)):  # fees 0 / 30 and 0; no reserves
    assert (POOL_YIELD[_key]["fees0"], POOL_YIELD[_key]["fees1"]) == ((0, 0), (30, 0))[_key[0]]
    assert (POOL_YIELD[_key]["twa_reserve0"], POOL_YIELD[_key]["twa_reserve1"]) == (0, 0)
NOTE_NULL = {(0, P1), (1, P1), (0, P2), (1, P2)}

# ---- lp_earnings, by hand (apportion: floor, leftover by largest remainder, ties by address)
# epoch 0, P1: A 300 LP * 1000 s = 300_000, B 200 LP * 500 s = 100_000; W = 400_000.
#   fees0 30: A 22.5 -> 22, B 7.5 -> 7; remainders 9_000_000 mod 400_000 = 200_000 and
#     3_000_000 mod 400_000 = 200_000: a tie, the leftover wei to A (lower address): A 23, B 7.
#   fees1 150: A 112.5, B 37.5, again a tie -> A 113, B 37.
#   emissions 2_000: A 1_500, B 500 (exact).
# epoch 0, P2: D 1000 LP * 750 s = 750_000, E 3 LP * 100 s = 300; W = 750_300.
#   fees0 100: D floor(99.96) = 99, E 0; leftover 1 -> D (rem 720_300 > 30_000): D 100, E 0.
#   fees1 17: D floor(16.993) = 16, E 0; leftover 1 -> D: D 17, E 0.
#   emissions 1_200: D 1199 rem 390_300, E 0 rem 360_000 -> D 1_200, E 0.
# epoch 0, P3: F 500 LP * 1000 = 500_000: fees 3 / 0, emissions 400.
# epoch 0, P4: H 10 LP * 900 = 9_000: no fees, emissions 400.
# epoch 1, P1: A 300_000; B 200*600 + 100*400 = 160_000; C 100*400 = 40_000; W = 500_000.
#   fees0 69: A 41.4, B 22.08, C 5.52 -> 41, 22, 5; leftover 1 -> C (0.52): A 41, B 22, C 6.
#   fees1 24: A 14.4, B 7.68, C 1.92 -> 14, 7, 1; leftover 2 -> C, B: A 14, B 8, C 2.
#   emissions 1_800 over A and B only (C excluded, W = 460_000): A 1173.9 -> 1173 rem
#     420_000, B 626.08 -> 626 rem 40_000; leftover 1 -> A: A 1_174, B 626, C 0.
# epoch 1, P2: D 1_000_000, E 3_000; no fees; emissions 1_080: D 1076.77, E 3.23 -> 1076, 3,
#   leftover to D: D 1_077, E 3.
# epoch 1, P3: F 500_000: fees 0 / 6, emissions 360.
# epoch 1, P4: H 10 * 1000 = 10_000: fees 30 / 0, emissions 360.
LP_EARNINGS = {  # (epoch, pool, account): (lp_token_seconds, fees0, fees1, emissions)
    (0, P1, A): (300_000, 23, 113, 1_500),
    (0, P1, B): (100_000, 7, 37, 500),
    (0, P2, D): (750_000, 100, 17, 1_200),
    (0, P2, E): (300, 0, 0, 0),
    (0, P3, F): (500_000, 3, 0, 400),
    (0, P4, H): (9_000, 0, 0, 400),
    (1, P1, A): (300_000, 41, 14, 1_174),
    (1, P1, B): (160_000, 22, 8, 626),
    (1, P1, C): (40_000, 6, 2, 0),
    (1, P2, D): (1_000_000, 0, 0, 1_077),
    (1, P2, E): (3_000, 0, 0, 3),
    (1, P3, F): (500_000, 0, 6, 360),
    (1, P4, H): (10_000, 30, 0, 360),
}
POOL_NAMES = {P1: "atlas-aimg", P2: "aimg-atlas", P3: "atlas-usdc", P4: "aimg-atlas-v3"}

# ---- vault_yield, by hand --------------------------------------------------------------
# $AIMG vault, epoch 0: V1 3000*1000 = 3_000_000, V2 1001*600 = 600_600 -> share_seconds
#   3_600_600, twa_shares floor(3_600.6) = 3_600; total_assets 5_000_000 (eth_call at the
#   epoch's last block); price 1; staked_aimg = total_assets; emissions 4_800;
#   emission_apr = 4_800/5_000_000*31_536.
# $AIMG vault, epoch 1: V1 3000*200 + 2500*800 = 2_600_000, V2 1001*200 + 1501*800 =
#   1_401_000 -> 4_001_000, twa 4_001; totalAssets reverts -> total_assets, staked_aimg and
#   emission_apr NULL, a note; price still 1; emissions 4_320.
# atlas vault, epoch 0: W1 700*900 = 630_000, twa 630; total_assets 900_000 atlas wei.
#   Pools paired with $AIMG: P1 tvl 7_966_640 > P2 tvl 7_509_600 (> P4: no reserves) -> P1:
#   price = 3_983_320/1_004_250; staked = floor(900_000*3_983_320/1_004_250) = 3_569_816;
#   emissions 3_200; emission_apr = 3_200/3_569_816*31_536.
# atlas vault, epoch 1: W1 700*1000 = 700_000, twa 700; total_assets 950_000.
#   P2 tvl 10_024_000 > P1 tvl 7_917_640 -> P2 ($AIMG is its token0):
#   price = 5_012_000/1_247_100; staked = floor(950_000*5_012_000/1_247_100) = 3_817_977;
#   emissions 2_880; emission_apr = 2_880/3_817_977*31_536.
VAULT_YIELD = {
    (0, AIMG_VAULT): {"vault_name": "aimg", "agent": None, "asset": AIMG_TOKEN,
                      "share_seconds": 3_600_600, "twa_shares": 3_600,
                      "total_assets": 5_000_000, "price_aimg": Fraction(1),
                      "staked_aimg": 5_000_000, "emissions": 4_800,
                      "emission_apr": Fraction(4_800, 5_000_000) * YEAR / L},
    (1, AIMG_VAULT): {"vault_name": "aimg", "agent": None, "asset": AIMG_TOKEN,
                      "share_seconds": 4_001_000, "twa_shares": 4_001,
                      "total_assets": None, "price_aimg": Fraction(1),
                      "staked_aimg": None, "emissions": 4_320, "emission_apr": None},
    (0, ATLAS_VAULT): {"vault_name": "atlas", "agent": "atlas", "asset": ATLAS_TOKEN,
                       "share_seconds": 630_000, "twa_shares": 630, "total_assets": 900_000,
                       "price_aimg": Fraction(3_983_320, 1_004_250),
                       "staked_aimg": 3_569_816, "emissions": 3_200,
                       "emission_apr": Fraction(3_200, 3_569_816) * YEAR / L},
    (1, ATLAS_VAULT): {"vault_name": "atlas", "agent": "atlas", "asset": ATLAS_TOKEN,
                       "share_seconds": 700_000, "twa_shares": 700, "total_assets": 950_000,
                       "price_aimg": Fraction(5_012_000, 1_247_100),
                       "staked_aimg": 3_817_977, "emissions": 2_880,
                       "emission_apr": Fraction(2_880, 3_817_977) * YEAR / L},
}
VAULT_NOTE_NULL = {(0, AIMG_VAULT), (0, ATLAS_VAULT), (1, ATLAS_VAULT)}

YIELD_CHECKS = {"fees_within_volume", "emissions_match_allocations", "lp_fees_shared",
                "swaps_have_syncs"}  # docs/architecture.md, stage 6


# ---- running it -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("yield")
    config_file = tmp / "aimg.toml"
    config_file.write_text(CONFIG)
    home = tmp / "home"
    patch = pytest.MonkeyPatch()
    patch.setenv("AIMG_HOME", str(home))
    patch.setenv("AIMG_CONFIG", str(config_file))
    chain = build_chain()
    try:
        with chain.serve() as server, dg.DagsterInstance.ephemeral() as instance:
            patch.setenv("AIMG_RPC_URL", server.url)
            results = materialize_epochs([0, 1], load_config(config_file), instance,
                                         log_level="WARNING")
            yield {"home": home, "results": results, "chain": chain}
    finally:
        patch.undo()


def read(home: Path, table: str, epoch: int) -> list[dict[str, Any]]:
    """One epoch's rows; big integers must be canonical decimal strings (or NULL)."""
    _, big = TABLES[table]
    rows = Warehouse(home).read(table, epoch).to_pylist()
    for row in rows:
        for column in big:
            value = row[column]
            assert value is None or (isinstance(value, str) and str(int(value)) == value), (
                table, epoch, column, value)
            row[column] = None if value is None else int(value)
    return rows


def compare(label: str, got: dict[str, Any], want: dict[str, Any], problems: list[str]) -> None:
    for column, expected in want.items():
        actual = got.get(column, "<missing column>")
        if isinstance(expected, Fraction):
            ok = (isinstance(actual, float) and math.isfinite(actual)
                  and abs(Fraction(actual) - expected) <= abs(expected) * Fraction(1, 10**12))
            shown = f"{float(expected)!r} (= {expected})"
        else:
            ok = actual == expected and type(actual) is type(expected)
            shown = repr(expected)
        if not ok:
            problems.append(f"{label} {column}: expected {shown}, got {actual!r}")


def test_runs_succeed(run) -> None:
    assert [r.success for r in run["results"]] == [True, True]


def test_hand_figures_agree_with_the_expected_rows() -> None:
    """The comment arithmetic and the rows built from it say the same (oracle self-check)."""
    for key, (fees0, fees1, twa0, twa1, tvl) in HAND.items():
        row = POOL_YIELD[key]
        assert (row["fees0"], row["fees1"], row["twa_reserve0"], row["twa_reserve1"],
                row["tvl_aimg"]) == (fees0, fees1, twa0, twa1, tvl)
    # the documented worked example: price 3.96646.., fee_apr 1.06088.., emission_apr 7.91701..
    p1 = POOL_YIELD[(0, P1)]
    assert f"{float(p1['price_aimg']):.5f}" == "3.96646"
    assert f"{float(p1['fee_apr']):.5f}" == "1.06088"
    assert f"{float(p1['emission_apr']):.5f}" == "7.91701"
    assert f"{float(p1['total_apr']):.5f}" == "8.97789"
    assert 268 == 150 + 30 * 3_983_320 // 1_004_250
    assert 294 == 24 + 69 * 3_958_820 // 1_010_766
    assert 168 == 100 + 17 * 3_754_800 // 936_340
    assert 3_569_816 == 900_000 * 3_983_320 // 1_004_250
    assert 3_817_977 == 950_000 * 5_012_000 // 1_247_100


def test_pool_yield_matches_the_hand_worked_rows(run) -> None:
    problems: list[str] = []
    for epoch in (0, 1):
        rows = read(run["home"], "pool_yield", epoch)
        by_pool = {r["pool"]: r for r in rows}
        assert sorted(by_pool) == sorted([P1, P2, P3, P4]) and len(rows) == 4, rows
        for pool in (P1, P2, P3, P4):
            got = by_pool[pool]
            compare(f"pool_yield[{epoch}, {POOL_NAMES[pool]}]", got, POOL_YIELD[(epoch, pool)],
                    problems)
            note = got.get("note")
            if (epoch, pool) in NOTE_NULL:
                if note is not None:
                    problems.append(f"pool_yield[{epoch}, {POOL_NAMES[pool]}] note: expected "
                                    f"NULL, got {note!r}")
            elif not (isinstance(note, str)
                      and ("aimg" if pool == P3 else "reserve") in note.lower()):
                problems.append(f"pool_yield[{epoch}, {POOL_NAMES[pool]}] note: expected a "
                                f"note saying why (not paired with $AIMG / no reserves), got "
                                f"{note!r}")
    assert not problems, "\n".join(problems)


def test_price_is_the_ratio_of_average_reserves_not_the_average_spot_price(run) -> None:
    """P1, epoch 0: the documented price twa1/twa0 = 3_983_320/1_004_250 = 3.966462..; the
    time-weighted mean of the spot price reserve1/reserve0 is
    (4*200 + 3_960_400/1_010_000*500 + 4_010_400/997_500*300) / 1000 = 3.966729..; the plain
    mean of the spot prices of the window's states is 3.980548..: the three differ by far
    more than 1e-12."""
    documented = Fraction(3_983_320, 1_004_250)
    spot_weighted = (Fraction(4_000_000, 1_000_000) * 200 + Fraction(3_960_400, 1_010_000) * 500
                     + Fraction(4_010_400, 997_500) * 300) / 1000
    spot_plain = (Fraction(4_000_000, 1_000_000) + Fraction(3_960_400, 1_010_000)
                  + Fraction(4_010_400, 997_500)) / 3
    got = next(r for r in read(run["home"], "pool_yield", 0) if r["pool"] == P1)["price_aimg"]
    assert got is not None
    assert abs(Fraction(got) - documented) <= documented / 10**12, (got, float(documented))
    for other in (spot_weighted, spot_plain):
        assert abs(Fraction(got) - other) > other / 10**6, (got, float(other))


def test_lp_earnings_match_and_share_the_fees_exactly(run) -> None:
    problems: list[str] = []
    for epoch in (0, 1):
        rows = read(run["home"], "lp_earnings", epoch)
        got = {(r["epoch"], r["pool"], r["account"]): r for r in rows}
        want = {k: v for k, v in LP_EARNINGS.items() if k[0] == epoch}
        if sorted(got) != sorted(want) or len(rows) != len(want):
            problems.append(f"lp_earnings[{epoch}] rows: expected {sorted(want)}, got "
                            f"{sorted(got)} ({len(rows)} rows)")
        for key, (seconds, fees0, fees1, emissions) in want.items():
            if key in got:
                compare(f"lp_earnings[{epoch}, {POOL_NAMES[key[1]]}, {key[2][:6]}]", got[key],
                        {"pool_name": POOL_NAMES[key[1]], "lp_token_seconds": seconds,
                         "fees0": fees0, "fees1": fees1, "emissions": emissions}, problems)
        pools = {r["pool"]: r for r in read(run["home"], "pool_yield", epoch)}
        for pool, py in pools.items():
            for side in ("fees0", "fees1"):
                shared = sum(r[side] for r in rows if r["pool"] == pool)
                if shared != py[side]:
                    problems.append(f"lp_earnings[{epoch}, {POOL_NAMES.get(pool, pool)}] sum "
                                    f"{side} {shared} != pool_yield {py[side]}")
    assert not problems, "\n".join(problems)


def test_vault_yield_matches_the_hand_worked_rows(run) -> None:
    problems: list[str] = []
    for epoch in (0, 1):
        rows = read(run["home"], "vault_yield", epoch)
        by_vault = {r["vault"]: r for r in rows}
        assert sorted(by_vault) == sorted([AIMG_VAULT, ATLAS_VAULT]) and len(rows) == 2, rows
        for vault in (AIMG_VAULT, ATLAS_VAULT):
            label = f"vault_yield[{epoch}, {by_vault[vault].get('vault_name')}]"
            compare(label, by_vault[vault], {"epoch": epoch, **VAULT_YIELD[(epoch, vault)]},
                    problems)
            note = by_vault[vault].get("note")
            if (epoch, vault) in VAULT_NOTE_NULL:
                if note is not None:
                    problems.append(f"{label} note: expected NULL, got {note!r}")
            elif not (isinstance(note, str) and "totalassets" in note.lower()):
                problems.append(f"{label} note: expected one naming totalAssets, got {note!r}")
    assert not problems, "\n".join(problems)


def test_emissions_are_the_earned_allocations(run) -> None:
    """The hand-derived emissions agree with the pipeline's own allocations table too."""
    con = analytics_connect(run["home"])
    rows = con.execute(
        "SELECT epoch, channel, pool, sum(amount::BIGNUM)::VARCHAR FROM allocations "
        "WHERE reason = 'earned' AND channel IN ('staking', 'liquidity') "
        "GROUP BY ALL ORDER BY ALL").fetchall()
    assert rows == sorted([
        (0, "liquidity", P1, "2000"), (0, "liquidity", P2, "1200"), (0, "liquidity", P3, "400"),
        (0, "liquidity", P4, "400"),
        (0, "staking", AIMG_VAULT, "4800"), (0, "staking", ATLAS_VAULT, "3200"),
        (1, "liquidity", P1, "1800"), (1, "liquidity", P2, "1080"), (1, "liquidity", P3, "360"),
        (1, "liquidity", P4, "360"),
        (1, "staking", AIMG_VAULT, "4320"), (1, "staking", ATLAS_VAULT, "2880")])


def test_views_and_decoded_pool_events(run) -> None:
    con = analytics_connect(run["home"])
    assert con.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
    assert con.execute("SELECT epoch, count(*) FROM pool_yield GROUP BY 1 ORDER BY 1"
                       ).fetchall() == [(0, 4), (1, 4)]
    assert con.execute("SELECT epoch, count(*) FROM vault_yield GROUP BY 1 ORDER BY 1"
                       ).fetchall() == [(0, 2), (1, 2)]
    assert con.execute("SELECT epoch, count(*) FROM lp_earnings GROUP BY 1 ORDER BY 1"
                       ).fetchall() == [(0, 6), (1, 7)]
    # exact through the views: per pool and epoch, the LP fee shares sum to the pool's fees
    assert con.execute(
        "SELECT count(*) FROM pool_yield p LEFT JOIN (SELECT epoch, pool, "
        "sum(fees0::BIGNUM) AS f0, sum(fees1::BIGNUM) AS f1 FROM lp_earnings GROUP BY ALL) l "
        "USING (epoch, pool) WHERE p.fees0::BIGNUM <> coalesce(l.f0, 0) "
        "OR p.fees1::BIGNUM <> coalesce(l.f1, 0)").fetchone() == (0,)
    assert con.execute(
        "SELECT sum(fees_aimg::BIGNUM)::VARCHAR FROM pool_yield WHERE pool IN (?, ?)",
        [P1, P2]).fetchone() == (str(268 + 294 + 168 + 0),)
    # the in-window Swaps, decoded as logged (the pre-genesis one counts in no window)
    want_swaps = {
        0: [(P1, S0 + 200, 10_000, 0, 0, 39_600), (P1, S0 + 700, 0, 50_000, 12_500, 0),
            (P2, S0 + 600, 40_000, 0, 0, 9_900), (P2, S0 + 600, 0, 7_000, 28_000, 0),
            (P3, S0 + 400, 1_000, 0, 0, 1_800)],
        1: [(P1, S1 + 300, 20_000, 0, 0, 78_000), (P1, S1 + 300, 0, 8_000, 2_000, 0),
            (P1, S1 + 800, 3_333, 0, 0, 12_900), (P3, S1 + 500, 0, 2_000, 1_000, 0),
            (P4, S1 + 400, 10_000, 0, 0, 2_000)],
    }
    want_syncs = {
        0: [(P1, S0 + 200, 1_010_000, 3_960_400), (P1, S0 + 700, 997_500, 4_010_400),
            (P2, S0 + 250, 5_000_000, 1_250_000), (P2, S0 + 600, 5_040_000, 1_240_100),
            (P2, S0 + 600, 5_012_000, 1_247_100), (P3, S0 + 400, 11_000, 18_200)],
        1: [(P1, S1 + 300, 1_017_500, 3_932_400), (P1, S1 + 300, 1_015_500, 3_940_400),
            (P1, S1 + 800, 1_018_833, 3_927_500)],
    }
    for epoch, (start, end) in ((0, (S0, T0)), (1, (S1, T1))):
        swaps = [r for r in read(run["home"], "swaps", epoch)
                 if start <= r["block_timestamp"] < end]
        assert sorted((r["pool"], r["block_timestamp"], r["amount0_in"], r["amount1_in"],
                       r["amount0_out"], r["amount1_out"]) for r in swaps
                      ) == sorted(want_swaps[epoch])
        assert {(r["sender"], r["recipient"]) for r in swaps} == {(ROUTER, TRADER)}
        syncs = [r for r in read(run["home"], "syncs", epoch)
                 if start <= r["block_timestamp"] < end]
        assert sorted((r["pool"], r["block_timestamp"], r["reserve0"], r["reserve1"])
                      for r in syncs) == sorted(want_syncs[epoch])


def test_yield_checks(run) -> None:
    """Epoch 0: every check of the yield group passes. Epoch 1: P4 has a Swap and never had
    a Sync, so `swaps_have_syncs`, a WARN check, fails (the run still succeeds) and names
    it; the others pass. Whether P3's Swap (no Sync of its own in epoch 1, but reserves
    carried from epoch 0) must be named too is not said by the docs (only the check's name
    is), so it is not asserted either way."""
    for epoch, result in enumerate(run["results"]):
        evaluations = [c for c in result.get_asset_check_evaluations()
                       if c.asset_key.path[0] == "yield"]
        names = {c.check_name for c in evaluations}
        assert names >= YIELD_CHECKS, (epoch, sorted(names))
        failed = [(c.check_name, c.severity) for c in evaluations if not c.passed]
        if epoch == 0:
            assert failed == [], failed
        else:
            assert failed == [("swaps_have_syncs", dg.AssetCheckSeverity.WARN)], failed
            warning = next(c for c in evaluations if not c.passed)
            said = " ".join([str(warning.description or "")]
                            + [str(v.value) for v in warning.metadata.values()]).lower()
            assert P4 in said or "aimg-atlas-v3" in said, said
