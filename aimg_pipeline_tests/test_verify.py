"""`aimg verify` as a signer uses it: copies of real published demo folders, tampered one way
each. Where a tamper would only trip the hash check, the manifest is re-hashed so the deeper
check (proofs, tree values, cumulative amounts) is the one that must fail."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from aimg_pipeline import cli
from aimg_pipeline.lib.merkle import StandardMerkleTree
from aimg_pipeline.publish import VerifyError, verify


@pytest.fixture
def pair(demo: dict[str, Any], tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the last two published demo epochs, side by side: (previous, last)."""
    last = demo["epochs"][-1]
    out = []
    for epoch in (last - 1, last):
        name = f"epoch-{epoch:05d}"
        shutil.copytree(demo["home"] / "published" / name, tmp_path / name)
        out.append(tmp_path / name)
    for folder in out:  # published files are read-only: let the test edit its copies
        for path in folder.iterdir():
            os.chmod(path, 0o644)
    return out[0], out[1]


def load(folder: Path, name: str) -> Any:
    return json.loads((folder / name).read_text())


def save(folder: Path, name: str, value: Any) -> None:
    (folder / name).write_text(json.dumps(value, indent=2) + "\n")


def rehash(folder: Path) -> None:
    """Make the manifest's sha256 list match the (edited) files again."""
    manifest = load(folder, "manifest.json")
    manifest["files"] = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
                         for name in manifest["files"]}
    save(folder, "manifest.json", manifest)


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
    with pytest.raises(VerifyError) as failed:
        verify(last)
    assert "1 proofs do not verify" in str(failed.value)
    assert "differ from the tree's values" in str(failed.value)


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
    with pytest.raises(VerifyError) as failed:
        verify(last)
    message = str(failed.value)
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
