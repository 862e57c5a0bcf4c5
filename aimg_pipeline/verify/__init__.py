"""``aimg verify``: check a published epoch folder on its own (SPEC 7 and 9).

Independence is the point of this package. No module of it imports anything from the code
that builds and publishes the folder (``publish``, ``lib.merkle``, ``publish.render`` or any
other module of the project): the files are read with its own JSON readers; keccak256 comes
from a public API (safe-pysha3's ``sha3.keccak_256``, else pycryptodome's
``Crypto.Hash.keccak.new``); EIP-55, the ABI encoding and OpenZeppelin's ``StandardMerkleTree``
for ``["address", "uint256"]`` leaves (``@openzeppelin/merkle-tree`` 1.0.8: ``src/core.ts``,
``src/hashes.ts``, ``src/standard.ts``, ``src/merkletree.ts``) are written out again here. A
bug in the renderer therefore cannot also sit in the check meant to catch it. The tree is
rebuilt from the dump's *values* only, and every proof in ``claims.json`` is checked against
that rebuilt root; nothing is skipped because a file looks like what the publisher writes.

Checks (every problem is reported, together, in one ``VerifyError`` naming the folder):

* ``manifest.json`` lists ``merkle_tree.json``, ``claims.json`` and ``allocations.csv``; every
  listed file exists and has the listed sha256; the folder name ``epoch-NNNNN`` (when it has
  that form) and the ``epoch`` argument agree with the manifest's epoch.
* ``merkle_tree.json`` is a ``standard-v1`` dump with leafEncoding ``["address", "uint256"]``:
  accounts EIP-55, amounts canonical decimals below 2**256, no account twice; the root rebuilt
  from the values equals ``tree[0]`` and the manifest's ``merkle_root``; the dump's ``tree``
  array equals the rebuilt one; each value's ``treeIndex`` points at its leaf, where the
  sorted-leaf layout puts it.
* ``claims.json``: epoch and root as in the manifest and the rebuilt tree, accounts EIP-55,
  amounts canonical decimal strings, its (account, amount) pairs exactly the dump's values,
  and every proof verifying against the rebuilt root with ``MerkleProof.verify`` semantics
  (how, and why that is the same thing: ``claim_check.ClaimCheck``).
* totals: claims sum = ``claims.json`` total = manifest total; claim count = manifest
  ``accounts``; ``allocations.csv`` (header ``epoch,channel,pool,account,weight,amount,
  reason,via``, or without ``via`` for epochs published before redirects) has
  ``allocation_rows`` rows, all for this epoch, none negative, summing to the emission and
  per channel to ``totals_by_channel``.
* against ``../epoch-{n-1:05d}`` when it lies beside the folder: its ``claims.json`` and
  ``merkle_tree.json`` match its own manifest's sha256s; no cumulative amount went down;
  total = previous total + emission; each account's claim = its previous claim + its
  allocations this epoch (accounts at 0 count as absent). The previous claims are read from
  that epoch's tree dump (see ``checks.Verification.previous``). For epoch 0 the claims must
  equal the allocations.

Scale: at 1M claims ``claims.json`` is ~1.6 GB (20 proof elements a claim); ``json.loads``
would make many GB of Python objects of it. The JSON files are read in blocks, with bounded
memory, by one of two readers that give the same columns: ``published_layout`` for the
published layout (``json.dumps(indent=2)``: fixed bytes checked at computed offsets), and
``any_layout`` on ``tokens.JsonReader``, a tokenizer on numpy arrays for any other JSON
whitespace and key order (no backslash escapes: no string in these files needs one, they
are hex, decimals, addresses and key names). Values become columns (hex as byte rows,
amounts as base-10**8 limbs) folded, block by block, into one row per account of the tree;
nothing is kept per proof element. Each file is read once and hashed from the same blocks on
another thread; the previous epoch's files and allocations.csv are read on a third while
this one rebuilds the tree, half of whose keccak calls run in a helper process
(``keccak.Keccak``), and claims.json is read one block ahead of its checks (``blocks.ahead``).
At 1M claims this takes about 21 s and 1.1 GiB on two cores.

The modules, each holding one thing:

* ``checks``: the checks of one folder, in order (``Verification``);
* ``claim_check``: claims.json's claims against the rebuilt tree, proofs included;
* ``tree``: OpenZeppelin's tree rebuilt from the values, and ``MerkleProof``'s fold;
* ``keccak``: keccak256, many records at a time (and in a helper process), and EIP-55;
* ``accounts``: exact lookup of accounts among the tree's values;
* ``published_layout``: the JSON files read on the publisher's templates;
* ``any_layout``: the JSON files read in any layout, on ``tokens``, the numpy tokenizer;
* ``columns``: what either reader gives;
* ``blocks``: files read in blocks, sha256'd on another thread, read ahead;
* ``allocations``: allocations.csv read and summed;
* ``limbs`` and ``rows``: decimal limbs and byte rows on whole arrays;
* ``errors``: ``VerifyError`` and the readers' ``Malformed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from .checks import Verification
from .errors import Malformed, VerifyError

__all__ = ["VerifyError", "verify"]


def verify(folder: Path, epoch: int | None = None) -> dict[str, Any]:
    """Check a published epoch folder on its own; raise VerifyError listing every problem.

    Needs only the folder and, when it lies beside it, the previous epoch's folder. Returns
    ``{"epoch", "merkle_root", "accounts", "total", "checked_previous"}``. Malformed files
    (bad JSON, missing keys, wrong types) are reported as problems, never as a traceback.
    """
    folder = Path(folder)
    try:
        return Verification(folder, epoch).run()
    except VerifyError:
        raise
    except (Malformed, KeyError, ValueError, TypeError, AttributeError, IndexError,
            OverflowError, OSError, pa.ArrowException) as exc:
        raise VerifyError(f"{folder}: malformed artifacts ({type(exc).__name__}: {exc})") \
            from None
