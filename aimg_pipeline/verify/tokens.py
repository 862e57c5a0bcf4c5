"""A JSON tokenizer on numpy arrays, for any whitespace and key order: ``JsonReader`` streams
a file of one schema (container types fixed per depth) as ``Block`` s of tokens, checked
against the grammar, with bounded memory. No backslash escapes: no string in these files
needs one (they are hex, decimals, addresses and key names). The readers of the two JSON
files on it are in ``any_layout``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .blocks import FRONT, Blocks, Hasher
from .errors import Malformed
from .limbs import small_integers
from .rows import windows

# token kinds (OBJ .. NUM), and the classes of the bytes that are no token
OBJ, END_OBJ, ARR, END_ARR, COLON, COMMA, STR, NUM = range(1, 9)
_BAD, _ESCAPE = 9, 10
_PLAIN = 0x80  # class of the bytes strings and numbers are made of (0: whitespace; the
# others are below 0x80: the structural characters, a quote, a backslash, anything else)
KIND_NAMES = {OBJ: "'{'", END_OBJ: "'}'", ARR: "'['", END_ARR: "']'", COLON: "':'",
              COMMA: "','", STR: "a string", NUM: "a number"}
OBJECT, ARRAY = 1, 2  # container types
# what the grammar expects after a token
_START, _FIRST, _AFTER_KEY, _VALUE, _SEP, _NEXT, _END = range(7)

_CLASS = bytearray([_BAD]) * 256
for _c in b" \t\n\r":
    _CLASS[_c] = 0
for _c in b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_+-.":
    _CLASS[_c] = _PLAIN
for _c, _k in zip(b'{}[]:,"\\', (OBJ, END_OBJ, ARR, END_ARR, COLON, COMMA, STR, _ESCAPE),
                  strict=True):
    _CLASS[_c] = _k
_CLASS_TABLE = bytes(_CLASS)
_SUB = 1 << 20  # bytes classified at a time (cache-sized: twice the speed of 32 MB at once)

_VALUE_KINDS = (STR, NUM, OBJ, ARR)
_ALLOWED = np.zeros((7, 3, 9), dtype=bool)  # [state before, container type, kind]
_ALLOWED[_START, 0, [OBJ, ARR]] = True
_ALLOWED[_FIRST, OBJECT, [STR, END_OBJ]] = True
_ALLOWED[_FIRST, ARRAY, [*_VALUE_KINDS, END_ARR]] = True
_ALLOWED[_AFTER_KEY, OBJECT, COLON] = True
_ALLOWED[_VALUE, OBJECT, _VALUE_KINDS] = True
_ALLOWED[_SEP, OBJECT, [COMMA, END_OBJ]] = True
_ALLOWED[_SEP, ARRAY, [COMMA, END_ARR]] = True
_ALLOWED[_NEXT, OBJECT, STR] = True
_ALLOWED[_NEXT, ARRAY, _VALUE_KINDS] = True
_ALLOWED_FLAT = _ALLOWED.reshape(-1)
_STATE_AFTER = np.array([0, _FIRST, _SEP, _FIRST, _SEP, _VALUE, _NEXT, _SEP, _SEP], np.uint8)
_DELTA = np.array([0, 1, -1, 1, -1, 0, 0, 0, 0], np.int64)
_KEY_BEFORE = np.zeros(7, bool)
_KEY_BEFORE[[_FIRST, _NEXT]] = True  # a string in an object after these is a key


@dataclass
class Block:
    """One block's tokens in document order, positions indexing ``arr``. ``depth`` is the
    depth of the container a token is in (for ``{``/``[`` the one holding it, for ``}``/``]``
    the one they close); ``key`` marks the strings that are object keys; ``member`` is the
    top-level member (its index in the schema + 1) whose value holds the token."""

    arr: np.ndarray
    kind: np.ndarray
    start: np.ndarray
    end: np.ndarray
    depth: np.ndarray
    key: np.ndarray
    number: np.ndarray
    base: int  # file offset of arr[0]
    # the strings of the arrays of strings only, which are not tokens (see _pure_arrays):
    # their positions, and the token index of their array's '['
    item_start: np.ndarray
    item_end: np.ndarray
    item_array: np.ndarray
    member: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def items(self, depth: int, member: int) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of the strings that are elements of the arrays at ``depth`` of
        ``member``'s value, in document order, whether tokens or items."""
        mine = np.flatnonzero((self.depth[self.item_array] + 1 == depth)
                              & (self.member[self.item_array] == member))
        tokens = np.flatnonzero((self.kind == STR) & (self.depth == depth)
                                & (self.member == member) & ~self.key)
        if not len(tokens):
            return self.item_start[mine], self.item_end[mine]
        starts = np.concatenate([self.item_start[mine], self.start[tokens]])
        ends = np.concatenate([self.item_end[mine], self.end[tokens]])
        order = np.argsort(starts, kind="stable")
        return starts[order], ends[order]

    def text(self, i: int) -> str:
        return bytes(self.arr[self.start[i] + 1:self.end[i] - 1]).decode("ascii")

    def offset(self, i: int) -> int:
        return self.base + int(self.start[i])


class JsonReader:
    """A JSON file of one schema, streamed as ``Block`` s of tokens.

    Bytes are classified in C (``bytes.translate``; ``np.flatnonzero`` finds the structural
    characters and quotes); everything after that works on tokens: quotes paired into strings
    (a backslash is refused, so every quote opens or closes one), depth by a running sum, and
    the grammar by a table of (state before, container type, token). That table is exact here
    because the schema fixes the container type at each depth: the parse stack then follows
    from the depth, and the state after a token from its kind and the token before it.

    Whitespace between tokens is checked by counting: the bytes that are neither whitespace
    nor structural must be the strings' contents plus the numbers, and numbers can only be
    object member values (the gap after a ``:``: the only place one is looked for). Strings
    hold no whitespace here (every string read is checked as hex, a decimal, an address or a
    key), so the count is exact; when it is off, every gap is scanned to say where.

    A block ends after a ``,``, ``{``, ``[``, ``}`` or ``]`` at depth <= ``cut_depth``: in both
    files between two claims / tree values, so a block holds whole entries. The top-level
    object's handful of members are read in Python (``top``); every file byte goes to the
    hasher.
    """

    def __init__(self, path: Path, containers: tuple[int, ...], members: dict[str, int],
                 cut_depth: int, hasher: Hasher) -> None:
        self.path = path
        self.containers = np.array([0, *containers, 0], np.uint8)
        self.max_depth = len(containers)
        self.members = members  # top-level key -> the kind its value must be
        self.codes = {name: i + 1 for i, name in enumerate(members)}
        self.cut_depth = cut_depth
        self.hasher = hasher
        self.top: dict[str, tuple[int, Any]] = {}
        self._pending: str | None = None
        self._member = 0

    def blocks(self) -> Iterator[Block]:
        depth, state = 0, _START
        with Blocks(self.path, self.hasher) as blocks:
            while True:
                arr = blocks.read()
                parsed = self._tokens(blocks.buf, arr, blocks.hi, blocks.base, depth, state,
                                      blocks.final)
                if parsed is None:  # no place to end a block yet: read more onto this one
                    blocks.keep(FRONT)
                    continue
                block, cut, depth, state = parsed
                block.member = self._members(block)
                yield block
                del block, arr
                if blocks.final:
                    return
                blocks.keep(cut)

    def _tokens(self, buf: bytearray, arr: np.ndarray, hi: int, base: int, depth: int,
                state: int, final: bool) -> tuple[Block, int, int, int] | None:
        positions, codes, plain = [], [], 0
        for lo in range(FRONT, hi, _SUB):
            classes = np.frombuffer(buf[lo:min(lo + _SUB, hi)].translate(_CLASS_TABLE), np.uint8)
            where = np.flatnonzero(classes.view(np.int8) > 0)  # not whitespace (0), not plain
            plain += np.count_nonzero(classes) - len(where)
            codes.append(classes[where])
            where += lo
            positions.append(where)
        pos = np.concatenate(positions) if positions else np.zeros(0, np.int64)
        code = np.concatenate(codes) if codes else np.zeros(0, np.uint8)
        bad = np.flatnonzero(code >= _BAD)
        if len(bad):
            at = int(pos[bad[0]])
            if code[bad[0]] == _ESCAPE:
                raise Malformed(f"backslash at byte {base + at}: JSON escapes are not accepted "
                                "(every string in this file is hex, a decimal, an address or "
                                "a key name)")
            raise Malformed(f"unexpected byte {bytes(arr[at:at + 1])!r} at byte {base + at}")
        quotes = np.flatnonzero(code == STR)
        limit = len(pos)
        if len(quotes) % 2:
            if final:
                raise Malformed(f"unterminated string at byte {base + int(pos[quotes[-1]])}")
            limit = int(quotes[-1])
            quotes = quotes[:-1]
        opens, closes = quotes[0::2], quotes[1::2]
        inner = np.flatnonzero(closes != opens + 1)
        if len(inner):
            at = int(pos[opens[inner[0]] + 1])
            raise Malformed(f"{bytes(arr[at:at + 1]).decode()!r} inside a string at byte "
                            f"{base + at} (strings here are hex, decimals, addresses, keys)")
        keep = np.ones(limit, dtype=bool)
        keep[closes] = False
        runs, inside = _pure_arrays(code[:limit])
        keep[inside] = False
        kept = np.flatnonzero(keep)
        ends = pos[:limit] + 1
        ends[opens] = pos[closes] + 1
        start, end, kind = pos.take(kept), ends.take(kept), code.take(kept)
        # the arrays' items: every third special from the '[' on is an open quote
        sizes = (runs[1] - runs[0]) // 3
        first_quote = np.repeat(runs[0] + 1 - 3 * (np.cumsum(sizes) - sizes), sizes) + \
            3 * np.arange(int(sizes.sum()))
        item_start, item_end = pos[first_quote], pos[first_quote + 1] + 1
        item_array = np.repeat(runs[0], sizes)  # special index of the '[', for now
        item_array = np.searchsorted(kept, item_array)  # now its token index
        number = np.zeros(len(kind), np.int64)
        colons = np.flatnonzero(kind[:-1] == COLON)
        if len(colons):  # numbers: only as member values, i.e. right after a ':'
            where, first, length = _gap_contents(arr, end[colons], start[colons + 1] - end[colons],
                                                 base)
            if len(where):
                values = _integers(arr, first, length, base)
                at = colons[where] + 1
                start = np.insert(start, at, first)
                end = np.insert(end, at, first + length)
                kind = np.insert(kind, at, NUM)
                number = np.insert(number, at, values)
                item_array += np.searchsorted(at, item_array, side="right")
        if not len(kind):
            if final:
                raise Malformed("no JSON document" if state == _START
                                else f"truncated at byte {base + hi}")
            return None
        delta = _DELTA.take(kind)
        after = np.cumsum(delta)
        after += depth
        level = after - delta
        if after.min() < 0:
            raise Malformed("unbalanced brackets")
        level_c = np.minimum(level, self.max_depth + 1)
        ctype = self.containers.take(level_c)
        states = _STATE_AFTER.take(kind)
        closing_all = np.flatnonzero(after == 0)
        states[closing_all] = _END
        before = np.empty(len(kind), np.uint8)
        before[0] = state
        before[1:] = states[:-1]
        key = (kind == STR) & (ctype == OBJECT) & _KEY_BEFORE.take(before)
        states[key] = _AFTER_KEY
        before[1:] = states[:-1]
        ok = _ALLOWED_FLAT.take((before.astype(np.int64) * 3 + ctype) * 9 + kind)
        opening = np.flatnonzero(delta > 0)
        if len(opening):
            inner_type = self.containers.take(np.minimum(level_c[opening] + 1, self.max_depth + 1))
            ok[opening] &= inner_type == np.where(kind[opening] == OBJ, OBJECT, ARRAY)
        wrong = np.flatnonzero(~ok)
        if len(wrong):
            i = int(wrong[0])
            where_text = ("after the document" if before[i] == _END
                          else f"at depth {level[i]}")
            raise Malformed(f"unexpected {KIND_NAMES[int(kind[i])]} at byte "
                            f"{base + int(start[i])} ({where_text}; not this file's layout)")
        if final:
            if states[-1] != _END:
                raise Malformed(f"truncated at byte {base + hi}")
            cut = len(kind) - 1
        else:
            can = np.flatnonzero(((delta != 0) | (kind == COMMA)) & (after <= self.cut_depth))
            if not len(can):
                return None
            cut = int(can[-1])
        n = cut + 1
        boundary = int(end[cut])
        # the plain bytes up to the cut: the contents of the strings before it, and numbers
        strings = opens[:np.searchsorted(pos[opens], boundary)]
        expected = int(np.sum(ends[strings] - pos[strings] - 2))
        mine = kind[:n] == NUM
        expected += int(np.sum((end[:n] - start[:n])[mine]))
        if boundary < hi and not final:  # read again with the next block (at the end: must
            # be whitespace, so it stays counted)
            tail = np.frombuffer(bytes(buf[boundary:hi]).translate(_CLASS_TABLE), np.uint8)
            plain -= int(np.count_nonzero(tail == _PLAIN))
        if plain != expected:
            _locate_stray(arr, start[:n], end[:n], kind[:n], hi if final else None, base)
        items = item_array < n
        block = Block(arr, kind[:n], start[:n], end[:n], level[:n], key[:n], number[:n], base,
                      item_start[items], item_end[items], item_array[items])
        return block, boundary, int(after[cut]), int(states[cut])

    def _members(self, block: Block) -> np.ndarray:
        """Read the top-level members (depth 1, a handful of tokens) and say, per token, which
        member's value holds it."""
        top = np.flatnonzero(block.depth == 1)
        opens = []
        for i in top.tolist():
            kind = int(block.kind[i])
            if block.key[i]:
                name = block.text(i)
                if name not in self.members:
                    raise Malformed(f"unexpected key {name[:40]!r} at byte {block.offset(i)}")
                if name in self.top or name == self._pending:
                    raise Malformed(f"key {name!r} twice")
                self._pending = name
            elif kind in _VALUE_KINDS:
                name = self._pending or ""
                self._pending = None
                if kind != self.members[name]:
                    raise Malformed(f"{name!r} must be {KIND_NAMES[self.members[name]]}, "
                                    f"not {KIND_NAMES[kind]}")
                value: Any = None
                if kind == STR:
                    value = block.text(i)
                elif kind == NUM:
                    value = int(block.number[i])
                self.top[name] = (kind, value)
                if kind in (OBJ, ARR):
                    opens.append((i, self.codes[name]))
        if not opens:
            return np.full(len(block.kind), self._member, np.int64)
        at = np.array([i for i, _ in opens])
        codes = np.array([c for _, c in opens])
        j = np.searchsorted(at, np.arange(len(block.kind)), side="right") - 1
        member = np.where(j >= 0, codes[np.maximum(j, 0)], self._member)
        self._member = int(codes[-1])
        return member

    def finish(self) -> None:
        missing = [m for m in self.members if m not in self.top]
        if missing:
            raise Malformed(f"no {', '.join(repr(m) for m in missing)}")


def _pure_arrays(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The arrays of strings, found among the specials (quotes and structural characters):
    ``[``, then quote, quote (``,`` quote, quote)*, then ``]``. Proofs, the dump's ``tree`` and
    its [account, amount] pairs are such arrays, and their strings would be four fifths of
    all tokens: they are taken out of the token stream (the grammar sees ``[ ]``) and handed
    over as items instead. Returns the (``[``, ``]``) special indices of each non-empty one
    (2, r) and the indices of the specials inside them."""
    empty = np.zeros((2, 0), np.int64), np.zeros(0, np.int64)
    opens = np.flatnonzero(code == ARR)
    closes = np.flatnonzero(code == END_ARR)
    if not len(opens) or not len(closes):
        return empty
    following = np.searchsorted(closes, opens)
    has = following < len(closes)
    a, b = opens[has], closes[following[has]]
    next_open = np.append(opens[1:], len(code))[has]
    span = b - a - 1
    chosen = (next_open > b) & (span > 0) & ((span + 1) % 3 == 0)  # no '[' inside
    a, b = a[chosen], b[chosen]
    for check in (True, False):
        if not len(a):
            return empty
        lengths = b - a - 1
        offsets = np.cumsum(lengths) - lengths
        run = np.repeat(np.arange(len(a)), lengths)
        inside = np.arange(int(lengths.sum())) - offsets[run] + (a + 1)[run]
        if not check:
            break
        phase = (inside - (a + 1)[run]) % 3
        bad = code[inside] != np.where(phase == 2, COMMA, STR)
        if not bad.any():
            break
        good = np.ones(len(a), bool)
        good[run[bad]] = False  # not an array of strings after all: left to the grammar
        a, b = a[good], b[good]
    return np.stack([a, b]), inside


def _gap_contents(arr: np.ndarray, gap_start: np.ndarray, gap_len: np.ndarray, base: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the gaps holding more than whitespace: (gap index, content start, content length),
    the content being one run of non-whitespace bytes (anything else is malformed). Gaps are
    looked at through 16- then 128-byte windows (indented JSON's gaps are short); longer
    ones one by one."""
    where: list[np.ndarray] = []
    first: list[np.ndarray] = []
    length: list[np.ndarray] = []
    todo = np.flatnonzero(gap_len > 0)
    for width in (16, 128):
        chosen = todo[gap_len[todo] <= width]
        todo = todo[gap_len[todo] > width]
        if not len(chosen):
            continue
        rows = windows(arr, gap_start[chosen], width)
        mask = (rows > 0x20) & (np.arange(width) < gap_len[chosen][:, None])
        hit = np.flatnonzero(mask.any(axis=1))
        if not len(hit):
            continue
        mask = mask[hit]
        lo = mask.argmax(axis=1)
        hi = width - mask[:, ::-1].argmax(axis=1)
        split = np.flatnonzero(mask.sum(axis=1) != hi - lo)
        if len(split):
            at = int(gap_start[chosen[hit[split[0]]]])
            raise Malformed(f"unexpected {bytes(arr[at:at + width]).strip()[:30]!r} near byte "
                            f"{base + at}")
        where.append(chosen[hit])
        first.append(gap_start[chosen[hit]] + lo)
        length.append(hi - lo)
    for i in todo.tolist():
        s, n = int(gap_start[i]), int(gap_len[i])
        text = bytes(arr[s:s + n])
        content = text.strip(b" \t\n\r")
        if not content:
            continue
        if len(content.split()) != 1:
            raise Malformed(f"unexpected {content[:30]!r} near byte {base + s}")
        where.append(np.array([i]))
        first.append(np.array([s + text.index(content)]))
        length.append(np.array([len(content)]))
    if not where:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    indices = np.concatenate(where)
    order = np.argsort(indices, kind="stable")
    return indices[order], np.concatenate(first)[order], np.concatenate(length)[order]


def _integers(arr: np.ndarray, first: np.ndarray, length: np.ndarray, base: int) -> np.ndarray:
    """The numbers found in gaps: only non-negative integers of up to 18 digits without a
    leading zero are accepted (the only numbers here are an epoch and tree indices)."""
    values, valid = small_integers(arr, first, length)
    if not valid.all():
        i = int(np.flatnonzero(~valid)[0])
        at = int(first[i])
        text = bytes(arr[at:at + min(int(length[i]), 30)])
        raise Malformed(f"unexpected value {text!r} at byte {base + at} (the only numbers "
                        "here are non-negative integers)")
    return values


def _locate_stray(arr: np.ndarray, start: np.ndarray, end: np.ndarray, kind: np.ndarray,
                  tail: int | None, base: int) -> None:
    """The count of non-whitespace bytes did not add up: find where, and raise."""
    gap_start = np.concatenate([[FRONT], end[:-1]]) if len(end) else np.array([FRONT])
    gap_len = start - gap_start[:len(start)]
    if tail is not None:
        gap_start = np.append(gap_start[:len(start)], end[-1] if len(end) else FRONT)
        gap_len = np.append(gap_len, tail - gap_start[-1])
    _, first, _ = _gap_contents(arr, gap_start, gap_len, base)
    if len(first):  # numbers are tokens by now: anything between tokens is out of place
        at = int(first[0])
        raise Malformed(f"unexpected {bytes(arr[at:at + 20]).split()[0][:20]!r} at byte "
                        f"{base + at}")
    strings = np.flatnonzero(kind == STR)
    for i in strings.tolist():
        text = bytes(arr[start[i] + 1:end[i] - 1])
        if len(text.split()) != 1 or text != text.strip():
            raise Malformed(f"whitespace inside the string at byte {base + int(start[i])}")
    raise Malformed("the bytes outside strings do not add up")  # pragma: no cover
