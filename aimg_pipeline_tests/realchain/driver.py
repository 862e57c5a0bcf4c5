"""Support for ``test_real_contracts.py``: the npm package of this folder (pinned
OpenZeppelin 5.x, Uniswap V2 core, solcjs and anvil), compiling the Solidity sources with a
cache, an anvil dev node on a free loopback port, and a small web3 client that sends
transactions at chosen block timestamps.

Nothing here imports ``aimg_pipeline``: the test's expectations must not come from the code
under test.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3 import HTTPProvider, Web3

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
CACHE = NODE_MODULES / ".cache" / "aimg-realchain"  # git-ignored with node_modules/
LOCK_STAMP = NODE_MODULES / ".aimg-package-lock.sha256"
GAS = 3_000_000
DEPLOY_GAS = 12_000_000


class RealchainError(RuntimeError):
    """The realchain toolchain (node, npm, solc, anvil) could not be set up."""


def _sha256(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def ensure_node_modules() -> None:
    """``npm ci`` this folder's package when node_modules is missing or not from this lock.

    ``--ignore-scripts``: anvil's binary comes from its platform package
    (``@foundry-rs/anvil-linux-amd64``); its postinstall would only download a fallback.
    """
    lock = (HERE / "package-lock.json").read_bytes()
    stamp = _sha256(lock)
    if LOCK_STAMP.is_file() and LOCK_STAMP.read_text().strip() == stamp:
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RealchainError("node and npm are required for the real-contract test")
    done = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                          cwd=HERE, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RealchainError(f"`npm ci` in {HERE} failed:\n{done.stdout[-2000:]}"
                             f"\n{done.stderr[-2000:]}")
    LOCK_STAMP.write_text(stamp + "\n")


def compile_contracts() -> dict[str, dict[str, Any]]:
    """ABI and bytecode of every contract in ``contracts/*.sol`` (solcjs, cached).

    The cache key covers the sources, the compile script and the lock file (so the solc
    and OpenZeppelin versions): any change recompiles.
    """
    parts = [(HERE / "package-lock.json").read_bytes(), (HERE / "compile.mjs").read_bytes()]
    for source in sorted((HERE / "contracts").glob("*.sol")):
        parts += [source.name.encode(), source.read_bytes()]
    out = CACHE / f"solc-{_sha256(*parts)[:24]}.json"
    if not out.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["node", str(HERE / "compile.mjs"), str(out)], cwd=HERE,
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise RealchainError(f"solc failed:\n{done.stderr[-4000:]}")
    return json.loads(out.read_text())["contracts"]


def uniswap_artifact(name: str) -> dict[str, Any]:
    """``@uniswap/v2-core``'s published build artifact (abi, creation bytecode)."""
    raw = json.loads((NODE_MODULES / "@uniswap" / "v2-core" / "build" / f"{name}.json")
                     .read_text())
    code = raw["evm"]["bytecode"]["object"]
    return {"abi": raw["abi"], "bytecode": code if code.startswith("0x") else "0x" + code}


def pair_address(factory: str, token_a: str, token_b: str, pair_bytecode: str) -> str:
    """Uniswap V2's CREATE2 pair address: salt keccak(token0 ++ token1), the pair's init
    code hash, the factory as deployer."""
    token0, token1 = sorted([token_a.lower(), token_b.lower()])
    salt = keccak(bytes.fromhex(token0[2:]) + bytes.fromhex(token1[2:]))
    init_hash = keccak(bytes.fromhex(pair_bytecode.removeprefix("0x")))
    raw = keccak(b"\xff" + bytes.fromhex(factory.lower()[2:]) + salt + init_hash)
    return to_checksum_address(raw[12:])


def anvil_binary() -> Path:
    found = sorted(NODE_MODULES.glob("@foundry-rs/anvil-*/bin/anvil"))
    if not found:
        raise RealchainError(f"no anvil binary under {NODE_MODULES / '@foundry-rs'}")
    return found[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def anvil(timestamp: int, accounts: int = 30) -> Iterator[str]:
    """anvil on 127.0.0.1 (a free port), genesis block at ``timestamp``; yields its URL.

    Blocks are mined one per transaction (automine) at the timestamps the client sets;
    ``--order fifo`` keeps the send order inside blocks mined by hand.
    """
    binary = anvil_binary()
    for _attempt in range(3):
        port = _free_port()
        proc = subprocess.Popen(
            [str(binary), "--host", "127.0.0.1", "--port", str(port), "--timestamp",
             str(timestamp), "--accounts", str(accounts), "--balance", "1000000",
             "--order", "fifo", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        if proc.poll() is None:
            break
        err = proc.stderr.read().decode() if proc.stderr else ""
        if "in use" not in err:
            raise RealchainError(f"anvil exited: {err[-2000:]}")
    else:
        raise RealchainError("anvil could not bind a port")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Sent:
    """A transaction sent while a block is being assembled by hand."""

    tx_hash: str
    label: str


class Chain:
    """A thin web3 client: deploy, transact at chosen block timestamps, several
    transactions in one block, empty blocks."""

    def __init__(self, url: str) -> None:
        self.w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 60}))
        self.accounts = [to_checksum_address(a) for a in self.w3.eth.accounts]
        self.chain_id = self.w3.eth.chain_id
        self.last_ts = self.w3.eth.get_block("latest")["timestamp"]
        self._pending: list[Sent] | None = None
        self._nonces: dict[str, int] = {}

    def rpc(self, method: str, params: list[Any]) -> Any:
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise RealchainError(f"{method} failed: {response['error']}")
        return response.get("result")

    def _arm(self, timestamp: int) -> None:
        if timestamp <= self.last_ts:
            raise RealchainError(f"timestamp {timestamp} is not after the last block's "
                                 f"{self.last_ts}")
        self.rpc("evm_setNextBlockTimestamp", [timestamp])
        self.last_ts = timestamp

    def _send(self, call: Any, sender: str, gas: int) -> str:
        tx: dict[str, Any] = {"from": sender, "gas": hex(gas), "maxFeePerGas": hex(10**11),
                              "maxPriorityFeePerGas": hex(1)}
        if hasattr(call, "data_in_transaction"):  # a constructor
            tx["data"] = call.data_in_transaction
        else:
            tx["to"] = call.address
            tx["data"] = call._encode_transaction_data()
        if self._pending is not None:  # automine is off: nonces are ours to count
            nonce = self._nonces.get(sender)
            if nonce is None:
                nonce = self.w3.eth.get_transaction_count(sender, "pending")
            tx["nonce"] = hex(nonce)
            self._nonces[sender] = nonce + 1
        return self.rpc("eth_sendTransaction", [tx])

    def _receipt(self, tx_hash: str, label: str) -> dict[str, Any]:
        # anvil mines in the background: the receipt may lag the send by a moment
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60,
                                                           poll_latency=0.005)
        if receipt["status"] != 1:
            raise RealchainError(f"transaction {label} reverted ({tx_hash})")
        return receipt

    def send(self, call: Any, sender: str, at: int | None = None, gas: int = GAS) -> Any:
        """One transaction in its own block at ``at`` (default: one second after the last
        block), or queued in the block being assembled by ``block()``."""
        label = getattr(call, "fn_name", "constructor")
        if self._pending is not None:
            if at is not None:
                raise RealchainError("inside block(): the block's timestamp is set there")
            self._pending.append(Sent(self._send(call, sender, gas), label))
            return None
        self._arm(self.last_ts + 1 if at is None else at)
        tx_hash = self._send(call, sender, gas)
        receipt = self._receipt(tx_hash, label)
        self.last_ts = self.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
        return receipt

    @contextlib.contextmanager
    def block(self, at: int) -> Iterator[list[Sent]]:
        """Several transactions in one block at ``at``, in send order."""
        self.rpc("evm_setAutomine", [False])
        self._pending, self._nonces = [], {}
        sent = self._pending
        try:
            yield sent
        finally:
            self._pending = None
        self.mine(at)
        self.rpc("evm_setAutomine", [True])
        numbers = {self._receipt(s.tx_hash, s.label)["blockNumber"] for s in sent}
        if len(numbers) != 1:
            raise RealchainError(f"block() spread over blocks {sorted(numbers)}")

    def mine(self, at: int) -> None:
        """Mine one block (empty unless transactions are pending) at ``at``."""
        if at <= self.last_ts:
            raise RealchainError(f"timestamp {at} is not after the last block's {self.last_ts}")
        self.rpc("evm_mine", [at])
        self.last_ts = at

    def deploy(self, artifact: dict[str, Any], sender: str, *args: Any,
               at: int | None = None) -> Any:
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = self.send(factory.constructor(*args), sender, at=at, gas=DEPLOY_GAS)
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])

    def contract(self, address: str, artifact: dict[str, Any]) -> Any:
        return self.w3.eth.contract(address=to_checksum_address(address), abi=artifact["abi"])
