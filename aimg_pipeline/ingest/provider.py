"""What a JSON-RPC provider's refusal means, and the secrets of its URL.

Real providers are not polite: they rate-limit (HTTP 429, Infura's -32005 "request rate
exceeded"), fail transiently (5xx, dropped connections, timeouts) and refuse ``eth_getLogs``
ranges that are too long or return too many results, each with its own error text (see
``docs/ingestion.md``). ``classify`` sorts one failed attempt into transient (retry), range
(split the block range, to the provider's suggestion where it gives one) or fatal.
The endpoint URL often embeds an API key: ``redact_url`` is what is shown of it, and
``scrub`` removes its secret-looking pieces from any text (providers echo URLs in errors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aimg_pipeline.lib.integers import is_int


def redact_url(url: str) -> str:
    """Show only scheme, host and port: keys hide in paths, queries and user-info."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable RPC URL>"
    hidden = "/***" if (parts.path not in ("", "/") or parts.query or parts.username) else ""
    return f"{parts.scheme}://{host}{port}{hidden}"


def _secret_pieces(url: str) -> list[str]:
    """The URL, its path, query, user-info and every long path/query token, longest first."""
    pieces = {url, url.rstrip("/")}
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    if parts.path not in ("", "/"):
        pieces.update({parts.path, parts.path.rstrip("/")})
    if parts.query:
        pieces.add(parts.query)
    pieces.update(p for p in re.split(r"[/?&=:@]", parts.path + "?" + parts.query) if len(p) >= 6)
    for secret in (parts.username, parts.password):
        if secret:
            pieces.add(secret)
    return sorted((p for p in pieces if p), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """Remove the URL and each of its secret-looking pieces from a text."""
    for piece in _secret_pieces(url):
        text = text.replace(piece, "***")
    return text


# --- classifying provider errors ---------------------------------------------------------
# Order matters: a rate limit and a result-count limit share Infura's code -32005, so the
# message decides; "compute units per second capacity" (Alchemy, retry) must not be read as
# the monthly "capacity limit exceeded" (Alchemy, fatal).
_RATE_LIMIT = re.compile(
    r"rate.?limit|request rate|rate exceeded|too many requests|per second|throughput|"
    r"requests? limit reached|exceeded (the )?(rate|quota per second)",
    re.IGNORECASE,
)


_FATAL = re.compile(
    r"monthly|capacity limit|upgrade (your|to)|unauthori[sz]ed|forbidden|invalid api key|"
    r"api key|project id|not whitelisted|not allowed|access denied|suspended",
    re.IGNORECASE,
)


_RANGE = re.compile(
    r"more than \d+ results|max(imum)? results|response size|too many (results|logs)|"
    r"block range|range .*(exceed|limit)|exceeds? .*limit|too (wide|large|big|long)|"
    r"narrow your filter|is limited to|limit exceeded|results? limit|query timeout|"
    r"timed? ?out|timeout|response is too big|payload too large|exceeds? max",
    re.IGNORECASE,
)


# geth, erigon, reth and anvil answer a reverted eth_call with code 3 (revert data) or
# -32000/-32015 and a message saying so
_REVERTED = re.compile(r"revert", re.IGNORECASE)

_TRANSIENT = re.compile(
    r"internal error|temporar|try again|unavailable|upstream|timeout|timed out|busy|"
    r"overload|bad gateway|gateway|connection reset|header not found",
    re.IGNORECASE,
)


_SUGGEST_BRACKETS = re.compile(r"\[\s*(0x[0-9a-f]+)\s*,\s*(0x[0-9a-f]+)\s*\]", re.IGNORECASE)


_SUGGEST_RETH = re.compile(r"retry with the range (\d+)\s*-\s*(\d+)", re.IGNORECASE)


_SPAN_LIMIT = re.compile(
    r"(?:exceed maximum block range|max block range|narrow your filter:|is limited to an?|"
    r"exceeds limit of|block range limit(?: of)?|range limit(?: of)?)\s*([\d][\d,_]*)",
    re.IGNORECASE,
)


@dataclass(eq=False)
class Failure(Exception):
    """One failed attempt, classified: ``transient`` (retry), ``range`` (split), ``fatal``,
    or ``reverted`` (an ``eth_call`` the contract refused: an answer, not a failure of the
    endpoint; never retried)."""

    kind: str
    text: str
    retry_after: float | None = None
    suggested: tuple[int, int] | None = None
    span_limit: int | None = None
    timeout: bool = False

    def __str__(self) -> str:
        return self.text


def _hex_or_int(value: Any) -> int | None:
    if is_int(value):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            return None
    return None


def parse_range_hint(message: str, data: Any = None) -> tuple[tuple[int, int] | None, int | None]:
    """The range a provider suggests (from, to) and the block-span limit it states, if any."""
    suggested = None
    if isinstance(data, dict) and "from" in data and "to" in data:
        lo, hi = _hex_or_int(data["from"]), _hex_or_int(data["to"])
        if lo is not None and hi is not None:
            suggested = (lo, hi)
    if suggested is None and (m := _SUGGEST_BRACKETS.search(message)):
        suggested = (int(m.group(1), 16), int(m.group(2), 16))
    if suggested is None and (m := _SUGGEST_RETH.search(message)):
        suggested = (int(m.group(1)), int(m.group(2)))
    limit = None
    if (m := _SPAN_LIMIT.search(message)) is not None:
        limit = int(m.group(1).replace(",", "").replace("_", "")) or None
    return suggested, limit


def _retry_after(headers: Any, data: Any) -> float | None:
    value = None
    if headers is not None and headers.get("Retry-After"):
        try:
            value = float(headers["Retry-After"])
        except ValueError:
            value = None
    if isinstance(data, dict) and isinstance(data.get("rate"), dict):
        backoff = data["rate"].get("backoff_seconds")
        if isinstance(backoff, int | float):
            value = max(value or 0.0, float(backoff))
    return value


def classify(
    method: str,
    status: int,
    error: Any,
    headers: Any = None,
) -> Failure:
    """Classify an HTTP status plus JSON-RPC error object (either may be uninformative)."""
    if isinstance(error, dict):
        code, message, data = error.get("code"), str(error.get("message", "")), error.get("data")
    else:
        code, message, data = None, "" if error is None else str(error), None
    text = f"HTTP {status}" if status != 200 else "JSON-RPC error"
    if code is not None:
        text += f" {code}"
    if message:
        text += f": {message[:300]}"
    retry_after = _retry_after(headers, data)
    if status == 429 or code == 429 or _RATE_LIMIT.search(message):
        return Failure("transient", text, retry_after=retry_after)
    if status in (401, 402, 403) or _FATAL.search(message):
        return Failure("fatal", text)
    if method == "eth_call" and status == 200 and (code == 3 or _REVERTED.search(message)):
        return Failure("reverted", text)
    if method == "eth_getLogs" and _RANGE.search(message):
        suggested, limit = parse_range_hint(message, data)
        return Failure("range", text, suggested=suggested, span_limit=limit)
    if status >= 500 or status == 408 or _TRANSIENT.search(message):
        return Failure("transient", text, retry_after=retry_after)
    return Failure("fatal", text)
