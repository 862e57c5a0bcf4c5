"""The yield figures' arithmetic (docs/economics.md, "Yield"): exact integers for amounts,
floats only for the display ratios (prices, APRs), each computed from exact integers once.
"""

from __future__ import annotations

from fractions import Fraction

SECONDS_PER_YEAR = 365 * 86_400
LIMB = 2**64  # SQL sums big products as 64-bit limbs in HUGEINT; Python recombines them


def from_limbs(low: str | int, high: str | int) -> int:
    """``high × 2^64 + low``: an exact sum that SQL computed per 64-bit limb."""
    return int(high) * LIMB + int(low)


def fee(volume: int, fee_bps: int) -> int:
    """A pool's fee on ``volume``: ``floor(volume × fee_bps / 10000)``."""
    return volume * fee_bps // 10_000


def in_aimg(amount: int, aimg_reserve: int, other_reserve: int) -> int:
    """``amount`` of the other token valued in $AIMG wei at the reserves' ratio (floor)."""
    return amount * aimg_reserve // other_reserve


def ratio(numerator: int, denominator: int) -> float:
    """An exact ratio as the nearest float (a price)."""
    return float(Fraction(numerator, denominator))


def apr(value: int, base: int, seconds: int) -> float:
    """``value / base`` over ``seconds``, annualized: ``value / base × 365 days / seconds``.

    Rounded once, from the exact fraction, so tests can compare to 1e-12 relative.
    """
    return float(Fraction(value * SECONDS_PER_YEAR, base * seconds))
