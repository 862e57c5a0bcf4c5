"""The numbers of an epoch report, from the published folders: the epoch's manifest,
claims and allocations, the epochs before it, the checks a signer looks at, and the exact
formatting of wei as AIMG (AIMG = 10^18 wei, truncated, never through a float).

At 1M claimants ``claims.json`` is 1.6 GB: the report never parses it whole. Each epoch's
``allocations.csv`` is read once, and only the cumulative claims of the accounts a table
shows are looked up, in one scan of the file (``claim_amounts``). The proofs and totals are
``aimg verify``'s business: the report shows the result of the verification the
``distribution`` step ran (``verification_path``), and verifies itself only when there is
none for this root.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any

from aimg_pipeline.lib.policy import CHANNELS, Config
from aimg_pipeline.publish.layout import MANIFEST, epoch_folder
from aimg_pipeline.verify import VerifyError, verify

WEI = 10**18


TREND_EPOCHS = 12  # epochs of per-account history read for the trend charts


class ReportError(RuntimeError):
    """The report cannot be built (the epoch is not published)."""


def units(raw: int, places: int = 2, token_decimals: int = 18) -> str:
    """A token amount of ``raw`` base units (``10**token_decimals`` per token) in tokens,
    with thousands separators, truncated to ``places`` decimals (integer math)."""
    one = 10**token_decimals
    sign = "-" if raw < 0 else ""
    whole, rest = divmod(abs(raw), one)
    if places == 0:
        return f"{sign}{whole:,}"
    frac = rest * 10**places // one
    return f"{sign}{whole:,}.{frac:0{places}d}"


def aimg(wei: int, decimals: int = 2) -> str:
    """``wei`` in AIMG with thousands separators, truncated to ``decimals`` (integer math)."""
    return units(wei, decimals)


def percent(part: int, whole: int, decimals: int = 2) -> str:
    """``part / whole`` as a percentage, rounded half up from exact integers."""
    if whole == 0:
        return "–"
    scaled = (abs(part) * 100 * 10**decimals * 2 + whole) // (2 * whole)
    sign = "-" if part < 0 else ""
    return f"{sign}{scaled // 10**decimals}.{scaled % 10**decimals:0{decimals}d} %"


def signed(wei: int, decimals: int = 2) -> str:
    return ("+" if wei > 0 else "") + aimg(wei, decimals)


def gini(amounts: list[int]) -> Fraction:
    """Exact Gini coefficient of non-negative integers (0 = equal, → 1 = one takes all).

    With x sorted ascending and i = 1..n: G = 2·Σ i·x_i / (n·Σx) − (n+1)/n.
    """
    xs = sorted(a for a in amounts if a > 0)
    n, total = len(xs), sum(xs)
    if n == 0 or total == 0:
        return Fraction(0)
    weighted = sum(i * x for i, x in enumerate(xs, start=1))
    return Fraction(2 * weighted, n * total) - Fraction(n + 1, n)


def fraction_text(value: Fraction, decimals: int = 4) -> str:
    scaled = round(value * 10**decimals)
    return f"{scaled // 10**decimals}.{scaled % 10**decimals:0{decimals}d}"


@dataclass
class EpochData:
    """One published epoch as the report needs it (exact integers throughout)."""

    epoch: int
    manifest: dict[str, Any]
    by_account: dict[str, int] = field(default_factory=dict)
    # with detail: (channel, pool, reason) -> [amount, rows with amount > 0 'earned'], and
    # per account the channels that paid it (bit i = CHANNELS[i]); no row is kept, so 2.3M
    # allocation rows cost a few MB, not GB
    groups: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    channel_bits: dict[str, int] = field(default_factory=dict)

    def channels_of(self, account: str) -> list[str]:
        bits = self.channel_bits.get(account, 0)
        return [c for i, c in enumerate(CHANNELS) if bits >> i & 1]

    @property
    def allocated(self) -> int:
        return sum(amount for amount, _ in self.groups.values())

    @property
    def unallocated(self) -> int:
        return sum(a for (_, _, reason), (a, _) in self.groups.items() if reason == "unallocated")

    @property
    def folder_name(self) -> str:
        return f"epoch-{self.epoch:05d}"

    @property
    def accounts(self) -> int:
        """Accounts with a cumulative claim (the manifest's count, checked by verify)."""
        return int(self.manifest["accounts"])

    @property
    def emission(self) -> int:
        return int(self.manifest["emission"])

    @property
    def by_channel(self) -> dict[str, int]:
        return {c: int(a) for c, a in self.manifest["totals_by_channel"].items()}

    @cached_property
    def recipients(self) -> dict[str, int]:
        return {a: v for a, v in self.by_account.items() if v > 0}

    @cached_property
    def gini(self) -> Fraction:
        """The exact Gini coefficient of this epoch's amounts per recipient."""
        return gini(list(self.recipients.values()))


@dataclass(frozen=True)
class TrendPoint:
    """What the epoch-over-epoch chart shows of one epoch: its recipients and their Gini."""

    epoch: int
    recipients: int
    gini: Fraction


def _trend_path(home: Path, epoch: int) -> Path:
    return Path(home) / "reports" / f"epoch-{epoch:05d}.trend.json"


def _manifest_sha256(root: Path, epoch: int) -> str:
    return hashlib.sha256((epoch_folder(root, epoch) / MANIFEST).read_bytes()).hexdigest()


def save_trend(home: Path, root: Path, data: EpochData) -> TrendPoint:
    """Keep ``data``'s trend point beside its report (atomically), tied to the sha256 of
    the manifest it was computed from, so later reports need not read its allocations.csv
    again (the trend covers 12 epochs: otherwise each report reads 11 earlier CSVs)."""
    point = TrendPoint(data.epoch, len(data.recipients), data.gini)
    target = _trend_path(home, data.epoch)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps({
            "manifest_sha256": _manifest_sha256(root, data.epoch),
            "recipients": point.recipients,
            "gini": [str(point.gini.numerator), str(point.gini.denominator)]}, sort_keys=True))
        os.replace(temporary, target)
    except OSError:  # a read-only home still gets its report; the next one recomputes
        temporary.unlink(missing_ok=True)
    return point


def load_trend(home: Path, root: Path, epoch: int) -> TrendPoint:
    """An earlier epoch's trend point: its saved one when it was computed from the manifest
    published now (a republished epoch has another), else from its allocations.csv."""
    try:
        saved = json.loads(_trend_path(home, epoch).read_text())
        if saved["manifest_sha256"] == _manifest_sha256(root, epoch):
            numerator, denominator = (int(x) for x in saved["gini"])
            return TrendPoint(epoch, int(saved["recipients"]), Fraction(numerator, denominator))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing, unreadable or stale: computed again below
    return save_trend(home, root, load_epoch(root, epoch, detail=False))


# One pass over an epoch's allocations.csv (DuckDB reads it, every column as text): the
# amount per account, per (channel, pool, reason) with the rows paying an 'earned' amount,
# and each account's channels. Amounts are summed as BIGNUM: exact at any size (an epoch's
# emission may reach 2^128 - 1, beyond HUGEINT).
_ALLOCATIONS = """
CREATE TEMP TABLE rows AS
    SELECT channel, pool, account, reason, amount::BIGNUM AS amount
    FROM read_csv($path, header = true, all_varchar = true);
"""
_BY_ACCOUNT = "SELECT account, sum(amount)::VARCHAR FROM rows GROUP BY account"
_GROUPS = """SELECT channel, pool, reason, sum(amount)::VARCHAR,
    count(*) FILTER (WHERE amount > 0 AND reason = 'earned')
FROM rows GROUP BY ALL ORDER BY ALL"""
_CHANNELS = "SELECT account, list(DISTINCT channel) FROM rows WHERE amount > 0 GROUP BY account"


def load_epoch(root: Path, epoch: int, detail: bool = True) -> EpochData:
    """Read one published epoch folder's manifest and, in one pass, its allocations: the
    amounts per account, and with ``detail`` the sums per sub-pool and each account's
    channels (``EpochData.groups``, ``channel_bits``)."""
    import duckdb

    folder = epoch_folder(root, epoch)
    if not (folder / MANIFEST).is_file():
        raise ReportError(f"epoch {epoch} is not published ({folder} has no manifest)")
    manifest = json.loads((folder / MANIFEST).read_text())
    con = duckdb.connect()
    try:
        con.execute(_ALLOCATIONS, {"path": str(folder / "allocations.csv")})
        by_account = {a: int(v) for a, v in con.execute(_BY_ACCOUNT).fetchall()}
        groups: dict[tuple[str, str, str], list[int]] = {}
        bits: dict[str, int] = {}
        if detail:
            groups = {(c, p, r): [int(v), n] for c, p, r, v, n in con.execute(_GROUPS).fetchall()}
            channel_bit = {c: 1 << i for i, c in enumerate(CHANNELS)}
            bits = {a: sum(channel_bit.get(c, 0) for c in channels)
                    for a, channels in con.execute(_CHANNELS).fetchall()}
    finally:
        con.close()
    return EpochData(epoch, manifest, by_account, groups, bits)


# one claim of claims.json as publish renders it: the account key, then its amount first
_CLAIM = re.compile(rb'"(0x[0-9a-fA-F]{40})":\s*\{\s*"amount":\s*"([0-9]+)"')


def claim_amounts(root: Path, epoch: int, accounts: Iterable[str]) -> dict[str, int]:
    """The cumulative claims of ``accounts`` (checksummed) in an epoch's ``claims.json``, by
    one regular-expression scan of the mapped file: no JSON parse of 1.6 GB. An account
    without a claim is left out."""
    wanted = {a.encode() for a in accounts}
    path = epoch_folder(root, epoch) / "claims.json"
    if not wanted or not path.stat().st_size:
        return {}
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) \
            as mapped:
        return {m.group(1).decode(): int(m.group(2)) for m in _CLAIM.finditer(mapped)
                if m.group(1) in wanted}


def verification_path(home: Path, epoch: int) -> Path:
    """Where the distribution step leaves its ``aimg verify`` result for the report:
    ``AIMG_HOME/reports/epoch-NNNNN.verify.json`` (outside the immutable published folder)."""
    return Path(home) / "reports" / f"epoch-{epoch:05d}.verify.json"


def save_verification(home: Path, epoch: int, result: dict[str, Any]) -> None:
    """Keep ``verify``'s result of an epoch for its report (atomically, replacing any)."""
    target = verification_path(home, epoch)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(result, sort_keys=True))
    os.replace(temporary, target)


def _verification(home: Path, root: Path, data: EpochData) -> tuple[dict[str, Any], str]:
    """verify's result for this epoch's folder and where it comes from: the distribution
    step's, when one was saved for this very root, else a verification run now."""
    path = verification_path(home, data.epoch)
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("merkle_root") == data.manifest["merkle_root"]:
            return saved, "by the distribution step"
    return verify(epoch_folder(root, data.epoch)), "now"


def manifest_of(root: Path, epoch: int) -> dict[str, Any]:
    return json.loads((epoch_folder(root, epoch) / MANIFEST).read_text())


def names_of(config: Config | None) -> dict[str, tuple[str, str]]:
    """Lowercase address -> (label, agent) for vaults, pools, holders-redirect tokens, agent
    treasuries, the treasury."""
    if config is None:
        return {}
    out: dict[str, tuple[str, str]] = {}
    for address, token in config.position_tokens().items():
        if token.kind == "wrapper":  # a holders redirect's token (often the contract itself)
            out[address.lower()] = ("wrapper token (holders redirect)", "-")
            continue
        agent = token.agent or token.name
        label = f"{token.name} vault" if token.kind == "vault" else f"{token.name} pool"
        out[address.lower()] = (label, agent)
    for agent in config.agents:
        out.setdefault(agent.treasury.lower(), (f"{agent.name} SubDAO treasury", agent.name))
    out.setdefault(config.treasury.lower(), ("treasury", "treasury"))
    return out


def short_address(address: str) -> str:
    return f"{address[:8]}…{address[-6:]}" if address.startswith("0x") else address


def subpool_label(channel: str, pool: str,
                  names: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """(sub-pool label, agent) of the allocations of ``channel`` to sub-pool ``pool``."""
    if pool.lower() in names:
        return names[pool.lower()]
    if channel in ("governance", "subdao"):
        return (f"{pool} {channel}", pool)
    if channel == "contribution":
        return ("contributions", "contributions")
    return (short_address(pool), short_address(pool))


def run_checks(root: Path, data: EpochData, config: Config | None,
               home: Path | None = None) -> list[tuple[str, str, str]]:
    """(check, PASS/WARN/FAIL, detail): what a signer wants to see before signing."""
    out: list[tuple[str, str, str]] = []
    checked_previous = False
    try:
        result, when = _verification(root.parent if home is None else home, root, data)
        checked_previous = bool(result["checked_previous"])
        previous = ("and against the previous epoch" if checked_previous
                    else "(no previous epoch beside it)")
        out.append(("aimg verify", "PASS", f"file hashes, root, {result['accounts']} proofs, "
                    f"totals {previous}; verified {when}"))
    except VerifyError as exc:
        out.append(("aimg verify", "FAIL", str(exc)))
    allocated = data.allocated
    out.append(("conservation", "PASS" if allocated == data.emission else "FAIL",
                f"allocations sum to {allocated} wei, emission {data.emission} wei"))
    if config is not None:
        expected = config.emissions_through(data.epoch)[data.epoch]
        out.append(("emission schedule", "PASS" if expected == data.emission else "FAIL",
                    f"SPEC 5 schedule gives {expected} wei for epoch {data.epoch}"))
        policy = config.policy_for(data.epoch)
        same = (policy.version, policy.digest) == (data.manifest["policy"]["version"],
                                                   data.manifest["policy"]["hash"])
        out.append(("policy", "PASS" if same else "FAIL",
                    f"published with {data.manifest['policy']['version']}, the config in force "
                    f"is {policy.version} ({policy.digest[:12]}…)"))
    if data.epoch > 0:
        before = manifest_of(root, data.epoch - 1)
        # verify compares every account with the previous epoch's claims (when it passes)
        out.append(("cumulative claims never decrease", "PASS" if checked_previous else "WARN",
                    f"every account checked against epoch {data.epoch - 1} by aimg verify"
                    if checked_previous else f"not checked: epoch {data.epoch - 1}'s folder "
                    "is not beside this one, or verify failed"))
        out.append(("block continuity",
                    "PASS" if before["blocks"]["to_block"] + 1 == data.manifest["blocks"][
                        "from_block"] else "WARN",
                    f"previous epoch ended at block {before['blocks']['to_block']}, this one "
                    f"starts at {data.manifest['blocks']['from_block']}"))
    quarantined = int(data.manifest.get("input_rows", {}).get("quarantine", 0))
    out.append(("quarantined logs", "WARN" if quarantined else "PASS",
                f"{quarantined} logs kept out of the weights (see the quarantine table)"))
    unallocated = data.unallocated
    out.append(("unallocated to treasury", "WARN" if unallocated else "PASS",
                f"{aimg(unallocated)} AIMG of empty sub-pools went to the treasury"))
    if "republished" in data.manifest:
        note = data.manifest["republished"]
        out.append(("republished", "WARN", f"reason: {note.get('reason')}; previous root "
                    f"{note.get('previous_root')}"))
    return out
