"""A fault-injecting JSON-RPC proxy on 127.0.0.1, for testing ingestion against real-world
provider behaviour without a real provider.

It forwards every request to an upstream node (the demo devchain) and, from a seeded random
stream, instead

* drops the connection (closes it unanswered) or resets it (TCP RST);
* answers HTTP 429, in Alchemy's and Infura's shapes, or a JSON-RPC -32005 rate limit with
  HTTP 200, or rate-limits a single item of a batch;
* answers HTTP 503;
* hangs longer than the client's timeout, or delays the answer;
* rejects batches over ``max_batch`` items as geth or Alchemy do;
* rejects ``eth_getLogs`` over ``max_log_blocks`` blocks or ``max_log_results`` results with
  the error codes and texts real providers send (``docs/ingestion.md`` lists them), including
  their suggested ranges where they give one.

Transport faults never hit more than ``max_consecutive`` requests in a row, so a client with
a few more retry attempts always gets through; every fault is counted in ``stats``.
Any URL path is accepted (``/v2/<key>`` as providers use) and recorded in ``paths``.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


@dataclass
class Faults:
    """Probabilities per HTTP request (transport faults are mutually exclusive)."""

    seed: int = 1
    drop: float = 0.0
    reset: float = 0.0
    http429: float = 0.0
    http503: float = 0.0
    hang: float = 0.0
    hang_seconds: float = 1.0
    delay: float = 0.0
    delay_seconds: float = 0.02
    batch_item_rate_limit: float = 0.0
    max_log_blocks: int | None = None
    max_log_results: int | None = None
    # batches of more items: geth's answer (--rpc.batch-request-limit), one -32600 "batch
    # too large" error with the first call's id; "alchemy": Alchemy's, as one error object
    max_batch: int | None = None
    max_batch_style: str = "geth"
    max_consecutive: int = 3
    backoff_seconds_hint: float = 0.01
    # "alchemy-monthly-cap": answer everything with that error; "echo-key": with a JSON-RPC
    # error whose message repeats the request path and its key (as some providers do)
    always: str | None = None


def _rpc_error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


class RpcProxy:
    """The proxy server; ``with RpcProxy(upstream, Faults(...)) as proxy: proxy.url``."""

    def __init__(self, upstream: str, faults: Faults | None = None,
                 path: str = "/") -> None:
        self.upstream = upstream
        self.faults = faults or Faults()
        self.stats: Counter[str] = Counter()
        self.paths: set[str] = set()
        self._random = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._consecutive = 0
        self._rotation = Counter()
        self._session = requests.Session()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.paths.add(self.path)
                proxy.handle(self, body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> RpcProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- decisions ---------------------------------------------------------------------------
    def _pick_transport_fault(self) -> str | None:
        f = self.faults
        with self._lock:
            draw = self._random.random()
            delay = self._random.random() < f.delay
            if self._consecutive >= f.max_consecutive:
                self._consecutive = 0
                return "delay" if delay else None
            for kind, p in (("drop", f.drop), ("reset", f.reset), ("http429", f.http429),
                            ("http503", f.http503), ("hang", f.hang)):
                if draw < p:
                    self._consecutive += 1
                    return kind
                draw -= p
            self._consecutive = 0
            return "delay" if delay else None

    def _next_variant(self, kind: str, count: int) -> int:
        with self._lock:
            self._rotation[kind] += 1
            return (self._rotation[kind] - 1) % count

    def _count(self, kind: str) -> None:
        with self._lock:
            self.stats[kind] += 1

    # -- answering ---------------------------------------------------------------------------
    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: Any,
              content_type: str = "application/json", headers: dict[str, str] | None = None
              ) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        self._count("requests")
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        first_id = (request[0].get("id") if isinstance(request, list) and request
                    else request.get("id") if isinstance(request, dict) else None)
        if self.faults.always == "alchemy-monthly-cap":
            self._count("alchemy monthly cap (403)")
            self._send(handler, 403, _rpc_error(
                first_id, -32600, "Monthly capacity limit exceeded. Visit "
                "https://dashboard.alchemy.com/settings/billing to upgrade your scaling policy "
                "for continued service."))
            return
        if self.faults.always == "echo-key":
            self._count("error echoing the key")
            key = handler.path.rstrip("/").rsplit("/", 1)[-1]
            self._send(handler, 200, _rpc_error(
                first_id, -32001, f"invalid API key {key}: request to {handler.path} denied"))
            return
        fault = self._pick_transport_fault()
        if fault == "drop":
            self._count("dropped connection")
            handler.close_connection = True
            return
        if fault == "reset":
            self._count("reset connection")
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))
            handler.close_connection = True
            return
        if fault == "http429":
            variant = self._next_variant("429", 3)
            if variant == 0:
                self._count("HTTP 429 (Alchemy)")
                self._send(handler, 429, {"jsonrpc": "2.0", "id": first_id, "error": {
                    "code": 429, "message": "Your app has exceeded its compute units per "
                    "second capacity. If you have retries enabled, you can safely ignore this "
                    "message. If not, check out https://docs.alchemy.com/reference/throughput"}})
            elif variant == 1:
                self._count("HTTP 429 (Infura -32005 rate)")
                self._send(handler, 429, _rpc_error(
                    first_id, -32005, "project ID request rate exceeded",
                    {"see": "https://infura.io/dashboard", "current_rps": 13.333,
                     "allowed_rps": 10.0,
                     "rate": {"allowed_rps": 1, "backoff_seconds": self.faults.backoff_seconds_hint,
                              "current_rps": 1.2}}))
            else:
                self._count("HTTP 200 JSON-RPC -32005 rate limit")
                self._send(handler, 200, _rpc_error(
                    first_id, -32005, "project ID request rate exceeded",
                    {"rate": {"backoff_seconds": self.faults.backoff_seconds_hint}}))
            return
        if fault == "http503":
            self._count("HTTP 503")
            self._send(handler, 503, b"<html><body><h1>503 Service Unavailable</h1>"
                       b"</body></html>", content_type="text/html")
            return
        if fault == "hang":
            self._count("hang past the client timeout")
            time.sleep(self.faults.hang_seconds)
            handler.close_connection = True
            return
        if fault == "delay":
            self._count("delayed answer")
            time.sleep(self.faults.delay_seconds)

        limit = self.faults.max_batch
        if isinstance(request, list) and limit is not None and len(request) > limit:
            self._count("batch too large")
            if self.faults.max_batch_style == "geth":
                self._send(handler, 200, [_rpc_error(first_id, -32600, "batch too large")])
            else:
                self._send(handler, 200, _rpc_error(
                    None, -32600, f"Batch size is too large. Max batch size is {limit}."))
            return
        if isinstance(request, dict) and request.get("method") == "eth_getLogs":
            rejected = self._log_limits(handler, request)
            if rejected:
                return
        answer = self._forward(body)
        if isinstance(request, list) and isinstance(answer, list) and answer:
            with self._lock:
                hit = self._random.random() < self.faults.batch_item_rate_limit
                index = self._random.randrange(len(answer))
            if hit:
                self._count("batch item rate-limited")
                answer[index] = _rpc_error(answer[index].get("id"), -32005,
                                           "project ID request rate exceeded")
        self._send(handler, 200, answer)

    def _forward(self, body: bytes) -> Any:
        response = self._session.post(self.upstream, data=body, timeout=120,
                                      headers={"Content-Type": "application/json"})
        return response.json()

    def _log_limits(self, handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> bool:
        """Reject an eth_getLogs over the limits the way real providers do; True if rejected."""
        query = request["params"][0]
        lo, hi = int(query["fromBlock"], 16), int(query["toBlock"], 16)
        span, rid = hi - lo + 1, request.get("id")
        limit = self.faults.max_log_blocks
        if limit is not None and span > limit:
            variant = self._next_variant("span", 6)
            self._count("getLogs block range rejected")
            if variant == 0:  # geth --rpc.rangelimit
                self._send(handler, 200, _rpc_error(
                    rid, -32602, f"exceed maximum block range {limit}"))
            elif variant == 1:  # reth
                self._send(handler, 200, _rpc_error(
                    rid, -32602, f"query exceeds max block range {limit}"))
            elif variant == 2:  # erigon
                self._send(handler, 200, _rpc_error(
                    rid, -32000, f"query block range exceeds server limit, narrow your "
                    f"filter: {limit}"))
            elif variant == 3:  # QuickNode, as an HTTP error
                self._send(handler, 413, _rpc_error(
                    rid, -32614, f"eth_getLogs is limited to a {limit:,} range"))
            elif variant == 4:  # Infura, seen live
                self._send(handler, 200, _rpc_error(
                    rid, -32602, f"range {span} exceeds limit of {limit}"))
            else:  # Ankr: no number given, the client must halve
                self._send(handler, 200, _rpc_error(rid, -32600, "block range is too wide"))
            return True
        limit = self.faults.max_log_results
        if limit is None:
            return False
        answer = self._forward(json.dumps(request).encode())
        logs = answer.get("result") or []
        if len(logs) <= limit:
            self._send(handler, 200, answer)
            return True
        # the largest end block whose logs fit under the limit (at least the first block)
        fit = lo
        for block in sorted({int(log["blockNumber"], 16) for log in logs}):
            if sum(1 for log in logs if int(log["blockNumber"], 16) <= block) <= limit:
                fit = block
        self._count("getLogs result count rejected")
        variant = self._next_variant("results", 4)
        if variant == 0:  # Alchemy
            self._send(handler, 200, _rpc_error(
                rid, -32602, "Log response size exceeded. You can make eth_getLogs requests "
                "with up to a 2K block range and no limit on the response size, or you can "
                "request any block range with a cap of 10K logs in the response. Based on "
                "your parameters and the response size limit, this block range should work: "
                f"[{hex(lo)}, {hex(fit)}]"))
        elif variant == 1:  # Infura
            self._send(handler, 200, _rpc_error(
                rid, -32005, f"query returned more than {limit} results. Try with this block "
                f"range [0x{lo:X}, 0x{fit:X}].",
                {"from": f"0x{lo:X}", "to": f"0x{fit:X}", "limit": limit}))
        elif variant == 2:  # reth
            self._send(handler, 200, _rpc_error(
                rid, -32602, f"query exceeds max results {limit}, retry with the range "
                f"{lo}-{fit}"))
        else:  # llamarpc: no hint
            self._send(handler, 200, _rpc_error(rid, -32000, "query exceeds max results"))
        return True
