"""A scripted JSON-RPC chain for tests: blocks and logs chosen by hand, served over HTTP.

It answers only what the pipeline reads (eth_chainId, eth_getBlockByNumber, eth_getLogs), so
a test controls every timestamp, value and malformed byte and still goes through web3.py's
HTTP provider like production does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_utils import keccak


class Reverted(Exception):
    """An eth_call that reverts: the server answers a JSON-RPC error, as nodes do."""


def word(value: int) -> str:
    return f"{value:064x}"


def address_topic(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


@dataclass
class FakeChain:
    chain_id: int = 1337
    blocks: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    salt: bytes = b""
    # addresses without code: eth_call answers "0x", as nodes do (a contract not deployed yet)
    no_code: set[str] = field(default_factory=set)
    # scripted eth_call answers, checked before anything else: (lowercase address, calldata)
    # -> the hex answer, or a function of the block number giving it (None: the call reverts)
    fixed_calls: dict[tuple[str, str], str | Callable[[int], str | None]] = field(
        default_factory=dict)
    # (lowercase address, calldata) whose eth_call reverts ({"code": 3, "execution reverted"})
    reverting: set[tuple[str, str]] = field(default_factory=set)
    # eth_getCode answers by lowercase address; "0x" (an EOA) for every other address
    code: dict[str, str] = field(default_factory=dict)

    def add_block(self, timestamp: int) -> int:
        number = len(self.blocks)
        parent = self.blocks[-1]["hash"] if self.blocks else "0x" + "00" * 32
        digest = keccak(self.salt + number.to_bytes(8, "big") + timestamp.to_bytes(8, "big"))
        self.blocks.append({"number": number, "hash": "0x" + digest.hex(),
                            "parentHash": parent, "timestamp": timestamp})
        return number

    def add_log(self, block: int, address: str, topics: list[str], data: str = "0x") -> None:
        index = sum(1 for log in self.logs if log["block"] == block)
        self.logs.append({"block": block, "address": address.lower(), "topics": topics,
                          "data": data, "logIndex": index})

    def _block(self, tag: Any) -> dict[str, Any] | None:
        number = (len(self.blocks) - 1 if tag in ("latest", "finalized", "safe")
                  else 0 if tag == "earliest" else int(tag, 16))
        if not 0 <= number < len(self.blocks):
            return None
        b = self.blocks[number]
        return {"number": hex(b["number"]), "hash": b["hash"], "parentHash": b["parentHash"],
                "timestamp": hex(b["timestamp"]), "transactions": []}

    def _logs(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        start, end = int(query["fromBlock"], 16), int(query["toBlock"], 16)
        addresses = {a.lower() for a in query.get("address", [])}
        topic0 = {t.lower() for t in (query.get("topics") or [[]])[0] or []}
        out = []
        for log in self.logs:
            if not start <= log["block"] <= end:
                continue
            if addresses and log["address"] not in addresses:
                continue
            if topic0 and (not log["topics"] or log["topics"][0] not in topic0):
                continue
            block = self.blocks[log["block"]]
            tx = "0x" + keccak(block["hash"].encode() + bytes([log["logIndex"]])).hex()
            out.append({
                "address": log["address"], "topics": log["topics"], "data": log["data"],
                "blockNumber": hex(log["block"]), "blockHash": block["hash"],
                "transactionHash": tx, "transactionIndex": hex(log["logIndex"]),
                "logIndex": hex(log["logIndex"]), "removed": False,
            })
        return out

    def _call(self, call: dict[str, Any], tag: str) -> str:
        """totalSupply() / balanceOf(a) of a token, replayed from its Transfer logs (or a
        scripted answer from ``fixed_calls`` / ``reverting``)."""
        if self.fixed_calls or self.reverting:
            scripted = self._scripted_call(call, tag)
            if scripted is not None:
                return scripted
        block = int(self._block(tag)["number"], 16)
        if call["to"].lower() in self.no_code:
            return "0x"
        transfer = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
        balances: dict[str, int] = {}
        for log in self.logs:
            if (log["block"] <= block and log["address"] == call["to"].lower()
                    and log["topics"][0] == transfer):
                value = int(log["data"], 16)
                sender, receiver = ("0x" + t[-40:] for t in log["topics"][1:3])
                balances[sender] = balances.get(sender, 0) - value
                balances[receiver] = balances.get(receiver, 0) + value
        zero = "0x" + "0" * 40
        supply = -balances.pop(zero, 0)  # minted from zero minus burned to zero
        if call["data"] == "0x18160ddd":
            return "0x" + word(supply)
        return "0x" + word(balances.get("0x" + call["data"][-40:], 0))

    def _scripted_call(self, call: dict[str, Any], tag: Any) -> str | None:
        """The answer of ``fixed_calls`` for this call, None when it scripts none; raises
        ``Reverted`` for a ``reverting`` call."""
        key = (str(call.get("to", "")).lower(),
               str(call.get("data") or call.get("input") or "0x").lower())
        if key in self.reverting:
            raise Reverted(key)
        if key not in self.fixed_calls:
            return None
        answer = self.fixed_calls[key]
        if callable(answer):
            if isinstance(tag, dict):  # EIP-1898 block parameter
                tag = tag.get("blockNumber") or next(
                    hex(b["number"]) for b in self.blocks if b["hash"] == tag.get("blockHash"))
            answer = answer(int(self._block(tag)["number"], 16))
        if answer is None:
            raise Reverted(key)
        return answer

    def handle(self, method: str, params: list[Any]) -> Any:
        if method == "eth_call":
            return self._call(params[0], params[1])
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "eth_getBlockByNumber":
            return self._block(params[0])
        if method == "eth_getLogs":
            return self._logs(params[0])
        if method == "eth_getCode":
            return self.code.get(params[0].lower(), "0x")
        raise KeyError(method)

    def serve(self) -> Server:
        return Server(self)


class Server:
    """The chain on 127.0.0.1 at a free port, in a daemon thread; use as a context manager."""

    def __init__(self, chain: FakeChain) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))

                def answer(request: dict[str, Any]) -> dict[str, Any]:
                    try:
                        return {"jsonrpc": "2.0", "id": request["id"],
                                "result": chain.handle(request["method"], request["params"])}
                    except Reverted:
                        return {"jsonrpc": "2.0", "id": request["id"],
                                "error": {"code": 3, "message": "execution reverted"}}
                    except KeyError:
                        return {"jsonrpc": "2.0", "id": request["id"],
                                "error": {"code": -32601, "message": "method not found"}}

                body = ([answer(r) for r in request] if isinstance(request, list)
                        else answer(request))  # JSON-RPC batches too
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
