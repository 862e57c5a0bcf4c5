"""The checks of one published folder, in order (``Verification``): the manifest, the tree
rebuilt and compared with the dump, the claims against it, the file hashes, the totals,
allocations.csv, and the claims against the previous epoch's plus this epoch's allocations.
What each check is: the package docstring."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .accounts import Accounts
from .allocations import ALLOCATIONS_FILE, Allocations, read_allocations
from .any_layout import read_claims, read_dump
from .blocks import Hasher, ahead
from .claim_check import ClaimCheck
from .columns import ClaimRows, ClaimsTop, Dump, Sink
from .errors import Malformed, VerifyError
from .keccak import Keccak, eip55_checksummed
from .limbs import DECIMAL, LIMB_TYPE, LIMBS, as_int, greater, normalize, uint256_words
from .published_layout import NotCanonical, canonical_claims, canonical_dump
from .rows import address, hex_valid, same_rows, stack, unhex
from .tree import Rebuilt, rebuild

MANIFEST = "manifest.json"
TREE_FILE = "merkle_tree.json"
CLAIMS_FILE = "claims.json"
ARTIFACTS = (TREE_FILE, CLAIMS_FILE, ALLOCATIONS_FILE)
_FOLDER_NAME = re.compile(r"^epoch-(\d{5})$")
_SHARD = re.compile(r"^proofs/([0-9a-f]{2})\.json$")
SHARD_LAYOUT = "proofs/{prefix}.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise Malformed(f"cannot read {path.name} ({exc})") from None
    if not isinstance(manifest, dict):
        raise Malformed(f"{path.name} is not a JSON object")
    return manifest


def _plain_name(name: object) -> bool:
    return isinstance(name, str) and ("/" not in name and name not in ("", ".", "..")
                                      or _SHARD.match(name) is not None)


def _read_claims_file(path: Path, hasher: Hasher, sink: Sink, restart: Callable[[], Sink],
                      strange: Callable[[], bool] = lambda: False) -> ClaimsTop:
    """A claims file (claims.json or a proof shard) into ``sink``, block by block, through
    the published layout's reader; when the file is not in that layout, or ``strange()``
    after a block (a proof element that is not hex: the general reader judges what the file
    says there), read again from the top by the general reader into ``restart()``'s sink."""
    try:
        claims = ahead(lambda: canonical_claims(path, hasher))
        while True:
            try:
                sink(next(claims))
            except StopIteration as done:
                return done.value
            if strange():
                claims.close()
                raise NotCanonical
    except NotCanonical:
        return read_claims(path, hasher, restart())


@dataclass
class _Previous:
    """The previous epoch's claims, one row per account of this epoch's tree, plus those of
    its accounts this epoch's tree lacks."""

    amounts: np.ndarray  # (n, 10) limbs
    outside: list[tuple[str, int]]  # (account, amount > 0) not in this epoch's tree
    total: int


def _previous_amounts(dump: Dump, index: Accounts, n: int) -> _Previous:
    where = index.find(unhex(dump.accounts))
    mine = where >= 0
    amounts = np.zeros((n, LIMBS), LIMB_TYPE)
    amounts[where[mine]] = dump.limbs[mine]
    outside = [(address(dump.accounts[i]), as_int(dump.limbs[i]))
               for i in np.flatnonzero(~mine & dump.limbs.any(axis=1)).tolist()]
    return _Previous(amounts, outside, as_int(dump.limbs.astype(np.int64).sum(axis=0)))


class Verification:
    """One run of ``verify``: the checks in order, problems collected in ``problems``."""

    def __init__(self, folder: Path, epoch: int | None) -> None:
        self.folder = folder
        self.epoch = epoch
        self.problems: list[str] = []

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def field(self, manifest: dict[str, Any], name: str, kind: type) -> Any:
        """A manifest field of the given type (str: a canonical decimal), else a problem."""
        value = manifest.get(name)
        good = type(value) is kind if kind is int else isinstance(value, kind)
        if good and kind is str and not DECIMAL.match(value):
            good = False
        if not good:
            wanted = "a decimal string" if kind is str else kind.__name__
            self.fail(f"manifest {name} is {value!r}, not {wanted}")
            return None
        return value

    def run(self) -> dict[str, Any]:
        """Every check; the report, or VerifyError with every problem found."""
        folder = self.folder
        try:
            manifest = _read_manifest(folder / MANIFEST)
        except Malformed as exc:
            raise VerifyError(f"{folder}: {exc}") from None
        number = self.field(manifest, "epoch", int)
        named = _FOLDER_NAME.match(folder.name)
        if number is not None:
            if self.epoch is not None and number != self.epoch:
                self.fail(f"manifest is for epoch {number}, expected {self.epoch}")
            if named and int(named.group(1)) != number:
                self.fail(f"folder {folder.name} holds epoch {number}")
        root_listed = manifest.get("merkle_root")
        if not isinstance(root_listed, str):
            self.fail(f"manifest merkle_root is {root_listed!r}")
            root_listed = None
        total_listed = self.field(manifest, "total", str)
        accounts_listed = self.field(manifest, "accounts", int)
        emission_text = self.field(manifest, "emission", str)
        by_channel = manifest.get("totals_by_channel")
        if not isinstance(by_channel, dict) or not all(
                isinstance(v, str) and DECIMAL.match(v) for v in by_channel.values()):
            self.fail(f"manifest totals_by_channel is {by_channel!r}, not channel -> decimal")
            by_channel = None
        allocation_rows = self.field(manifest, "allocation_rows", int)
        listed = manifest.get("files")
        if not isinstance(listed, dict):
            self.fail(f"manifest files is {listed!r}, not file -> sha256")
            listed = {}
        for name in ARTIFACTS:
            if name not in listed:
                self.fail(f"manifest does not list {name}")
        for name, digest in listed.items():
            if not _plain_name(name):
                self.fail(f"manifest lists {name!r}, which is not a file of the folder")
            elif not isinstance(digest, str) or not _SHA256.match(digest):
                self.fail(f"manifest sha256 of {name} is {digest!r}")

        # Hashing threads (fed the JSON files' blocks as they are parsed, or reading whole
        # files), and one more reading the previous epoch's folder and this epoch's
        # allocations while this thread rebuilds the tree (keccak holds the GIL, one call at a
        # time; half of them run in a helper process) and checks the claims: the readers spend
        # most of their time in numpy, pyarrow and hashlib, which release it.
        with ThreadPoolExecutor(max_workers=3) as pool, \
                ThreadPoolExecutor(max_workers=1) as side:
            hasher = Hasher(pool)
            shards = sorted(name for name in listed if _SHARD.match(name))
            others = {name: hasher.whole_file(folder / name) for name in listed
                      if _plain_name(name) and name not in (TREE_FILE, CLAIMS_FILE, *shards)
                      and (folder / name).is_file()}
            dump, raw, words = self.read_tree(hasher)
            index = Accounts(raw) if dump is not None else None
            n = len(dump.accounts) if dump is not None else 0
            aside = side.submit(self.read_aside, hasher, number, index, n)
            rebuilt = self.check_tree(dump, raw, words, index) if dump is not None else None
            del raw, words
            claims = self.claims(hasher, dump, rebuilt, index)
            self.check_layout(manifest, shards)
            shard_check = self.shards(hasher, dump, rebuilt, index, shards, number)
            previous, allocations, problems = aside.result()
            self.problems += problems
            digests = {name: d.hexdigest() for name, d in hasher.digests.items()
                       if name in hasher.complete}
            digests.update({name: digests.pop(Path(name).name) for name in shards
                            if Path(name).name in digests})
            for name in (TREE_FILE, CLAIMS_FILE, *shards):  # a file whose parse stopped early
                if name not in digests and name in listed and (folder / name).is_file():
                    others[name] = hasher.whole_file(folder / name)
            digests.update({name: f.result() for name, f in others.items()})
        for name, digest in listed.items():
            if not _plain_name(name):
                continue
            if not (folder / name).is_file():
                self.fail(f"{name} is missing")
            elif digests.get(name) != digest:
                self.fail(f"{name} does not match its sha256 in the manifest")
        for name in ARTIFACTS:
            if name not in listed and not (folder / name).is_file():
                self.fail(f"{name} is missing")

        root = rebuilt.root if rebuilt is not None else None
        if root is not None and root_listed is not None and root != root_listed:
            self.fail(f"tree root {root} (rebuilt from the values) != manifest root "
                      f"{root_listed}")
        if claims is not None:
            self.check_claims(claims, number, root, total_listed, accounts_listed)
        if shard_check is not None:
            self.check_found(shard_check, "proofs/*.json")
        emission = int(emission_text) if emission_text is not None else None
        if allocations is not None:
            self.check_allocations(allocations, emission, by_channel, allocation_rows)
        checked_previous = self.check_cumulative(number, claims, allocations, previous,
                                                 emission)
        if self.problems:
            raise VerifyError(f"{folder}: " + "; ".join(self.problems))
        assert claims is not None and root is not None
        return {"epoch": number, "merkle_root": root, "accounts": claims[0].count,
                "total": claims[0].total, "checked_previous": checked_previous,
                "shards": len(shards)}

    # -- merkle_tree.json --------------------------------------------------------------------

    def read_tree(self, hasher: Hasher
                  ) -> tuple[Dump | None, np.ndarray | None, np.ndarray | None]:
        """merkle_tree.json read and its values checked: (dump, raw accounts (n, 20), amounts as
        ABI words (n, 32)), or Nones when there is no tree to rebuild."""
        path = self.folder / TREE_FILE
        if not path.is_file():
            return None, None, None
        try:
            dump = canonical_dump(path, hasher) or read_dump(path, hasher)
        except (Malformed, OSError) as exc:
            self.fail(f"{TREE_FILE} is not a valid standard-v1 dump: {exc}")
            return None, None, None
        problems = []
        if dump.format != "standard-v1":
            problems.append(f"format {dump.format!r}, expected 'standard-v1'")
        if dump.leaf_encoding != ["address", "uint256"]:
            problems.append(f"leafEncoding {dump.leaf_encoding!r}, expected "
                            "['address', 'uint256']")
        n = len(dump.accounts)
        if n == 0:
            problems.append("no values (an empty tree is not allowed)")
        valid = hex_valid(dump.accounts)
        if not valid.all():
            bad = int(np.flatnonzero(~valid)[0])
            problems.append(f"values[{bad}]: account {address(dump.accounts[bad])!r} is not hex")
        words, fits = uint256_words(dump.limbs)
        if not fits.all():
            problems.append(f"values[{int(np.flatnonzero(~fits)[0])}]: amount of 2**256 or more")
        if problems:
            self.fail(f"{TREE_FILE} is not a valid standard-v1 dump: " + "; ".join(problems))
            return None, None, None
        return dump, unhex(dump.accounts), words

    def check_tree(self, dump: Dump, raw: np.ndarray, words: np.ndarray,
                   index: Accounts) -> Rebuilt:
        """Rebuild the tree from the dump's values and compare it with the dump."""
        n = len(dump.accounts)
        keccak = Keccak()
        try:
            checksummed = eip55_checksummed(dump.accounts, keccak.rows)
            rebuilt = rebuild(raw, words, keccak.rows)
        finally:
            keccak.close()
        if not checksummed.all():
            bad = np.flatnonzero(~checksummed)
            self.fail(f"{TREE_FILE}: {len(bad)} accounts are not EIP-55 checksummed (first: "
                      f"{address(dump.accounts[bad[0]])})")
        if len(index.duplicates):
            self.fail(f"the tree lists an account more than once (first: "
                      f"{address(dump.accounts[index.duplicates[0]])})")
        if len(dump.nodes) != 2 * n - 1:
            self.fail(f"{TREE_FILE}: tree has {len(dump.nodes)} nodes, {n} values need "
                      f"{2 * n - 1}")
        else:
            if dump.nodes[0].tobytes() != rebuilt.hex[0].tobytes():
                self.fail(f"{TREE_FILE}: tree[0] 0x{dump.nodes[0].tobytes().decode()} is not "
                          f"the root rebuilt from the values ({rebuilt.root})")
            differ = np.flatnonzero(~same_rows(dump.nodes.view(np.uint64),
                                               rebuilt.hex.view(np.uint64)))
            if len(differ):
                self.fail(f"{TREE_FILE}: {len(differ)} nodes of the tree array differ from the "
                          f"tree rebuilt from the values (first: tree[{differ[0]}])")
            # each value's treeIndex must point at its leaf (the text of the rebuilt leaf)
            inside = (dump.tree_index >= 0) & (dump.tree_index < len(dump.nodes))
            at = np.where(inside, dump.tree_index, 0)
            leaf = np.zeros(n, bool)
            for lo in range(0, n, 1 << 17):  # in slices: two 64-byte rows a value
                part = slice(lo, lo + (1 << 17))
                leaf[part] = same_rows(dump.nodes.view(np.uint64).take(at[part], axis=0),
                                       rebuilt.hex.view(np.uint64).take(
                                            rebuilt.position[part], axis=0))
            misplaced = np.flatnonzero(~inside | ~leaf)
            if len(misplaced):
                self.fail(f"{TREE_FILE}: {len(misplaced)} values' treeIndex does not point at "
                          f"their leaf (first: values[{misplaced[0]}])")
        moved = np.flatnonzero(dump.tree_index != rebuilt.position)
        if len(moved):
            self.fail(f"{TREE_FILE}: {len(moved)} values have a treeIndex other than where the "
                      f"sorted-leaf layout puts them (first: values[{moved[0]}] at "
                      f"{dump.tree_index[moved[0]]}, rebuilt at {rebuilt.position[moved[0]]})")
        # ~220 MB at 1M claims, no longer needed (proofs are compared with the hex text)
        dump.nodes = rebuilt.nodes = np.zeros((0, 64), np.uint8)
        return rebuilt

    # -- claims.json -------------------------------------------------------------------------

    def claims(self, hasher: Hasher, dump: Dump | None, rebuilt: Rebuilt | None,
               index: Accounts | None) -> tuple[ClaimsTop, ClaimCheck | None] | None:
        """claims.json read (the published layout's reader, else the general one from the
        top) and checked claim by claim against the rebuilt tree."""
        path = self.folder / CLAIMS_FILE
        if not path.is_file():
            return None
        unchecked: list[np.ndarray] = []

        def spelling(rows: ClaimRows) -> None:  # no tree to check against: EIP-55 only
            unchecked.append(rows.hex40[~eip55_checksummed(rows.hex40)])

        def fresh() -> ClaimCheck | None:
            unchecked.clear()
            if dump is not None and rebuilt is not None and index is not None:
                return ClaimCheck(dump, index, rebuilt)
            return None

        check = fresh()

        def restart() -> Sink:
            nonlocal check
            check = fresh()
            return check or spelling

        try:
            top = _read_claims_file(path, hasher, check or spelling, restart,
                                    lambda: check is not None and check.strange)
        except (Malformed, OSError) as exc:
            self.fail(f"{CLAIMS_FILE} is not a valid claims file: {exc}")
            return None
        if check is None:
            self.fail(f"{CLAIMS_FILE}: proofs not checked, the tree could not be rebuilt")
            wrong = stack(unchecked, 40, np.uint8)
            if len(wrong):
                self.fail(f"{len(wrong)} accounts are not EIP-55 checksummed (first: "
                          f"{address(wrong[0])})")
        else:
            check.fold()
        return top, check

    def check_claims(self, claims: tuple[ClaimsTop, ClaimCheck | None], number: int | None,
                     root: str | None, total_listed: str | None,
                     accounts_listed: int | None) -> None:
        """claims.json's header and totals, and what its claims' checks found."""
        top, check = claims
        epoch, claims_root, claims_total = (top.top[k][1] for k in ("epoch", "merkle_root",
                                                                     "total"))
        if number is not None and epoch != number:
            self.fail(f"{CLAIMS_FILE} is for epoch {epoch}, manifest {number}")
        if root is not None and claims_root != root:
            self.fail(f"{CLAIMS_FILE} merkle_root differs from the tree root")
        if str(top.total) != claims_total or str(top.total) != total_listed:
            self.fail(f"claims sum to {top.total}, files say {claims_total} / {total_listed}")
        if accounts_listed != top.count:
            self.fail(f"{top.count} claims, manifest says {accounts_listed}")
        if check is not None:
            self.check_found(check, CLAIMS_FILE)

    def check_found(self, check: ClaimCheck, what: str) -> None:
        """What the claim-by-claim checks of ``what`` (claims.json, or the proof shards
        together) found: every value of the tree claimed exactly once, with its amount and
        a proof that verifies."""
        bad = check.bad
        if "case" in bad:
            self.fail(f"{bad['case'][0]} accounts are not EIP-55 checksummed (first: "
                      f"{bad['case'][1]})")
        twice = np.flatnonzero(check.times > 1)
        if len(twice):
            self.fail(f"{what} lists {len(twice)} accounts more than once (first: "
                      f"{address(check.dump.accounts[twice[0]])})")
        unclaimed = np.flatnonzero(check.times == 0)
        absent, amounts = bad.get("absent", (0, "")), bad.get("amount", (0, ""))
        if absent[0] or amounts[0] or len(unclaimed):
            first = absent[1] or amounts[1] or address(check.dump.accounts[unclaimed[0]])
            self.fail(f"{what} accounts/amounts differ from the tree's values: "
                      f"{absent[0]} accounts are not in the tree, {amounts[0]} amounts differ, "
                      f"{len(unclaimed)} values have no claim (first: {first})")
        if "proof" in bad:
            self.fail(f"{what}: {bad['proof'][0]} proofs do not verify (first: "
                      f"{bad['proof'][1]})")
        if "disagree" in bad:
            self.fail(f"internal error: hash-folding and the sibling-path comparison disagree "
                      f"on {bad['disagree'][0]} proofs (first: {bad['disagree'][1]})")

    # -- the proof shards --------------------------------------------------------------------

    def check_layout(self, manifest: dict[str, Any], shards: list[str]) -> None:
        """A manifest that announces proof shards names their layout, and the folder holds
        no shard it does not list."""
        layout = manifest.get("proof_shards")
        if layout is None:
            if shards:
                self.fail("manifest lists proof shards but no proof_shards layout")
            return
        if not shards:
            self.fail("manifest announces proof shards but lists none")
        if layout != SHARD_LAYOUT:
            self.fail(f"manifest proof_shards is {layout!r}, expected {SHARD_LAYOUT!r}")
        present = {p.relative_to(self.folder).as_posix()
                   for p in (self.folder / "proofs").glob("*") if p.is_file()}
        unlisted = sorted(present - set(shards))
        if unlisted:
            self.fail(f"{len(unlisted)} files under proofs/ are not in the manifest (first: "
                      f"{unlisted[0]})")

    def shards(self, hasher: Hasher, dump: Dump | None, rebuilt: Rebuilt | None,
               index: Accounts | None, shards: list[str], number: int | None
               ) -> ClaimCheck | None:
        """Each shard read like claims.json (the published layout's reader, else the general
        one) and its header checked; all shards' claims go through one ``ClaimCheck``, which
        then holds whether they hold every value of the tree exactly once, each with its
        proof: None when there are no shards or no tree to check them against."""
        if not shards:
            return None
        if dump is None or rebuilt is None or index is None:
            self.fail("proof shards not checked, the tree could not be rebuilt")
            return None
        check = ClaimCheck(dump, index, rebuilt)
        for name in shards:
            path = self.folder / name
            if not path.is_file():
                continue  # reported as missing with the hashes
            rows: list[ClaimRows] = []  # all read before any is checked: a restart of the
            # reader must not feed the shared check twice

            def restart(rows: list[ClaimRows] = rows) -> Sink:
                rows.clear()
                return rows.append

            try:
                top = _read_claims_file(path, hasher, rows.append, restart)
            except (Malformed, OSError) as exc:
                self.fail(f"{name} is not a valid claims file: {exc}")
                continue
            prefix = np.frombuffer(_SHARD.match(name).group(1).encode(), np.uint8)
            elsewhere = sum(int((~((r.hex40[:, :2] | 0x20) == prefix).all(axis=1)).sum())
                            for r in rows)
            if elsewhere:
                self.fail(f"{name} holds {elsewhere} accounts of other shards")
            for block in rows:
                check(block)
            epoch, shard_root, shard_total = (top.top[k][1] for k in ("epoch", "merkle_root",
                                                                       "total"))
            if number is not None and epoch != number:
                self.fail(f"{name} is for epoch {epoch}, manifest {number}")
            if shard_root != rebuilt.root:
                self.fail(f"{name} merkle_root differs from the tree root")
            if str(top.total) != shard_total:
                self.fail(f"{name}: its claims sum to {top.total}, its total says {shard_total}")
        check.fold()
        return check

    # -- allocations.csv ---------------------------------------------------------------------

    def check_allocations(self, allocations: Allocations, emission: int | None,
                          by_channel: dict[str, str] | None, rows: int | None) -> None:
        """allocations.csv against the manifest: rows, emission, totals per channel."""
        self.problems += allocations.problems
        if rows is not None and rows != allocations.rows:
            self.fail(f"{ALLOCATIONS_FILE} has {allocations.rows} rows, manifest {rows}")
        sums = allocations.by_channel
        allocated = sum(sums.values())
        if emission is not None and allocated != emission:
            self.fail(f"allocations sum to {allocated}, emission is {emission}")
        if by_channel is not None:
            for channel in sorted(set(by_channel) | set(sums)):
                listed = int(by_channel.get(channel, 0))
                if sums.get(channel, 0) != listed:
                    self.fail(f"channel {channel}: allocations {sums.get(channel, 0)} != "
                              f"manifest {listed}")

    # -- the previous epoch ------------------------------------------------------------------

    def read_aside(self, hasher: Hasher, number: int | None, index: Accounts | None, n: int
                   ) -> tuple[_Previous | None, Allocations | None,
                              list[str]]:
        """On the side thread: the previous epoch's claims and this epoch's allocations, with
        the problems found reading them (not added to ``problems`` from this thread)."""
        problems: list[str] = []
        previous = self.previous(hasher, number, index, n, problems)
        allocations = None
        if (self.folder / ALLOCATIONS_FILE).is_file() and number is not None:
            try:
                allocations = read_allocations(self.folder / ALLOCATIONS_FILE, number, index, n)
            except (Malformed, pa.ArrowException, OSError, UnicodeDecodeError) as exc:
                problems.append(f"{ALLOCATIONS_FILE} cannot be read: {exc}")
        return previous, allocations, problems

    def previous(self, hasher: Hasher, number: int | None, index: Accounts | None, n: int,
                 problems: list[str]) -> _Previous | None:
        """The previous epoch's claims when its folder lies beside this one (None if not, or
        if it cannot be read: then a problem says why).

        They are read from its ``merkle_tree.json``: the values its root commits to, which the
        distributor pays against, and which that epoch's own verification holds equal to its
        ``claims.json``. Both files must match that folder's manifest; the dump is a sixth of
        the size of the claims (no proofs).
        """
        if number is None or number <= 0:
            return None
        folder = self.folder.parent / f"epoch-{number - 1:05d}"
        if not (folder / CLAIMS_FILE).is_file():
            return None
        self.compare_previous = True
        try:
            manifest = _read_manifest(folder / MANIFEST)
        except Malformed as exc:
            problems.append(f"{folder.name}: {exc}")
            return None
        if index is None:
            return None  # nothing to compare with: the tree of this epoch is broken
        own = Hasher(hasher.pool)
        claims_digest = own.whole_file(folder / CLAIMS_FILE)
        try:
            dump = (canonical_dump(folder / TREE_FILE, own, nodes_too=False)
                    or read_dump(folder / TREE_FILE, own))
        except (Malformed, OSError) as exc:
            problems.append(f"{folder.name}/{TREE_FILE} is not a valid standard-v1 dump: {exc}")
            return None
        listed = manifest.get("files")
        listed = listed if isinstance(listed, dict) else {}
        for name, digest in ((TREE_FILE, own.digests[TREE_FILE].hexdigest()),
                             (CLAIMS_FILE, claims_digest.result())):
            if listed.get(name) != digest:
                problems.append(f"{folder.name}/{name} does not match its own manifest: the "
                                "previous epoch's folder cannot be trusted")
        if not hex_valid(dump.accounts).all():
            problems.append(f"{folder.name}/{TREE_FILE} holds an account that is not hex")
            return None
        return _previous_amounts(dump, index, n)

    compare_previous = False

    def check_cumulative(self, number: int | None,
                         claims: tuple[ClaimsTop, ClaimCheck | None] | None,
                         allocations: Allocations | None,
                         previous: _Previous | None,
                         emission: int | None) -> bool:
        """Claims = previous claims + this epoch's allocations, account by account (zero
        counting as absent); none lower than before; total = previous total + emission.
        Returns whether the previous epoch's folder was compared with."""
        check = claims[1] if claims is not None else None
        if number is None or check is None or allocations is None \
                or allocations.per_account is None:
            return self.compare_previous
        if number > 0 and previous is None:
            return self.compare_previous  # nothing to start from: claims not recomputable
        claimed = check.claimed
        accounts = check.dump.accounts
        expected = allocations.per_account
        outside = dict(allocations.outside)
        if previous is not None:
            before = previous
            lower = np.flatnonzero(greater(before.amounts, claimed))
            gone = before.outside
            if len(lower) or gone:
                i = int(lower[0]) if len(lower) else -1
                first = (f"{address(accounts[i])} {as_int(before.amounts[i])} -> "
                         f"{as_int(claimed[i])}" if i >= 0 else f"{gone[0][0]} {gone[0][1]} -> 0")
                self.fail(f"{len(lower) + len(gone)} cumulative amounts went down since epoch "
                          f"{number - 1} (first: {first})")
            for account, amount in gone:
                key = account.lower()
                outside[key] = outside.get(key, 0) + amount
            previous_total = before.total
            if emission is not None and claims is not None \
                    and claims[0].total != previous_total + emission:
                self.fail(f"total {claims[0].total} != previous total {previous_total} + "
                          f"emission {emission}")
            expected = expected + before.amounts
            normalize(expected)
        wrong = np.flatnonzero((expected != claimed).any(axis=1))
        extra = sorted(a for a, v in outside.items() if v)
        if len(wrong) or extra:
            if len(wrong):
                i = int(wrong[0])
                first = (f"{address(accounts[i])} expected {as_int(expected[i])}, "
                         f"{CLAIMS_FILE} {as_int(claimed[i])}")
            else:
                first = f"{extra[0]} expected {outside[extra[0]]}, {CLAIMS_FILE} 0"
            self.fail(f"{len(wrong) + len(extra)} claims differ from the previous epoch's claim "
                      f"plus this epoch's allocations (first: {first})")
        return self.compare_previous
