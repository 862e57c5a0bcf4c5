"""The speed paths of issue 7 give exactly what the plain code they replace gives.

Each fast path is compared with an independent reference: Python's own ``str(int)`` for the
SQL decimal formatting, ``json.dumps(indent=2)`` for the streamed JSON files. (How ``aimg
verify`` reads claims.json is compared with ``json.loads`` in ``test_verify``.)
"""

from __future__ import annotations

import json
import random

import duckdb
import pytest

from aimg_pipeline.lib.merkle import StandardMerkleTree
from aimg_pipeline.publish.render import claims_json, tree_json
from aimg_pipeline.warehouse import SQL_DIR


def test_u128_text_is_python_str() -> None:
    con = duckdb.connect()
    con.execute((SQL_DIR / "u128_macros.sql").read_text())
    rng = random.Random(11)
    values = [0, 1, 9, 10, 2**64 - 1, 2**64, 10**19 - 1, 10**19, 10**38, 2**127 - 1, 2**127,
              2**127 + 1, 2**128 - 1] + [rng.getrandbits(rng.randint(1, 128)) for _ in range(300)]
    for value in values:
        text = con.execute("SELECT u128_text(('0x' || $h)::UHUGEINT)",
                           {"h": f"{value:032x}"}).fetchone()[0]
        assert text == str(value)


def _tree(n: int, seed: int) -> StandardMerkleTree:
    rng = random.Random(seed)
    values = sorted({"0x" + rng.randbytes(20).hex(): rng.getrandbits(rng.choice((8, 70, 127)))
                     for _ in range(n)}.items())
    return StandardMerkleTree.of(values)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 17])
def test_streamed_json_is_json_dumps(n: int) -> None:
    tree = _tree(n, n)
    proofs = tree.proofs()
    total = sum(amount for _, amount in tree.values)
    document = {
        "epoch": 7, "merkle_root": tree.root, "total": str(total),
        "claims": {account: {"amount": str(amount), "proof": proof}
                   for (account, amount), proof in zip(tree.values, proofs, strict=True)},
    }
    expected = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()
    assert b"".join(claims_json(7, tree, total)) == expected
    expected_tree = (json.dumps(tree.dump(), indent=2, ensure_ascii=False) + "\n").encode()
    assert b"".join(tree_json(tree)) == expected_tree
