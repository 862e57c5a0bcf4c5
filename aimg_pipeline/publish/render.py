"""The published JSON texts of a Merkle tree, rendered on arrays.

``merkle_tree.json`` and ``claims.json`` are exactly ``json.dumps(document, indent=2,
ensure_ascii=False) + "\\n"`` of the tree's dump and of the claims document (SPEC 9). At 1M
claims they are ~0.3 GB and ~1.6 GB, almost all of it hex nodes on lines of one fixed width
(a proof line is the same 78 bytes whatever the claim). Building them one Python string per
node took ~25 s; here the fixed-width lines are laid out as rows of one numpy array (the
node's hex copied in by index), and only what varies per claim (amount, tree index) goes
through Python, once per claim. ``test_fast_paths`` checks the bytes against ``json.dumps``.
Nothing here reads the files back: ``aimg verify`` reads them with its own code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice

import numpy as np

from aimg_pipeline.lib.merkle import StandardMerkleTree, gc_paused, proof_siblings

__all__ = ["claims_json", "tree_json"]

_CHUNK = 8_192  # claims rendered per piece (~13 MB of claims.json: below glibc's mmap threshold)

_TREE_HEAD = (b'{\n  "format": "standard-v1",\n  "leafEncoding": [\n    "address",\n'
              b'    "uint256"\n  ],\n  "tree": [\n')
_NODE_LINE = (b'    "0x', b'"')  # around a node's 64 hex digits
_NODE_SEP = b",\n"  # after every node line but the last
_VALUES_HEAD = b'\n  ],\n  "values": ['
_VALUES_END = b"\n  ]\n}\n"

_CLAIM_HEAD = (b',\n    "', b'": {\n      "amount": "')  # around the account; amount follows
_PROOF_OPEN = b'",\n      "proof": ['
_PROOF_LINE = (b'\n        "0x', b'",')  # around the 64 hex digits; the last line has no ","
_PROOF_CLOSE = b'\n      ]\n    }'
_NO_PROOF = b'",\n      "proof": []\n    }'


def _put(rows: np.ndarray, at: int, text: bytes) -> int:
    """Write the same ``text`` into every row at column ``at``; return the column after it."""
    rows[:, at:at + len(text)] = np.frombuffer(text, np.uint8)
    return at + len(text)


def tree_json(tree: StandardMerkleTree) -> Iterator[bytes]:
    """``merkle_tree.json`` in pieces: exactly ``json.dumps(tree.dump(), indent=2) + "\\n"``."""
    yield _TREE_HEAD
    hex_rows = tree.hex_rows()
    step = 4 * _CHUNK
    for start in range(0, len(hex_rows), step):
        part = hex_rows[start:start + step]
        lines = np.empty((len(part), len(_NODE_LINE[0]) + 64 + len(_NODE_LINE[1] + _NODE_SEP)),
                         dtype=np.uint8)
        at = _put(lines, 0, _NODE_LINE[0])
        lines[:, at:at + 64] = part
        _put(lines, at + 64, _NODE_LINE[1] + _NODE_SEP)
        text = lines.tobytes()
        yield text if start + step < len(hex_rows) else text[:-len(_NODE_SEP)]
    yield _VALUES_HEAD
    values = zip(tree.accounts, tree.amounts, tree.tree_index.tolist(), strict=True)
    first = True
    while chunk := list(islice(values, _CHUNK)):
        text = "".join([
            f',\n    {{\n      "value": [\n        "{account}",\n        "{amount}"\n      ],\n'
            f'      "treeIndex": {index}\n    }}' for account, amount, index in chunk
        ]).encode()
        yield text[1:] if first else text  # the first value has no "," before it
        first = False
    yield _VALUES_END


def claims_json(epoch: int, tree: StandardMerkleTree, total: int,
                values: range | None = None) -> Iterator[bytes]:
    """``claims.json`` in pieces: exactly ``json.dumps(document, indent=2) + "\\n"`` of
    ``{"epoch", "merkle_root", "total", "claims": {account: {"amount", "proof"}}}`` for the
    tree's values in order, without building that document (20M proof strings at 1M claims).
    With ``values`` (a non-empty range of value indices), the same document for those values
    only: a proof shard, ``total`` being theirs.

    Between two amounts the text is fixed but for hex: claim i's proof block (its width set
    by the proof's length; leaves sit on at most two levels) and claim i+1's head up to its
    amount. Those are rows of one array per chunk of claims (a template row, then the hex of
    every proof node gathered into its line by one ``np.take``), joined with the amounts by
    one ``bytes.join``.
    """
    header = (f'{{\n  "epoch": {json.dumps(epoch)},\n  "merkle_root": "{tree.root}",\n'
              f'  "total": "{total}",\n  "claims": {{').encode()
    values = values or range(len(tree))
    lo, hi = values.start, values.stop
    if len(tree) == 1:  # the proof is empty: "[]"
        account, amount = tree.accounts[0], tree.amounts[0]
        yield (header + _CLAIM_HEAD[0][1:] + account.encode() + _CLAIM_HEAD[1]
               + str(amount).encode() + _NO_PROOF + b"\n  }\n}\n")
        return
    yield header + _CLAIM_HEAD[0][1:] + tree.accounts[lo].encode() + _CLAIM_HEAD[1]
    hex_rows = tree.hex_rows()
    line = len(_PROOF_LINE[0]) + 64 + len(_PROOF_LINE[1])
    head = len(_CLAIM_HEAD[0]) + 42 + len(_CLAIM_HEAD[1])
    with gc_paused():  # millions of short-lived memoryviews: no collections meanwhile
        for start in range(lo, hi, _CHUNK):
            stop = min(start + _CHUNK, hi)
            m = stop - start
            siblings = proof_siblings(tree.tree_index[start:stop])
            lengths = (siblings >= 0).sum(axis=1)
            depth = siblings.shape[1]
            # The template row: the longest proof, every line ending in ","; rows with a
            # shorter proof get their close and the next head written over it below.
            template = (_PROOF_OPEN + (_PROOF_LINE[0] + b"0" * 64 + _PROOF_LINE[1]) * depth)[:-1]
            width = len(template) + len(_PROOF_CLOSE) + head
            rows = np.empty((m, width), dtype=np.uint8)
            rows[:] = np.frombuffer(template + _PROOF_CLOSE + bytes(head), np.uint8)
            # All proof lines as (claim, line, byte); the hex of every sibling gathered into
            # them at once, in output order ("clip": a -1 pad is overwritten below).
            lines = rows[:, len(_PROOF_OPEN):len(_PROOF_OPEN) + depth * line]
            lines = lines.reshape(m, depth, line)[:, :, len(_PROOF_LINE[0]):][:, :, :64]
            np.take(hex_rows, siblings, axis=0, out=lines, mode="clip")
            following = "".join(tree.accounts[start + 1:min(stop + 1, hi)]).encode("ascii")
            heads = np.empty((len(following) // 42, head), dtype=np.uint8)
            at = _put(heads, 0, _CLAIM_HEAD[0])
            heads[:, at:at + 42] = np.frombuffer(following, np.uint8).reshape(-1, 42)
            _put(heads, at + 42, _CLAIM_HEAD[1])
            ends = np.empty(m, dtype=np.int64)
            for length in np.unique(lengths).tolist():
                chosen = np.flatnonzero(lengths == length)
                at = len(_PROOF_OPEN) + length * line - 1  # just after the last line's quote
                rows[chosen, at:at + len(_PROOF_CLOSE)] = np.frombuffer(_PROOF_CLOSE, np.uint8)
                at += len(_PROOF_CLOSE)
                with_head = chosen[chosen < len(heads)]  # the last claim has no next head
                rows[with_head, at:at + head] = heads[with_head]
                ends[chosen] = at + head
                ends[chosen[chosen >= len(heads)]] = at
            ends += np.arange(0, m * width, width)
            view = memoryview(rows.reshape(-1))
            parts: list[object] = [None] * (2 * m)
            parts[0::2] = "\n".join(map(str, tree.amounts[start:stop])).encode().split(b"\n")
            parts[1::2] = map(view.__getitem__,
                              map(slice, range(0, m * width, width), ends.tolist()))
            yield b"".join(parts)  # type: ignore[arg-type]
    yield b"\n  }\n}\n"

