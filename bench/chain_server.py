"""A loopback JSON-RPC node serving the benchmark's generated chain, so that the Dagster run
reads blocks, hashes and ``eth_call`` answers as it would from a real node.

``python -m bench.chain_server --data DIR --port-file F``

It serves, from ``DIR`` (``bench.generate``'s output):

* ``eth_chainId`` (1), ``eth_blockNumber``, ``eth_getBlockByNumber`` (number, hash, parent
  hash, timestamp from the blocks file; ``latest``/``finalized``/``safe`` = the last block);
* ``eth_call`` at a block: ``totalSupply()`` / ``balanceOf(address)`` of every position
  token, from its ``Transfer`` logs up to that block, computed here (DuckDB over the log
  files, not the pipeline's tables) with Uniswap V2's / OpenZeppelin's rules: a Transfer
  from the zero address mints (no debit), one to the zero address from a holder burns (no
  credit), and ``Transfer(0, 0, v)`` (V2's locked MINIMUM_LIQUIDITY) credits the zero
  address; ``token0()`` / ``token1()`` of the pairs (``pairs.json``); a vault's ERC-4626
  ``totalAssets()`` = its share supply (one asset per share);
* ``GET /stats``: HTTP requests (in all, and by the method of a batch's first item) and
  JSON-RPC items by method, as JSON.

JSON-RPC batches are answered item by item, in order; an item for anything else answers
``-32601`` (method not found) or, for an unknown call, reverts (code 3).
"""

from __future__ import annotations

import argparse
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

TRANSFER = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
TOTAL_SUPPLY, BALANCE_OF = "0x18160ddd", "0x70a08231"
TOKEN0, TOKEN1, TOTAL_ASSETS = "0x0dfe1681", "0xd21220a7", "0x01e1d114"
ZERO = "0x" + "00" * 20

# Every Transfer's signed balance changes: (token, account, delta, block)
_CHANGES = f"""
WITH t AS (
    SELECT block_number, '0x' || lower(hex(address)) AS token,
        '0x' || lower(substr(hex(topic1), 25)) AS sender,
        '0x' || lower(substr(hex(topic2), 25)) AS receiver,
        ('0x' || substr(hex(data), 33, 32))::UHUGEINT::HUGEINT AS value
    FROM read_parquet($files)
    WHERE topic0 = unhex('{TRANSFER}') AND block_number <= $block
        AND list_contains($tokens, '0x' || lower(hex(address)))
)
SELECT token, account, sum(delta)::VARCHAR AS balance FROM (
    SELECT token, sender AS account, -value AS delta FROM t WHERE sender <> '{ZERO}'
    UNION ALL
    SELECT token, receiver, value FROM t WHERE receiver <> '{ZERO}' OR sender = '{ZERO}'
) GROUP BY ALL
"""


class Chain:
    """The generated chain: its blocks, and balances per block (computed on first use)."""

    def __init__(self, data: Path) -> None:
        import tomllib

        files = sorted((data / "files").glob("*__blocks__*.parquet"))
        blocks = pq.read_table(files[0], columns=["block_number", "block_hash", "timestamp"])
        self.numbers = blocks["block_number"].to_pylist()
        self.hashes = ["0x" + h.hex() for h in blocks["block_hash"].to_pylist()]
        self.timestamps = blocks["timestamp"].to_pylist()
        self.log_files = [str(f) for f in sorted((data / "files").glob("*__logs__*.parquet"))]
        config = tomllib.loads((data / "aimg.toml").read_text())
        registry = config["registry"]
        self.vaults = {registry["aimg_vault"]} | {a["vault"] for a in registry["agents"]}
        pools = {p["address"] for a in registry["agents"] for p in a["pools"]}
        self.tokens = sorted(self.vaults | pools)
        self.pairs = {k: tuple(v) for k, v in json.loads((data / "pairs.json").read_text()).items()}
        self._balances: dict[int, dict[tuple[str, str], int]] = {}
        self._supply: dict[int, dict[str, int]] = {}
        self._lock = threading.Lock()

    def block(self, tag: str) -> dict[str, Any] | None:
        n = len(self.numbers) - 1 if tag in ("latest", "finalized", "safe") else int(tag, 16)
        if not 0 <= n < len(self.numbers):
            return None
        return {"number": hex(n), "hash": self.hashes[n], "timestamp": hex(self.timestamps[n]),
                "parentHash": self.hashes[n - 1] if n else "0x" + "00" * 32}

    def balances(self, block: int) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
        """Balances and supplies at ``block``; only the latest block asked is kept (the
        runs ask epoch by epoch, and nine epochs of 2M-holder dicts would not fit)."""
        with self._lock:
            if block not in self._balances:
                self._balances.clear()
                self._supply.clear()
                con = duckdb.connect()
                rows = con.execute(_CHANGES, {"files": self.log_files, "block": block,
                                              "tokens": self.tokens}).fetchall()
                con.close()
                balances = {(t, a): int(b) for t, a, b in rows}
                supply: Counter[str] = Counter()
                for (token, _), value in balances.items():
                    supply[token] += value
                self._balances[block], self._supply[block] = balances, dict(supply)
            return self._balances[block], self._supply[block]

    def call(self, params: list[Any]) -> str:
        to, data = params[0]["to"].lower(), params[0].get("data") or params[0].get("input")
        tag = params[1] if len(params) > 1 else "latest"
        block = len(self.numbers) - 1 if tag in ("latest", "finalized", "safe") else int(tag, 16)
        selector = data[:10]
        if to in self.pairs and selector in (TOKEN0, TOKEN1):
            return "0x" + self.pairs[to][selector == TOKEN1][2:].rjust(64, "0")
        if to in self.tokens and selector in (TOTAL_SUPPLY, BALANCE_OF, TOTAL_ASSETS):
            if selector == TOTAL_ASSETS and to not in self.vaults:
                raise LookupError(to)
            balances, supply = self.balances(block)
            if selector == BALANCE_OF:
                value = balances.get((to, "0x" + data[-40:].lower()), 0)
            else:
                value = supply.get(to, 0)
            return "0x" + format(value, "064x")
        raise LookupError(to)


def serve(data: Path, port_file: Path) -> None:
    chain = Chain(data)
    stats: Counter[str] = Counter()
    lock = threading.Lock()

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        method, rid = request.get("method"), request.get("id")
        try:
            if method == "eth_chainId":
                result: Any = "0x1"
            elif method == "eth_blockNumber":
                result = hex(len(chain.numbers) - 1)
            elif method == "eth_getBlockByNumber":
                result = chain.block(request["params"][0])
            elif method == "eth_call":
                result = chain.call(request["params"])
            elif method == "eth_getCode":  # the generated holders are all EOAs
                result = "0x"
            else:
                return {"jsonrpc": "2.0", "id": rid,
                        "error": {"code": -32601, "message": f"method {method} not found"}}
        except LookupError:
            return {"jsonrpc": "2.0", "id": rid,
                    "error": {"code": 3, "message": "execution reverted"}}
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, body: Any) -> None:
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            with lock:
                self._send(dict(stats))

        def do_POST(self) -> None:  # noqa: N802
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            items = request if isinstance(request, list) else [request]
            with lock:
                stats["http requests"] += 1
                stats[f"http {items[0].get('method') if items else None}"] += 1
                stats.update(f"item {item.get('method')}" for item in items)
            self._send([answer(r) for r in request] if isinstance(request, list)
                       else answer(request))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    serve(args.data, args.port_file)


if __name__ == "__main__":
    main()
