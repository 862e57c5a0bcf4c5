"""Epoch calendar: maps epochs to half-open UTC windows and to Dagster partition keys.

Epoch ``e`` is ``[genesis + e*L, genesis + (e+1)*L)`` (SPEC section 3). Everything is
integer unix seconds so the mapping is exact and timezone-free; only the human-facing
strings (``describe`` and partition keys) are rendered, always in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from aimg_pipeline.lib.integers import is_int

#: Partition keys zero-pad the epoch to this many digits so they sort lexicographically
#: in epoch order; the calendar refuses epochs that would not fit.
KEY_DIGITS = 5
MAX_KEYED_EPOCH = 10**KEY_DIGITS - 1

_KEY_RE = re.compile(r"\A([0-9]{5})_[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}Z\Z")


def _require_int(name: str, value: object) -> int:
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    return value


def _iso(ts: int, fmt: str) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime(fmt)


def utc_text(ts: int) -> str:
    """Unix seconds as ``YYYY-MM-DDTHH:MM:SSZ``: how every message and file names a time."""
    return _iso(ts, "%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class EpochWindow:
    """One epoch's half-open window ``[start, end)`` in unix seconds."""

    epoch: int
    start: int
    end: int

    @property
    def length(self) -> int:
        """Window length in seconds (``epoch_seconds``)."""
        return self.end - self.start

    def describe(self) -> str:
        """Human-readable window, e.g. for the Dagster UI and error messages."""
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return f"epoch {self.epoch}: {_iso(self.start, fmt)} \u2192 {_iso(self.end, fmt)} (UTC)"


class EpochCalendar:
    """Fixed-length epochs from ``genesis``; both are immutable for a deployment."""

    def __init__(self, genesis: int, epoch_seconds: int) -> None:
        self.genesis = _require_int("genesis", genesis)
        self.epoch_seconds = _require_int("epoch_seconds", epoch_seconds)
        if self.epoch_seconds <= 0:
            raise ValueError(f"epoch_seconds must be > 0, got {epoch_seconds}")

    def __repr__(self) -> str:
        return f"EpochCalendar(genesis={self.genesis}, epoch_seconds={self.epoch_seconds})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EpochCalendar):
            return NotImplemented
        return (self.genesis, self.epoch_seconds) == (other.genesis, other.epoch_seconds)

    def __hash__(self) -> int:
        return hash((self.genesis, self.epoch_seconds))

    def window(self, epoch: int) -> EpochWindow:
        """The ``[start, end)`` window of ``epoch`` (ValueError for negative epochs)."""
        _require_int("epoch", epoch)
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        start = self.genesis + epoch * self.epoch_seconds
        return EpochWindow(epoch=epoch, start=start, end=start + self.epoch_seconds)

    def closed_through(self, timestamp: int) -> int:
        """Number of epochs whose ``end <= timestamp``, i.e. epochs ``0..n-1`` are closed.

        Used with the finalized block's timestamp to decide which epochs may be computed.
        """
        _require_int("timestamp", timestamp)
        if timestamp < self.genesis:
            return 0
        return (timestamp - self.genesis) // self.epoch_seconds

    def partition_key(self, epoch: int) -> str:
        """Dagster partition key, e.g. ``"00003_2026-01-04T00:00Z"``.

        The zero-padded epoch number comes first so lexicographic order == epoch order;
        the UTC start is there so the UI shows when the epoch is.
        """
        window = self.window(epoch)
        if epoch > MAX_KEYED_EPOCH:
            raise ValueError(f"epoch {epoch} does not fit a {KEY_DIGITS}-digit partition key")
        return f"{epoch:0{KEY_DIGITS}d}_{_iso(window.start, '%Y-%m-%dT%H:%MZ')}"

    def epoch_of_key(self, key: str) -> int:
        """Strict inverse of :meth:`partition_key`.

        Keys end up in file paths, so anything that is not exactly a key this calendar
        would produce (wrong date, ``../x``, missing parts) is rejected.
        """
        if not isinstance(key, str):
            raise ValueError(f"invalid partition key {key!r}: not a string")
        match = _KEY_RE.match(key)
        if match is None:
            raise ValueError(f"invalid partition key {key!r}: expected 'NNNNN_YYYY-MM-DDTHH:MMZ'")
        epoch = int(match.group(1))
        expected = self.partition_key(epoch)
        if expected != key:
            raise ValueError(
                f"invalid partition key {key!r}: epoch {epoch} of this calendar is {expected!r}"
            )
        return epoch
