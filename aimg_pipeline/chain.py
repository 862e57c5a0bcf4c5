"""The chain client: everything the pipeline reads from a JSON-RPC endpoint.

It speaks raw JSON-RPC through web3.py's ``HTTPProvider`` (so any node or provider works) and
keeps the answers as the hex strings the node sent, because raw logs are stored verbatim.
The endpoint URL often embeds an API key, so it is never shown: errors name the redacted URL.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from web3 import HTTPProvider

from aimg_pipeline.lib.calendar import EpochWindow


class ChainError(RuntimeError):
    """The endpoint failed, refused, or answered something that cannot be right."""


class EpochNotFinalError(ChainError):
    """The epoch is still open, or closed but not yet final on the chain."""


def redact_url(url: str) -> str:
    """Show only scheme, host and port: keys hide in paths, queries and user-info."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable RPC URL>"
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    hidden = "/***" if (parts.path not in ("", "/") or parts.query or parts.username) else ""
    return f"{parts.scheme}://{host}{port}{hidden}"


def _scrub(text: str, url: str) -> str:
    """Remove the URL and each of its secret-looking pieces from an error text."""
    pieces = {url, url.rstrip("/")}
    parts = urlsplit(url)
    pieces.update(p for p in re.split(r"[/?&=:@]", parts.path + "?" + parts.query) if len(p) >= 8)
    if parts.password:
        pieces.add(parts.password)
    for piece in sorted(pieces, key=len, reverse=True):
        if piece:
            text = text.replace(piece, "***")
    return text


@dataclass(frozen=True)
class Block:
    number: int
    hash: str
    parent_hash: str
    timestamp: int


@dataclass(frozen=True)
class EpochBlocks:
    """The blocks of one epoch window; ``first > last`` means the window holds no block."""

    first: int
    last: int
    first_hash: str | None
    last_hash: str | None

    @property
    def empty(self) -> bool:
        return self.first > self.last


_RANGE_ERROR = re.compile(
    r"(more than \d+ results|range|too (wide|large|big|many)|exceed|limit|response size|timeout)",
    re.IGNORECASE,
)


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ChainClient:
    """Reads blocks and logs; retries transient failures and narrows rejected log ranges."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        max_attempts: int = 6,
        backoff_seconds: float = 0.5,
        log_chunk_blocks: int = 2_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        self.redacted_url = redact_url(url)
        self._provider = HTTPProvider(
            url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
        )
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._chunk = log_chunk_blocks
        self._sleep = sleep
        self._blocks: dict[int, Block] = {}

    # -- transport -------------------------------------------------------------------------
    def call(self, method: str, params: Sequence[Any]) -> Any:
        """One JSON-RPC call with bounded exponential backoff (jittered) on transient errors."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._provider.make_request(method, list(params))
            except Exception as exc:  # transport: connection reset, timeout, HTTP 429/5xx
                message = _scrub(f"{type(exc).__name__}: {exc}", self._url)
                if attempt == self._max_attempts:
                    raise ChainError(
                        f"{method} to {self.redacted_url} failed after {attempt} attempts: "
                        f"{message}"
                    ) from None
                self._sleep(self._backoff * 2 ** (attempt - 1) * (1 + random.random()))
                continue
            if "error" in response and response["error"]:
                error = response["error"]
                text = _scrub(str(error.get("message", error)), self._url)
                raise ChainError(f"{method} rejected by {self.redacted_url}: {text}")
            return response.get("result")
        raise AssertionError("unreachable")

    # -- blocks ----------------------------------------------------------------------------
    def chain_id(self) -> int:
        return int(self.call("eth_chainId", []), 16)

    def block(self, number: int | str) -> Block:
        """A block by number or tag; numbered blocks are cached (final blocks never change)."""
        if isinstance(number, int) and number in self._blocks:
            return self._blocks[number]
        tag = hex(number) if isinstance(number, int) else number
        raw = self.call("eth_getBlockByNumber", [tag, False])
        if raw is None:
            raise ChainError(f"block {number} not found at {self.redacted_url}")
        block = Block(
            number=int(raw["number"], 16),
            hash=raw["hash"].lower(),
            parent_hash=raw["parentHash"].lower(),
            timestamp=int(raw["timestamp"], 16),
        )
        if isinstance(number, int):
            self._blocks[number] = block
        return block

    def final_block(self, confirmations: int) -> Block:
        """The node's ``finalized`` block, or ``head - confirmations`` where it has no tag."""
        try:
            return self.block("finalized")
        except ChainError:
            head = self.block("latest")
            return self.block(max(0, head.number - confirmations))

    def require_final(self, window: EpochWindow, confirmations: int) -> Block:
        """Refuse open or not-yet-final epochs, saying when they will be final."""
        final = self.final_block(confirmations)
        if final.timestamp >= window.end:
            return final
        head = self.block("latest")
        lag = max(0, head.timestamp - final.timestamp)
        raise EpochNotFinalError(
            f"epoch {window.epoch} ({_utc(window.start)} to {_utc(window.end)}) is not final: "
            f"its window closes at {_utc(window.end)} and it is final once the chain's final "
            f"block reaches that time (now block {final.number} at {_utc(final.timestamp)}; "
            f"finality lags the head by {lag} s, so expect it final at about "
            f"{_utc(window.end + lag)})"
        )

    def _first_block_at_or_after(self, timestamp: int, hi: int) -> int:
        """Smallest block number <= hi+1 whose timestamp >= timestamp (binary search)."""
        lo, hi_excl = 0, hi + 1
        while lo < hi_excl:
            mid = (lo + hi_excl) // 2
            if self.block(mid).timestamp >= timestamp:
                hi_excl = mid
            else:
                lo = mid + 1
        return lo

    def epoch_blocks(self, window: EpochWindow, final: Block) -> EpochBlocks:
        """First block with timestamp >= start and last block with timestamp < end."""
        first = self._first_block_at_or_after(window.start, final.number)
        last = self._first_block_at_or_after(window.end, final.number) - 1
        if first > last:
            return EpochBlocks(first, last, None, None)
        return EpochBlocks(first, last, self.block(first).hash, self.block(last).hash)

    # -- logs ------------------------------------------------------------------------------
    def get_logs(
        self, addresses: Sequence[str], topics0: Sequence[str], from_block: int, to_block: int
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the logs of [from_block, to_block] chunk by chunk, in block order.

        A range the provider rejects as too large is halved until it passes; ranges then
        grow again after successes.
        """
        start, size = from_block, self._chunk
        while start <= to_block:
            end = min(to_block, start + size - 1)
            try:
                logs = self.call(
                    "eth_getLogs",
                    [{
                        "address": list(addresses),
                        "topics": [list(topics0)],
                        "fromBlock": hex(start),
                        "toBlock": hex(end),
                    }],
                )
            except ChainError as exc:
                if end > start and _RANGE_ERROR.search(str(exc)):
                    size = max(1, (end - start + 1) // 2)
                    continue
                raise ChainError(f"eth_getLogs for blocks {start}..{end}: {exc}") from None
            yield logs
            start = end + 1
            size = min(self._chunk, size * 2)
