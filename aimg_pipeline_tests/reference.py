"""An independent reference implementation of SPEC sections 5-6, for tests only.

Written straight from the spec, deliberately naively, and sharing no code with the
pipeline beyond the event signatures of SPEC 2 (``aimg_pipeline.lib.events.SIGNATURES``): it
decodes raw logs word by word with Python integers, integrates balances segment by segment
(the pipeline uses a closed formula in SQL with 64-bit limbs), and apportions with a plain
sort. When the two agree to the wei on random histories, both are very likely right.

Decisions the spec leaves open follow the project README (docs/economics.md):
exclusions apply to every channel; an agent is keyed by its name in the governance and
subdao levels; ContributionAccepted names the agent's token; every position token's own
address is excluded from every sub-pool (SPEC 4); a contributionId is a duplicate when the
same id was already *accepted* (earlier in the epoch or in an earlier epoch); votes and
contributions before genesis count nowhere and leave no id used (SPEC 3); a vote whose
``reason`` string or ``params`` bytes is not strictly ABI-encoded is undecodable.

Redirects (issue 19), read from the issue: each allocation row earned by a redirected
contract becomes its beneficiary's row (same weight), or one row per holder of the wrapper
token split by that token's balance-seconds this epoch (weight = those seconds), each with
``via`` = the contract; holders are the excluded set's complement minus the token and the
contract; no holder: the treasury, ``unallocated``. A holders redirect's token is a position
token for decoding and snapshots but is not itself excluded (it is usually the contract).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from eth_utils import keccak

from aimg_pipeline.lib.events import SIGNATURES

BPS = 10_000
LIMIT = 2**128  # amounts must be < 2**128 (SPEC 6.1, 6.5)
ZERO = "0x" + "0" * 40
CHANNELS = ("staking", "governance", "subdao", "liquidity", "contribution")
EVENT_OF_TOPIC0 = {"0x" + keccak(text=sig).hex(): name for name, sig in SIGNATURES.items()}
TOPIC0_OF = {name: topic for topic, name in EVENT_OF_TOPIC0.items()}

# Quarantine categories (SPEC 6.5). The pipeline's reason strings are finer; tests map them.
UNDECODABLE = "undecodable"
TOO_LARGE = "too_large"
UNKNOWN_KIND = "unknown_kind"
UNREGISTERED_AGENT = "unregistered_agent"
DUPLICATE_ID = "duplicate_id"


# ------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class Agent:
    name: str
    token: str
    vault: str
    governor: str
    treasury: str
    pools: tuple[tuple[str, str], ...]  # (pool name, LP token address)


@dataclass(frozen=True)
class Policy:
    version: str
    effective_from_epoch: int
    decay_bps: int
    tail_emission: int
    channel_bps: dict[str, int]
    kind_multiplier_bps: dict[int, int]  # kind number -> bps
    agent_weight_bps: dict[str, int]  # agent name -> bps
    vault_weight_bps: dict[str, int]  # vault address -> bps
    pool_weight_bps: dict[str, int]  # LP token address -> bps
    excluded: frozenset[str] = frozenset()
    # (contract, beneficiary or None, wrapper token or None): exactly one of the two is set
    redirects: tuple[tuple[str, str | None, str | None], ...] = ()


@dataclass(frozen=True)
class Deployment:
    genesis: int
    epoch_seconds: int
    initial_emission: int
    max_total_emission: int | None
    treasury: str
    excluded: frozenset[str]
    aimg_vault: str
    contribution_registry: str
    agents: tuple[Agent, ...]
    policies: tuple[Policy, ...]  # ascending effective_from_epoch, the first from 0


@dataclass(frozen=True)
class Log:
    """A raw log as stored: hex strings lowercase, topics without the missing ones."""

    block_number: int
    block_timestamp: int
    log_index: int
    address: str
    topics: tuple[str, ...]
    data: str


# ------------------------------------------------------------------- schedule (SPEC 5)


def policy_at(dep: Deployment, epoch: int) -> Policy:
    """The latest version with effective_from_epoch <= epoch."""
    return [p for p in dep.policies if p.effective_from_epoch <= epoch][-1]


def window(dep: Deployment, epoch: int) -> tuple[int, int]:
    start = dep.genesis + epoch * dep.epoch_seconds
    return start, start + dep.epoch_seconds


def epoch_of_timestamp(dep: Deployment, timestamp: int) -> int:
    """The epoch whose logs hold a block of this time (before genesis: epoch 0's opening)."""
    return max(0, (timestamp - dep.genesis) // dep.epoch_seconds)


def emissions(dep: Deployment, through: int) -> list[int]:
    """[E(0), ..., E(through)] by the letter of SPEC 5."""
    out: list[int] = []
    curve = dep.initial_emission  # the E(e-1) the recurrence sees, before any cap
    emitted = 0
    for e in range(through + 1):
        if e > 0:
            p = policy_at(dep, e)
            curve = max(p.tail_emission, curve * (BPS - p.decay_bps) // BPS)
        amount = curve
        if dep.max_total_emission is not None and emitted + amount > dep.max_total_emission:
            amount = max(0, dep.max_total_emission - emitted)
        emitted += amount
        out.append(amount)
    return out


# ---------------------------------------------------------------- apportion (SPEC 6.1)


def apportion(total: int, weights: dict[str, int], tie_order: tuple[str, ...] = ()) -> dict:
    """Largest remainder; ties by position in tie_order when given, else by key ascending."""
    whole = sum(weights.values())
    out = {k: total * w // whole for k, w in weights.items()}
    left = total - sum(out.values())
    rank = {k: i for i, k in enumerate(tie_order)}

    def key(k: str) -> tuple:
        return (-(total * weights[k] % whole), rank[k] if tie_order else k)

    for k in sorted(weights, key=key)[:left]:
        out[k] += 1
    return out


# ------------------------------------------------------------------ decoding (SPEC 2)


@dataclass
class Decoded:
    # (token, account, block_number, log_index, timestamp, delta)
    changes: list[tuple[str, str, int, int, int, int]] = field(default_factory=list)
    votes: list[tuple[str, str, int]] = field(default_factory=list)  # agent, voter, weight
    # contributor, contribution id (int), kind, score
    contributions: list[tuple[str, int, int, int]] = field(default_factory=list)
    analytics: list[tuple[int, int]] = field(default_factory=list)  # (block, log_index)
    # votes and contributions before genesis: valid, but they count nowhere (block, index)
    before_genesis: list[tuple[int, int]] = field(default_factory=list)
    quarantined: list[tuple[int, int, str]] = field(default_factory=list)  # block, index, why


def _words(data: str) -> list[int] | None:
    body = data[2:] if data.startswith("0x") else None
    if body is None or len(body) % 64 or any(c not in "0123456789abcdef" for c in body):
        return None
    return [int(body[i:i + 64], 16) for i in range(0, len(body), 64)]


def _dynamic_ok(data: str, head_word: int, head_words: int, text: bool) -> bool:
    """The ABI ``string``/``bytes`` whose offset is head word ``head_word`` is well formed:
    the offset points past the head and into the data, the length word and the padded value
    are all there, the padding is zero, and a string is UTF-8."""
    raw = bytes.fromhex(data[2:])
    offset = int.from_bytes(raw[32 * head_word:32 * head_word + 32], "big")
    if not 32 * head_words <= offset < len(raw) or offset + 32 > len(raw):
        return False
    length = int.from_bytes(raw[offset:offset + 32], "big")
    padded = (length + 31) // 32 * 32
    if offset + 32 + padded > len(raw):
        return False
    value, padding = raw[offset + 32:offset + 32 + length], \
        raw[offset + 32 + length:offset + 32 + padded]
    if any(padding):
        return False
    if text:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def _topic_address(topic: str) -> str | None:
    value = int(topic, 16)
    return f"0x{value:040x}" if value < 2**160 else None


def decode(
    dep: Deployment, logs: list[Log], epoch: int, accepted_ids: set[int]
) -> Decoded:
    """Decode one epoch's logs in (block, log_index) order; adds accepted ids to the set."""
    tokens = {dep.aimg_vault} | {a.vault for a in dep.agents} | {
        token for p in dep.policies for _, _, token in p.redirects if token}
    pools = {address for a in dep.agents for _, address in a.pools}
    governors = {a.governor: a.name for a in dep.agents}
    agent_tokens = {a.token for a in dep.agents}
    kinds = policy_at(dep, epoch).kind_multiplier_bps
    start, _ = window(dep, epoch)
    out = Decoded()
    for log in sorted(logs, key=lambda x: (x.block_number, x.log_index)):
        where = (log.block_number, log.log_index)
        event = EVENT_OF_TOPIC0.get(log.topics[0]) if log.topics else None
        words = _words(log.data)
        indexed = [_topic_address(t) for t in log.topics[1:]]

        def bad(reason: str, where: tuple[int, int] = where) -> None:
            out.quarantined.append((*where, reason))

        if event is None or words is None:
            bad(UNDECODABLE)
        elif event == "Transfer":
            if log.address not in tokens | pools or len(log.topics) != 3 or len(words) != 1 \
                    or None in indexed:
                bad(UNDECODABLE)
            elif words[0] >= LIMIT:
                bad(TOO_LARGE)
            else:
                sender, receiver = indexed
                for account, delta in ((sender, -words[0]), (receiver, words[0])):
                    if account != ZERO:
                        out.changes.append((log.address, account, *where,
                                            log.block_timestamp, delta))
        elif event in ("Mint", "Burn", "Swap", "Sync"):
            shape = {"Mint": (2, 2), "Burn": (3, 2), "Swap": (3, 4), "Sync": (1, 2)}[event]
            if log.address in pools and (len(log.topics), len(words)) == shape:
                out.analytics.append(where)
            else:
                bad(UNDECODABLE)
        elif event in ("VoteCast", "VoteCastWithParams"):
            # head words (id, support, weight, offsets) plus one length word per dynamic arg
            minimum = 5 if event == "VoteCast" else 7
            if log.address not in governors or len(log.topics) != 2 or len(words) < minimum \
                    or indexed[0] is None or words[1] > 255:
                bad(UNDECODABLE)
            elif words[2] >= LIMIT:
                bad(TOO_LARGE)
            elif not _dynamic_ok(log.data, 3, 4 if event == "VoteCast" else 5, True) or (
                    event == "VoteCastWithParams" and not _dynamic_ok(log.data, 4, 5, False)):
                bad(UNDECODABLE)
            elif log.block_timestamp < start:  # before genesis: counts nowhere
                out.before_genesis.append(where)
            else:
                out.votes.append((governors[log.address], indexed[0], words[2]))
        else:  # ContributionAccepted
            if log.address != dep.contribution_registry or len(log.topics) != 4 \
                    or len(words) != 2 or None in indexed[1:] or words[0] > 255:
                bad(UNDECODABLE)
            elif words[1] >= LIMIT:
                bad(TOO_LARGE)
            elif words[0] not in kinds:
                bad(UNKNOWN_KIND)
            elif indexed[1] not in agent_tokens:
                bad(UNREGISTERED_AGENT)
            elif log.block_timestamp < start:  # before genesis: counts nowhere, uses no id
                out.before_genesis.append(where)
            elif int(log.topics[1], 16) in accepted_ids:
                bad(DUPLICATE_ID)
            else:
                contribution_id = int(log.topics[1], 16)
                accepted_ids.add(contribution_id)
                out.contributions.append((indexed[2], contribution_id, words[0], words[1]))
    return out


# ------------------------------------------------------------ positions (SPEC 6.3)

Snapshot = dict[tuple[str, str], tuple[int, int, int]]  # (token, account) -> open, close, s


def snapshot(
    dep: Deployment, epoch: int, changes: list, previous_closing: dict[tuple[str, str], int]
) -> Snapshot:
    """Opening, closing balance and balance-seconds of every holder with a balance or a change.

    Integrates the step function of each balance over [start, end) segment by segment;
    changes before ``start`` (only epoch 0 has them) form the opening balance.
    """
    start, end = window(dep, epoch)
    by_holder: dict[tuple[str, str], list] = defaultdict(list)
    for token, account, block, index, timestamp, delta in changes:
        by_holder[(token, account)].append((block, index, timestamp, delta))
    holders = set(by_holder) | {k for k, v in previous_closing.items() if v != 0}
    out: Snapshot = {}
    for holder in holders:
        balance = previous_closing.get(holder, 0)
        moves = sorted(by_holder.get(holder, []))
        for _, _, timestamp, delta in moves:
            if timestamp < start:
                balance += delta
        opening = balance
        seconds, since = 0, start
        for _, _, timestamp, delta in moves:
            if timestamp >= start:
                seconds += balance * (timestamp - since)
                since = timestamp
                balance += delta
        seconds += balance * (end - since)
        out[holder] = (opening, balance, seconds)
    return out


# ----------------------------------------------------------- allocation (SPEC 6.2-6.4)

# channel, pool, account, weight, amount, reason, via
Row = tuple[str, str, str, int, int, str, str | None]


def _split(dep: Deployment, channel: str, pool: str, amount: int, weights: dict[str, int],
           excluded: set[str]) -> list[Row]:
    if amount == 0:
        return []
    eligible = {a: w for a, w in weights.items() if a not in excluded and w > 0}
    if not eligible:
        return [(channel, pool, dep.treasury, 0, amount, "unallocated", None)]
    shares = apportion(amount, eligible)
    return [(channel, pool, a, w, shares[a], "earned", None) for a, w in eligible.items()]


def _redirect(dep: Deployment, p: Policy, rows: list[Row], snap: Snapshot,
              excluded: set[str]) -> list[Row]:
    """Every earned row of a redirected contract moved, one hop (issue 19)."""
    where = {source: (to, token) for source, to, token in p.redirects}
    out: list[Row] = []
    for channel, pool, account, weight, amount, reason, _ in rows:
        if reason != "earned" or account not in where:
            out.append((channel, pool, account, weight, amount, reason, None))
            continue
        to, token = where[account]
        if to is not None:
            out.append((channel, pool, to, weight, amount, "earned", account))
            continue
        holders = {acc: s for (t, acc), (_, _, s) in snap.items()
                   if t == token and s > 0 and acc not in excluded | {token, account}}
        if not holders:
            out.append((channel, pool, dep.treasury, 0, amount, "unallocated", account))
            continue
        shares = apportion(amount, holders)  # a 0 amount still leaves each holder a row
        out += [(channel, pool, a, w, shares[a], "earned", account) for a, w in holders.items()]
    return out


def allocate(dep: Deployment, epoch: int, emission: int, snap: Snapshot,
             decoded: Decoded) -> tuple[dict[str, int], list[Row]]:
    """Per-channel amounts and every allocation row of one epoch."""
    p = policy_at(dep, epoch)
    position_tokens = {dep.aimg_vault} | {a.vault for a in dep.agents} | {
        address for a in dep.agents for _, address in a.pools}
    excluded = {ZERO} | set(dep.excluded) | set(p.excluded) | position_tokens
    channels = apportion(emission, p.channel_bps, CHANNELS)
    rows: list[Row] = []

    for channel, token_weights in (("staking", p.vault_weight_bps),
                                   ("liquidity", p.pool_weight_bps)):
        for token, amount in apportion(channels[channel], token_weights).items():
            seconds = {acc: s for (t, acc), (_, _, s) in snap.items() if t == token}
            rows += _split(dep, channel, token, amount, seconds, excluded)

    voted: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for agent, voter, weight in decoded.votes:
        voted[agent][voter] += weight
    agents = {a.name: a for a in dep.agents}
    for name, amount in apportion(channels["governance"], p.agent_weight_bps).items():
        rows += _split(dep, "governance", name, amount, dict(voted[name]), excluded)
    for name, amount in apportion(channels["subdao"], p.agent_weight_bps).items():
        rows += _split(dep, "subdao", name, amount,
                       {agents[name].treasury: p.agent_weight_bps[name]}, excluded)

    scored: dict[str, int] = defaultdict(int)
    for contributor, _, kind, score in decoded.contributions:
        scored[contributor] += score * p.kind_multiplier_bps[kind]
    rows += _split(dep, "contribution", "contribution", channels["contribution"],
                   dict(scored), excluded)
    return channels, _redirect(dep, p, rows, snap, excluded)


# ----------------------------------------------------------------------- whole run


@dataclass
class EpochResult:
    emission: int
    channels: dict[str, int]
    snapshot: Snapshot
    allocations: list[Row]
    decoded: Decoded
    claims: dict[str, int]  # cumulative, accounts with a positive amount


def run(dep: Deployment, logs: list[Log], through: int) -> list[EpochResult]:
    """Every epoch 0..through from the whole log history."""
    by_epoch: dict[int, list[Log]] = defaultdict(list)
    for log in logs:
        by_epoch[epoch_of_timestamp(dep, log.block_timestamp)].append(log)
    accepted: set[int] = set()
    closing: dict[tuple[str, str], int] = {}
    claims: dict[str, int] = defaultdict(int)
    schedule = emissions(dep, through)
    results = []
    for e in range(through + 1):
        decoded = decode(dep, by_epoch[e], e, accepted)
        snap = snapshot(dep, e, decoded.changes, closing)
        closing = {k: v[1] for k, v in snap.items()}
        channels, rows = allocate(dep, e, schedule[e], snap, decoded)
        for row in rows:
            claims[row[2]] += row[4]
        results.append(EpochResult(schedule[e], channels, snap, rows, decoded,
                                   {a: v for a, v in claims.items() if v}))
    return results
