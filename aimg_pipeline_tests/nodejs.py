"""``aimg_pipeline_tests/js``'s npm packages (OpenZeppelin's merkle-tree and what it imports,
``ethereum-cryptography`` among them), installed with ``npm ci`` by the first test that needs
them, whichever module and xdist worker that is."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

JS_DIR = Path(__file__).resolve().parent / "js"


def js_node() -> str:
    """The ``node`` to run ``js/*.mjs`` with, its packages installed (once: a file lock keeps
    two workers from running ``npm ci`` into the same folder at once); skips the test, with
    the reason, when node or npm is missing or the install fails."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        pytest.skip("node is not installed: the OpenZeppelin/Safe checks in js/ cannot run")
    with open(Path(tempfile.gettempdir()) / "aimg-tests-npm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (JS_DIR / "node_modules" / "@openzeppelin" / "merkle-tree").is_dir():
            if npm is None:
                pytest.skip("npm is not installed: cannot install @openzeppelin/merkle-tree")
            try:
                done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR,
                                      capture_output=True, text=True, timeout=300, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                pytest.skip(f"`npm ci` in {JS_DIR} failed: {exc}")
            if done.returncode != 0:
                pytest.skip(f"`npm ci` in {JS_DIR} failed (offline?): {done.stderr[-500:]}")
    return node
