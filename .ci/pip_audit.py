"""Audit the installed dependency set (.venv) for known vulnerabilities, for CI.

Policy (docs/reliability.md, "Dependencies"):
- every finding is printed;
- CI fails only on a finding whose id (or alias) is not listed in ``.ci/pip-audit-ignore.toml``
  with a reason;
- when the vulnerability service cannot be reached, or it could audit none of the packages,
  the audit is reported as NOT PERFORMED (loudly) and CI does not fail: a network hiccup is
  not a vulnerability, and a silent "no known vulnerabilities" would be a lie.

Sources tried in order: PyPI's JSON API (``-s pypi``), then OSV (``-s osv``). Measured on
the CI machine (which reaches only the PyPI/npm/Debian package mirrors): the PyPI JSON API
answers 404 for every package and api.osv.dev does not resolve, so there the step reports
"not performed"; on a machine with internet access it audits every package.

Usage: ``python .ci/pip_audit.py`` (exit 1 only on unignored findings).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
IGNORE_FILE = HERE / "pip-audit-ignore.toml"
SOURCES = ("pypi", "osv")


@dataclass
class Verdict:
    """What one audit said: findings to fail on, accepted ones, and what went unaudited."""

    audited: int
    skipped: int
    failing: list[str]
    ignored: list[str]

    @property
    def performed(self) -> bool:
        return self.audited > 0


def load_ignores(path: Path = IGNORE_FILE) -> dict[str, str]:
    """Vulnerability id -> reason; an entry without a reason is itself an error."""
    if not path.exists():
        return {}
    entries = tomllib.loads(path.read_text()).get("ignore", [])
    out = {}
    for i, entry in enumerate(entries):
        if not entry.get("id") or not str(entry.get("reason", "")).strip():
            raise SystemExit(f"{path}: ignore[{i}] needs an id and a reason")
        out[entry["id"]] = entry["reason"]
    return out


def evaluate(report: dict, ignores: dict[str, str]) -> Verdict:
    """Classify pip-audit's JSON report against the ignore list."""
    audited = skipped = 0
    failing: list[str] = []
    ignored: list[str] = []
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            skipped += 1
            continue
        audited += 1
        for vuln in dep.get("vulns", []):
            ids = [vuln["id"], *vuln.get("aliases", [])]
            line = (f"{dep['name']} {dep.get('version', '?')}: {vuln['id']} "
                    f"(fixed in {', '.join(vuln.get('fix_versions', [])) or 'no release'})")
            accepted = next((i for i in ids if i in ignores), None)
            if accepted:
                ignored.append(f"{line} -- ignored: {ignores[accepted]}")
            else:
                failing.append(line)
    return Verdict(audited, skipped, failing, ignored)


def run_audit(source: str) -> dict | None:
    """pip-audit's JSON report for the running interpreter's environment, or None."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip_audit", "-s", source, "-f", "json",
             "--progress-spinner", "off", "--skip-editable"],
            capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"pip-audit ({source}): could not run: {exc}")
        return None
    try:  # exit 1 also means "vulnerabilities found": the JSON is what counts
        return json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"pip-audit ({source}): no report ({last[:300]})")
        return None


def main() -> int:
    ignores = load_ignores()
    for source in SOURCES:
        report = run_audit(source)
        if report is None:
            continue
        verdict = evaluate(report, ignores)
        if not verdict.performed:
            print(f"pip-audit ({source}): none of {verdict.skipped} packages could be audited "
                  "(service unreachable from here)")
            continue
        print(f"pip-audit ({source}): {verdict.audited} packages audited, "
              f"{verdict.skipped} skipped")
        for line in verdict.ignored:
            print(f"  accepted  {line}")
        for line in verdict.failing:
            print(f"  VULNERABLE {line}")
        if verdict.failing:
            print(f"{len(verdict.failing)} unhandled finding(s): upgrade, or list them in "
                  f"{IGNORE_FILE.name} with a reason")
            return 1
        return 0
    print("DEPENDENCY AUDIT NOT PERFORMED: no vulnerability service reachable "
          f"({', '.join(SOURCES)}); not failing CI on a network problem")
    return 0


if __name__ == "__main__":
    sys.exit(main())
