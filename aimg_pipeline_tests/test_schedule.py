"""Emission schedule (SPEC 5); every expectation is computed by hand in the comments."""

import pytest

from aimg_pipeline.lib.schedule import emission_schedule


def flat(decay_bps: int, tail: int):
    return lambda e: (decay_bps, tail)


def test_decay_curve() -> None:
    # 10% decay (1000 bps), no tail:
    # E0 = 1000; E1 = 1000*9000//10000 = 900; E2 = 900*0.9 = 810; E3 = 810*0.9 = 729
    # E4 = 729*9000//10000 = 6561000//10000 = 656 (floor of 656.1)
    # E5 = 656*9000//10000 = 5904000//10000 = 590 (floor of 590.4)
    assert emission_schedule(1000, flat(1000, 0), 5) == [1000, 900, 810, 729, 656, 590]


def test_floor_is_integer_floor_on_huge_amounts() -> None:
    # E0 = 10**24 + 1 ; E1 = (10**24 + 1) * 9500 // 10000
    #   = (9500 * 10**24 + 9500) // 10000 = 95 * 10**22 + 0 (9500//10000 = 0)
    assert emission_schedule(10**24 + 1, flat(500, 0), 1) == [10**24 + 1, 95 * 10**22]


def test_tail_floor() -> None:
    # 50% decay, tail 300: E0 = 1000; E1 = max(300, 500) = 500; E2 = max(300, 250) = 300;
    # E3 = max(300, 150) = 300; stays at the tail.
    assert emission_schedule(1000, flat(5000, 300), 4) == [1000, 500, 300, 300, 300]


def test_policy_change_mid_curve_no_rebase() -> None:
    # epochs 0..2 use 10% decay; from epoch 3 on: 50% decay, tail 100.
    # E0 = 1000, E1 = 900, E2 = 810 (unchanged by the later version)
    # E3 = max(100, 810*5000//10000 = 405) = 405; E4 = max(100, 202) = 202
    # E5 = max(100, 101) = 101; E6 = max(100, 50) = 100
    def curve(e: int) -> tuple[int, int]:
        return (1000, 0) if e < 3 else (5000, 100)

    assert emission_schedule(1000, curve, 6) == [1000, 900, 810, 405, 202, 101, 100]


def test_curve_not_consulted_for_epoch_zero() -> None:
    seen: list[int] = []

    def curve(e: int) -> tuple[int, int]:
        seen.append(e)
        return (0, 0)

    assert emission_schedule(7, curve, 2) == [7, 7, 7]
    assert seen == [1, 2]


def test_cap_cuts_an_epoch_exactly_and_zeros_after() -> None:
    # uncapped: 1000, 900, 810, 729; cumulative 1000, 1900, 2710, 3439
    # cap 2500: E2 would bring the total to 2710 > 2500 -> cut to 2500 - 1900 = 600; then 0
    assert emission_schedule(1000, flat(1000, 0), 4, 2500) == [1000, 900, 600, 0, 0]
    # cap exactly at a cumulative boundary (1900): E1 fully paid, E2.. = 0
    assert emission_schedule(1000, flat(1000, 0), 3, 1900) == [1000, 900, 0, 0]
    # cap never reached: unchanged
    assert emission_schedule(1000, flat(1000, 0), 2, 10**6) == [1000, 900, 810]


def test_cap_with_tail_keeps_emitting_until_cap() -> None:
    # no decay, tail irrelevant: 100 per epoch, cap 250 -> 100, 100, 50, 0
    assert emission_schedule(100, flat(0, 100), 3, 250) == [100, 100, 50, 0]


def test_cap_below_initial_emission() -> None:
    # E0 = 1000 > cap 300 -> E0 cut to 300, everything after 0
    assert emission_schedule(1000, flat(1000, 0), 2, 300) == [300, 0, 0]
    assert emission_schedule(1000, flat(1000, 0), 1, 0) == [0, 0]


def test_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError):
        emission_schedule(-1, flat(0, 0), 1)
    with pytest.raises(ValueError):
        emission_schedule(1, flat(0, 0), -1)
    with pytest.raises(TypeError):
        emission_schedule(1.0, flat(0, 0), 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        emission_schedule(1, flat(10001, 0), 1)
    with pytest.raises(TypeError):
        emission_schedule(1, flat(True, 0), 1)  # type: ignore[arg-type]
