"""merkle_tree.json and claims.json read in the layout the publisher writes, on templates.

The publisher writes both JSON files as ``json.dumps(document, indent=2) + "\n"``. In that
layout every byte but the values' own text is fixed: a claim is ``_C_OPEN`` account
``_C_BRACE`` digits ``_C_PROOF`` then 78-byte proof lines and ``_C_CLOSE``, one after the
other, separated by ``,``. Reading such a file means comparing those fixed bytes at computed
offsets (consecutive claims must tile the text exactly) and taking the values from between
them: no byte classification, no tokens. The whole text is accounted for, so what is read is
exactly what the general reader (``any_layout``, on ``tokens.JsonReader``) reads from the
same bytes. Anything else (other whitespace, key order, a value the templates do not expect)
makes these readers give up (``NotCanonical``, None), and the general reader reads the file
instead.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from .blocks import FRONT, Blocks, Hasher
from .columns import ClaimRows, ClaimsTop, Dump
from .limbs import LIMB_TYPE, LIMBS, as_int, decimals, small_integers
from .rows import hex_valid, stack, windows
from .tokens import NUM, OBJ, STR

_C_HEAD = re.compile(rb'\{\n  "epoch": (0|[1-9][0-9]{0,17}),\n  "merkle_root": '
                     rb'"([0-9A-Za-z]{0,200})",\n  "total": "([0-9]{1,100})",\n  "claims": \{')
_C_OPEN = b'\n    "'  # a claim's start; the account (42 characters) follows
_C_BRACE = b'": {\n      "amount": "'  # after the account; the amount's digits follow
_C_PROOF = b'",\n      "proof": ['  # after the digits; proof lines, or _C_EMPTY, follow
_C_LINE = b'\n        "0x'  # a proof line: this, 64 hex digits, '"', then ',' or (last) '\n'
_C_LINE_SIZE = len(_C_LINE) + 64 + 2
_C_CLOSE = b'      ]\n    }'  # after the last proof line
_C_EMPTY = b']\n    }'  # an empty proof
_C_TAIL = b'\n  }\n}\n'
_C_AMOUNT_AT = len(_C_OPEN) + 42 + len(_C_BRACE)  # from a claim's start
_C_BRACE_AT = len(_C_OPEN) + 42 + 3  # the claim's '{'

_T_HEAD = (b'{\n  "format": "standard-v1",\n  "leafEncoding": [\n    "address",\n    "uint256"'
           b'\n  ],\n  "tree": [')
_T_ROW = b'\n    "0x'  # a node: this, 64 hex digits, '"', then ',' or (last) '\n'
_T_ROW_SIZE = len(_T_ROW) + 64 + 2
_T_VALUES = b'  ],\n  "values": ['  # after the last node's '\n'
_V_OPEN = b'\n    {\n      "value": [\n        "'  # a value's start; its '{' at 5
_V_MID = b'",\n        "'  # after the account; the amount's digits follow
_V_AFTER = b'"\n      ],\n      "treeIndex": '  # after the digits; the index follows
_V_CLOSE = b'\n    }'
_V_TAIL = b'\n  ]\n}\n'
_V_AMOUNT_AT = len(_V_OPEN) + 42 + len(_V_MID)


def _matches(arr: np.ndarray, starts: np.ndarray, template: bytes) -> np.ndarray:
    """Which places hold ``template``: compared 8 bytes at a time as integers."""
    words = -(-len(template) // 8)
    rows = windows(arr, starts, 8 * words).view(np.uint64)
    want = np.frombuffer(template.ljust(8 * words, b"\0"), np.uint64)
    mask = np.frombuffer((b"\xff" * len(template)).ljust(8 * words, b"\0"), np.uint64)
    ok = ((rows[:, 0] ^ want[0]) & mask[0]) == 0
    for k in range(1, words):
        ok &= ((rows[:, k] ^ want[k]) & mask[k]) == 0
    return ok


def _digit_run(arr: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """How many digits follow each start (up to ``width - 1``)."""
    window = windows(arr, starts, width)
    return ((window - 0x30) > 9).argmax(axis=1)  # the first non-digit (uint8 wraps below '0')


class NotCanonical(Exception):
    """The file is not in the published layout: the general reader must read it."""


def canonical_claims(path: Path, hasher: Hasher) -> Generator[ClaimRows, None, ClaimsTop]:
    """``any_layout.read_claims`` for the published layout, as a generator of each block's
    claims that returns the document's top level; raises ``NotCanonical`` on anything else."""
    with Blocks(path, hasher) as blocks:
        arr = blocks.read()
        head = _C_HEAD.match(bytes(arr[FRONT:FRONT + 512]))
        if head is None:
            raise NotCanonical
        top: dict[str, tuple[int, Any]] = {
            "epoch": (NUM, int(head.group(1))), "merkle_root": (STR, head.group(2).decode()),
            "total": (STR, head.group(3).decode()), "claims": (OBJ, None)}
        body = FRONT + head.end()
        count = 0
        sums = np.zeros(LIMBS, np.int64)
        want = np.frombuffer(bytes(4) + _C_LINE, np.uint64)
        mask = np.frombuffer(bytes(4) + b"\xff" * 12, np.uint64)
        while True:
            hi, final = blocks.hi, blocks.final
            starts = np.flatnonzero(arr[body:hi] == 0x7B)  # one '{' a claim, none elsewhere
            starts += body - _C_BRACE_AT
            if not len(starts) or starts[0] != body:
                raise NotCanonical
            if final:  # each claim ends where the next begins (less the ','), the last at the tail
                if bytes(arr[hi - len(_C_TAIL):hi]) != _C_TAIL:
                    raise NotCanonical
                ends = np.append(starts[1:] - 1, hi - len(_C_TAIL))
            elif len(starts) > 1:
                ends = starts[1:] - 1
            else:  # no whole claim in this block yet
                blocks.keep(body)
                arr, body = blocks.read(), FRONT
                continue
            m = len(ends)
            s = starts[:m]
            ok = _matches(arr, s, _C_OPEN) & _matches(arr, s + len(_C_OPEN) + 42, _C_BRACE)
            ok &= (arr[s + len(_C_OPEN)] == 0x30) & (arr[s + len(_C_OPEN) + 1] == 0x78)
            digits = _digit_run(arr, s + _C_AMOUNT_AT, 80)
            after = s + _C_AMOUNT_AT + digits
            ok &= (digits > 0) & _matches(arr, after, _C_PROOF)
            first = after + len(_C_PROOF)
            rest = ends - first
            empty = rest == len(_C_EMPTY)
            lines = np.maximum((rest - len(_C_CLOSE)) // _C_LINE_SIZE, 0)
            ok &= np.where(empty, _matches(arr, first, _C_EMPTY),
                           (lines >= 1) & ((rest - len(_C_CLOSE)) % _C_LINE_SIZE == 0)
                           & _matches(arr, first + _C_LINE_SIZE * lines, _C_CLOSE))
            between = m - 1 if final else m  # claims followed by a ','
            ok[:between] &= arr[ends[:between]] == 0x2C
            if not ok.all():
                raise NotCanonical
            lines[empty] = 0
            offsets = np.cumsum(lines) - lines
            line = (np.repeat(first - _C_LINE_SIZE * offsets, lines)
                    + _C_LINE_SIZE * np.arange(int(lines.sum())))
            separator = np.full(len(line), 0x2C, np.uint8)  # ',' but after each proof's last
            separator[(offsets + lines - 1)[~empty]] = 0x0A
            rows = windows(arr, line - 4, _C_LINE_SIZE + 10)  # 4 bytes, the line, 6 bytes
            head_words = rows[:, :16].view(np.uint64)
            if not (((((head_words[:, 0] ^ want[0]) & mask[0]) == 0)
                     & (head_words[:, 1] == want[1]) & (rows[:, 80] == 0x22)
                     & (rows[:, 81] == separator)).all()):
                raise NotCanonical
            hex40 = windows(arr, s + len(_C_OPEN) + 2, 40)
            limbs, valid = decimals(arr, s + _C_AMOUNT_AT, digits)
            if not (hex_valid(hex40).all() and valid.all()):
                raise NotCanonical
            count += m
            sums += limbs.sum(axis=0)
            yield ClaimRows(hex40, limbs, lines, rows[:, 16:80], None)
            if final:
                return ClaimsTop(top, count, as_int(sums))
            blocks.keep(int(starts[m]))
            arr, body = blocks.read(), FRONT


def canonical_dump(path: Path, hasher: Hasher, nodes_too: bool = True) -> Dump | None:
    """``any_layout.read_dump`` for the published layout (None: not in it). The nodes are rows
    of ``_T_ROW_SIZE`` bytes, read as a reshaped view of the block (and checked, but not kept,
    without ``nodes_too``)."""
    row_head = np.frombuffer(_T_ROW, np.uint64)[0]
    with Blocks(path, hasher) as blocks:
        arr = blocks.read()
        if bytes(arr[FRONT:FRONT + len(_T_HEAD)]) != _T_HEAD:
            return None
        at = FRONT + len(_T_HEAD)
        nodes: list[np.ndarray] = []
        while True:  # the nodes
            k = (blocks.hi - at) // _T_ROW_SIZE
            rows = arr[at:at + k * _T_ROW_SIZE].reshape(k, _T_ROW_SIZE)
            last = np.flatnonzero(rows[:, -1] != 0x2C)  # ',' after all nodes but the last
            if len(last):
                rows = rows[:last[0] + 1]
                if rows[-1, -1] != 0x0A:
                    return None
            heads = np.ascontiguousarray(rows[:, :len(_T_ROW)]).view(np.uint64).ravel()
            if not ((heads == row_head).all() and (rows[:, -2] == 0x22).all()):
                return None
            if nodes_too:
                nodes.append(rows[:, len(_T_ROW):len(_T_ROW) + 64].copy())
            at += len(rows) * _T_ROW_SIZE
            if len(last):
                break
            if blocks.final:
                return None
            blocks.keep(at)
            arr, at = blocks.read(), FRONT
        if blocks.hi - at < 4096 and not blocks.final:
            blocks.keep(at)
            arr, at = blocks.read(), FRONT
        if bytes(arr[at:at + len(_T_VALUES)]) != _T_VALUES:
            return None
        at += len(_T_VALUES)
        accounts, amounts, indices = [], [], []
        while True:  # the values
            hi, final = blocks.hi, blocks.final
            starts = np.flatnonzero(arr[at:hi] == 0x7B)  # one '{' a value, none elsewhere
            starts += at - 5
            m = len(starts) if final else len(starts) - 1  # the last one may be cut off
            if not len(starts) or starts[0] != at:
                return None
            if m == 0:
                blocks.keep(at)
                arr, at = blocks.read(), FRONT
                continue
            s = starts[:m]
            ok = _matches(arr, s, _V_OPEN) & _matches(arr, s + len(_V_OPEN) + 42, _V_MID)
            ok &= (arr[s + len(_V_OPEN)] == 0x30) & (arr[s + len(_V_OPEN) + 1] == 0x78)
            digits = _digit_run(arr, s + _V_AMOUNT_AT, 80)
            index_at = s + _V_AMOUNT_AT + digits + len(_V_AFTER)
            ok &= (digits > 0) & _matches(arr, s + _V_AMOUNT_AT + digits, _V_AFTER)
            index_digits = _digit_run(arr, index_at, 20)
            index, index_valid = small_integers(arr, index_at, index_digits)
            ends = index_at + index_digits + len(_V_CLOSE)
            ok &= index_valid & _matches(arr, index_at + index_digits, _V_CLOSE)
            following = np.append(starts[1:], -1)[:m]  # where the next value must begin
            ok &= np.where(following >= 0, (ends + 1 == following) & (arr[ends] == 0x2C), True)
            if final and bytes(arr[int(ends[-1]):hi]) != _V_TAIL:
                return None
            if not ok.all():
                return None
            hex40 = windows(arr, s + len(_V_OPEN) + 2, 40)
            limbs, valid = decimals(arr, s + _V_AMOUNT_AT, digits)
            if not (hex_valid(hex40).all() and valid.all()):
                return None
            accounts.append(hex40)
            amounts.append(limbs.astype(LIMB_TYPE))
            indices.append(index)
            if final:
                break
            blocks.keep(int(starts[m]))
            arr, at = blocks.read(), FRONT
        return Dump(stack(nodes, 64, np.uint8), stack(accounts, 40, np.uint8),
                    stack(amounts, LIMBS, LIMB_TYPE), np.concatenate(indices),
                    ["address", "uint256"], "standard-v1")
