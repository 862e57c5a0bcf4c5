"""Building an epoch's files (SPEC 7): ``merkle_tree.json`` (OpenZeppelin standard-v1),
``claims.json``, ``allocations.csv`` and ``manifest.json`` (the sha256 of every other file),
byte for byte the same for the same release on any machine.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aimg_pipeline.lib.calendar import utc_text
from aimg_pipeline.lib.eip55 import to_checksum_address as fast_checksum
from aimg_pipeline.lib.merkle import StandardMerkleTree
from aimg_pipeline.publish.layout import (
    FORMAT,
    MANIFEST,
    PROOF_SHARD,
    PublishError,
    json_file,
    shard_prefix,
)
from aimg_pipeline.publish.render import claims_json, tree_json
from aimg_pipeline.publish.spool import Artifact, file_bytes, file_digest


def _checksum(value: str) -> str:
    """EIP-55 form of an address (lib.eip55's, ~50x faster than eth_utils'); names as they are."""
    return fast_checksum(value.lower()) if value.startswith("0x") and len(value) == 42 else value


@dataclass(frozen=True)
class EpochRelease:
    """Everything a published epoch is built from (all amounts exact integers)."""

    epoch: int
    window_start: int
    window_end: int
    blocks: Mapping[str, Any]  # first/last block numbers and hashes, ingest range
    policy_version: str
    policy_hash: str
    code_version: str
    input_rows: Mapping[str, int]
    emission: int
    by_channel: Mapping[str, int]
    # channel, pool, account, weight, amount, reason, via: rows, or the warehouse's table of
    # them (string columns; weight and amount decimal integers), which is not turned into
    # 2.3M Python tuples at 1M claims only to be written out as text again
    allocations: list[tuple[str, str, str, int, int, str, str | None]] | pa.Table
    claims: Mapping[str, int]  # lowercase account -> cumulative amount


ALLOCATION_FIELDS = ("channel", "pool", "account", "weight", "amount", "reason", "via")


_CSV_HEADER = ",".join(("epoch", *ALLOCATION_FIELDS)) + "\n"


_CSV_BLOCK = 65_536  # rows: ~10 MB of text


_CANONICAL_INT = r"^(0|-?[1-9][0-9]*)$"  # exactly the strings str(int) gives


def _csv_pieces(release: EpochRelease, known: dict[str, str]) -> Iterator[bytes | str]:
    """allocations.csv in blocks of rows: exactly what ``csv.writer`` (``\\n`` line ends)
    writes, pools, accounts and vias checksummed (``known`` caches the checksums); a row
    without a via (no redirect) ends in an empty field, as ``csv.writer`` writes ``None``.

    Fields are words, decimals and addresses, which ``csv.writer`` writes as ``str`` does,
    so each block's lines are joined by Arrow (string columns, C++: ~10x ``writerows``) and
    then checked: no null and no text ``None`` (``csv.writer`` writes ``None`` empty), no
    quote or ``\\r``, and exactly 7 commas and one line break per row (none inside a field).
    A block that fails goes through ``csv.writer`` instead.
    """
    yield _CSV_HEADER
    columns = _csv_columns(release.allocations)
    columns[6] = pc.fill_null(columns[6], "")
    for i in (1, 2, 6):  # pools, accounts and vias, checksummed once per distinct value
        encoded = columns[i].dictionary_encode()
        names = encoded.dictionary.to_pylist()
        for name in set(names) - known.keys():
            known[name] = _checksum(name)
        columns[i] = pa.array([known[name] for name in names], pa.string()).take(
            encoded.indices)
    epoch = pa.scalar(str(release.epoch))
    for start in range(0, len(columns[0]), _CSV_BLOCK):
        block = [column.slice(start, _CSV_BLOCK) for column in columns]
        lines = pc.binary_join_element_wise(
            pc.binary_join_element_wise(epoch, *block, ","), "", "\n")
        rows = len(lines)
        data = b""
        if lines.null_count == 0:
            offsets = np.frombuffer(lines.buffers()[1], np.int32)  # string, not large_string
            first, last = offsets[lines.offset], offsets[lines.offset + rows]
            data = lines.buffers()[2][first:last].to_pybytes()
        if (lines.null_count or data.count(b",") != 7 * rows or data.count(b"\n") != rows
                or b'"' in data or b"\r" in data or b"None" in data):
            table = io.StringIO()
            csv.writer(table, lineterminator="\n").writerows(
                [release.epoch, *row] for row in zip(*(c.to_pylist() for c in block),
                                                     strict=True))
            yield table.getvalue()
        else:
            yield data


def _csv_columns(allocations: list[tuple[Any, ...]] | pa.Table) -> list[pa.Array]:
    """The seven allocation fields as string arrays, each value what ``csv.writer`` would be
    given as text: ``str`` of it (a null stands for ``None``), weights and amounts as
    ``str(int(...))`` of the table's text."""
    if isinstance(allocations, pa.Table):
        columns = [allocations[name].combine_chunks().cast(pa.string())
                   for name in ALLOCATION_FIELDS]
        for i in (3, 4):  # the table's decimal text: canonical unless proven otherwise
            if columns[i].null_count or not pc.all(
                    pc.match_substring_regex(columns[i], _CANONICAL_INT)).as_py():
                columns[i] = pa.array([str(int(v)) for v in columns[i].to_pylist()], pa.string())
        return columns
    return [pa.array([None if v is None else str(v) for v in map(itemgetter(i), allocations)],
                     pa.string()) for i in range(len(ALLOCATION_FIELDS))]


def _shards(accounts: list[str]) -> dict[str, range]:
    """Shard prefix -> the range of value indices in it (the values are sorted by address,
    so each shard's are consecutive)."""
    out: dict[str, range] = {}
    start = 0
    prefixes = [shard_prefix(account) for account in accounts]
    for i in range(1, len(prefixes) + 1):
        if i == len(prefixes) or prefixes[i] != prefixes[start]:
            if prefixes[start] in out:
                raise PublishError("claims are not sorted by address: shard "
                                   f"{prefixes[start]} would be split")
            out[prefixes[start]] = range(start, i)
            start = i
    return out


def build_files(release: EpochRelease) -> dict[str, bytes]:
    """The epoch's files, byte for byte; the same release always gives the same bytes."""
    return {name: file_bytes(value) for name, value in build_artifacts(release).items()}


def build_artifacts(release: EpochRelease,
                    spool: Path | None = None) -> dict[str, bytes | Artifact]:
    """``build_files`` with the three large files spooled to temporary files (what the
    pipeline publishes: memory stays flat at 1M claims); the manifest stays ``bytes``.
    Spooled in ``spool`` (the publish root), ``publish`` links them into place."""
    if not release.claims:
        raise PublishError(f"epoch {release.epoch} has no claims to publish")
    # The tree checksums the (lowercase) accounts itself, with its fast keccak: eth_utils'
    # to_checksum_address costs ~100 µs a call, minutes for 1M claims.
    claims = sorted(release.claims.items(), key=lambda claim: claim[0].lower())  # by address
    tree = StandardMerkleTree.of(claims)
    total = sum(release.claims.values())
    known = dict(zip([account for account, _ in claims], tree.accounts, strict=True))
    del claims
    # allocations.csv is built by a second thread (mostly Arrow and hashing, which release
    # the GIL) while this one renders the two JSON files.
    with ThreadPoolExecutor(max_workers=1) as side:
        allocations = side.submit(Artifact, _csv_pieces(release, known), spool)
        files: dict[str, bytes | Artifact] = {
            "merkle_tree.json": Artifact(tree_json(tree), spool),
            "claims.json": Artifact(claims_json(release.epoch, tree, total), spool),
        }
        for prefix, values in _shards(tree.accounts).items():
            files[PROOF_SHARD.format(prefix=prefix)] = Artifact(claims_json(
                release.epoch, tree, sum(tree.amounts[values.start:values.stop]), values),
                spool)
        files["allocations.csv"] = allocations.result()
    root = tree.root
    del tree
    manifest = {
        "format": FORMAT,
        "epoch": release.epoch,
        "window": {
            "start": release.window_start, "end": release.window_end,
            "start_utc": utc_text(release.window_start), "end_utc": utc_text(release.window_end),
        },
        "blocks": dict(release.blocks),
        "policy": {"version": release.policy_version, "hash": release.policy_hash},
        "code_version": release.code_version,
        "input_rows": dict(release.input_rows),
        "emission": str(release.emission),
        "totals_by_channel": {c: str(a) for c, a in release.by_channel.items()},
        "allocation_rows": len(release.allocations),
        "merkle_root": root,
        "proof_shards": PROOF_SHARD,
        "total": str(total),
        "accounts": len(release.claims),
        "files": {name: file_digest(data) for name, data in files.items()},
    }
    files[MANIFEST] = json_file(manifest)
    return files
