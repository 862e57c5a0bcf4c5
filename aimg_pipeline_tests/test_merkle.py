"""Tests for aimg_pipeline.lib.merkle against OpenZeppelin's @openzeppelin/merkle-tree 1.0.8.

Three layers: fixed vectors produced once by the JS library (run everywhere, no node needed),
a live differential test against the JS library when node/npm are available, and unit tests
for validation (of values and of dumps), proof verification and the keccak backends.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from Crypto.Hash import keccak
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address as eth_checksum
from hypothesis import given, settings
from hypothesis import strategies as st

from aimg_pipeline.lib import keccak as lib_keccak
from aimg_pipeline.lib import merkle
from aimg_pipeline.lib.eip55 import AddressError, to_checksum_address
from aimg_pipeline.lib.merkle import (
    MerkleError,
    StandardMerkleTree,
    leaf_hash,
    verify_proof,
)
from aimg_pipeline_tests.nodejs import JS_DIR, js_node

HERE = Path(__file__).parent
ORACLE = JS_DIR / "oz_oracle.mjs"
VECTORS = json.loads((HERE / "fixtures" / "merkle_vectors.json").read_text())["vectors"]
MAX = 2**256 - 1


def _keccak(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def _values(raw: list[list[str]]) -> list[tuple[str, int]]:
    return [(account, int(amount)) for account, amount in raw]


def _sample_tree(n: int = 9, seed: int = 7) -> StandardMerkleTree:
    rng = random.Random(seed)
    return StandardMerkleTree.of(
        [(eth_checksum(rng.randbytes(20)), rng.randrange(10**20)) for _ in range(n)]
    )


# ---------------------------------------------------------------------------------------------
# (a) fixed vectors from the JS library
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_matches_oz_vectors(vector: dict[str, Any]) -> None:
    tree = StandardMerkleTree.of(_values(vector["input"]))
    assert tree.root == vector["root"]
    assert tree.dump() == vector["dump"]
    assert json.dumps(tree.dump()) == json.dumps(vector["dump"])  # key order too
    assert tree.proofs() == vector["proofs"]
    assert [tree.proof(i) for i in range(len(tree))] == vector["proofs"]
    for (account, amount), proof in zip(tree.values, vector["proofs"], strict=True):
        assert verify_proof(vector["root"], account, amount, proof)


def test_vectors_cover_the_required_shapes() -> None:
    sizes = {len(v["input"]) for v in VECTORS}
    assert {1, 2, 3, 7} <= sizes
    amounts = {int(a) for v in VECTORS for _, a in v["input"]}
    assert {0, MAX} <= amounts
    addresses = [a for v in VECTORS for a, _ in v["input"]]
    assert any(a[2:] == a[2:].lower() for a in addresses)
    assert any(a[2:] == a[2:].upper() for a in addresses)


def test_single_leaf_tree_is_the_leaf() -> None:
    tree = StandardMerkleTree.of([("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", 5)])
    assert tree.tree == [tree.root]
    assert tree.root == "0x" + leaf_hash("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", 5).hex()
    assert tree.proofs() == [[]]


# ---------------------------------------------------------------------------------------------
# (b) live differential test against the JS library
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oz_oracle() -> Any:
    """Return a function running oz_oracle.mjs; installs node_modules with `npm ci` if needed."""
    node = js_node()

    def run(mode: str, payload: dict[str, Any]) -> dict[str, Any]:
        done = subprocess.run(
            [node, str(ORACLE), mode],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            cwd=JS_DIR,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run


def _random_values(rng: random.Random, n: int) -> list[tuple[str, int]]:
    """Random claims, with some repeated accounts/amounts and all three address spellings."""
    accounts = [eth_checksum(rng.randbytes(20)) for _ in range(max(1, n // 2 + 1))]
    out = []
    for _ in range(n):
        account = rng.choice(accounts) if rng.random() < 0.2 else eth_checksum(rng.randbytes(20))
        spelling = rng.random()
        if spelling < 0.2:
            account = account.lower()
        elif spelling < 0.3:
            account = "0x" + account[2:].upper()
        amount = rng.choice(
            [0, 1, MAX, 10**18, rng.randrange(10**24), rng.randrange(2**256), rng.randrange(2**256)]
        )
        out.append((account, amount))
    return out


def test_random_trees_match_oz_and_oz_verifies_our_dumps(oz_oracle: Any) -> None:
    rng = random.Random(0xA1A9)
    sizes = [1, 2, 3, 4, 5, 7, 8, 9, 200] + [rng.randint(1, 200) for _ in range(41)]
    trees = [_random_values(rng, n) for n in sizes]
    ours = [StandardMerkleTree.of(values) for values in trees]
    # OZ keeps values as given; we normalise to EIP-55, so feed OZ the EIP-55 form.
    built = oz_oracle("build", {"trees": [[[a, str(x)] for a, x in tree.values] for tree in ours]})[
        "results"
    ]
    for n, tree, oz in zip(sizes, ours, built, strict=True):
        assert tree.root == oz["root"], n
        assert tree.dump() == oz["dump"], n
        assert tree.proofs() == oz["proofs"], n

    checked = oz_oracle(
        "verify", {"cases": [{"dump": t.dump(), "proofs": t.proofs()} for t in ours]}
    )["results"]
    for tree, result in zip(ours, checked, strict=True):
        assert result == {"ok": True, "root": tree.root, "errors": []}


def test_oz_rejects_a_tampered_dump_too(oz_oracle: Any) -> None:
    """Sanity check of the oracle itself: it does fail when a dump is wrong."""
    tree = _sample_tree()
    dump = tree.dump()
    dump["values"][0]["value"][1] = str(int(dump["values"][0]["value"][1]) + 1)
    (result,) = oz_oracle("verify", {"cases": [{"dump": dump, "proofs": tree.proofs()}]})["results"]
    assert not result["ok"]


@pytest.mark.skipif(
    not os.environ.get("AIMG_MERKLE_BENCH"), reason="benchmark: set AIMG_MERKLE_BENCH=1 to run"
)
def test_benchmark_against_oz(oz_oracle: Any, tmp_path: Path) -> None:
    """Tree + all proofs, Python vs OZ in node, on identical values (prints the timings)."""
    sizes = [int(s) for s in os.environ.get("AIMG_MERKLE_BENCH_SIZES", "100000").split(",")]
    for n in sizes:
        rng = random.Random(n)
        values = [
            (to_checksum_address("0x" + rng.randbytes(20).hex()), rng.randrange(10**30))
            for _ in range(n)
        ]
        start = time.perf_counter()
        tree = StandardMerkleTree.of(values)
        tree.proofs()
        ours = time.perf_counter() - start
        path = tmp_path / f"values_{n}.json"
        path.write_text(json.dumps({"values": [[a, str(x)] for a, x in values]}))
        done = subprocess.run(
            ["node", "--max-old-space-size=16000", str(ORACLE), "bench", str(path)],
            capture_output=True,
            text=True,
            cwd=JS_DIR,
            check=True,
        )
        oz = json.loads(done.stdout)
        assert oz["root"] == tree.root
        print(f"\nn={n}: python {ours:.2f}s, OpenZeppelin/node {oz['total_s']:.2f}s")
        assert ours < oz["total_s"]


def _flip(node: str) -> str:
    return node[:-1] + ("0" if node[-1] != "0" else "1")


# ---------------------------------------------------------------------------------------------
# (c) verify_proof (a published dump is checked by aimg_pipeline.verify: test_verify)
# ---------------------------------------------------------------------------------------------


def test_verify_proof_accepts_and_rejects() -> None:
    tree = _sample_tree(n=13)
    for i, ((account, amount), proof) in enumerate(zip(tree.values, tree.proofs(), strict=True)):
        assert verify_proof(tree.root, account, amount, proof)
        assert verify_proof(tree.root.upper().replace("0X", "0x"), account.lower(), amount, proof)
        assert tree.verify(i, proof)
        assert not verify_proof(tree.root, account, amount + 1, proof)
        assert not verify_proof(tree.root, account, amount - 1 if amount else 1, proof)
        assert not verify_proof(tree.root, account, amount, [_flip(proof[0]), *proof[1:]])
        assert not verify_proof(tree.root, account, amount, proof[:-1])
        assert not verify_proof(tree.root, account, amount, [*proof, proof[0]])
        assert not verify_proof(tree.root, account, amount, list(reversed(proof)))
        assert not verify_proof(_flip(tree.root), account, amount, proof)
        other = tree.values[(i + 1) % len(tree)][0]
        assert not verify_proof(tree.root, other, amount, proof)


def test_verify_proof_rejects_malformed_input() -> None:
    tree = _sample_tree()
    account, amount = tree.values[0]
    proof = tree.proof(0)
    with pytest.raises(MerkleError):
        verify_proof(tree.root, account, amount, [proof[0][:-2], *proof[1:]])
    with pytest.raises(MerkleError):
        verify_proof(tree.root[:-2], account, amount, proof)
    with pytest.raises(MerkleError):
        verify_proof(tree.root, account, -1, proof)


# ---------------------------------------------------------------------------------------------
# leaves, addresses, amounts
# ---------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=20, max_size=20), st.integers(min_value=0, max_value=MAX))
def test_leaf_hash_is_double_keccak_of_abi_encoding(raw: bytes, amount: int) -> None:
    checksummed = eth_checksum(raw)
    expected = _keccak(_keccak(abi_encode(["address", "uint256"], [checksummed, amount])))
    assert leaf_hash(checksummed, amount) == expected
    assert leaf_hash(checksummed.lower(), amount) == expected
    assert to_checksum_address(checksummed.lower()) == checksummed
    assert to_checksum_address("0x" + checksummed[2:].upper()) == checksummed


@pytest.mark.parametrize(
    "account",
    [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".replace("a", "A", 1),  # bad checksum
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",  # no 0x
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",  # 19.5 bytes
        "0x" + "g" * 40,
        b"\x00" * 20,
        None,
    ],
)
def test_invalid_addresses_are_rejected(account: Any) -> None:
    with pytest.raises(MerkleError, match="address"):
        leaf_hash(account, 1)
    with pytest.raises(AddressError, match="address"):
        to_checksum_address(account)
    with pytest.raises(MerkleError, match="value 0: invalid address"):
        StandardMerkleTree.of([(account, 1)])


@pytest.mark.parametrize("amount", [-1, 2**256, True, 1.0, "1", None])
def test_invalid_amounts_are_rejected(amount: Any) -> None:
    account = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    with pytest.raises(MerkleError, match="amount"):
        leaf_hash(account, amount)
    with pytest.raises(MerkleError, match="value 0: invalid amount"):
        StandardMerkleTree.of([(account, amount)])


def test_empty_and_malformed_values_are_rejected() -> None:
    with pytest.raises(MerkleError, match="no values"):
        StandardMerkleTree.of([])
    with pytest.raises(MerkleError, match="pair"):
        StandardMerkleTree.of([("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",)])  # type: ignore[list-item]


_GOOD = [(to_checksum_address("0x" + random.Random(i).randbytes(20).hex()), i) for i in range(40)]
_A = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def _with(changes: dict[int, Any]) -> list[Any]:
    return [changes.get(i, value) for i, value in enumerate(_GOOD)]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (_with({37: (_A[:-1], 1)}), f"value 37: invalid address '{_A[:-1]}': expected 0x"),
        (_with({21: (_A.lower()[:-1] + "A", 1)}), "value 21: invalid address .* EIP-55"),
        (_with({16: (_A, -5)}), "value 16: invalid amount -5: must satisfy"),
        (_with({16: (_A, 7.0)}), "value 16: invalid amount 7.0: expected an int"),
        (_with({9: ("0x12", -1)}), "value 9: invalid address '0x12'"),  # address before amount
        (_with({10: (_A, -1), 20: (1, 2, 3)}), "value 10: invalid amount -1"),
        (_with({10: (1, 2, 3), 20: (_A, -1)}), r"value 10: expected an \(address, amount\) pair"),
        (_with({3: ("0xzz", 1), 30: (_A, 2**256)}), "value 3: invalid address '0xzz'"),
        (_with({33: (_A, 2**256), 35: ("0xzz", 1)}), "value 33: invalid amount"),
        (_with({0: 5}), "value 0: expected an \\(address, amount\\) pair, got 5"),
    ],
)
def test_of_names_the_first_invalid_value(monkeypatch: Any, values: list[Any],
                                          message: str) -> None:
    """Whatever is wrong and wherever (the array code works in steps of ``_ROWS`` values,
    here 8), the error names the first invalid value and what is wrong with it."""
    monkeypatch.setattr(merkle, "_ROWS", 8)
    with pytest.raises(MerkleError, match=message):
        StandardMerkleTree.of(values)
    monkeypatch.undo()
    with pytest.raises(MerkleError, match=message):
        StandardMerkleTree.of(values)


def test_proof_index_out_of_range() -> None:
    tree = _sample_tree(n=3)
    for bad in (-1, 3, True):
        with pytest.raises(MerkleError, match="out of range"):
            tree.proof(bad)


def test_values_keep_input_order_and_duplicates() -> None:
    a = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    b = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
    values = [(b, 2), (a.lower(), 1), (b, 2)]
    tree = StandardMerkleTree.of(values)
    assert tree.values == [(b, 2), (a, 1), (b, 2)]
    # equal leaves keep input order in the stable sort: the first ends up further right
    assert tree.tree_index[0] > tree.tree_index[2]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.binary(min_size=20, max_size=20), st.integers(0, MAX)), min_size=1, max_size=40
    )
)
def test_round_trip_and_proofs_property(items: list[tuple[bytes, int]]) -> None:
    tree = StandardMerkleTree.of([(eth_checksum(raw), amount) for raw, amount in items])
    dumped = json.loads(json.dumps(tree.dump()))  # survives JSON; its values rebuild it
    rebuilt = StandardMerkleTree.of([(v["value"][0], int(v["value"][1]))
                                     for v in dumped["values"]])
    assert rebuilt.dump() == dumped == tree.dump()
    proofs = tree.proofs()
    assert proofs == [tree.proof(i) for i in range(len(tree))]
    for (account, amount), proof in zip(tree.values, proofs, strict=True):
        assert verify_proof(tree.root, account, amount, proof)


# ---------------------------------------------------------------------------------------------
# hashing backends
# ---------------------------------------------------------------------------------------------


def test_both_keccak_backends_give_the_same_tree_and_threads_do_not_interfere(
        monkeypatch: Any) -> None:
    values = _random_values(random.Random(3), 300)
    expected = StandardMerkleTree.of(values).dump()
    assert lib_keccak.backend() == "safe-pysha3"  # a runtime dependency: the fast backend is in use
    account, amount = values[0]

    # pycryptodome's public API, the fallback, gives identical results.
    monkeypatch.setattr(lib_keccak, "_sha3", None)
    assert lib_keccak.backend() == "pycryptodome"
    assert StandardMerkleTree.of(values).dump() == expected
    fallback = (leaf_hash(account, amount), to_checksum_address(account.lower()))
    monkeypatch.undo()
    assert fallback == (leaf_hash(account, amount), to_checksum_address(account.lower()))
    assert lib_keccak.keccak256(b"") == bytes.fromhex(
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")

    results: list[dict[str, Any]] = []

    def work() -> None:
        for _ in range(5):
            results.append(StandardMerkleTree.of(values).dump())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20
    assert all(r == expected for r in results)


def test_no_private_pycryptodome_internals() -> None:
    """lib.keccak uses public APIs only (issue 14: no ctypes handle of pycryptodome's)."""
    source = Path(lib_keccak.__file__).read_text()
    assert "_raw_keccak_lib" not in source and "ctypes" not in source
