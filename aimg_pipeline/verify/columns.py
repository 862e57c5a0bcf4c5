"""What the two readers of each JSON file give, whichever layout they read: merkle_tree.json
and claims.json as columns (hex as byte rows, amounts as base-10**8 limbs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Dump:
    """merkle_tree.json as columns."""

    nodes: np.ndarray  # (m, 64) hex text of the dump's `tree`, without 0x
    accounts: np.ndarray  # (n, 40) account texts as written, without 0x
    limbs: np.ndarray  # (n, 10) amounts
    tree_index: np.ndarray  # (n,)
    leaf_encoding: list[str]
    format: str


@dataclass
class ClaimsTop:
    """What every claims.json reading gives: the top-level members, count and sum."""

    top: dict[str, tuple[int, Any]]
    count: int
    total: int


@dataclass
class ClaimRows:
    """A block's claims as columns, independent of the buffer they were read from (so that
    the next block can be read meanwhile)."""

    hex40: np.ndarray  # (m, 40) account texts without 0x, as written
    limbs: np.ndarray  # (m, 10) amounts
    count: np.ndarray  # (m,) proof elements of each claim
    text: np.ndarray  # (e, 64) the 64 characters after "0x" of each element (may be a view)
    shaped: np.ndarray | None  # (e,) the element is "0x" + 64 characters (None: all are)


Sink = Callable[[ClaimRows], None]
