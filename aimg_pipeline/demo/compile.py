"""Rebuild the demo contract artifacts (``build/<Name>.json``) from ``contracts/*.vy``.

Run ``python -m aimg_pipeline.demo.compile``. The JSON artifacts are committed so that
the demo needs no compiler at run time; this module is only for developers who change a
contract, and it is the one place that imports vyper (a dev dependency).

Vyper cannot name an event argument ``from`` or ``to`` in every position (``from`` is a
Python keyword), so the ERC-20 ``Transfer`` is written with ``sender``/``receiver``.
Argument names do not affect a log's topics or data; the ABI written here renames them
to the standard ``from``/``to`` so that the artifact's ABI reads like SPEC section 2.
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

DEMO_DIR = pathlib.Path(__file__).resolve().parent
CONTRACTS_DIR = DEMO_DIR / "contracts"
BUILD_DIR = DEMO_DIR / "build"
CONTRACT_NAMES = ("Token", "Vault", "Pair", "Governor", "ContributionRegistry", "Distributor")

_EVENT_ARG_RENAMES = {"Transfer": {"sender": "from", "receiver": "to"}}


def _standardize_abi(abi: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rename event arguments to their standard names (names never change topics or data)."""
    for item in abi:
        renames = _EVENT_ARG_RENAMES.get(item.get("name", "")) if item["type"] == "event" else None
        if renames:
            for arg in item["inputs"]:
                arg["name"] = renames.get(arg["name"], arg["name"])
    return abi


def compile_contract(name: str) -> dict[str, Any]:
    """Compile one contract and return ``{"abi", "bytecode"}`` (deterministic for a source)."""
    from vyper.compiler import compile_code

    source_path = CONTRACTS_DIR / f"{name}.vy"
    out = compile_code(
        source_path.read_text(),
        contract_path=source_path.name,
        output_formats=["abi", "bytecode"],
    )
    return {"abi": _standardize_abi(out["abi"]), "bytecode": out["bytecode"]}


def build_all(names: tuple[str, ...] = CONTRACT_NAMES) -> list[pathlib.Path]:
    """Write ``build/<Name>.json`` for every contract; returns the written paths."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        artifact = compile_contract(name)
        path = BUILD_DIR / f"{name}.json"
        path.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
        written.append(path)
    return written


def main() -> int:
    for path in build_all():
        print(f"wrote {path.relative_to(DEMO_DIR.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
