"""Embedded local chain: eth-tester + py-evm behind a real JSON-RPC 2.0 HTTP server.

Why this exists: the demo and the tests must run from a fresh clone with only Python, so
no node/anvil binary is available. The pipeline reads this server with web3's
``HTTPProvider`` exactly as it reads a production node, so everything it sees (hex
quantities, lowercase addresses, ``finalized`` tags, ``eth_getLogs`` filters, JSON-RPC
errors) is in the standard wire format, not eth-tester's Python objects.

Determinism: the same sequence of requests always yields byte-identical blocks. Three
things in eth-tester/py-evm would otherwise depend on the wall clock or on randomness,
and all three are pinned here:

* the genesis timestamp (``genesis_parameters``), ``--genesis-timestamp``;
* every later block's timestamp: the parent's timestamp + 1 unless the client chose one
  with ``evm_setNextBlockTimestamp`` / ``evm_mine`` (py-evm would use ``time.time()``);
* the post-merge ``mixHash``/prevrandao, which eth-tester draws from ``os.urandom``;
  here it is ``keccak256(parent_hash ++ number)``.

Accounts come from fixed private keys (``keccak256("aimagine-demo-account:" ++ i)``),
are funded in the genesis state and unlocked, so clients can use ``eth_sendTransaction``.

Run ``python -m aimg_pipeline.demo.devchain --host 127.0.0.1 --port 0 --accounts 130``;
it prints ``READY http://127.0.0.1:PORT`` once listening. ``start_devchain()`` does that
in a subprocess for Python callers.

One module, though over 500 lines: it is one small server — the node's JSON-RPC methods, the
wire format they answer in and the process that serves them change together, and nothing
else in the project imports its parts.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_GENESIS_TIMESTAMP = 1767139200  # 2025-12-31T00:00:00Z: one day before epoch 0
DEFAULT_ACCOUNTS = 130
ACCOUNT_SEED = b"aimagine-demo-account:"
ACCOUNT_BALANCE_WEI = 10**6 * 10**18
CLIENT_VERSION = "aimg-devchain/0.1.0 (eth-tester/py-evm)"

_BLOCK_TAGS = ("latest", "earliest", "pending", "safe", "finalized")
_QUANTITY_TX_FIELDS = (
    "gas",
    "gasPrice",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "value",
    "nonce",
)


def _keccak(data: bytes) -> bytes:
    from eth_utils import keccak

    return keccak(data)


def derive_private_key(index: int) -> bytes:
    """The fixed private key of account ``index`` (same on every machine and run)."""
    return _keccak(ACCOUNT_SEED + index.to_bytes(4, "big"))


def derive_address(index: int) -> str:
    """The lowercase 0x address of account ``index`` (what ``eth_accounts`` returns)."""
    from eth_keys import keys

    return keys.PrivateKey(derive_private_key(index)).public_key.to_address().lower()


class RpcError(Exception):
    """A JSON-RPC error object to return to the client (never a server crash)."""

    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def _make_backend(genesis_timestamp: int, accounts: int) -> Any:
    """A PyEVMBackend whose genesis, block timestamps and mixHash never vary between runs."""
    from eth.vm.forks.paris import ParisVM
    from eth.vm.forks.prague import PragueVM
    from eth_keys import keys
    from eth_tester import PyEVMBackend
    from eth_tester.backends.pyevm.main import get_total_blob_gas

    private_keys = tuple(keys.PrivateKey(derive_private_key(i)) for i in range(accounts))
    genesis_state = {
        key.public_key.to_canonical_address(): {
            "balance": ACCOUNT_BALANCE_WEI,
            "storage": {},
            "code": b"",
            "nonce": 0,
        }
        for key in private_keys
    }

    class DeterministicBackend(PyEVMBackend):  # type: ignore[misc]
        """PyEVMBackend with a client-controlled clock and a derived prevrandao."""

        next_timestamp: int | None = None

        def fix_pending_timestamp(self) -> None:
            """py-evm stamps the pending header with time.time(); replace that."""
            parent = self.chain.get_canonical_head()
            ts = self.next_timestamp if self.next_timestamp is not None else parent.timestamp + 1
            self.chain.header = self.chain.header.copy(timestamp=ts)

        def set_next_timestamp(self, timestamp: int) -> None:
            parent = self.chain.get_canonical_head()
            if timestamp <= parent.timestamp:
                raise RpcError(
                    -32602,
                    f"timestamp {timestamp} must be greater than the latest block's "
                    f"timestamp {parent.timestamp}",
                )
            self.next_timestamp = timestamp
            self.fix_pending_timestamp()

        def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = b"\0" * 20) -> tuple:
            hashes = []
            for _ in range(num_blocks):
                self.fix_pending_timestamp()
                parent = self.chain.get_canonical_head()
                kwargs: dict[str, Any] = {"coinbase": coinbase}
                if isinstance(self.chain.get_vm(), ParisVM):
                    number = parent.block_number + 1
                    kwargs["mix_hash"] = _keccak(parent.hash + number.to_bytes(32, "big"))
                if isinstance(self.chain.get_vm(), PragueVM):
                    kwargs["blob_gas_used"] = sum(
                        get_total_blob_gas(tx) for tx in self.chain.get_block().transactions
                    )
                block = self.chain.mine_block(**kwargs)
                self.next_timestamp = None
                self.fix_pending_timestamp()
                hashes.append(block.hash)
            return tuple(hashes)

        def revert_to_snapshot(self, snapshot: bytes) -> None:
            super().revert_to_snapshot(snapshot)
            self.next_timestamp = None
            self.fix_pending_timestamp()

    genesis_params = PyEVMBackend.generate_genesis_params(
        overrides={"timestamp": genesis_timestamp}
    )
    backend = DeterministicBackend(genesis_parameters=genesis_params, genesis_state=genesis_state)
    backend.account_keys = private_keys
    backend.fix_pending_timestamp()
    return backend


# ---------------------------------------------------------------------------------------
# wire-format conversion (eth-tester's Python objects <-> JSON-RPC hex)
# ---------------------------------------------------------------------------------------


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _to_wire(value: Any, key: str = "") -> Any:
    """Convert an eth-tester result to standard JSON-RPC: hex quantities, lowercase hex."""
    if isinstance(value, dict):
        return {
            _camel(k): _to_wire(v, k)
            for k, v in value.items()
            if not (k == "state_root" and isinstance(v, bytes))  # receipts: no root post-Byzantium
        }
    if isinstance(value, list | tuple):
        return [_to_wire(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if key == "logs_bloom":
            return "0x" + value.to_bytes(256, "big").hex()
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and value.startswith("0x"):
        return value.lower()
    return value


def _quantity(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise RpcError(-32602, f"invalid {name}: expected a hex quantity, got {value!r}")


def _tx_from_wire(tx: Any) -> dict[str, Any]:
    """JSON-RPC transaction object -> eth-tester transaction dict."""
    if not isinstance(tx, dict):
        raise RpcError(-32602, "invalid transaction: expected an object")
    out: dict[str, Any] = {}
    for key, value in tx.items():
        if value is None or key in ("chainId", "type"):
            continue
        if key in _QUANTITY_TX_FIELDS:
            out[_camel_to_snake(key)] = _quantity(value, key)
        elif key in ("data", "input"):
            out["data"] = value
        elif key in ("from", "to"):
            out[key] = _checksum(value)
        elif key == "accessList":
            out["access_list"] = tuple(
                {"address": _checksum(item["address"]), "storage_keys": tuple(item["storageKeys"])}
                for item in value
            )
    return out


def _camel_to_snake(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key)


def _checksum(address: Any) -> str:
    from eth_utils import is_address, to_checksum_address

    if not isinstance(address, str) or not is_address(address):
        raise RpcError(-32602, f"invalid address: {address!r}")
    return to_checksum_address(address)


def _revert_error(exc: Exception) -> RpcError:
    """Map eth-tester's TransactionFailed to the geth-style revert error (code 3)."""
    reason = exc.args[0] if exc.args else ""
    data = None
    if isinstance(reason, bytes | bytearray):
        data = "0x" + bytes(reason).hex()
        reason = ""
    elif isinstance(reason, str) and reason.startswith("0x"):
        data, reason = reason, ""
    message = f"execution reverted: {reason}" if reason else "execution reverted"
    if data is None:
        from eth_abi import encode

        data = "0x08c379a0" + encode(["string"], [str(reason)]).hex()
    return RpcError(3, message, data)


# ---------------------------------------------------------------------------------------
# the chain
# ---------------------------------------------------------------------------------------


class DevChainNode:
    """JSON-RPC method dispatch over one eth-tester instance (not thread-safe: callers lock)."""

    def __init__(
        self, accounts: int = DEFAULT_ACCOUNTS, genesis_timestamp: int = DEFAULT_GENESIS_TIMESTAMP
    ) -> None:
        from eth_tester import EthereumTester

        self.backend = _make_backend(genesis_timestamp, accounts)
        self.tester = EthereumTester(backend=self.backend)
        self.lock = threading.Lock()
        self._automine = True
        self._pending_nonces: dict[str, int] = {}
        self._snapshots: dict[int, int] = {}
        self._logs_cache: dict[int, list[dict[str, Any]]] = {}
        self._methods: dict[str, Callable[[list[Any]], Any]] = {
            "web3_clientVersion": lambda p: CLIENT_VERSION,
            "net_version": lambda p: str(self.backend.chain.chain_id),
            "net_listening": lambda p: True,
            "eth_chainId": lambda p: hex(self.backend.chain.chain_id),
            "eth_syncing": lambda p: False,
            "eth_accounts": lambda p: [a.lower() for a in self.tester.get_accounts()],
            "eth_blockNumber": lambda p: hex(self._head_number()),
            "eth_gasPrice": lambda p: hex(self._base_fee() + 10**9),
            "eth_maxPriorityFeePerGas": lambda p: hex(10**9),
            "eth_getBlockByNumber": self._get_block_by_number,
            "eth_getBlockByHash": self._get_block_by_hash,
            "eth_getBalance": lambda p: hex(
                self.tester.get_balance(_checksum(p[0]), self._block_param(p, 1))
            ),
            "eth_getCode": lambda p: self.tester.get_code(_checksum(p[0]), self._block_param(p, 1)),
            "eth_getStorageAt": lambda p: self.tester.get_storage_at(
                _checksum(p[0]), hex(_quantity(p[1], "slot")), self._block_param(p, 2)
            ),
            "eth_getTransactionCount": lambda p: hex(
                self.tester.get_nonce(_checksum(p[0]), self._block_param(p, 1))
            ),
            "eth_getTransactionByHash": self._get_transaction_by_hash,
            "eth_getTransactionReceipt": self._get_transaction_receipt,
            "eth_getLogs": self._get_logs,
            "eth_call": self._call,
            "eth_estimateGas": self._estimate_gas,
            "eth_sendTransaction": self._send_transaction,
            "eth_sendRawTransaction": self._send_raw_transaction,
            "evm_mine": self._evm_mine,
            "evm_setNextBlockTimestamp": self._set_next_block_timestamp,
            "evm_snapshot": self._snapshot,
            "evm_revert": self._revert,
            "evm_setAutomine": self._set_automine,
            "anvil_mine": self._anvil_mine,
        }

    # -- helpers ------------------------------------------------------------------------

    def _head_number(self) -> int:
        return int(self.backend.chain.get_canonical_head().block_number)

    def _base_fee(self) -> int:
        return int(self.tester.get_block_by_number("latest")["base_fee_per_gas"])

    def _resolve_block(self, ident: Any) -> int | str:
        """Block tag or hex number -> eth-tester block id; EIP-1898 objects accepted."""
        if ident is None or ident in ("latest", "safe", "finalized"):
            return "latest"  # one node, instant finality: finalized == safe == latest
        if ident in ("earliest", "pending"):
            return str(ident)
        if isinstance(ident, dict):
            if "blockHash" in ident:
                return int(self.tester.get_block_by_hash(ident["blockHash"])["number"])
            return self._resolve_block(ident.get("blockNumber"))
        number = _quantity(ident, "block number")
        if number > self._head_number():
            raise RpcError(-32000, f"header not found: block {number} is beyond the head")
        return number

    def _block_param(self, params: list[Any], index: int) -> int | str:
        return self._resolve_block(params[index] if len(params) > index else "latest")

    def _block_number_of(self, ident: Any, default: str) -> int:
        resolved = self._resolve_block(ident if ident is not None else default)
        if resolved == "earliest":
            return 0
        if resolved == "pending":
            return self._head_number() + 1
        if resolved == "latest":
            return self._head_number()
        return int(resolved)

    # -- blocks, transactions, logs -----------------------------------------------------

    def _get_block_by_number(self, params: list[Any]) -> Any:
        from eth_tester.exceptions import BlockNotFound

        full = bool(params[1]) if len(params) > 1 else False
        try:
            ident = self._resolve_block(params[0])
        except RpcError:
            return None
        try:
            return _to_wire(self.tester.get_block_by_number(ident, full))
        except BlockNotFound:
            return None

    def _get_block_by_hash(self, params: list[Any]) -> Any:
        from eth_tester.exceptions import BlockNotFound

        try:
            return _to_wire(self.tester.get_block_by_hash(params[0], bool(params[1])))
        except BlockNotFound:
            return None

    def _get_transaction_by_hash(self, params: list[Any]) -> Any:
        from eth_tester.exceptions import TransactionNotFound

        try:
            return _to_wire(self.tester.get_transaction_by_hash(params[0]))
        except TransactionNotFound:
            return None

    def _get_transaction_receipt(self, params: list[Any]) -> Any:
        from eth_tester.exceptions import TransactionNotFound

        try:
            receipt = self.tester.get_transaction_receipt(params[0])
        except TransactionNotFound:
            return None
        if receipt is None or receipt.get("block_number") is None:
            return None
        wire = _to_wire(receipt)
        wire["logsBloom"] = "0x" + "00" * 256
        wire["logs"] = [
            log
            for log in self._block_logs(int(receipt["block_number"]))
            if log["transactionHash"] == wire["transactionHash"]
        ]
        return wire

    def _block_logs(self, number: int) -> list[dict[str, Any]]:
        """All logs of a mined block in the standard format (cached; cleared on revert)."""
        cached = self._logs_cache.get(number)
        if cached is not None:
            return cached
        block = self.tester.get_block_by_number(number, False)
        logs: list[dict[str, Any]] = []
        for tx_hash in block["transactions"]:
            receipt = self.tester.get_transaction_receipt(tx_hash)
            for log in receipt["logs"]:
                logs.append(
                    {
                        "address": log["address"].lower(),
                        "topics": [_to_wire(t) for t in log["topics"]],
                        "data": _to_wire(log["data"]),
                        "blockNumber": hex(number),
                        "blockHash": block["hash"].lower(),
                        "blockTimestamp": hex(block["timestamp"]),
                        "transactionHash": _to_wire(log["transaction_hash"]),
                        "transactionIndex": hex(log["transaction_index"]),
                        "logIndex": hex(len(logs)),  # block-wide index, as real nodes count
                        "removed": False,
                    }
                )
        self._logs_cache[number] = logs
        return logs

    def _get_logs(self, params: list[Any]) -> list[dict[str, Any]]:
        flt = params[0] if params else {}
        if not isinstance(flt, dict):
            raise RpcError(-32602, "invalid filter: expected an object")
        if flt.get("blockHash") is not None:
            number = int(self.tester.get_block_by_hash(flt["blockHash"])["number"])
            start = end = number
        else:
            start = self._block_number_of(flt.get("fromBlock"), "latest")
            end = self._block_number_of(flt.get("toBlock"), "latest")
            end = min(end, self._head_number())
        address = flt.get("address")
        addresses = None
        if address is not None:
            addresses = {a.lower() for a in (address if isinstance(address, list) else [address])}
        topics = flt.get("topics") or []
        wanted: list[set[str] | None] = []
        for topic in topics:
            if topic is None:
                wanted.append(None)
            elif isinstance(topic, list):
                wanted.append({t.lower() for t in topic} if topic else None)
            else:
                wanted.append({topic.lower()})
        result = []
        for number in range(start, end + 1):
            for log in self._block_logs(number):
                if addresses is not None and log["address"] not in addresses:
                    continue
                if len(wanted) > len(log["topics"]):
                    continue
                if all(w is None or log["topics"][i] in w for i, w in enumerate(wanted)):
                    result.append(log)
        return result

    # -- execution ----------------------------------------------------------------------

    def _call_tx(self, wire: Any) -> dict[str, Any]:
        """A call's transaction; without 'from' a funded account pays the (virtual) gas,
        because eth-tester checks the sender's balance even for eth_call."""
        tx = _tx_from_wire(wire)
        tx.setdefault("from", self.tester.get_accounts()[0])
        return tx

    def _call(self, params: list[Any]) -> str:
        from eth_tester.exceptions import TransactionFailed

        tx = self._call_tx(params[0])
        try:
            return _to_wire(self.tester.call(tx, self._block_param(params, 1)))
        except TransactionFailed as exc:
            raise _revert_error(exc) from None

    def _estimate_gas(self, params: list[Any]) -> str:
        from eth_tester.exceptions import TransactionFailed

        tx = self._call_tx(params[0])
        try:
            return hex(self.tester.estimate_gas(tx, self._block_param(params, 1)))
        except TransactionFailed as exc:
            raise _revert_error(exc) from None

    def _send_transaction(self, params: list[Any]) -> str:
        from eth_tester.exceptions import TransactionFailed, ValidationError

        tx = _tx_from_wire(params[0])
        if "from" not in tx:
            raise RpcError(-32602, "eth_sendTransaction needs 'from'")
        if "gas" not in tx:
            try:
                tx["gas"] = self.tester.estimate_gas(tx)
            except TransactionFailed as exc:
                raise _revert_error(exc) from None
        if not self._automine and "nonce" not in tx:
            sender = tx["from"].lower()
            nonce = self._pending_nonces.get(sender, self.tester.get_nonce(tx["from"]))
            tx["nonce"] = nonce
            self._pending_nonces[sender] = nonce + 1
        try:
            if self._automine:
                tx_hash = self.tester.send_transaction(tx)
            else:
                # eth-tester's own no-automine mode validates every queued transaction
                # against the last mined state, so a second transaction of one sender
                # fails on its nonce. Apply it straight to py-evm's pending block instead
                # (what geth/anvil do); evm_mine then seals all of them in one block.
                tx_hash = self.tester._add_transaction_to_pending_block(tx)
        except ValidationError as exc:
            raise RpcError(-32000, str(exc)) from None
        self._after_mine_if_automine()
        return str(tx_hash).lower()

    def _send_raw_transaction(self, params: list[Any]) -> str:
        from eth_tester.exceptions import ValidationError

        try:
            tx_hash = self.tester.send_raw_transaction(params[0])
        except ValidationError as exc:
            raise RpcError(-32000, str(exc)) from None
        self._after_mine_if_automine()
        return str(tx_hash).lower()

    def _after_mine_if_automine(self) -> None:
        if self._automine:
            self._pending_nonces.clear()

    # -- test methods (anvil-compatible) ------------------------------------------------

    def _evm_mine(self, params: list[Any]) -> str:
        """``evm_mine``, ``evm_mine(timestamp)`` or ``evm_mine({timestamp, blocks})``."""
        blocks = 1
        timestamp = None
        if params:
            arg = params[0]
            if isinstance(arg, dict):
                timestamp = arg.get("timestamp")
                blocks = _quantity(arg.get("blocks", 1), "blocks")
            elif arg is not None:
                timestamp = arg
        if timestamp is not None:
            self.backend.set_next_timestamp(_quantity(timestamp, "timestamp"))
        self.tester.mine_blocks(blocks)
        self._pending_nonces.clear()
        return "0x0"

    def _anvil_mine(self, params: list[Any]) -> None:
        blocks = _quantity(params[0], "blocks") if params and params[0] is not None else 1
        self.tester.mine_blocks(blocks)
        self._pending_nonces.clear()

    def _set_next_block_timestamp(self, params: list[Any]) -> None:
        self.backend.set_next_timestamp(_quantity(params[0], "timestamp"))

    def _snapshot(self, params: list[Any]) -> str:
        snapshot_id = int(self.tester.take_snapshot())
        return hex(snapshot_id)

    def _revert(self, params: list[Any]) -> bool:
        from eth_tester.exceptions import SnapshotNotFound

        snapshot_id = _quantity(params[0], "snapshot id")
        try:
            self.tester.revert_to_snapshot(snapshot_id)
        except SnapshotNotFound:
            return False
        self._logs_cache.clear()
        self._pending_nonces.clear()
        return True

    def _set_automine(self, params: list[Any]) -> None:
        """Off: transactions pile up in the pending block until ``evm_mine`` seals them."""
        enabled = bool(params[0])
        if enabled and not self._automine:
            self._pending_nonces.clear()
        self._automine = enabled

    # -- dispatch -----------------------------------------------------------------------

    def handle(self, request: Any) -> dict[str, Any] | None:
        """Answer one JSON-RPC request object (``None`` for a notification)."""
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32600, "message": "invalid request"},
            }
        req_id = request.get("id")
        params = request.get("params") or []
        method = self._methods.get(request["method"])
        response: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id}
        try:
            if method is None:
                raise RpcError(-32601, f"the method {request['method']} does not exist")
            if not isinstance(params, list):
                raise RpcError(-32602, "params must be an array")
            with self.lock:
                response["result"] = method(params)
        except RpcError as exc:
            response["error"] = exc.to_json()
        except (IndexError, KeyError, TypeError) as exc:
            response["error"] = {"code": -32602, "message": f"invalid params: {exc!r}"}
        except Exception as exc:  # any backend failure becomes an error, never a dead server
            response["error"] = {"code": -32000, "message": f"{type(exc).__name__}: {exc}"}
        return response if "id" in request else None

    def handle_payload(self, body: bytes) -> Any:
        """Answer a single request or a batch (JSON array); ``None`` if nothing to send."""
        try:
            payload = json.loads(body)
        except ValueError:
            error = {"code": -32700, "message": "parse error"}
            return {"jsonrpc": "2.0", "id": None, "error": error}
        if isinstance(payload, list):
            if not payload:
                return {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": -32600, "message": "empty batch"},
                }
            answers = [self.handle(item) for item in payload]
            return [a for a in answers if a is not None] or None
        return self.handle(payload)


def make_server(node: DevChainNode, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server posting every request body to ``node`` (requests are serialized)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every request

        def do_POST(self) -> None:  # noqa: N802 (stdlib name)
            length = int(self.headers.get("Content-Length") or 0)
            answer = node.handle_payload(self.rfile.read(length))
            body = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return  # quiet: the demo prints its own progress

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8545, help="0 picks a free port")
    parser.add_argument("--accounts", type=int, default=DEFAULT_ACCOUNTS)
    parser.add_argument("--genesis-timestamp", type=int, default=DEFAULT_GENESIS_TIMESTAMP)
    args = parser.parse_args(argv)
    # stop at once on SIGTERM even when started by a process that ignores or traps it
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    node = DevChainNode(accounts=args.accounts, genesis_timestamp=args.genesis_timestamp)
    server = make_server(node, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"READY http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


class DevChain:
    """A devchain subprocess: ``.url`` to connect, ``.stop()`` (or ``with``) to end it."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def stop(self) -> None:
        """Terminate the subprocess (idempotent)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> DevChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_devchain(
    accounts: int = DEFAULT_ACCOUNTS,
    genesis_timestamp: int = DEFAULT_GENESIS_TIMESTAMP,
    timeout: float = 60.0,
) -> DevChain:
    """Start the devchain in a subprocess on a free port and wait for its READY line.

    A subprocess (not a thread) keeps py-evm's CPU work off the caller's GIL, so the
    pipeline reading the chain runs at full speed, exactly like against a remote node.
    """
    cmd = [
        sys.executable,
        "-m",
        "aimg_pipeline.demo.devchain",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--accounts",
        str(accounts),
        "--genesis-timestamp",
        str(genesis_timestamp),
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    try:
        while True:
            line = lines.get(timeout=timeout)
            if line.startswith("READY "):
                return DevChain(process, line.split()[1])
            if line == "":
                raise RuntimeError(f"devchain exited before READY (code {process.poll()})")
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        raise


if __name__ == "__main__":
    sys.exit(main())
