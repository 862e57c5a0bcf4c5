"""Every demo epoch's merkle_tree.json loaded by the real @openzeppelin/merkle-tree (node),
and every proof of claims.json verified by it. Without node, the fixed vectors (produced once
by the same library) check that the published files carry OpenZeppelin's roots and proofs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aimg_pipeline.publish.artifacts import EpochRelease, build_files
from aimg_pipeline_tests.nodejs import JS_DIR, js_node

HERE = Path(__file__).parent
ORACLE = JS_DIR / "oz_oracle.mjs"
VECTORS = json.loads((HERE / "fixtures" / "merkle_vectors.json").read_text())["vectors"]


def node_oracle(mode: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run oz_oracle.mjs (the Merkle helper's), skipping with the reason when it cannot run."""
    done = subprocess.run([js_node(), str(ORACLE), mode], input=json.dumps(payload),
                          capture_output=True, text=True, cwd=JS_DIR, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_openzeppelin_loads_every_demo_tree_and_accepts_every_proof(demo: dict[str, Any]) -> None:
    cases, roots, counts = [], [], []
    for epoch in demo["epochs"]:
        folder = demo["home"] / "published" / f"epoch-{epoch:05d}"
        dump = json.loads((folder / "merkle_tree.json").read_text())
        claims = json.loads((folder / "claims.json").read_text())
        assert len(dump["values"]) == len(claims["claims"])
        proofs = []
        for entry in dump["values"]:  # the oracle wants proofs in the dump's value order
            account, amount = entry["value"]
            assert claims["claims"][account]["amount"] == amount
            proofs.append(claims["claims"][account]["proof"])
        cases.append({"dump": dump, "proofs": proofs})
        roots.append(json.loads((folder / "manifest.json").read_text())["merkle_root"])
        counts.append(len(proofs))
    results = node_oracle("verify", {"cases": cases})["results"]
    assert [r["errors"] for r in results] == [[] for _ in cases]
    assert [r["root"] for r in results] == roots
    assert all(r["ok"] for r in results) and sum(counts) > 500


@pytest.mark.parametrize("vector", [v for v in VECTORS
                                    if len({a.lower() for a, _ in v["input"]})
                                    == len(v["input"])], ids=lambda v: v["name"])
def test_published_files_carry_openzeppelins_roots_and_proofs(vector: dict[str, Any]) -> None:
    """No node needed: claims.json built from the vector's values has OZ's root, and each
    account's proof is the one OZ gave for that value."""
    claims = {a.lower(): int(amount) for a, amount in vector["input"]}
    release = EpochRelease(
        epoch=0, window_start=0, window_end=1, blocks={}, policy_version="v", policy_hash="h",
        code_version="c", input_rows={}, emission=sum(claims.values()), by_channel={},
        allocations=[], claims=claims)
    files = build_files(release)
    doc = json.loads(files["claims.json"])
    assert doc["merkle_root"] == vector["root"]
    assert json.loads(files["merkle_tree.json"])["tree"] == vector["dump"]["tree"]
    expected = {a.lower(): proof for (a, _), proof in zip(vector["input"], vector["proofs"],
                                                          strict=True)}
    assert {a.lower(): c["proof"] for a, c in doc["claims"].items()} == expected
