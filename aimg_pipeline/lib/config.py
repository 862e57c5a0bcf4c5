"""Loading the deployment configuration: one TOML file holding deployment, registry and
policy versions, validated into a ``lib.policy.Config``.

Validation is strict on purpose: this file decides who gets paid. Unknown keys (typos),
missing keys, floats, bools-as-ints, malformed or duplicate addresses and weights that do
not sum to 10000 are all rejected with a :class:`ConfigError` whose message starts with
the exact field path (``policy[1].channel_bps: sums to 9000, expected 10000``).

Documented defaults (the only ones): ``excluded_addresses = []`` (top level and per policy
version), ``redirects = []`` (per policy version), ``deployment.chain_id`` absent,
``deployment.max_total_emission`` absent,
``deployment.max_top_up`` absent (no limit), ``deployment.contract_warning_bps = 100``
(a contract receiving over 1 % of an epoch is warned about), ``deployment.start_block = 0``,
``deployment.confirmations = 12``,
``registry.distributor`` absent. A policy version's ``agent_weight_bps`` names the agents in
force (a non-empty subset of the registry's); its ``vault_weight_bps`` then lists ``aimg``
and exactly those agents, and ``pool_weight_bps`` exactly their pools.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from eth_utils import is_checksum_address

from aimg_pipeline.lib.integers import is_int
from aimg_pipeline.lib.policy import (
    AIMG_VAULT_NAME,
    BPS,
    CHANNELS,
    KINDS,
    ZERO_ADDRESS,
    Agent,
    Config,
    PolicyVersion,
    Pool,
    Redirect,
)

MAX_AMOUNT = 2**128  # amounts must be < 2**128 (exclusive)


# 9999-12-31T23:59:59Z: the last second a UTC date (partition keys, window texts) can name.
# Epoch 0 must end by then; a later genesis would fail deep inside the calendar at run time.
MAX_TIMESTAMP = 253_402_300_799


DEFAULT_CONFIRMATIONS = 12
DEFAULT_CONTRACT_WARNING_BPS = 100  # 1 %: see rewards/recipients.py


_ADDRESS_RE = re.compile(r"\A0x[0-9a-fA-F]{40}\Z")


_NAME_RE = re.compile(r"\A[a-z0-9_-]+\Z")


_DECIMAL_RE = re.compile(r"\A[0-9]+\Z")


class ConfigError(ValueError):
    """Invalid configuration. ``field`` is the exact path of the offending field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _fail(path: str, problem: str) -> ConfigError:
    return ConfigError(f"{path}: {problem}", field=path)


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        float: "a float",
        str: "a string",
        int: "an integer",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _table(value: object, path: str, required: Iterable[str], optional: Iterable[str] = ()) -> dict:
    """Check ``value`` is a table with exactly the allowed keys (no typos, none missing)."""
    if not isinstance(value, dict):
        raise _fail(path or "<root>", f"expected a table, got {_type_name(value)}")
    required = tuple(required)
    allowed = set(required) | set(optional)
    prefix = f"{path}." if path else ""
    for key in value:
        if key not in allowed:
            raise _fail(f"{prefix}{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in value:
            raise _fail(f"{prefix}{key}", "required key is missing")
    return value


def _list(value: object, path: str, *, non_empty: bool = False) -> list:
    if not isinstance(value, list):
        raise _fail(path, f"expected an array, got {_type_name(value)}")
    if non_empty and not value:
        raise _fail(path, "must not be empty")
    return value


def _int(value: object, path: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if not is_int(value):
        raise _fail(path, f"expected an integer, got {_type_name(value)} {value!r}")
    if minimum is not None and value < minimum:
        raise _fail(path, f"{value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise _fail(path, f"{value} is above the maximum {maximum}")
    return value


def _amount(value: object, path: str) -> int:
    """Wei amount: TOML integer or decimal string (big amounts exceed TOML's int64)."""
    if isinstance(value, str):
        if not _DECIMAL_RE.match(value):
            raise _fail(path, f"{value!r} is not a non-negative decimal integer string")
        amount = int(value)
    elif is_int(value):
        amount = value
    else:
        raise _fail(
            path, f"expected an integer or decimal string, got {_type_name(value)} {value!r}"
        )
    if amount < 0:
        raise _fail(path, f"{amount} is negative")
    if amount >= MAX_AMOUNT:
        raise _fail(path, f"{amount} does not fit 128 bits (must be < 2**128)")
    return amount


def _str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected a string, got {_type_name(value)}")
    if not value:
        raise _fail(path, "must not be empty")
    return value


def _name(value: object, path: str) -> str:
    name = _str(value, path)
    if not _NAME_RE.match(name):
        raise _fail(path, f"{name!r} must be lowercase [a-z0-9_-]+")
    return name


def _address(value: object, path: str, *, allow_zero: bool = False) -> str:
    """``0x`` + 40 hex; mixed case must be a valid EIP-55 checksum; returned lowercase."""
    if not isinstance(value, str) or not _ADDRESS_RE.match(value):
        shown = f'"{value}"' if isinstance(value, str) else f"{_type_name(value)} {value!r}"
        raise _fail(path, f"{shown} is not a 20-byte hex address")
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise _fail(path, f'"{value}" has mixed case but an invalid EIP-55 checksum')
    address = value.lower()
    if not allow_zero and address == ZERO_ADDRESS:
        raise _fail(path, "the zero address is not allowed here")
    return address


def _address_set(value: object, path: str) -> frozenset[str]:
    seen: dict[str, int] = {}
    for i, item in enumerate(_list(value, path)):
        address = _address(item, f"{path}[{i}]", allow_zero=True)
        if address in seen:
            raise _fail(f"{path}[{i}]", f"duplicate of {path}[{seen[address]}] ({address})")
        seen[address] = i
    return frozenset(seen)


def _bps_table(
    value: object,
    path: str,
    names: Iterable[str],
    what: str,
    *,
    max_each: int | None = BPS,
    sum_to: int | None = BPS,
    subset: bool = False,
) -> dict[str, int]:
    """A table keyed by exactly ``names`` (in that order), each value validated as bps.

    With ``subset``, any non-empty selection of ``names`` (still in that order).
    """
    names = tuple(names)
    if not isinstance(value, dict):
        raise _fail(path, f"expected a table, got {_type_name(value)}")
    unknown = [k for k in value if k not in names]
    if unknown:
        raise _fail(
            f"{path}.{unknown[0]}", f"unknown {what} {unknown[0]!r} (expected: {', '.join(names)})"
        )
    missing = [k for k in names if k not in value]
    if subset:
        if not value:
            raise _fail(path, f"must name at least one {what}")
        names = tuple(k for k in names if k in value)
    elif missing:
        raise _fail(path, f"missing {what}(s): {', '.join(missing)}")
    out = {k: _int(value[k], f"{path}.{k}", 0, max_each) for k in names}
    if sum_to is not None and sum(out.values()) != sum_to:
        raise _fail(path, f"sums to {sum(out.values())}, expected {sum_to}")
    return out


def _parse_agents(value: object) -> tuple[Agent, ...]:
    agents: list[Agent] = []
    names: dict[str, int] = {}
    pool_names: dict[str, str] = {}
    for i, raw in enumerate(_list(value, "registry.agents", non_empty=True)):
        path = f"registry.agents[{i}]"
        t = _table(raw, path, ("name", "token", "vault", "governor", "treasury", "pools"))
        name = _name(t["name"], f"{path}.name")
        if name == AIMG_VAULT_NAME:
            raise _fail(f"{path}.name", f'"{AIMG_VAULT_NAME}" is reserved for the $AIMG vault')
        if name in names:
            raise _fail(f"{path}.name", f'"{name}" duplicates registry.agents[{names[name]}].name')
        names[name] = i
        pools: list[Pool] = []
        for j, raw_pool in enumerate(_list(t["pools"], f"{path}.pools", non_empty=True)):
            ppath = f"{path}.pools[{j}]"
            p = _table(raw_pool, ppath, ("name", "address"), ("fee_bps",))
            pname = _name(p["name"], f"{ppath}.name")
            if pname in pool_names:
                raise _fail(f"{ppath}.name", f'pool name "{pname}" duplicates {pool_names[pname]}')
            pool_names[pname] = f"{ppath}.name"
            fee = _int(p.get("fee_bps", 30), f"{ppath}.fee_bps", 0, BPS)
            pools.append(Pool(pname, _address(p["address"], f"{ppath}.address"), name, fee))
        agents.append(
            Agent(
                name=name,
                token=_address(t["token"], f"{path}.token"),
                vault=_address(t["vault"], f"{path}.vault"),
                governor=_address(t["governor"], f"{path}.governor"),
                treasury=_address(t["treasury"], f"{path}.treasury"),
                pools=tuple(pools),
            )
        )
    return tuple(agents)


def _policy_digest(document: Mapping[str, Any]) -> str:
    """sha256 of canonical JSON: sorted keys, no whitespace, every int a decimal string.

    Addresses (not names) are hashed for vault/pool weights so that re-pointing a name
    at another contract changes the policy hash.
    """

    def canon(v: Any) -> Any:
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            return str(v)
        if isinstance(v, Mapping):
            return {str(k): canon(x) for k, x in v.items()}
        if isinstance(v, (frozenset, set)):
            return sorted(v)
        if isinstance(v, (list, tuple)):
            return [canon(x) for x in v]
        return v

    blob = json.dumps(canon(document), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _registry_entry(agent: Agent) -> dict[str, Any]:
    """An agent's registry entry as the policy hash covers it."""
    return {"name": agent.name, "token": agent.token, "vault": agent.vault,
            "governor": agent.governor, "treasury": agent.treasury,
            "pools": [{"name": p.name, "address": p.address} for p in agent.pools]}


def _parse_policies(
    value: object, agents: tuple[Agent, ...], aimg_vault: str, context: Mapping[str, Any],
    registry_addresses: Mapping[str, str],
) -> tuple[PolicyVersion, ...]:
    """The policy versions; each one's hash covers ``context`` (everything outside the
    versions that moves money) and the registry entries of the agents it puts in force.
    ``registry_addresses``: address -> the field that names it (a redirect's token must be
    none of them)."""
    by_name = {a.name: a for a in agents}
    out: list[PolicyVersion] = []
    versions: dict[str, int] = {}
    for i, raw in enumerate(_list(value, "policy", non_empty=True)):
        path = f"policy[{i}]"
        t = _table(
            raw,
            path,
            (
                "version",
                "effective_from_epoch",
                "decay_bps",
                "tail_emission",
                "channel_bps",
                "kind_multiplier_bps",
                "agent_weight_bps",
                "vault_weight_bps",
                "pool_weight_bps",
            ),
            ("excluded_addresses", "redirects"),
        )
        version = _str(t["version"], f"{path}.version")
        if version in versions:
            raise _fail(
                f"{path}.version", f'"{version}" duplicates policy[{versions[version]}].version'
            )
        versions[version] = i
        start = _int(t["effective_from_epoch"], f"{path}.effective_from_epoch", 0)
        if i == 0 and start != 0:
            raise _fail(
                f"{path}.effective_from_epoch", f"the first version must start at 0, got {start}"
            )
        if out and start <= out[-1].effective_from_epoch:
            raise _fail(
                f"{path}.effective_from_epoch",
                f"{start} must be greater than policy[{i - 1}].effective_from_epoch "
                f"({out[-1].effective_from_epoch})",
            )
        decay = _int(t["decay_bps"], f"{path}.decay_bps", 0, BPS)
        tail = _amount(t["tail_emission"], f"{path}.tail_emission")
        excluded = _address_set(t.get("excluded_addresses", []), f"{path}.excluded_addresses")
        channels = _bps_table(t["channel_bps"], f"{path}.channel_bps", CHANNELS, "channel")
        kinds_by_name = _bps_table(
            t["kind_multiplier_bps"],
            f"{path}.kind_multiplier_bps",
            KINDS.values(),
            "kind",
            max_each=None,
            sum_to=None,
        )
        kinds = {num: kinds_by_name[kname] for num, kname in KINDS.items()}
        agent_w = _bps_table(
            t["agent_weight_bps"], f"{path}.agent_weight_bps", by_name, "agent", subset=True
        )
        in_force = [by_name[name] for name in agent_w]
        vault_addr = {AIMG_VAULT_NAME: aimg_vault} | {a.name: a.vault for a in in_force}
        pool_addr = {p.name: p.address for a in in_force for p in a.pools}
        vault_w = _bps_table(
            t["vault_weight_bps"], f"{path}.vault_weight_bps", vault_addr.keys(), "vault"
        )
        pool_w = _bps_table(
            t["pool_weight_bps"], f"{path}.pool_weight_bps", pool_addr.keys(), "pool"
        )
        never_earn = ({ZERO_ADDRESS} | context["excluded_addresses"] | excluded
                      | set(vault_addr.values()) | set(pool_addr.values()))
        redirects = _parse_redirects(t.get("redirects", []), f"{path}.redirects", never_earn,
                                     registry_addresses)
        fields: dict[str, Any] = {
            "version": version,
            "effective_from_epoch": start,
            "decay_bps": decay,
            "tail_emission": tail,
            "excluded_addresses": excluded,
            "channel_bps": channels,
            "kind_multiplier_bps": kinds,
            "agent_weight_bps": agent_w,
            "vault_weight_bps": {vault_addr[n]: w for n, w in vault_w.items()},
            "pool_weight_bps": {pool_addr[n]: w for n, w in pool_w.items()},
        }
        hashed = dict(fields)
        if redirects:  # a version without redirects keeps the hash it had before they existed
            hashed["redirects"] = [{"from": r.source, "to": r.to, "token": r.token}
                                   for r in redirects.values()]
        document = {**context, "policy": hashed,
                    "agents": [_registry_entry(a) for a in in_force]}
        out.append(PolicyVersion(**fields, redirects=redirects, digest=_policy_digest(document)))
    return tuple(out)


def _parse_redirects(value: object, path: str, never_earn: set[str],
                     registry_addresses: Mapping[str, str]) -> dict[str, Redirect]:
    """A version's redirects, source -> redirect, in the file's order.

    ``{from, to}`` or ``{from, mode = "holders", token}``. Refused: a source that never earns
    (excluded, a vault or pool) or appears twice; a beneficiary that never earns; a token
    that is one of the registry's contracts (it would earn or be read twice); and a
    beneficiary that is itself redirected — a chain or a cycle, named hop by hop, because
    the pipeline applies one hop and the config must say where the money ends.
    """
    out: dict[str, Redirect] = {}
    where: dict[str, str] = {}
    for i, raw in enumerate(_list(value, path)):
        item = f"{path}[{i}]"
        t = _table(raw, item, ("from",), ("to", "mode", "token"))
        source = _address(t["from"], f"{item}.from")
        if source in out:
            raise _fail(f"{item}.from", f"{source} is already redirected by {where[source]}")
        if source in never_earn:
            raise _fail(f"{item}.from", f"{source} is excluded or a vault/pool contract: it "
                        "earns nothing to redirect")
        mode = _str(t.get("mode", "to" if "to" in t else "holders"), f"{item}.mode")
        if mode == "to":
            if "to" not in t or "token" in t:
                raise _fail(item, 'mode "to" needs `to` (the beneficiary) and no `token`')
            to = _address(t["to"], f"{item}.to")
            if to in never_earn:
                raise _fail(f"{item}.to", f"{to} is excluded or a vault/pool contract: the "
                            "redirected amount would be stranded there")
            if to == source:
                raise _fail(f"{item}.to", f"redirect cycle: {source} -> {source}")
            out[source] = Redirect(source, to=to)
        elif mode == "holders":
            if "token" not in t or "to" in t:
                raise _fail(item, 'mode "holders" needs `token` (the ERC-20 whose holders '
                            "share the amount) and no `to`")
            token = _address(t["token"], f"{item}.token")
            if token in registry_addresses:
                raise _fail(f"{item}.token", f"{token} is {registry_addresses[token]}, not a "
                            "wrapper's own token")
            out[source] = Redirect(source, token=token)
        else:
            raise _fail(f"{item}.mode", f'"{mode}" is not "to" or "holders"')
        where[source] = item
    for source in out:
        hops = [source]
        while hops[-1] in out and out[hops[-1]].to is not None:
            hops.append(out[hops[-1]].to)  # type: ignore[arg-type]
            if hops[-1] in hops[:-1]:
                raise _fail(where[source], "redirect cycle: " + " -> ".join(hops))
        if len(hops) > 2 or (len(hops) == 2 and hops[-1] in out):
            raise _fail(where[source], "redirect chain: " + " -> ".join(hops) + " (point "
                        "the first redirect at where the amount should end)")
    return out


def _check_distinct_roles(roles: list[tuple[str, str | None]]) -> None:
    """One address, one role: a contract used twice would be double-counted or self-paid."""
    seen: dict[str, str] = {}
    for path, address in roles:
        if address is None:
            continue
        if address in seen:
            raise _fail(path, f"{address} is already used by {seen[address]}")
        seen[address] = path


def _parse(doc: dict) -> Config:
    top = _table(doc, "", ("treasury", "deployment", "registry", "policy"), ("excluded_addresses",))
    treasury = _address(top["treasury"], "treasury")
    excluded = _address_set(top.get("excluded_addresses", []), "excluded_addresses")

    d = _table(
        top["deployment"],
        "deployment",
        ("name", "genesis", "epoch_seconds", "initial_emission"),
        ("chain_id", "max_total_emission", "start_block", "confirmations", "max_top_up",
         "contract_warning_bps"),
    )
    name = _str(d["name"], "deployment.name")
    chain_id = _int(d["chain_id"], "deployment.chain_id", 1) if "chain_id" in d else None
    genesis = _int(d["genesis"], "deployment.genesis", 0, MAX_TIMESTAMP - 1)
    epoch_seconds = _int(d["epoch_seconds"], "deployment.epoch_seconds", 1)
    if genesis + epoch_seconds > MAX_TIMESTAMP:
        raise _fail("deployment.epoch_seconds",
                    f"{epoch_seconds} ends epoch 0 after 9999-12-31T23:59:59Z (genesis {genesis})")
    # Epoch 0 must pay someone: a cumulative Merkle tree cannot be empty (SPEC 7), and an
    # epoch that cannot publish would block every later one.
    initial = _amount(d["initial_emission"], "deployment.initial_emission")
    if initial == 0:
        raise _fail("deployment.initial_emission",
                    "must be above 0 (epoch 0 would emit nothing, and an empty distribution "
                    "cannot be published)")
    max_total = (
        _amount(d["max_total_emission"], "deployment.max_total_emission")
        if "max_total_emission" in d
        else None
    )
    if max_total == 0:
        raise _fail("deployment.max_total_emission",
                    "must be above 0 (a cap of 0 emits nothing, and an empty distribution "
                    "cannot be published)")
    # The hand-off's limit (issue 18): outside the hashed context, it changes no amount owed.
    max_top_up = (_amount(d["max_top_up"], "deployment.max_top_up") if "max_top_up" in d
                  else None)
    contract_warning_bps = _int(d.get("contract_warning_bps", DEFAULT_CONTRACT_WARNING_BPS),
                                "deployment.contract_warning_bps", 0, 10_000)
    start_block = _int(d.get("start_block", 0), "deployment.start_block", 0)
    confirmations = _int(
        d.get("confirmations", DEFAULT_CONFIRMATIONS), "deployment.confirmations", 0
    )

    r = _table(
        top["registry"],
        "registry",
        ("aimg_token", "aimg_vault", "contribution_registry", "agents"),
        ("distributor",),
    )
    aimg_token = _address(r["aimg_token"], "registry.aimg_token")
    aimg_vault = _address(r["aimg_vault"], "registry.aimg_vault")
    contribution_registry = _address(r["contribution_registry"], "registry.contribution_registry")
    distributor = _address(r["distributor"], "registry.distributor") if "distributor" in r else None
    agents = _parse_agents(r["agents"])

    roles: list[tuple[str, str | None]] = [
        ("treasury", treasury),
        ("registry.aimg_token", aimg_token),
        ("registry.aimg_vault", aimg_vault),
        ("registry.contribution_registry", contribution_registry),
        ("registry.distributor", distributor),
    ]
    for i, a in enumerate(agents):
        p = f"registry.agents[{i}]"
        roles += [
            (f"{p}.token", a.token),
            (f"{p}.vault", a.vault),
            (f"{p}.governor", a.governor),
            (f"{p}.treasury", a.treasury),
        ]
        roles += [(f"{p}.pools[{j}].address", pool.address) for j, pool in enumerate(a.pools)]
    _check_distinct_roles(roles)

    # Everything outside the versions that moves money; with each version's agents, its hash.
    context = {
        "deployment": {"genesis": genesis, "epoch_seconds": epoch_seconds,
                       "initial_emission": initial, "max_total_emission": max_total,
                       "start_block": start_block},
        "treasury": treasury,
        "excluded_addresses": excluded,
        "registry": {"aimg_token": aimg_token, "aimg_vault": aimg_vault,
                     "contribution_registry": contribution_registry},
    }
    policies = _parse_policies(top["policy"], agents, aimg_vault, context,
                               {a: p for p, a in roles if a is not None})
    return Config(
        name=name,
        chain_id=chain_id,
        genesis=genesis,
        epoch_seconds=epoch_seconds,
        initial_emission=initial,
        max_total_emission=max_total,
        max_top_up=max_top_up,
        contract_warning_bps=contract_warning_bps,
        start_block=start_block,
        confirmations=confirmations,
        treasury=treasury,
        excluded_addresses=excluded,
        aimg_token=aimg_token,
        aimg_vault=aimg_vault,
        contribution_registry=contribution_registry,
        distributor=distributor,
        agents=agents,
        policies=policies,
    )


def parse_config(text: str, source: str = "<config>") -> Config:
    """Parse and fully validate a config document; any problem is a ConfigError.

    Messages start with the field path; when ``source`` is not the default, `` (in
    <source>)`` is appended so the user knows which file to open.
    """
    suffix = "" if source == "<config>" else f" (in {source})"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: invalid TOML: {e}") from None
    except TypeError as e:  # text is not a str
        raise ConfigError(f"{source}: config text must be a str: {e}") from None
    try:
        return _parse(doc)
    except ConfigError as e:
        raise ConfigError(f"{e}{suffix}", field=e.field) from None


def load_config(path: str | os.PathLike) -> Config:
    """Read ``path`` (UTF-8 TOML) and validate it; errors name the file."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError(f"{source}: cannot read config: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{source}: config is not UTF-8: {e}") from None
    return parse_config(text, source=source)
