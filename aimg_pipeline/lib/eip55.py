"""EIP-55 mixed-case checksum addresses: validation and the checksummed form, one address at a
time or many at once (numpy; the form the Merkle tree uses for all its accounts).

An address is ``0x`` followed by 40 hex digits; all lowercase or all uppercase is accepted
as is, mixed case must be the valid checksum. A hex letter is uppercase in the checksum when
the matching nibble of ``keccak256(lowercase hex digits)`` is >= 8.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aimg_pipeline.lib.keccak import keccak256, keccak_rows

if TYPE_CHECKING:
    import numpy as np

__all__ = ["AddressError", "checksum_rows", "parse_address", "to_checksum_address"]

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")

# Masks for the branch-free checksum in ``_checksum_from_lower``: one byte per hex character.
_MASK_40 = int.from_bytes(b"\x40" * 40, "big")
_MASK_08 = int.from_bytes(b"\x08" * 40, "big")


class AddressError(ValueError):
    """Not an address, or mixed case that is not its EIP-55 checksum."""


def _checksum_from_lower(hex40: str) -> str:
    """EIP-55 form of a lowercase 40-hex-digit address (no ``0x``).

    Done on 320-bit integers (one byte per character) instead of a per-character loop.
    """
    text = int.from_bytes(hex40.encode("ascii"), "big")
    nibbles = int.from_bytes(keccak256(hex40.encode("ascii")).hex()[:40].encode("ascii"), "big")
    # As ASCII hex digits, nibble >= 8 is '8'/'9' (bit 0x08 set) or 'a'..'f' (bit 0x40 set);
    # a letter in the address has bit 0x40 set and a digit never does.
    high = ((nibbles & _MASK_08) << 3) | (nibbles & _MASK_40)
    upper = (high & text & _MASK_40) >> 1  # 0x20 where the letter must become uppercase
    return "0x" + (text ^ upper).to_bytes(40, "big").decode("ascii")


def parse_address(account: object) -> tuple[str, bytes]:
    """Validate an address and return (EIP-55 form, 20 raw bytes); ``AddressError`` if invalid."""
    if not isinstance(account, str) or not _ADDRESS_RE.fullmatch(account):
        raise AddressError(f"invalid address {account!r}: expected 0x followed by 40 hex digits")
    lower = account[2:].lower()
    checksummed = _checksum_from_lower(lower)
    body = account[2:]
    if body != lower and body != body.upper() and account != checksummed:
        raise AddressError(
            f"invalid address {account!r}: mixed case but not a valid EIP-55 checksum "
            f"(expected {checksummed})"
        )
    return checksummed, bytes.fromhex(lower)


def to_checksum_address(account: str) -> str:
    """The EIP-55 form of a valid address (``AddressError`` if it is not one)."""
    return parse_address(account)[0]


def checksum_rows(accounts: Sequence[object]) -> tuple[list[str], np.ndarray] | None:
    """``parse_address`` of many addresses at once: their EIP-55 forms and raw (n, 20) bytes,
    or None if any is invalid (``parse_address`` then says which and why).

    The checksum keccak runs once per address (``keccak_rows``), everything else on arrays.
    """
    import numpy as np  # here: one-address users (``aimg proof``) start without numpy

    n = len(accounts)
    try:
        joined = "".join(accounts)  # type: ignore[arg-type]  # TypeError unless all str
    except TypeError:
        return None
    if len(joined) != 42 * n or not joined.isascii() or set(map(len, accounts)) != {42}:
        return None
    text = np.frombuffer(joined.encode("ascii"), np.uint8).reshape(n, 42)
    if not ((text[:, 0] == ord("0")) & (text[:, 1] == ord("x"))).all():
        return None
    body = text[:, 2:]
    lower_text = body.tobytes().lower()
    try:
        raw = np.frombuffer(binascii.unhexlify(lower_text), np.uint8).reshape(n, 20)
    except binascii.Error:  # not a hex digit
        return None
    lower = np.frombuffer(lower_text, np.uint8).reshape(n, 40)
    digest = np.frombuffer(keccak_rows(lower_text, 40), np.uint8).reshape(n, 32)[:, :20]
    high = np.empty((n, 40), dtype=bool)  # character i's nibble of keccak(lowercase) >= 8
    high[:, 0::2] = digest >= 0x80
    high[:, 1::2] = (digest & 0x0F) >= 0x08
    letter = body >= ord("A")
    checksummed = lower ^ ((letter & high).view(np.uint8) << 5)  # 0x20 turns a-f into A-F
    upper = letter & (body < ord("a"))
    mixed = upper.any(axis=1) & (letter & ~upper).any(axis=1)
    if (mixed & (body != checksummed).any(axis=1)).any():
        return None
    out = np.empty((n, 42), dtype=np.uint8)
    out[:, :2] = text[:, :2]
    out[:, 2:] = checksummed
    flat = out.tobytes().decode("ascii")
    return [flat[i:i + 42] for i in range(0, 42 * n, 42)], raw
