"""`aimg verify` as a signer uses it: published folders tampered one way each. Where a tamper
would only trip the hash check, the manifest is re-hashed so that the deeper check (proofs,
tree values, cumulative amounts) is the one that must fail.

Most cases use small synthetic epochs published here (fast); the rest use copies of real
published demo folders (the session's demo fixture), and one drives the Dagster check.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pytest

import aimg_pipeline.publish.render as merkle_json
import aimg_pipeline.verify as verify_module
import aimg_pipeline.verify.blocks as verify_blocks
import aimg_pipeline.verify.checks as verify_checks
import aimg_pipeline.verify.keccak as verify_keccak
import aimg_pipeline.verify.tree as verify_tree
from aimg_pipeline import cli
from aimg_pipeline.lib.merkle import StandardMerkleTree, verify_proof
from aimg_pipeline.publish.artifacts import EpochRelease, build_files
from aimg_pipeline.publish.folder import publish
from aimg_pipeline.publish.layout import PublishError, epoch_folder
from aimg_pipeline.verify import VerifyError, any_layout, limbs, published_layout, verify

# ------------------------------------------------------------------------------- helpers


def load(folder: Path, name: str) -> Any:
    return json.loads((folder / name).read_text())


def save(folder: Path, name: str, value: Any, **dumps: Any) -> None:
    (folder / name).write_text(json.dumps(value, **({"indent": 2} | dumps)) + "\n")


def reshard(folder: Path) -> None:
    """Write the proof shards again from (an edited) claims.json: a shard holds the claims of
    the accounts whose lowercase address starts with its two hex digits (SPEC 7 as issue 18
    extends it), written here without the publisher's code."""
    claims = load(folder, "claims.json")
    groups: dict[str, dict[str, Any]] = {}
    for account, claim in claims["claims"].items():
        groups.setdefault(account[2:4].lower(), {})[account] = claim
    for old in (folder / "proofs").glob("*.json"):
        old.unlink()
    for prefix, members in groups.items():
        save(folder, f"proofs/{prefix}.json", {
            "epoch": claims["epoch"], "merkle_root": claims["merkle_root"],
            "total": str(sum(int(c["amount"]) for c in members.values())), "claims": members})


def rehash(folder: Path, shards: bool = True) -> None:
    """Make the manifest's sha256 list match the (edited) files again, the proof shards
    rewritten from claims.json first unless ``shards`` is false."""
    if shards:
        reshard(folder)
    manifest = load(folder, "manifest.json")
    if shards:
        manifest["files"] = {name: digest for name, digest in manifest["files"].items()
                             if not name.startswith("proofs/")} | {
            f"proofs/{p.name}": "" for p in sorted((folder / "proofs").glob("*.json"))}
    manifest["files"] = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
                         for name in manifest["files"]}
    save(folder, "manifest.json", manifest)


def writable(folder: Path) -> Path:
    """Published files are read-only: let the test edit them."""
    for path in folder.rglob("*"):
        if path.is_file():
            os.chmod(path, 0o644)
    return folder


def releases(n: int, seed: int = 5) -> list[EpochRelease]:
    """Epochs 0 and 1 of a small synthetic distribution: n accounts in epoch 0, half of them
    and n/2 new ones in epoch 1, each paid by two channels; claims cumulative."""
    rng = random.Random(seed)
    accounts = ["0x" + rng.randbytes(20).hex() for _ in range(n + n // 2)]
    pools = ["0x" + rng.randbytes(20).hex() for _ in range(3)]
    claims: dict[str, int] = {}
    out = []
    for epoch, members in ((0, accounts[:n]), (1, accounts[n // 2:])):
        rows = []
        for account in members:
            for channel in ("staking", "liquidity"):
                amount = rng.getrandbits(rng.choice((8, 70, 90)))
                rows.append((channel, rng.choice(pools), account, amount, amount, "earned", None))
                claims[account] = claims.get(account, 0) + amount
        by_channel: dict[str, int] = {}
        for row in rows:
            by_channel[row[0]] = by_channel.get(row[0], 0) + row[4]
        out.append(EpochRelease(
            epoch=epoch, window_start=1_000 + epoch, window_end=2_000 + epoch,
            blocks={"first_block": 10 * epoch}, policy_version="v1", policy_hash="ab" * 32,
            code_version="0.1.0", input_rows={"raw_logs": 1}, emission=sum(by_channel.values()),
            by_channel=by_channel, allocations=rows, claims=dict(claims)))
    return out


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    """Epochs 0 and 1 (24, then 36 accounts) published side by side, editable."""
    root = tmp_path / "published"
    for release in releases(24):
        publish(root, release.epoch, build_files(release))
    return writable(epoch_folder(root, 0)), writable(epoch_folder(root, 1))


def failure(folder: Path) -> str:
    with pytest.raises(VerifyError) as failed:
        verify(folder)
    message = str(failed.value)
    assert message.startswith(f"{folder}: ")
    return message


def first_with_letters(accounts: list[str]) -> str:
    return next(a for a in accounts if a[2:].lower() != a[2:].upper())


# ------------------------------------------------------------- independence and the readers


def test_verify_imports_nothing_of_the_project() -> None:
    """The check shares no code with what it checks: not publish, lib.merkle, publish.render
    nor any other module of the project (every module of the verify package is read)."""
    package = Path(verify_module.__file__).parent
    trees = [ast.parse(path.read_text()) for path in sorted(package.glob("*.py"))]
    nodes = [node for tree in trees for node in ast.walk(tree)]
    imported = {alias.name for node in nodes if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module or "" for node in nodes
                 if isinstance(node, ast.ImportFrom) and not node.level}
    assert len(trees) > 1  # every module of the package, not only __init__.py
    # relative imports stay inside the package (from .x), never up into the project
    assert all(node.level <= 1 for node in nodes if isinstance(node, ast.ImportFrom))
    assert not [name for name in imported if name.startswith("aimg_pipeline")], imported


@pytest.mark.parametrize("n", [1, 2, 3, 5, 17, 300])
def test_rebuild_and_fold_agree_with_the_publishers_tree(n: int) -> None:
    """Two implementations written apart (the publisher's and verify's) give the same tree,
    and verify's MerkleProof fold accepts exactly the publisher's proofs."""
    rng = random.Random(n)
    values = [("0x" + rng.randbytes(20).hex(), rng.getrandbits(rng.choice((1, 64, 200))))
              for _ in range(n)]
    tree = StandardMerkleTree.of(values)
    raw = np.frombuffer(b"".join(bytes.fromhex(a[2:]) for a, _ in values), np.uint8).reshape(n, 20)
    words = np.frombuffer(b"".join(v.to_bytes(32, "big") for _, v in values),
                          np.uint8).reshape(n, 32)
    rebuilt = verify_tree.rebuild(raw, words)
    assert ["0x" + bytes(node).hex() for node in rebuilt.nodes] == tree.tree
    assert rebuilt.position.tolist() == [v["treeIndex"] for v in tree.dump()["values"]]
    root = bytes.fromhex(tree.root[2:])
    for (account, amount), proof in zip(values, tree.proofs(), strict=True):
        hex40 = account[2:].encode()
        assert verify_tree.process_proof(hex40, amount, [p.encode() for p in proof]) == root
        assert verify_tree.process_proof(hex40, amount + 1, [p.encode() for p in proof]) != root
        assert verify_proof(tree.root, account, amount, proof)


def read_both(path: Path) -> dict[str, tuple[list[tuple[str, int, list[str]]], dict[str, Any]]]:
    """claims.json through the layout reader (when it applies) and the general reader:
    (account, amount, proof) per claim and the top-level members."""
    out = {}
    with ThreadPoolExecutor(1) as pool:
        hasher = verify_blocks.Hasher(pool)
        for name in ("layout", "general"):
            got: list[Any] = []
            if name == "layout":
                try:
                    items = published_layout.canonical_claims(path, hasher)
                    while True:
                        try:
                            got.append(next(items))
                        except StopIteration as done:
                            top = done.value
                            break
                except published_layout.NotCanonical:
                    continue
            else:
                top = any_layout.read_claims(path, hasher, got.append)
            claims = []
            for rows in got:
                first = np.cumsum(rows.count) - rows.count
                for i in range(len(rows.hex40)):
                    proof = ["0x" + rows.text[e].tobytes().decode()
                             for e in range(first[i], first[i] + rows.count[i])]
                    claims.append(("0x" + rows.hex40[i].tobytes().decode(),
                                   limbs.as_int(rows.limbs[i]), proof))
            out[name] = claims, {k: v for k, (_, v) in top.top.items() if k != "claims"}
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 17])
@pytest.mark.parametrize("layout", ["published", "indent 4", "compact", "keys reversed"])
def test_claims_readers_read_what_json_loads_reads(tmp_path: Path, n: int, layout: str) -> None:
    tree = StandardMerkleTree.of([("0x" + random.Random(n + i).randbytes(20).hex(), 7 ** i)
                                  for i in range(n)])
    total = sum(amount for _, amount in tree.values)
    document = {"epoch": 3, "merkle_root": tree.root, "total": str(total),
                "claims": {account: {"amount": str(amount), "proof": proof}
                           for (account, amount), proof in zip(tree.values, tree.proofs(),
                                                               strict=True)}}
    path = tmp_path / "claims.json"
    if layout == "published":
        path.write_bytes(b"".join(merkle_json.claims_json(3, tree, total)))
    elif layout == "indent 4":
        path.write_text(json.dumps(document, indent=4))
    elif layout == "compact":
        path.write_text(json.dumps(document, separators=(",", ":")))
    else:
        reordered = {"claims": {a: {"proof": c["proof"], "amount": c["amount"]}
                                for a, c in reversed(document["claims"].items())},
                     "total": document["total"], "merkle_root": tree.root, "epoch": 3}
        path.write_text(json.dumps(reordered, indent="\t") + "\r\n\r\n")
    expected = json.loads(path.read_bytes())
    read = read_both(path)
    assert ("layout" in read) == (layout == "published")
    for claims, top in read.values():
        assert top == {k: v for k, v in expected.items() if k != "claims"}
        assert claims == [(a, int(c["amount"]), c["proof"]) for a, c in expected["claims"].items()]


def test_dump_readers_read_what_json_loads_reads(small: tuple[Path, Path]) -> None:
    path = small[1] / "merkle_tree.json"
    with ThreadPoolExecutor(1) as pool:
        hasher = verify_blocks.Hasher(pool)
        layout = published_layout.canonical_dump(path, hasher)
        general = any_layout.read_dump(path, hasher)
    dump = load(small[1], "merkle_tree.json")
    assert layout is not None
    for read in (layout, general):
        assert ["0x" + bytes(r).decode() for r in read.nodes] == dump["tree"]
        assert [["0x" + bytes(a).decode(), str(limbs.as_int(m))]
                for a, m in zip(read.accounts, read.limbs, strict=True)] == [
            v["value"] for v in dump["values"]]
        assert read.tree_index.tolist() == [v["treeIndex"] for v in dump["values"]]


# --------------------------------------------------------------------- small synthetic epochs


def test_small_folders_verify_alone_and_as_a_pair(small: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    previous, last = small
    report = verify(last)
    claims = load(last, "claims.json")
    assert report == {"epoch": 1, "merkle_root": claims["merkle_root"], "accounts": 36,
                      "total": int(claims["total"]), "checked_previous": True,
                      "shards": len({a[2:4].lower() for a in claims["claims"]})}
    assert verify(previous)["checked_previous"] is False
    alone = tmp_path / "signer" / last.name
    shutil.copytree(last, alone)
    assert verify(alone)["checked_previous"] is False
    assert verify(last, epoch=1)["epoch"] == 1
    with pytest.raises(VerifyError, match="manifest is for epoch 1, expected 2"):
        verify(last, epoch=2)


def test_a_buggy_renderer_is_refused_at_publishing_and_caught_by_verify(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: the renderer's proof indices broken (each proof lists the path's own nodes
    instead of their siblings). claims.json is then exactly what the renderer writes for the
    tree, so a check by re-rendering passes; verify rebuilds and folds, and refuses it."""
    real = merkle_json.proof_siblings

    def siblings_of_siblings(leaf_index: np.ndarray) -> np.ndarray:
        out = real(leaf_index)
        mine = out >= 0
        out[mine] = np.where(out[mine] % 2 == 1, out[mine] + 1, out[mine] - 1)
        return out

    monkeypatch.setattr(merkle_json, "proof_siblings", siblings_of_siblings)
    release = releases(8)[0]
    root = tmp_path / "published"
    with pytest.raises(PublishError, match=r"failed verification, nothing published: .*"
                                           r"8 proofs do not verify"):
        publish(root, 0, build_files(release))
    assert not epoch_folder(root, 0).exists()
    assert not list(root.glob(".epoch-*"))  # the temporary folder is gone too

    # the same files written by a publisher that does not verify
    folder = epoch_folder(tmp_path / "unverified", 0)
    folder.mkdir(parents=True)
    files = build_files(release)
    for name, data in files.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_bytes(data)
    claims = load(folder, "claims.json")
    tree_root = load(folder, "merkle_tree.json")["tree"][0]  # the tree of the dump's values
    assert all(not verify_proof(tree_root, a, int(c["amount"]), c["proof"])
               for a, c in claims["claims"].items())  # 8 of 8 proofs are wrong
    message = failure(folder)
    assert "8 proofs do not verify (first: " in message
    assert "sha256" not in message and "tree root" not in message  # all else holds up
    monkeypatch.undo()
    assert publish(root, 0, build_files(release)).status == "published"


def test_rejects_a_tampered_proof_kept_consistent_with_the_manifest(
        small: tuple[Path, Path]) -> None:
    _, last = small
    claims = load(last, "claims.json")
    account = sorted(claims["claims"])[3]
    proof = claims["claims"][account]["proof"]
    proof[-1] = "0x" + ("00" if proof[-1][2:4] != "00" else "11") + proof[-1][4:]
    save(last, "claims.json", claims)
    rehash(last)
    message = failure(last)
    assert f"1 proofs do not verify (first: {account})" in message
    assert "sha256" not in message and "differ" not in message


# ------------------------------------------------------------------------ the proof shards


def test_every_shard_is_its_prefix_of_claims_json(pair: tuple[Path, Path]) -> None:
    """Issue 18: each proofs/xx.json is, as JSON, claims.json's head with the claims of the
    accounts whose lowercase address starts with xx, in claims.json's order, and its total
    theirs; together the shards hold every claim once, and the manifest lists each."""
    for folder in pair:
        claims = load(folder, "claims.json")
        manifest = load(folder, "manifest.json")
        expected: dict[str, dict[str, Any]] = {}
        for account, claim in claims["claims"].items():
            expected.setdefault(account[2:4].lower(), {})[account] = claim
        names = sorted(str(p.relative_to(folder)) for p in (folder / "proofs").iterdir())
        assert names == sorted(f"proofs/{prefix}.json" for prefix in expected)
        assert manifest["proof_shards"] == "proofs/{prefix}.json"
        for prefix, members in expected.items():
            name = f"proofs/{prefix}.json"
            shard = load(folder, name)
            assert list(shard["claims"]) == list(members)  # the same order
            assert shard == {"epoch": claims["epoch"], "merkle_root": claims["merkle_root"],
                             "total": str(sum(int(c["amount"]) for c in members.values())),
                             "claims": members}
            assert manifest["files"][name] == hashlib.sha256(
                (folder / name).read_bytes()).hexdigest()


def shard_of(folder: Path, n: int = 0) -> tuple[str, dict[str, Any]]:
    """The n-th proof shard of a folder, by name, and its content."""
    name = sorted(f"proofs/{p.name}" for p in (folder / "proofs").glob("*.json"))[n]
    return name, load(folder, name)


def test_rejects_a_tampered_shard_proof(small: tuple[Path, Path]) -> None:
    _, last = small
    name, shard = shard_of(last)
    account = next(iter(shard["claims"]))
    shard["claims"][account]["proof"][0] = "0x" + "11" * 32
    save(last, name, shard)
    rehash(last, shards=False)
    assert f"proofs/*.json: 1 proofs do not verify (first: {account})" in failure(last)


def test_rejects_a_shard_amount_claims_json_does_not_have(small: tuple[Path, Path]) -> None:
    _, last = small
    name, shard = shard_of(last, 1)
    account = next(iter(shard["claims"]))
    claim = shard["claims"][account]
    claim["amount"] = str(int(claim["amount"]) + 1)
    shard["total"] = str(int(shard["total"]) + 1)
    save(last, name, shard)
    rehash(last, shards=False)
    message = failure(last)
    assert ("proofs/*.json accounts/amounts differ from the tree's values: 0 accounts are "
            f"not in the tree, 1 amounts differ, 0 values have no claim (first: {account})"
            ) in message
    assert "claims.json" not in message  # claims.json itself is fine


def test_rejects_a_wrong_shard_total_header_and_epoch(small: tuple[Path, Path]) -> None:
    _, last = small
    name, shard = shard_of(last)
    shard["total"] = str(int(shard["total"]) - 1)
    shard["epoch"] = 0
    shard["merkle_root"] = "0x" + "22" * 32
    save(last, name, shard)
    rehash(last, shards=False)
    message = failure(last)
    assert (f"{name}: its claims sum to {int(shard['total']) + 1}, its total says "
            f"{shard['total']}") in message
    assert f"{name} is for epoch 0, manifest 1" in message
    assert f"{name} merkle_root differs from the tree root" in message


def test_rejects_a_missing_an_unlisted_and_a_misplaced_shard(small: tuple[Path, Path]) -> None:
    _, last = small
    first, shard = shard_of(last)
    (last / first).unlink()  # still listed in the manifest
    message = failure(last)
    assert f"{first}" in message and "missing" in message
    assert f"{len(shard['claims'])} values have no claim" in message

    save(last, first, shard)
    rehash(last, shards=False)
    verify(last)
    save(last, "proofs/zz.json", shard)  # not a shard name, not listed
    assert "1 files under proofs/ are not in the manifest (first: proofs/zz.json)" in failure(
        last)
    (last / "proofs/zz.json").unlink()

    # an account moved into another shard: all claims still there once, but misplaced
    second, other = shard_of(last, 1)
    account, claim = next(iter(shard["claims"].items()))
    del shard["claims"][account]
    other["claims"][account] = claim
    for edited, name in ((shard, first), (other, second)):
        edited["total"] = str(sum(int(c["amount"]) for c in edited["claims"].values()))
        save(last, name, edited)
    rehash(last, shards=False)
    assert f"{second} holds 1 accounts of other shards" in failure(last)


def test_a_reformatted_but_equal_folder_still_verifies(small: tuple[Path, Path]) -> None:
    """Any JSON layout and key order: the general reader (no escapes needed)."""
    _, last = small
    expected = verify(last)
    claims = load(last, "claims.json")
    reordered = {"claims": {a: {"proof": c["proof"], "amount": c["amount"]}
                            for a, c in reversed(claims["claims"].items())},
                 "total": claims["total"], "epoch": claims["epoch"],
                 "merkle_root": claims["merkle_root"]}
    save(last, "claims.json", reordered, indent=7)
    dump = load(last, "merkle_tree.json")
    dump = {"values": [{"treeIndex": v["treeIndex"], "value": v["value"]}
                       for v in reversed(dump["values"])],
            "tree": dump["tree"], "leafEncoding": dump["leafEncoding"], "format": dump["format"]}
    (last / "merkle_tree.json").write_text(json.dumps(dump, separators=(",", ":")))
    rehash(last)
    assert verify(last) == expected


def test_rejects_swapped_amounts(small: tuple[Path, Path]) -> None:
    _, last = small
    claims = load(last, "claims.json")
    a, b = sorted(claims["claims"])[:2]
    entries = claims["claims"]
    entries[a]["amount"], entries[b]["amount"] = entries[b]["amount"], entries[a]["amount"]
    save(last, "claims.json", claims)
    rehash(last)
    message = failure(last)
    assert f"2 proofs do not verify (first: {a})" in message
    assert "accounts/amounts differ from the tree's values: 0 accounts are not in the tree, " \
           "2 amounts differ" in message
    assert "claims differ from the previous epoch's claim plus this epoch's allocations" \
        in message


def test_rejects_an_account_not_checksummed(small: tuple[Path, Path]) -> None:
    _, last = small
    claims = load(last, "claims.json")
    account = first_with_letters(sorted(claims["claims"]))
    entries = {(a.lower() if a == account else a): c for a, c in claims["claims"].items()}
    save(last, "claims.json", claims | {"claims": entries})
    rehash(last)
    message = failure(last)
    assert f"1 accounts are not EIP-55 checksummed (first: {account.lower()})" in message
    assert "proofs do not verify" not in message  # the same address: its proof still holds

    dump = load(last, "merkle_tree.json")
    value = next(v for v in dump["values"] if v["value"][0] == account)
    value["value"][0] = account.lower()
    save(last, "merkle_tree.json", dump)
    rehash(last)
    assert "merkle_tree.json: 1 accounts are not EIP-55 checksummed" in failure(last)


def test_rejects_an_altered_tree_array(small: tuple[Path, Path]) -> None:
    _, last = small
    dump = load(last, "merkle_tree.json")
    dump["tree"][5] = "0x" + "ab" * 32
    save(last, "merkle_tree.json", dump)
    rehash(last)
    message = failure(last)
    assert "1 nodes of the tree array differ from the tree rebuilt from the values " \
           "(first: tree[5])" in message
    assert "proofs do not verify" not in message  # proofs are checked on the rebuilt tree


def test_rejects_a_tree_index_elsewhere_and_a_wrong_root(small: tuple[Path, Path]) -> None:
    _, last = small
    dump = load(last, "merkle_tree.json")
    v0, v1 = dump["values"][0], dump["values"][1]
    v0["treeIndex"], v1["treeIndex"] = v1["treeIndex"], v0["treeIndex"]
    save(last, "merkle_tree.json", dump)
    manifest = load(last, "manifest.json")
    manifest["merkle_root"] = "0x" + "00" * 32
    save(last, "manifest.json", manifest)
    rehash(last)
    message = failure(last)
    assert "2 values' treeIndex does not point at their leaf" in message
    assert "2 values have a treeIndex other than where the sorted-leaf layout puts them" \
        in message
    assert "(rebuilt from the values) != manifest root 0x" + "00" * 32 in message


def test_rejects_an_account_twice_and_a_missing_claim(small: tuple[Path, Path]) -> None:
    _, last = small
    text = (last / "claims.json").read_text()
    claims = load(last, "claims.json")
    account, entry = next(iter(claims["claims"].items()))
    duplicate = json.dumps({account: entry}, indent=2)[1:-1]  # '\n  "0x..": {...}\n'
    text = text.replace('"claims": {', '"claims": {' + duplicate + ",", 1)
    (last / "claims.json").write_text(text)
    rehash(last)
    message = failure(last)
    assert f"claims.json lists 1 accounts more than once (first: {account})" in message
    assert "37 claims, manifest says 36" in message

    del claims["claims"][account]
    save(last, "claims.json", claims)
    rehash(last)
    message = failure(last)
    assert "0 amounts differ, 1 values have no claim (first: " + account in message


def test_rejects_totals_and_allocations_that_do_not_add_up(small: tuple[Path, Path]) -> None:
    _, last = small
    manifest = load(last, "manifest.json")
    manifest["total"] = str(int(manifest["total"]) + 1)
    manifest["totals_by_channel"]["staking"] = "1"
    rows = manifest["allocation_rows"]
    manifest["allocation_rows"] += 1
    save(last, "manifest.json", manifest)
    csv = (last / "allocations.csv").read_text().splitlines(keepends=True)
    csv[1] = csv[1].replace("1,", "2,", 1)  # one row for another epoch
    csv[2] = ",".join(f"-{f}" if i == 5 else f for i, f in enumerate(csv[2].split(",")))
    (last / "allocations.csv").write_text("".join(csv))
    rehash(last)
    message = failure(last)
    assert f"files say {load(last, 'claims.json')['total']} / {manifest['total']}" in message
    assert "allocations.csv row 1 is for epoch '2', not 1" in message
    assert "amounts are not non-negative decimals (1 negative; first: row 2" in message
    assert f"allocations.csv has {rows} rows, manifest {rows + 1}" in message
    assert "channel staking: allocations" in message and "!= manifest 1" in message
    assert "allocations sum to" in message


def test_checks_against_the_previous_folder(small: tuple[Path, Path]) -> None:
    previous, last = small
    claims = load(previous, "claims.json")
    account = sorted(claims["claims"])[0]
    claims["claims"][account]["amount"] = "1"
    save(previous, "claims.json", claims)  # its manifest not re-hashed
    message = failure(last)
    assert ("epoch-00000/claims.json does not match its own manifest: the previous epoch's "
            "folder cannot be trusted") in message
    rehash(previous)
    assert verify(last)["checked_previous"]  # its amounts are those its root commits to
    manifest = load(last, "manifest.json")
    manifest["emission"] = str(int(manifest["emission"]) + 5)
    save(last, "manifest.json", manifest)
    message = failure(last)
    assert "+ emission" in message and "allocations sum to" in message


@pytest.mark.parametrize("block", [97, 700, 4096])
def test_blocks_smaller_than_a_claim_read_the_same(small: tuple[Path, Path], block: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Claims, values and nodes cut at every place a block can end (a 97-byte block holds
    no whole claim and not even the published layout's head: the general readers must read
    on; 700 bytes: about one claim a block for the layout readers), in the published layout
    and in another."""
    _, last = small
    expected = verify(last)
    general = []
    for name in ("read_claims", "read_dump"):  # the general readers, where checks calls them
        real = getattr(verify_checks, name)
        monkeypatch.setattr(verify_checks, name, lambda *a, real=real, name=name: (
            general.append(name), real(*a))[1])
    monkeypatch.setattr(verify_blocks, "BLOCK", block)
    assert verify(last) == expected
    # all read by the layout readers, but claims.json when a block cannot hold its head
    shards = len(list((last / "proofs").glob("*.json")))
    assert general == ([] if block > 97 else ["read_claims"] * (1 + shards))
    save(last, "claims.json", load(last, "claims.json"), indent=3)
    save(last, "merkle_tree.json", load(last, "merkle_tree.json"), indent=None)
    rehash(last)
    assert verify(last) == expected
    claims = load(last, "claims.json")
    account = sorted(claims["claims"])[5]
    claims["claims"][account]["proof"].reverse()
    save(last, "claims.json", claims, indent=3)
    rehash(last)
    assert f"1 proofs do not verify (first: {account})" in failure(last)


def test_the_keccak_helper_process(small: tuple[Path, Path],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Large batches are half hashed by a helper process; one that answers wrongly (or not at
    all) is not used."""
    _, last = small
    expected = verify(last)
    monkeypatch.setattr(verify_keccak, "SPLIT", 2)  # every batch split
    assert verify(last) == expected
    monkeypatch.setattr(verify_keccak, "HELPER", "import sys\nsys.stdout.buffer.write("
                                                 "bytes(32))\nsys.stdout.flush()")
    assert verify(last) == expected
    monkeypatch.setattr(verify_keccak, "HELPER", "raise SystemExit(3)")
    assert verify(last) == expected


def test_rejects_a_folder_named_for_another_epoch(small: tuple[Path, Path]) -> None:
    _, last = small
    moved = last.parent / "epoch-00007"
    last.rename(moved)
    assert "folder epoch-00007 holds epoch 1" in failure(moved)


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("claims.json", "{", "claims.json is not a valid claims file: truncated"),
    ("claims.json", "[]", "claims.json is not a valid claims file: unexpected '['"),
    ("claims.json", '{"epoch": 1}', "claims.json is not a valid claims file: no 'merkle_root'"),
    ("claims.json", '{"epoch": "1", "merkle_root": "", "total": "0", "claims": {}}',
     "'epoch' must be a number, not a string"),
    ("claims.json", '{"epoch": 1, "merkle_root": "\\u0030"}', "JSON escapes are not accepted"),
    ("claims.json", '{"epoch": 1, "epoch": 1}', "key 'epoch' twice"),
    ("claims.json", '{"epoch": 1.5}', "only numbers here are non-negative integers"),
    ("claims.json", '{"epoch": 1} x', "unexpected b'x' at byte 13"),
    ("merkle_tree.json", "\x00", "merkle_tree.json is not a valid standard-v1 dump: "
                                 "unexpected byte"),
    ("merkle_tree.json", '{"format": "standard-v1", "leafEncoding": [], "tree": [], '
                         '"values": [{"value": ["0x00", "1"], "treeIndex": 0}]}',
     "account '0x00' at byte"),
    ("manifest.json", "{", "cannot read manifest.json"),
    ("manifest.json", "[]", "manifest.json is not a JSON object"),
])
def test_malformed_files_are_verify_errors(small: tuple[Path, Path], name: str, text: str,
                                           expected: str) -> None:
    _, last = small
    (last / name).write_text(text)
    if name != "manifest.json":
        rehash(last, shards=False)
    assert expected in failure(last)


def test_malformed_manifest_fields_are_named(small: tuple[Path, Path]) -> None:
    _, last = small
    manifest = load(last, "manifest.json")
    manifest.update(total=5, accounts="36", emission="-1", files=["claims.json"])
    del manifest["totals_by_channel"]
    save(last, "manifest.json", manifest)
    message = failure(last)
    for part in ("manifest total is 5, not a decimal string", "manifest accounts is '36'",
                 "manifest emission is '-1'", "manifest totals_by_channel is None",
                 "manifest files is ['claims.json']", "manifest does not list claims.json"):
        assert part in message


# --------------------------------------------------------------------- real demo folders


@pytest.fixture
def pair(demo: dict[str, Any], tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the last two published demo epochs, side by side: (previous, last)."""
    last = demo["epochs"][-1]
    out = []
    for epoch in (last - 1, last):
        name = f"epoch-{epoch:05d}"
        shutil.copytree(demo["home"] / "published" / name, tmp_path / name)
        out.append(writable(tmp_path / name))
    return out[0], out[1]


def test_untouched_folders_verify_alone_and_as_a_pair(pair: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    previous, last = pair
    assert verify(last)["checked_previous"] is True
    alone = tmp_path / "signer" / last.name
    shutil.copytree(last, alone)
    assert verify(alone)["checked_previous"] is False


def test_rejects_a_changed_amount(pair: tuple[Path, Path]) -> None:
    _, last = pair
    claims = load(last, "claims.json")
    account = sorted(claims["claims"])[0]
    claims["claims"][account]["amount"] = str(int(claims["claims"][account]["amount"]) + 1)
    save(last, "claims.json", claims)
    rehash(last)
    message = failure(last)
    assert "1 proofs do not verify" in message
    assert "differ from the tree's values" in message


def test_rejects_a_changed_proof(pair: tuple[Path, Path]) -> None:
    _, last = pair
    claims = load(last, "claims.json")
    account = next(a for a in sorted(claims["claims"]) if claims["claims"][a]["proof"])
    proof = claims["claims"][account]["proof"]
    proof[0] = "0x" + ("00" if proof[0][2:4] != "00" else "11") + proof[0][4:]
    save(last, "claims.json", claims)
    rehash(last)
    with pytest.raises(VerifyError, match=f"1 proofs do not verify \\(first: {account}\\)"):
        verify(last)


@pytest.mark.parametrize("name", ["merkle_tree.json", "claims.json", "allocations.csv"])
def test_rejects_a_missing_file(pair: tuple[Path, Path], name: str) -> None:
    _, last = pair
    (last / name).unlink()
    with pytest.raises(VerifyError, match=f"{name} is missing"):
        verify(last)


def test_rejects_a_file_not_matching_its_manifest_hash(pair: tuple[Path, Path]) -> None:
    _, last = pair
    with open(last / "allocations.csv", "a") as handle:
        handle.write("\n")
    with pytest.raises(VerifyError, match="allocations.csv does not match its sha256"):
        verify(last)


def test_rejects_a_cumulative_amount_lower_than_the_previous_epoch(
    pair: tuple[Path, Path],
) -> None:
    """A self-consistent folder (tree, proofs, root, total, hashes all rebuilt) in which one
    account's claim is 1 wei below last epoch's and another's is higher by the same."""
    previous, last = pair
    before = {a: int(c["amount"]) for a, c in load(previous, "claims.json")["claims"].items()}
    claims = load(last, "claims.json")
    amounts = {a: int(c["amount"]) for a, c in claims["claims"].items()}
    victim = sorted(a for a in before if a in amounts)[0]
    gainer = next(a for a in sorted(amounts) if a != victim)
    moved = amounts[victim] - (before[victim] - 1)
    amounts[victim] -= moved
    amounts[gainer] += moved
    assert sum(amounts.values()) == int(claims["total"])  # totals still add up
    tree = StandardMerkleTree.of(list(amounts.items()))
    proofs = dict(zip([a for a, _ in tree.values], tree.proofs(), strict=True))
    save(last, "merkle_tree.json", tree.dump())
    save(last, "claims.json", {"epoch": claims["epoch"], "merkle_root": tree.root,
                               "total": claims["total"],
                               "claims": {a: {"amount": str(v), "proof": proofs[a]}
                                          for a, v in amounts.items()}})
    manifest = load(last, "manifest.json")
    manifest["merkle_root"] = tree.root
    save(last, "manifest.json", manifest)
    rehash(last)
    message = failure(last)
    assert (f"1 cumulative amounts went down since epoch {claims['epoch'] - 1} "
            f"(first: {victim} {before[victim]} -> {before[victim] - 1})") in message
    assert "proofs do not verify" not in message and "tree root" not in message
    assert "sha256" not in message


def test_cli_exit_codes(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    previous, last = pair
    assert cli.main(["verify", str(previous), str(last)]) == 0
    out = capsys.readouterr().out
    assert out.count("OK ") == 2 and "checked against the previous epoch" in out
    (last / "claims.json").write_text("{}")
    assert cli.main(["verify", str(last)]) == 1
    assert "FAILED" in capsys.readouterr().err


def test_the_dagster_check_reports_what_verify_finds(
        demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `verified` check of publish/distribution: passed when the folder verifies; when an
    unchanged folder no longer does (here: the previous epoch's claims.json altered), the
    asset still materializes as before, and the blocking check fails with verify's text (and,
    being blocking, fails the step so that nothing downstream runs on it)."""
    from aimg_pipeline.defs.publish import distribution
    from aimg_pipeline.defs.resources import AimgSettings, ChainResource

    home = tmp_path / "home"
    for part in ("published", "warehouse", "demo"):
        shutil.copytree(demo["home"] / part, home / part)
    monkeypatch.setenv("AIMG_HOME", str(home))
    monkeypatch.setenv("AIMG_CONFIG", str(home / "demo" / "aimg.toml"))
    epoch = demo["epochs"][-1]
    key = demo["config"].calendar().partition_key(epoch)

    def check(verifies: bool) -> dg.AssetCheckEvaluation:
        with dg.DagsterInstance.ephemeral() as instance:
            instance.add_dynamic_partitions("epochs", [key])
            result = dg.materialize(
                [distribution], partition_key=key, instance=instance, raise_on_error=False,
                resources={"settings": AimgSettings(),
                           "chain": ChainResource(rpc_url=demo["env"]["AIMG_RPC_URL"])})
        assert result.success is verifies
        (materialized,) = result.get_asset_materialization_events()
        assert materialized.materialization.metadata["status"].value == "unchanged"
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation

    passed = check(verifies=True)
    assert passed.check_name == "verified" and passed.passed
    assert passed.metadata["checked_previous_epoch"].value is True

    previous = writable(home / "published" / f"epoch-{epoch - 1:05d}")
    with open(previous / "claims.json", "a") as handle:
        handle.write(" ")
    failed = check(verifies=False)
    assert not failed.passed
    assert failed.metadata["failed_epochs"].value == [epoch]
    assert "claims.json does not match its own manifest" in failed.metadata["error"].value
