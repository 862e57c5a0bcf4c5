"""Fuzzing the TOML loader (hypothesis): every bad document is a ConfigError naming the exact
field, nothing else escapes from inside the loader, and nothing is silently defaulted.

The base document is ``test_config.VALID`` (every optional key present, two agents, two
policy versions). Each example applies one mutation to it, so the expected field is known
independently of the loader:

- a leaf or table replaced by a value of a type that field never accepts -> that field;
- an unknown key added to any table -> ``<table>.<key>``;
- a key deleted -> that key when required (``<table>`` for the bps tables, which report
  the missing names together), success with the documented default when optional;
- targeted value fuzz: channel bps that may not sum to 10000, addresses of any shape,
  negative/huge amounts, overlapping policy versions, an agent without its vault.

The expected outcomes are computed by the rules of README/config.py written out again here,
not by calling the loader's helpers.
"""

from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from typing import Any

from eth_utils import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimg_pipeline.lib.config import ConfigError, parse_config
from aimg_pipeline.lib.policy import CHANNELS, Config
from aimg_pipeline_tests.test_config import VALID

BASE: dict[str, Any] = tomllib.loads(VALID)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Path = tuple[str | int, ...]

# ------------------------------------------------------------------------ TOML writer
# A tiny independent serializer (inline tables only), so any Python value can be fuzzed in.


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) \
            + "}"
    raise TypeError(type(value))


def to_toml(doc: dict[str, Any]) -> str:
    return "\n".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in doc.items()) + "\n"


def test_writer_round_trips_the_base() -> None:
    assert tomllib.loads(to_toml(BASE)) == BASE
    assert isinstance(parse_config(to_toml(BASE)), Config)


# ------------------------------------------------------------------------ paths


def field_name(path: Path) -> str:
    """The loader's field syntax: ``policy[1].channel_bps.staking``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def walk(value: Any, path: Path = ()) -> list[Path]:
    """Every path in the document (tables, arrays, leaves), the root excluded."""
    out: list[Path] = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += walk(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += walk(item, (*path, i))
    return out


def get(doc: Any, path: Path) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def replaced(path: Path, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    get(doc, path[:-1])[path[-1]] = value
    return doc


ALL_PATHS = walk(BASE)
TABLE_PATHS = [()] + [p for p in ALL_PATHS if isinstance(get(BASE, p), dict)]
KEY_PATHS = [p for p in ALL_PATHS if isinstance(p[-1], str)]
BPS_TABLES = {"channel_bps", "kind_multiplier_bps", "agent_weight_bps", "vault_weight_bps",
              "pool_weight_bps"}
AMOUNT_KEYS = {"initial_emission", "max_total_emission", "tail_emission"}


def category(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list",
            dict: "dict"}[type(value)]


def never_accepted(path: Path, value: Any) -> bool:
    """True when no rule of the loader lets ``value`` stand at ``path``."""
    original, new = category(get(BASE, path)), category(value)
    if new in ("bool", "float"):
        return True
    if original == new:
        return False
    return not (path[-1] in AMOUNT_KEYS and {original, new} == {"int", "str"})


def check(text: str) -> Config | ConfigError:
    """Parse; anything but a Config or a ConfigError that names its field fails the test."""
    try:
        return parse_config(text)
    except ConfigError as error:
        assert error.field, f"no field named: {error}"
        assert str(error).startswith(f"{error.field}: "), str(error)
        return error


ANY_VALUE = st.recursive(
    st.one_of(st.booleans(), st.integers(), st.floats(), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3)),
    max_leaves=6,
)

# ------------------------------------------------------------------------ generic mutations


@FUZZ
@given(path=st.sampled_from(ALL_PATHS), value=ANY_VALUE)
def test_a_wrongly_typed_value_is_rejected_naming_its_field(path: Path, value: Any) -> None:
    if not never_accepted(path, value):
        value = 1.5  # floats are never accepted anywhere (amounts included)
    outcome = check(to_toml(replaced(path, value)))
    assert isinstance(outcome, ConfigError), f"{field_name(path)} = {value!r} was accepted"
    assert outcome.field == field_name(path), str(outcome)


@FUZZ
@given(table=st.sampled_from(TABLE_PATHS), key=st.text(min_size=1, max_size=12),
       value=ANY_VALUE)
def test_an_unknown_key_is_rejected_naming_it(table: Path, key: str, value: Any) -> None:
    doc = copy.deepcopy(BASE)
    target = get(doc, table)
    if key in target:
        key = key + "_typo"
    target[key] = value
    outcome = check(to_toml(doc))
    assert isinstance(outcome, ConfigError), f"unknown key {key!r} in {table} was accepted"
    assert outcome.field == field_name((*table, key)), str(outcome)


# optional key -> (how to read it from the Config, its documented default)
DEFAULTS: dict[Path, tuple[Any, Any]] = {
    ("excluded_addresses",): (lambda c: c.excluded_addresses, frozenset()),
    ("deployment", "chain_id"): (lambda c: c.chain_id, None),
    ("deployment", "max_total_emission"): (lambda c: c.max_total_emission, None),
    ("deployment", "start_block"): (lambda c: c.start_block, 0),
    ("deployment", "confirmations"): (lambda c: c.confirmations, 12),
    ("registry", "distributor"): (lambda c: c.distributor, None),
    ("policy", 1, "excluded_addresses"): (lambda c: c.policies[1].excluded_addresses,
                                          frozenset()),
}


@FUZZ
@given(path=st.sampled_from(KEY_PATHS))
def test_a_deleted_key_is_named_or_takes_its_documented_default(path: Path) -> None:
    doc = copy.deepcopy(BASE)
    del get(doc, path[:-1])[path[-1]]
    outcome = check(to_toml(doc))
    if path in DEFAULTS:
        assert isinstance(outcome, Config), str(outcome)
        read, default = DEFAULTS[path]
        assert read(outcome) == default
        return
    assert isinstance(outcome, ConfigError), f"{field_name(path)} deleted, still accepted"
    # the bps tables name the table and list every missing key
    expected = path[:-1] if len(path) > 1 and path[-2] in BPS_TABLES else path
    assert outcome.field == field_name(expected), str(outcome)


def test_every_optional_key_was_present_so_deletion_is_exercised() -> None:
    parsed = parse_config(VALID)
    for path, (read, default) in DEFAULTS.items():
        get(BASE, path)  # present in the base
        assert read(parsed) != default, path  # so a silent default would be visible


# ------------------------------------------------------------------------ targeted values


@FUZZ
@given(st.lists(st.integers(-20_000, 20_000), min_size=5, max_size=5))
def test_channel_bps_must_each_be_in_range_and_sum_to_10000(values: list[int]) -> None:
    channels = dict(zip(CHANNELS, values, strict=True))
    outcome = check(to_toml(replaced(("policy", 0, "channel_bps"), channels)))
    bad = [c for c in CHANNELS if not 0 <= channels[c] <= 10_000]
    if bad:
        assert isinstance(outcome, ConfigError)
        assert outcome.field == f"policy[0].channel_bps.{bad[0]}"
    elif sum(values) != 10_000:
        assert isinstance(outcome, ConfigError)
        assert outcome.field == "policy[0].channel_bps"
        assert f"sums to {sum(values)}, expected 10000" in str(outcome)
    else:
        assert isinstance(outcome, Config), str(outcome)
        assert outcome.policies[0].channel_bps == channels  # exactly as written


ADDRESS_FIELDS = [p for p in ALL_PATHS if isinstance(get(BASE, p), str)
                  and get(BASE, p).startswith("0x")]
HEX = "0123456789abcdefABCDEF"


@st.composite
def address_like(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["random", "hexlen", "lower", "upper", "checksum", "badsum",
                                 "zero", "other-role"]))
    if kind == "random":
        return draw(st.text(max_size=44))
    if kind == "hexlen":
        return "0x" + draw(st.text(alphabet=HEX, min_size=0, max_size=45))
    body = draw(st.text(alphabet="0123456789abcdef", min_size=40, max_size=40))
    if kind == "lower":
        return "0x" + body
    if kind == "upper":
        return "0x" + body.upper()
    if kind == "zero":
        return "0x" + "0" * 40
    if kind == "other-role":
        return draw(st.sampled_from([get(BASE, p) for p in ADDRESS_FIELDS]))
    checksummed = to_checksum_address("0x" + body)
    if kind == "checksum" or checksummed[2:] in (body, body.upper()):
        return checksummed
    flip = draw(st.sampled_from([i for i, c in enumerate(checksummed) if c.isalpha()
                                 and i >= 2]))
    return checksummed[:flip] + checksummed[flip].swapcase() + checksummed[flip + 1:]


def address_problem(value: str) -> bool:
    """The address rule restated: 0x + 40 hex; mixed case only as a valid EIP-55 checksum."""
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        return True
    body = value[2:]
    return body not in (body.lower(), body.upper()) and to_checksum_address(value) != value


@FUZZ
@given(path=st.sampled_from(ADDRESS_FIELDS), value=address_like())
def test_addresses_malformed_zero_or_duplicated_are_rejected(path: Path, value: str) -> None:
    outcome = check(to_toml(replaced(path, value)))
    in_exclusions = "excluded_addresses" in path
    lower = value.lower()
    if address_problem(value):
        assert isinstance(outcome, ConfigError), f"{field_name(path)} = {value!r} accepted"
        assert outcome.field == field_name(path), str(outcome)
        return
    others = {get(BASE, p) for p in ADDRESS_FIELDS if p != path
              and ("excluded_addresses" in p) == in_exclusions
              and (not in_exclusions or p[:-1] == path[:-1])}
    if lower == "0x" + "0" * 40 and not in_exclusions:
        assert isinstance(outcome, ConfigError) and outcome.field == field_name(path)
    elif lower in others:
        # one address, one role / no duplicate in one exclusion list: the later field is named
        assert isinstance(outcome, ConfigError), f"duplicate {lower} at {field_name(path)}"
        assert outcome.field is not None
        assert "already used by" in str(outcome) or "duplicate of" in str(outcome)
    else:
        assert isinstance(outcome, Config), str(outcome)
        assert lower in _all_addresses(outcome)  # stored (lowercase), not replaced


def _all_addresses(config: Config) -> set[str]:
    out = {config.treasury, config.aimg_token, config.aimg_vault, config.contribution_registry,
           config.distributor, *config.excluded_addresses}
    for agent in config.agents:
        out |= {agent.token, agent.vault, agent.governor, agent.treasury}
        out |= {p.address for p in agent.pools}
    for policy in config.policies:
        out |= policy.excluded_addresses
    return {a for a in out if a}


@FUZZ
@given(key=st.sampled_from([("deployment", "initial_emission"),
                            ("deployment", "max_total_emission"),
                            ("policy", 0, "tail_emission"), ("policy", 1, "tail_emission")]),
       amount=st.one_of(st.integers(-(2**130), 2**130), st.integers(-5, 5)),
       as_string=st.booleans())
def test_amounts_negative_or_beyond_128_bits_are_rejected(
    key: Path, amount: int, as_string: bool
) -> None:
    value: int | str = str(amount) if as_string else amount
    outcome = check(to_toml(replaced(key, value)))
    # a deployment that emits nothing is refused too (issue 13.8: it could never publish)
    nothing = amount == 0 and key[0] == "deployment"
    if amount < 0 or amount >= 2**128 or nothing:
        assert isinstance(outcome, ConfigError), f"{field_name(key)} = {value!r} accepted"
        assert outcome.field == field_name(key), str(outcome)
        return
    assert isinstance(outcome, Config), str(outcome)
    read = {"initial_emission": lambda c: c.initial_emission,
            "max_total_emission": lambda c: c.max_total_emission}.get(
        str(key[-1]), lambda c: c.policies[key[1]].tail_emission)
    assert read(outcome) == amount


@FUZZ
@given(starts=st.lists(st.integers(-3, 12), min_size=1, max_size=4))
def test_policy_versions_must_start_at_0_and_strictly_increase(starts: list[int]) -> None:
    doc = copy.deepcopy(BASE)
    template = doc["policy"][0]
    doc["policy"] = [dict(template, version=f"v{i}", effective_from_epoch=s)
                     for i, s in enumerate(starts)]
    outcome = check(to_toml(doc))
    for i, start in enumerate(starts):
        if start < 0 or (i == 0 and start != 0) or (i and start <= starts[i - 1]):
            assert isinstance(outcome, ConfigError), f"{starts} accepted"
            assert outcome.field == f"policy[{i}].effective_from_epoch", str(outcome)
            return
    assert isinstance(outcome, Config), str(outcome)
    assert [p.effective_from_epoch for p in outcome.policies] == starts
    assert outcome.policy_for(starts[-1]).version == f"v{len(starts) - 1}"


@FUZZ
@given(agent=st.integers(0, 1), role=st.sampled_from(["vault", "token", "governor",
                                                      "treasury", "pools", "name"]))
def test_an_agent_missing_its_vault_or_any_role_is_rejected(agent: int, role: str) -> None:
    doc = copy.deepcopy(BASE)
    del doc["registry"]["agents"][agent][role]
    outcome = check(to_toml(doc))
    assert isinstance(outcome, ConfigError)
    assert outcome.field == f"registry.agents[{agent}].{role}"
    assert "required key is missing" in str(outcome)


@FUZZ
@given(st.data())
def test_arbitrary_text_edits_give_a_config_or_a_config_error(data: st.DataObject) -> None:
    """Character-level damage to the file (truncation, insertion, deletion): never a crash."""
    text = VALID
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["cut", "insert", "delete", "truncate"]))
        if action == "insert":
            text = text[:at] + data.draw(st.text(max_size=5)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 8)):]
        elif action == "truncate":
            text = text[:at]
        else:
            text = text[at:]
    try:
        parse_config(text)
    except ConfigError as error:
        assert error.field is None or str(error).startswith(f"{error.field}: ")
        assert error.field is not None or "invalid TOML" in str(error), str(error)


LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z = (2932897 days) * 86400 - 1


@FUZZ
@given(genesis=st.one_of(st.integers(0, 2**63 - 1), st.integers(LAST_SECOND - 10, LAST_SECOND)),
       seconds=st.one_of(st.integers(1, 2**63 - 1), st.integers(1, 10**6)))
def test_a_calendar_beyond_year_9999_is_refused_at_load_not_at_run_time(
    genesis: int, seconds: int
) -> None:
    """Found by this fuzz: genesis = 10**18 loaded fine, then every run failed inside the
    calendar with OSError (timestamp out of range). Epoch 0 must end by 9999-12-31."""
    doc = copy.deepcopy(BASE)
    doc["deployment"].update(genesis=genesis, epoch_seconds=seconds)
    outcome = check(to_toml(doc))
    if genesis >= LAST_SECOND:
        assert isinstance(outcome, ConfigError) and outcome.field == "deployment.genesis"
    elif genesis + seconds > LAST_SECOND:
        assert isinstance(outcome, ConfigError) and outcome.field == "deployment.epoch_seconds"
    else:
        assert isinstance(outcome, Config), str(outcome)
        calendar = outcome.calendar()
        assert calendar.window(0).describe().startswith("epoch 0: ")
        assert calendar.epoch_of_key(calendar.partition_key(0)) == 0
