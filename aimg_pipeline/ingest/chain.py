"""The chain client: everything the pipeline reads from a JSON-RPC endpoint.

This client

* retries transient failures with bounded exponential backoff and jitter (honouring
  ``Retry-After`` and Infura's ``data.rate.backoff_seconds``), and gives up with an error that
  names the call and, for logs, the block range;
* never retries what cannot succeed (Alchemy's monthly cap, bad keys, invalid params);
* splits a rejected log range, to the provider's suggested range where the error gives one
  (Alchemy/Infura ``[0x.., 0x..]``, Infura ``data.from/to``, reth "retry with the range a-b"),
  to its stated block-range limit where it names one, and in halves otherwise; then grows the
  range again after successes, never past a limit the provider has stated;
* reads blocks in JSON-RPC batches and caches them; finds epoch boundary blocks by a k-ary
  search on timestamps that reuses every block already read.

How a refusal is read is ``provider``'s. Answers are kept as the hex strings the node sent,
because raw logs are stored verbatim. The endpoint URL often embeds an API key, so it is never
shown: every message uses the redacted URL and is scrubbed of the URL's secret-looking pieces
before it leaves this module.
"""

from __future__ import annotations

import itertools
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from aimg_pipeline.ingest.provider import Failure, classify, redact_url, scrub
from aimg_pipeline.lib.calendar import EpochWindow, utc_text

# how endpoints say a batch has too many items: geth "batch too large", Alchemy "Batch size
# is too large", others "batch limit exceeded", "too many requests in batch"
_BATCH_TOO_LARGE = re.compile(r"batch.{0,30}(too large|too big|exceed|limit)"
                              r"|(too many|max(imum)?).{0,30}batch", re.IGNORECASE)


def abi_uint(answer: object) -> int | None:
    """An ``eth_call`` answer as one uint256 word, or None when it is not one: ``0x`` from
    an address without code, or any other length."""
    if isinstance(answer, str) and len(answer) == 66 and answer[:2] == "0x":
        try:
            return int(answer, 16)
        except ValueError:
            return None
    return None


class ChainError(RuntimeError):
    """The endpoint failed, refused, or answered something that cannot be right."""


class EpochNotFinalError(ChainError):
    """The epoch is still open, or closed but not yet final on the chain."""


class RpcRejected(ChainError):
    """The node answered a JSON-RPC error that retrying will not fix."""


class CallReverted(RpcRejected):
    """An ``eth_call`` reverted: the contract has no such function, or refused it."""


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


@dataclass(frozen=True)
class LogChunk:
    """The logs of blocks ``from_block..to_block`` (inclusive), in the node's order."""

    from_block: int
    to_block: int
    logs: list[dict[str, Any]]


def _parse_block(raw: dict[str, Any]) -> Block:
    return Block(
        number=int(raw["number"], 16),
        hash=raw["hash"].lower(),
        parent_hash=raw["parentHash"].lower(),
        timestamp=int(raw["timestamp"], 16),
    )


#: Methods whose batches use ``call_batch_size``: answers of a word or an empty code.
_SMALL_ANSWERS = frozenset({"eth_call", "eth_getCode"})


class ChainClient:
    """Reads blocks and logs from one JSON-RPC endpoint, robustly (see the module doc)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        max_attempts: int = 8,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
        log_chunk_blocks: int = 2_000,
        max_log_chunk_blocks: int = 100_000,
        batch_size: int = 100,
        call_batch_size: int = 1_000,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        self._url = url
        self.redacted_url = redact_url(url)
        self._session = requests.Session()
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._chunk = log_chunk_blocks
        self._max_chunk = max(log_chunk_blocks, max_log_chunk_blocks)
        self._span_limit: int | None = None  # the largest block span the provider accepts
        self._batch_size = batch_size
        # eth_call answers are one word each, eth_getCode's nearly always "0x" (recipients
        # are mostly people): batches of 1,000 (geth's default limit) keep a reconciliation
        # at 10M logs (~640,000 calls) to ~640 requests and its 1.25M recipients to ~1,250
        self._call_batch_size = call_batch_size
        self._batch_ok = True
        self._sleep = sleep
        self._random = random.Random(seed)
        self._ids = itertools.count(1)
        self._blocks: dict[int, Block] = {}
        self.stats: Counter[str] = Counter()

    # -- transport -------------------------------------------------------------------------
    def _classify(self, method: str, status: int, error: Any, headers: Any = None) -> Failure:
        """``classify``, with the URL's secrets scrubbed from the text: providers echo the
        request URL (key included) in their error messages."""
        failure = classify(method, status, error, headers)
        failure.text = scrub(failure.text, self._url)
        return failure

    def _post(self, method: str, payload: Any) -> Any:
        """POST one payload; the parsed JSON body, or a classified ``Failure``."""
        self.stats["requests"] += 1
        try:
            response = self._session.post(self._url, json=payload, timeout=self._timeout)
        except requests.Timeout as exc:
            raise Failure("transient", f"timeout: {scrub(str(exc), self._url)[:200]}",
                          timeout=True) from None
        except requests.RequestException as exc:
            raise Failure("transient", f"{type(exc).__name__}: "
                                       f"{scrub(str(exc), self._url)[:200]}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            error = body.get("error", body) if isinstance(body, dict) else (
                scrub(response.text[:300], self._url))
            raise self._classify(method, response.status_code, error, response.headers)
        if body is None:
            raise Failure("transient", "HTTP 200 with a body that is not JSON")
        return body

    def _backoff_delay(self, attempt: int, failure: Failure) -> float:
        """Exponential backoff with equal jitter, at least what the provider asked for."""
        ceiling = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
        delay = ceiling / 2 + self._random.uniform(0, ceiling / 2)
        if failure.retry_after is not None:
            delay = max(delay, min(failure.retry_after, 4 * self._max_backoff))
        return delay

    def _with_retries(self, what: str, attempt_once: Callable[[], Any],
                      split_on_timeout: bool = False) -> Any:
        """Run ``attempt_once`` until it succeeds; transient failures back off and retry.

        Range rejections (and, when asked, timeouts) are raised at once for the caller to
        split; fatal ones and exhausted retries become a ``ChainError`` naming ``what``.
        """
        failure: Failure | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                return attempt_once()
            except Failure as caught:
                failure = caught
            self.stats[f"failure: {failure.kind}"] += 1
            if failure.kind in ("range", "batch") or (split_on_timeout and failure.timeout):
                raise failure
            if failure.kind in ("fatal", "reverted"):
                break
            if attempt < self._max_attempts:
                self.stats["retries"] += 1
                self._sleep(self._backoff_delay(attempt, failure))
        assert failure is not None
        tried = "" if failure.kind in ("fatal", "reverted") else (
            f" after {self._max_attempts} attempts")
        error_class = {"fatal": RpcRejected, "reverted": CallReverted}.get(failure.kind,
                                                                         ChainError)
        raise error_class(f"{what} at {self.redacted_url} failed{tried}: {failure.text}")

    def _single(self, method: str, params: Sequence[Any]) -> Any:
        body = self._post(method, {"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                                   "params": list(params)})
        if not isinstance(body, dict):
            raise Failure("transient", "answer is not a JSON-RPC response object")
        if body.get("error"):
            raise self._classify(method, 200, body["error"])
        if "result" not in body:
            raise Failure("transient", "JSON-RPC response without result or error")
        return body["result"]

    def call(self, method: str, params: Sequence[Any], what: str | None = None) -> Any:
        """One JSON-RPC call with bounded exponential backoff (jittered) on transient errors."""
        return self._with_retries(what or method, lambda: self._single(method, params))

    def call_batch(self, method: str, params_list: Sequence[Sequence[Any]],
                   what: str | None = None, reverted_as_none: bool = False) -> list[Any]:
        """The same method for many params, as JSON-RPC batches; results in input order.

        Items that fail transiently inside a batch are retried on their own schedule; a
        batch the endpoint finds too large (geth: "batch too large") is halved, for this
        and later batches; an endpoint that does not answer batches is then called one
        request at a time. With ``reverted_as_none``, an ``eth_call`` that reverts (a
        function the contract lacks) answers None instead of failing the whole batch.
        """
        results: list[Any] = [None] * len(params_list)
        offset = 0
        while offset < len(params_list):
            size = self._call_batch_size if method in _SMALL_ANSWERS else self._batch_size
            part = list(range(offset, min(len(params_list), offset + size)))
            offset = part[-1] + 1
            if not self._batch_ok:
                for i in part:
                    results[i] = self._call_one(method, params_list[i], what, reverted_as_none)
                continue
            pending = {i: next(self._ids) for i in part}

            def attempt(pending: dict[int, int] = pending) -> None:
                payload = [{"jsonrpc": "2.0", "id": rid, "method": method,
                            "params": list(params_list[i])} for i, rid in pending.items()]
                body = self._post(method, payload)
                if isinstance(body, dict):  # one error for the whole batch
                    raise self._too_large(self._classify(method, 200, body.get("error", body)),
                                          len(payload))
                if len(payload) > 1 and len(body) == 1 and isinstance(body[0], dict) \
                        and body[0].get("error"):  # geth: one error answers an oversize batch
                    raise self._too_large(self._classify(method, 200, body[0]["error"]),
                                          len(payload))
                by_id = {item.get("id"): item for item in body if isinstance(item, dict)}
                worst: Failure | None = None
                for i, rid in list(pending.items()):
                    item = by_id.get(rid)
                    if item is None:
                        worst = worst or Failure("transient", "batch answer misses an item")
                    elif item.get("error"):
                        failure = self._classify(method, 200, item["error"])
                        if failure.kind == "reverted" and reverted_as_none:
                            del pending[i]  # results[i] stays None
                            continue
                        if failure.kind in ("fatal", "reverted"):
                            raise failure
                        worst = failure
                    else:
                        results[i] = item.get("result")
                        del pending[i]
                if worst is not None:
                    raise worst

            try:
                self._with_retries(what or f"{method} batch", attempt)
            except Failure as failure:  # the batch is too large: halve it, send this part again
                if failure.kind != "batch":
                    raise
                if len(pending) < len(part):
                    raise ChainError(f"{what or method} at {self.redacted_url}: the endpoint "
                                     f"answered part of a batch, then {failure}") from None
                smaller = max(1, len(part) // 2)
                if method in _SMALL_ANSWERS:
                    self._call_batch_size = smaller
                else:
                    self._batch_size = smaller
                self.stats["batch halved"] += 1
                offset = part[0]
            except CallReverted:
                raise
            except RpcRejected:
                if len(pending) == len(part) and self._batch_ok:
                    self._batch_ok = False  # maybe batches are not served; try one by one
                    for i in part:
                        results[i] = self._call_one(method, params_list[i], what,
                                                    reverted_as_none)
                    continue
                raise
        return results

    @staticmethod
    def _too_large(failure: Failure, size: int) -> Failure:
        """``failure`` as kind ``batch`` when it says a batch of ``size`` > 1 is too large."""
        if size > 1 and _BATCH_TOO_LARGE.search(failure.text):
            failure.kind = "batch"
        return failure

    def _call_one(self, method: str, params: Sequence[Any], what: str | None,
                  reverted_as_none: bool) -> Any:
        try:
            return self.call(method, params, what)
        except CallReverted:
            if reverted_as_none:
                return None
            raise

    # -- blocks ----------------------------------------------------------------------------
    def chain_id(self) -> int:
        return int(self.call("eth_chainId", []), 16)

    def block(self, number: int | str) -> Block:
        """A block by number or tag; numbered blocks are cached (final blocks never change)."""
        if isinstance(number, int) and number in self._blocks:
            return self._blocks[number]
        tag = hex(number) if isinstance(number, int) else number
        raw = self.call("eth_getBlockByNumber", [tag, False], what=f"block {number}")
        if raw is None:
            raise RpcRejected(f"block {number} not found at {self.redacted_url}")
        block = _parse_block(raw)
        if isinstance(number, int):
            self._blocks[number] = block
        return block

    def blocks(self, numbers: Iterable[int], fresh: bool = False) -> dict[int, Block | None]:
        """Many blocks by number, read in batches; ``None`` for a block the chain lacks.

        ``fresh`` bypasses the cache (the reorg re-check must see the chain as it is now).
        """
        wanted = sorted(set(numbers))
        missing = wanted if fresh else [n for n in wanted if n not in self._blocks]
        if missing:
            answers = self.call_batch(
                "eth_getBlockByNumber", [[hex(n), False] for n in missing],
                what=f"blocks {missing[0]}..{missing[-1]} ({len(missing)} blocks)")
            out: dict[int, Block | None] = {}
            for n, raw in zip(missing, answers, strict=True):
                out[n] = _parse_block(raw) if raw else None
                if out[n] is not None and out[n].number != n:  # type: ignore[union-attr]
                    raise ChainError(f"asked for block {n}, the node answered block "
                                     f"{out[n].number}")  # type: ignore[union-attr]
            if fresh:
                return {n: out.get(n) for n in wanted}
            self._blocks.update({n: b for n, b in out.items() if b is not None})
            return {n: out.get(n, self._blocks.get(n)) for n in wanted}
        return {n: self._blocks[n] for n in wanted}

    def final_block(self, confirmations: int) -> Block:
        """The node's ``finalized`` block, or ``head - confirmations`` where it has no tag."""
        try:
            return self.block("finalized")
        except RpcRejected:
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
            f"epoch {window.epoch} ({utc_text(window.start)} to {utc_text(window.end)}) is not "
            f"final: its window closes at {utc_text(window.end)} and it is final once the "
            f"chain's final "
            f"block reaches that time (now block {final.number} at {utc_text(final.timestamp)}; "
            f"finality lags the head by {lag} s, so expect it final at about "
            f"{utc_text(window.end + lag)})"
        )

    def _first_block_at_or_after(self, timestamp: int, hi: int, fanout: int = 16) -> int:
        """Smallest block number <= hi+1 whose timestamp >= timestamp.

        A k-ary search: each round reads ``fanout`` evenly spaced blocks in one batch, so a
        chain of 20 M blocks takes 6 round trips, not 25. Every block already in the cache
        narrows the interval first, so a boundary found once costs nothing the next time.
        """
        lo, hi_excl = 0, hi + 1
        for number, block in self._blocks.items():
            if number <= hi:
                if block.timestamp >= timestamp:
                    hi_excl = min(hi_excl, number)
                else:
                    lo = max(lo, number + 1)
        while lo < hi_excl:
            span = hi_excl - lo
            probes = (list(range(lo, hi_excl)) if span <= fanout
                      else sorted({lo + span * i // (fanout + 1) for i in range(1, fanout + 1)}))
            found = self.blocks(probes)
            for number in probes:
                block = found[number]
                if block is None:
                    raise ChainError(f"block {number} (at or below the final block {hi}) is "
                                     f"missing at {self.redacted_url}")
                if block.timestamp >= timestamp:
                    hi_excl = number
                    break
                lo = number + 1
        return lo

    def epoch_blocks(self, window: EpochWindow, final: Block) -> EpochBlocks:
        """First block with timestamp >= start and last block with timestamp < end."""
        first = self._first_block_at_or_after(window.start, final.number)
        last = self._first_block_at_or_after(window.end, final.number) - 1
        if first > last:
            return EpochBlocks(first, last, None, None)
        return EpochBlocks(first, last, self.block(first).hash, self.block(last).hash)

    # -- logs ------------------------------------------------------------------------------
    def _next_end(self, start: int, end: int, failure: Failure) -> int:
        """Where a rejected range [start, end] should end next time (always < end)."""
        if failure.span_limit:
            self._span_limit = min(self._span_limit or failure.span_limit, failure.span_limit)
        halved = start + (end - start + 1) // 2 - 1
        candidates = []
        if failure.suggested is not None:
            lo, hi = failure.suggested
            if start <= hi < end:
                candidates.append(hi)
            elif lo <= hi and hi - lo < end - start:
                candidates.append(start + (hi - lo))
        if failure.span_limit and start + failure.span_limit - 1 < end:
            candidates.append(start + failure.span_limit - 1)
        return min(candidates) if candidates else halved

    def get_logs(
        self, addresses: Sequence[str], topics0: Sequence[str], from_block: int, to_block: int
    ) -> Iterator[LogChunk]:
        """Yield the logs of [from_block, to_block] chunk by chunk, in block order.

        A range the provider rejects is split (see the module doc); ranges then grow again
        after successes. Gives up, naming the block range, when a single block is rejected
        or a transient failure outlasts the retries.
        """
        start = from_block
        size = min(self._chunk, self._span_limit or self._chunk)
        while start <= to_block:
            end = min(to_block, start + size - 1)
            query = {"address": list(addresses), "topics": [list(topics0)],
                     "fromBlock": hex(start), "toBlock": hex(end)}
            what = f"eth_getLogs for blocks {start}..{end}"
            try:
                logs = self._with_retries(
                    what, lambda q=query: self._single("eth_getLogs", [q]),
                    split_on_timeout=end > start)
            except Failure as failure:
                if end == start:
                    raise ChainError(f"{what} at {self.redacted_url} rejected even for one "
                                     f"block: {failure.text}") from None
                self.stats["range splits"] += 1
                size = self._next_end(start, end, failure) - start + 1
                continue
            if not isinstance(logs, list):
                raise ChainError(f"{what} at {self.redacted_url}: answer is not a list")
            yield LogChunk(start, end, logs)
            start = end + 1
            size = min(self._max_chunk, self._span_limit or self._max_chunk, size * 2)
