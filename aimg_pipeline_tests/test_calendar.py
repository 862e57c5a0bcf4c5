"""Epoch calendar: half-open windows, partition keys and their strict inverse."""

import pytest

from aimg_pipeline.lib.calendar import EpochCalendar, EpochWindow

GENESIS = 1767225600  # 2026-01-01T00:00:00Z
DAY = 86400


@pytest.fixture
def cal() -> EpochCalendar:
    return EpochCalendar(GENESIS, DAY)


def test_windows(cal: EpochCalendar) -> None:
    # epoch 0: [G, G + 86400)
    assert cal.window(0) == EpochWindow(0, 1767225600, 1767312000)
    # epoch 3: start = G + 3*86400 = 1767225600 + 259200 = 1767484800; end = +86400
    w = cal.window(3)
    assert (w.start, w.end, w.length) == (1767484800, 1767571200, 86400)
    assert w.describe() == "epoch 3: 2026-01-04T00:00:00Z \u2192 2026-01-05T00:00:00Z (UTC)"


def test_window_rejects_negative_and_non_int(cal: EpochCalendar) -> None:
    with pytest.raises(ValueError):
        cal.window(-1)
    with pytest.raises(TypeError):
        cal.window(True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("genesis", "seconds", "exc"),
    [
        (0, 0, ValueError),
        (0, -5, ValueError),
        (0.0, 10, TypeError),
        (0, 10.0, TypeError),
        (0, True, TypeError),
    ],
)
def test_constructor_validates(genesis: object, seconds: object, exc: type) -> None:
    with pytest.raises(exc):
        EpochCalendar(genesis, seconds)  # type: ignore[arg-type]


def test_closed_through(cal: EpochCalendar) -> None:
    assert cal.closed_through(0) == 0
    assert cal.closed_through(GENESIS) == 0  # epoch 0 is open at its start
    assert cal.closed_through(GENESIS + DAY - 1) == 0  # end 1767312000 > ts
    assert cal.closed_through(GENESIS + DAY) == 1  # epoch 0 end == ts -> closed
    assert cal.closed_through(GENESIS + 3 * DAY + 1) == 3  # epochs 0, 1, 2 closed


def test_partition_keys(cal: EpochCalendar) -> None:
    assert cal.partition_key(0) == "00000_2026-01-01T00:00Z"
    assert cal.partition_key(3) == "00003_2026-01-04T00:00Z"
    # epoch 31 starts 31 days after 2026-01-01 -> 2026-02-01
    assert cal.partition_key(31) == "00031_2026-02-01T00:00Z"
    with pytest.raises(ValueError):
        cal.partition_key(100000)  # does not fit 5 digits


def test_keys_sort_in_epoch_order() -> None:
    # hourly epochs starting at 23:00 so the HH:MM part wraps around while epochs grow
    cal = EpochCalendar(GENESIS - 3600, 3600)
    epochs = [0, 1, 2, 9, 10, 11, 99, 100, 1000, 99999]
    keys = [cal.partition_key(e) for e in epochs]
    assert sorted(keys) == keys
    assert sorted(reversed(keys)) == keys


def test_key_round_trip(cal: EpochCalendar) -> None:
    for e in (0, 1, 3, 365, 99999):
        assert cal.epoch_of_key(cal.partition_key(e)) == e


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "00003",
        "00003_2026-01-05T00:00Z",  # wrong date for epoch 3 (that is epoch 4's start)
        "00003_2026-01-04T00:01Z",  # wrong minute
        "3_2026-01-04T00:00Z",  # not zero-padded
        "000003_2026-01-04T00:00Z",  # six digits
        "00003_2026-01-04T00:00Z/../../etc",
        "00003_2026-01-04T00:00Z\n",
        "",
        "-0003_2026-01-04T00:00Z",
    ],
)
def test_key_rejects_malformed(cal: EpochCalendar, key: str) -> None:
    with pytest.raises(ValueError) as err:
        cal.epoch_of_key(key)
    assert repr(key) in str(err.value)  # the message names the key


def test_key_from_other_calendar_rejected(cal: EpochCalendar) -> None:
    other = EpochCalendar(GENESIS + 60, DAY)
    with pytest.raises(ValueError):
        cal.epoch_of_key(other.partition_key(2))
