"""merkle_tree.json and claims.json read in any JSON layout, on the tokenizer (``tokens``):
their schemas checked entry by entry and their values taken out as columns (``columns``).
The published layout is read faster by ``published_layout``; both give the same columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .blocks import Hasher
from .columns import ClaimRows, ClaimsTop, Dump, Sink
from .errors import Malformed
from .limbs import LIMB_TYPE, LIMBS, as_int, decimals
from .rows import hex_valid, stack, windows
from .tokens import (
    ARR,
    ARRAY,
    COMMA,
    END_ARR,
    KIND_NAMES,
    NUM,
    OBJ,
    OBJECT,
    STR,
    Block,
    JsonReader,
)


def _quoted(block: Block, start: int, end: int) -> str:
    return bytes(block.arr[start + 1:min(end - 1, start + 91)]).decode("ascii")


def _string_rows(block: Block, starts: np.ndarray, ends: np.ndarray, width: int,
                 prefix: bytes, what: str) -> np.ndarray:
    """The contents of strings (quote to quote at ``starts``/``ends``) that must be ``prefix``
    + ``width`` characters, as (m, width) rows after the prefix."""
    ok = ends - starts - 2 == len(prefix) + width
    if prefix:
        heads = windows(block.arr, starts + 1, len(prefix))
        ok &= (heads == np.frombuffer(prefix, np.uint8)).all(axis=1)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise Malformed(f"{what} {_quoted(block, starts[i], ends[i])!r} at byte "
                        f"{block.base + int(starts[i])} is not {prefix.decode()} and {width} "
                        "characters")
    return windows(block.arr, starts + 1 + len(prefix), width)


def _string_decimals(block: Block, starts: np.ndarray, ends: np.ndarray,
                     what: str) -> np.ndarray:
    """Limbs of strings that must hold canonical decimals."""
    limbs, valid = decimals(block.arr, starts + 1, ends - starts - 2)
    if not valid.all():
        i = int(np.flatnonzero(~valid)[0])
        raise Malformed(f"{what} {_quoted(block, starts[i], ends[i])!r} at byte "
                        f"{block.base + int(starts[i])} is not a decimal string below 10**78 "
                        "without leading zeros")
    return limbs


def _key_is(block: Block, tokens: np.ndarray, name: bytes) -> np.ndarray:
    lengths = block.end[tokens] - block.start[tokens] - 2
    rows = windows(block.arr, block.start[tokens] + 1, len(name))
    return (lengths == len(name)) & (rows == np.frombuffer(name, np.uint8)).all(axis=1)


def _owners(entries: np.ndarray, places: np.ndarray) -> np.ndarray:
    """Index of the entry (the last of ``entries`` before it) each place belongs to (token
    indices or byte positions, both sorted)."""
    return np.searchsorted(entries, places, side="right") - 1


def _members_once(block: Block, entries: np.ndarray, member_keys: np.ndarray,
                  names: tuple[bytes, bytes], what: str) -> list[np.ndarray]:
    """For objects whose keys must be exactly ``names`` (in any order): each name's key
    token, per entry in order."""
    owner = _owners(entries, member_keys)
    found = []
    known = np.zeros(len(member_keys), bool)
    for name in names:
        hit = _key_is(block, member_keys, name)
        known |= hit
        wrong = np.flatnonzero(np.bincount(owner[hit], minlength=len(entries)) != 1)
        if len(wrong):
            raise Malformed(f"{what} at byte {block.offset(int(entries[wrong[0]]))} does not "
                            f"have exactly one {name.decode()!r}")
        found.append(member_keys[hit])
    if not known.all():
        i = int(member_keys[np.flatnonzero(~known)[0]])
        raise Malformed(f"unexpected key {block.text(i)[:40]!r} in {what} at byte "
                        f"{block.offset(i)}")
    return found


def _expect_kind(block: Block, tokens: np.ndarray, kind: int, what: str) -> None:
    wrong = np.flatnonzero(block.kind[tokens] != kind)
    if len(wrong):
        i = int(tokens[wrong[0]])
        raise Malformed(f"{what} at byte {block.offset(i)} is "
                        f"{KIND_NAMES[int(block.kind[i])]}, not {KIND_NAMES[kind]}")


def _expect_none(block: Block, mask: np.ndarray, rule: str) -> None:
    wrong = np.flatnonzero(mask)
    if len(wrong):
        raise Malformed(f"{rule}: {KIND_NAMES[int(block.kind[wrong[0]])]} at byte "
                        f"{block.offset(int(wrong[0]))}")


def read_dump(path: Path, hasher: Hasher) -> Dump:
    """merkle_tree.json through the general reader, as columns."""
    reader = JsonReader(path, (OBJECT, ARRAY, OBJECT, ARRAY),
                        {"format": STR, "leafEncoding": ARR, "tree": ARR, "values": ARR},
                        2, hasher)
    leaf, tree, values = reader.codes["leafEncoding"], reader.codes["tree"], reader.codes["values"]
    nodes, accounts, limbs, indices, encoding = [], [], [], [], []
    for block in reader.blocks():
        kind, depth, member = block.kind, block.depth, block.member
        listed = (depth >= 2) & (kind != COMMA) & (kind != END_ARR) & (kind != STR)
        _expect_none(block, listed & ((member == leaf) | (member == tree)),
                     "leafEncoding and tree hold strings only")
        starts, ends = block.items(2, leaf)
        encoding += [_quoted(block, a, b)[:40] for a, b in zip(starts.tolist(), ends.tolist(),
                                                               strict=True)]
        starts, ends = block.items(2, tree)
        if len(starts):
            nodes.append(_string_rows(block, starts, ends, 64, b"0x", "tree node"))
        inside = member == values
        _expect_none(block, inside & (depth == 2) & ((kind == STR) | (kind == NUM)),
                     "values holds only objects")
        entries = np.flatnonzero(inside & (kind == OBJ) & (depth == 2))
        if not len(entries):
            continue
        keys = np.flatnonzero(inside & block.key & (depth == 3))
        value_keys, index_keys = _members_once(block, entries, keys, (b"value", b"treeIndex"),
                                               "a tree value")
        _expect_kind(block, value_keys + 2, ARR, "a value")
        _expect_kind(block, index_keys + 2, NUM, "a treeIndex")
        _expect_none(block, inside & (depth == 4) & (kind != COMMA) & (kind != END_ARR)
                     & (kind != STR), "a value holds strings only")
        starts, ends = block.items(4, values)
        owner = _owners(block.start[entries], starts)
        wrong = np.flatnonzero(np.bincount(owner, minlength=len(entries)) != 2)
        if len(wrong):
            raise Malformed(f"the value at byte {block.offset(int(entries[wrong[0]]))} is not "
                            "[account, amount]")
        accounts.append(_string_rows(block, starts[0::2], ends[0::2], 40, b"0x", "account"))
        limbs.append(_string_decimals(block, starts[1::2], ends[1::2], "amount")
                     .astype(LIMB_TYPE))
        indices.append(block.number[index_keys + 2])
    reader.finish()
    return Dump(stack(nodes, 64, np.uint8), stack(accounts, 40, np.uint8),
                stack(limbs, LIMBS, LIMB_TYPE),
                np.concatenate(indices) if indices else np.zeros(0, np.int64),
                encoding, reader.top["format"][1])


def read_claims(path: Path, hasher: Hasher, sink: Sink) -> ClaimsTop:
    """Stream claims.json through the general reader; hand each block's claims to
    ``sink``."""
    reader = JsonReader(path, (OBJECT, OBJECT, OBJECT, ARRAY),
                        {"epoch": NUM, "merkle_root": STR, "total": STR, "claims": OBJ},
                        2, hasher)
    code = reader.codes["claims"]
    count = 0
    sums = np.zeros(LIMBS, np.int64)
    for block in reader.blocks():
        kind, depth = block.kind, block.depth
        strings = np.flatnonzero((kind == STR) & (depth >= 2) & (block.member == code))
        keyed = block.key[strings]
        keys = strings[keyed & (depth[strings] == 2)]
        if not len(keys):
            continue
        _expect_kind(block, keys + 2, OBJ, "a claim")
        members = strings[keyed & (depth[strings] == 3)]
        amount_keys, proof_keys = _members_once(block, keys, members, (b"amount", b"proof"),
                                                "a claim")
        _expect_kind(block, amount_keys + 2, STR, "an amount")
        _expect_kind(block, proof_keys + 2, ARR, "a proof")
        hex40 = _string_rows(block, block.start[keys], block.end[keys], 40, b"0x", "account")
        valid = hex_valid(hex40)
        if not valid.all():
            i = int(keys[np.flatnonzero(~valid)[0]])
            raise Malformed(f"account {block.text(i)!r} at byte {block.offset(i)} is not hex")
        values = amount_keys + 2
        limbs = _string_decimals(block, block.start[values], block.end[values], "amount")
        starts, ends = block.items(4, code)
        arr = block.arr
        shaped = ((ends - starts == 68) & (arr[starts + 1] == 0x30) & (arr[starts + 2] == 0x78))
        count_of = np.bincount(_owners(block.start[keys], starts), minlength=len(keys))
        sums += limbs.sum(axis=0)
        count += len(keys)
        sink(ClaimRows(hex40, limbs, count_of, windows(arr, starts + 3, 64), shaped))
    reader.finish()
    return ClaimsTop(reader.top, count, as_int(sums))
