"""Emission schedule (SPEC section 5), pure integer arithmetic.

``E(0) = initial_emission``;
``E(e) = max(tail_emission, floor(E(e-1) * (10000 - decay_bps) / 10000))`` where
``decay_bps``/``tail_emission`` come from the policy version in force at ``e``; an optional
``max_total_emission`` caps the cumulative sum.
"""

from __future__ import annotations

from collections.abc import Callable

from aimg_pipeline.lib.integers import is_int

BPS = 10_000

#: ``curve_at(e) -> (decay_bps, tail_emission)`` of the policy version in force at epoch e.
CurveAt = Callable[[int], tuple[int, int]]


def _check_int(name: str, value: object, minimum: int = 0) -> int:
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def emission_schedule(
    initial_emission: int,
    curve_at: CurveAt,
    through_epoch: int,
    max_total_emission: int | None = None,
) -> list[int]:
    """Return ``[E(0), ..., E(through_epoch)]`` in wei.

    The decay recurrence runs on the *uncapped* curve ``U``: ``U(0) = initial_emission``,
    ``U(e) = max(tail, U(e-1) * (10000 - decay_bps) // 10000)`` with the curve parameters
    in force at ``e``. A policy change therefore alters the curve from its epoch on and
    never re-bases earlier epochs. The cap is applied on top: ``E(e) = min(U(e), left)``
    where ``left = max_total_emission - sum(E(0..e-1))``; once the cap is reached every
    later epoch emits 0. (Whether the recurrence used the capped value would only matter
    after a cut, and after a cut everything is 0 anyway.) A cap below ``initial_emission``
    cuts ``E(0)`` itself to the cap.

    The whole history is recomputed from epoch 0 on every call on purpose: it is cheap
    (one multiply/divide per epoch) and means an epoch's emission can never depend on
    what was computed or stored before.
    """
    _check_int("initial_emission", initial_emission)
    _check_int("through_epoch", through_epoch)
    if max_total_emission is not None:
        _check_int("max_total_emission", max_total_emission)

    out: list[int] = []
    uncapped = initial_emission
    left = max_total_emission
    for epoch in range(through_epoch + 1):
        if epoch > 0:
            decay_bps, tail = curve_at(epoch)
            _check_int(f"decay_bps at epoch {epoch}", decay_bps)
            _check_int(f"tail_emission at epoch {epoch}", tail)
            if decay_bps > BPS:
                raise ValueError(f"decay_bps at epoch {epoch} must be <= {BPS}, got {decay_bps}")
            uncapped = max(tail, uncapped * (BPS - decay_bps) // BPS)
        amount = uncapped
        if left is not None:
            amount = min(amount, left)
            left -= amount
        out.append(amount)
    return out
