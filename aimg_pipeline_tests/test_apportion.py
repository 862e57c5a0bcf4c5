"""Largest-remainder apportionment (SPEC 6.1)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aimg_pipeline.lib.apportion import apportion


def test_hand_example_with_leftover() -> None:
    # total 10, weights a=1, b=1, c=1 (W=3)
    # q = 10*1//3 = 3 each (sum 9), remainders 10 mod 3 = 1 each -> 1 leftover wei, all tied
    # tie broken by key ascending -> "a"
    assert apportion(10, {"c": 1, "b": 1, "a": 1}) == {"c": 3, "b": 3, "a": 4}


def test_largest_remainder_wins() -> None:
    # total 100, weights x=2, y=3, z=4 (W=9)
    # x: 200 = 22*9 + 2 ; y: 300 = 33*9 + 3 ; z: 400 = 44*9 + 4
    # q sum = 99 -> 1 leftover -> largest remainder z (4)
    assert apportion(100, {"x": 2, "y": 3, "z": 4}) == {"x": 22, "y": 33, "z": 45}


def test_two_leftovers_with_tie_at_cutoff() -> None:
    # total 5, weights a=1,b=1,c=1,d=1,e=1,f=1,g=1 (W=7): q = 5//7 = 0 each, rem 5 each
    # 5 leftover wei -> first five keys ascending: a..e
    w = {k: 1 for k in "gfedcba"}
    assert apportion(5, w) == {"g": 0, "f": 0, "e": 1, "d": 1, "c": 1, "b": 1, "a": 1}


def test_mixed_remainders_and_tie_by_key() -> None:
    # total 7, weights p=3, q=3, r=1, s=2 (W=9)
    # p: 21 = 2*9 + 3 ; q: 21 = 2*9 + 3 ; r: 7 = 0*9 + 7 ; s: 14 = 1*9 + 5
    # q-sum 2+2+0+1 = 5 -> 2 leftover -> r (7), s (5); p and q (3) get nothing extra
    assert apportion(7, {"p": 3, "q": 3, "r": 1, "s": 2}) == {"p": 2, "q": 2, "r": 1, "s": 2}
    # total 8: p: 24 = 2*9+6; q: 24 = 2*9+6; r: 8 = 0*9+8; s: 16 = 1*9+7
    # q-sum 5 -> 3 leftover -> r(8), s(7), then one of the tied p/q (6): key ascending -> p
    assert apportion(8, {"q": 3, "p": 3, "r": 1, "s": 2}) == {"q": 2, "p": 3, "r": 1, "s": 2}


def test_tie_broken_by_order() -> None:
    # same as test_hand_example_with_leftover, but order says c first -> c gets the wei
    w = {"a": 1, "b": 1, "c": 1}
    assert apportion(10, w, order=["c", "a", "b"]) == {"a": 3, "b": 3, "c": 4}
    # channel-like: order is the table order, not alphabetical
    channels = ("staking", "governance", "subdao", "liquidity", "contribution")
    # total 3, five equal weights 2000 (W=10000): q = 6000//10000 = 0, rem 6000 each
    # 3 leftover -> first three in table order
    got = apportion(3, dict.fromkeys(channels, 2000), order=channels)
    assert got == {"staking": 1, "governance": 1, "subdao": 1, "liquidity": 0, "contribution": 0}
    # alphabetical would have picked contribution, governance, liquidity instead
    assert apportion(3, dict.fromkeys(channels, 2000)) == {
        "staking": 0,
        "governance": 1,
        "subdao": 0,
        "liquidity": 1,
        "contribution": 1,
    }


def test_order_must_cover_keys() -> None:
    with pytest.raises(ValueError):
        apportion(10, {"a": 1, "b": 1}, order=["a"])
    with pytest.raises(ValueError):
        apportion(10, {"a": 1}, order=["a", "a"])
    # extra order entries are ignored
    assert apportion(10, {"a": 1}, order=["z", "a"]) == {"a": 10}


def test_zero_weights_get_zero_and_appear() -> None:
    # total 10, a=0, b=1, c=2 (W=3): b: 10 = 3*3+1; c: 20 = 6*3+2 -> q-sum 9 -> 1 leftover to c
    assert apportion(10, {"a": 0, "b": 1, "c": 2}) == {"a": 0, "b": 3, "c": 7}


def test_zero_total() -> None:
    assert apportion(0, {"a": 5, "b": 0}) == {"a": 0, "b": 0}


def test_huge_values() -> None:
    total = 2**128 - 1
    # weights a = 2**150, b = 2**150, c = 2**151 (W = 2**152): a gets total*2**150/2**152
    # = total/4: (2**128 - 1)//4 = 2**126 - 1 rem 3 (in units: total*w mod W = 3 * 2**150)
    # b likewise; c: total/2 = 2**127 - 1 rem 1 (i.e. 2**151 mod 2**152 = 2**151)
    # q-sum = 2*(2**126 - 1) + 2**127 - 1 = 2**128 - 3 -> 2 leftover
    # remainders: a = 3*2**150, b = 3*2**150, c = 2**151 = 2*2**150 -> a and b get one each
    got = apportion(total, {"a": 2**150, "b": 2**150, "c": 2**151})
    assert got == {"a": 2**126, "b": 2**126, "c": 2**127 - 1}
    assert sum(got.values()) == total


def test_huge_odd_weights_exact() -> None:
    total = 2**128 - 1
    # single non-zero weight takes everything regardless of size
    assert apportion(total, {"a": 2**150 + 12345, "b": 0}) == {"a": total, "b": 0}


@pytest.mark.parametrize(
    "weights",
    [{"a": -1, "b": 2}, {"a": 1.0}, {"a": True}, {"a": "1"}, {}, {"a": 0, "b": 0}],
)
def test_bad_weights(weights: dict) -> None:
    with pytest.raises(ValueError):
        apportion(10, weights)


@pytest.mark.parametrize("total", [-1, 1.0, True, "10", None])
def test_bad_total(total: object) -> None:
    with pytest.raises(ValueError):
        apportion(total, {"a": 1})  # type: ignore[arg-type]


@given(
    total=st.integers(min_value=0, max_value=2**128 - 1),
    weights=st.dictionaries(
        st.text(alphabet="0123456789abcdef", min_size=1, max_size=6),
        st.integers(min_value=0, max_value=2**160),
        min_size=1,
        max_size=40,
    ).filter(lambda w: sum(w.values()) > 0),
)
def test_property_sum_and_bounds(total: int, weights: dict[str, int]) -> None:
    got = apportion(total, weights)
    assert sum(got.values()) == total
    assert list(got) == list(weights)
    W = sum(weights.values())
    for k, w in weights.items():
        q = total * w // W
        # each part is the floor or floor + 1; zero weight -> zero
        assert got[k] in (q, q + 1)
        if w == 0:
            assert got[k] == 0


@given(
    total=st.integers(min_value=0, max_value=10**6),
    weights=st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=12),
)
def test_property_largest_remainders_win(total: int, weights: list[int]) -> None:
    # compare against a direct reading of the rule: sort by (-remainder, key)
    w = {f"k{i:02d}": x for i, x in enumerate(weights)}
    W = sum(weights)
    rem = {k: total * x % W for k, x in w.items()}
    leftover = total - sum(total * x // W for x in w.values())
    winners = set(sorted(w, key=lambda k: (-rem[k], k))[:leftover])
    got = apportion(total, w)
    for k, x in w.items():
        assert got[k] == total * x // W + (1 if k in winners else 0)
