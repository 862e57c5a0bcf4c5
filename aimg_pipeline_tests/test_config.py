"""Config loading/validation: one valid example, then one test per validation rule.

Every error test asserts the exact field path the message must name.
"""

import hashlib
import json
import re
from pathlib import Path

import pytest

from aimg_pipeline.lib.calendar import EpochCalendar
from aimg_pipeline.lib.config import ConfigError, load_config, parse_config
from aimg_pipeline.lib.policy import CHANNELS, KINDS, PositionToken


def addr(byte: int) -> str:
    """A readable lowercase test address: the byte repeated 20 times."""
    return "0x" + f"{byte:02x}" * 20


# EIP-55 test vector from the EIP itself, and the same address with a broken checksum.
CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
BAD_CHECKSUM = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"

VALID = f"""
treasury = "{addr(0x11)}"
excluded_addresses = ["{addr(0x99)}"]

[deployment]
name = "aimagine-test"
chain_id = 1337
genesis = 1767225600
epoch_seconds = 86400
initial_emission = "1000000000000000000000000"
max_total_emission = "5000000000000000000000000"
start_block = 7
confirmations = 3

[registry]
aimg_token = "{addr(0x21)}"
aimg_vault = "{addr(0x22)}"
contribution_registry = "{addr(0x23)}"
distributor = "{addr(0x24)}"

[[registry.agents]]
name = "atlas"
token = "{addr(0x31)}"
vault = "{addr(0x32)}"
governor = "{addr(0x33)}"
treasury = "{addr(0x34)}"
pools = [{{ name = "atlas-aimg", address = "{addr(0x35)}" }}, {{ name = "atlas-eth", address = "{addr(0x36)}" }}]

[[registry.agents]]
name = "nova"
token = "{addr(0x41)}"
vault = "{addr(0x42)}"
governor = "{addr(0x43)}"
treasury = "{addr(0x44)}"
pools = [{{ name = "nova-aimg", address = "{addr(0x45)}" }}]

[[policy]]
version = "v1"
effective_from_epoch = 0
decay_bps = 500
tail_emission = "100000000000000000000000"
channel_bps = {{ staking = 4000, governance = 1500, subdao = 1000, liquidity = 2500, contribution = 1000 }}
kind_multiplier_bps = {{ dataset = 10000, model = 15000, algorithm = 20000 }}
agent_weight_bps = {{ atlas = 6000, nova = 4000 }}
vault_weight_bps = {{ aimg = 5000, atlas = 3000, nova = 2000 }}
pool_weight_bps = {{ "atlas-aimg" = 5000, "atlas-eth" = 2000, "nova-aimg" = 3000 }}

[[policy]]
version = "v2"
effective_from_epoch = 10
decay_bps = 1000
tail_emission = 5
excluded_addresses = ["{addr(0x98)}"]
channel_bps = {{ staking = 3000, governance = 2000, subdao = 1000, liquidity = 3000, contribution = 1000 }}
kind_multiplier_bps = {{ dataset = 1, model = 2, algorithm = 0 }}
agent_weight_bps = {{ atlas = 5000, nova = 5000 }}
vault_weight_bps = {{ aimg = 4000, atlas = 4000, nova = 2000 }}
pool_weight_bps = {{ "atlas-aimg" = 1000, "atlas-eth" = 1000, "nova-aimg" = 8000 }}
"""  # noqa: E501 (TOML inline tables must stay on one line)


def mutate(*pairs: str) -> str:
    """Replace substrings of VALID; each `old` must occur exactly once (keeps tests honest)."""
    text = VALID
    for old, new in zip(pairs[::2], pairs[1::2], strict=True):
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    return text


def fails(text: str, field: str, *fragments: str) -> ConfigError:
    """Assert parsing fails with a message that starts with ``field:``."""
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    msg = str(err.value)
    assert msg.startswith(f"{field}: "), msg
    assert err.value.field == field
    for fragment in fragments:
        assert fragment in msg, msg
    return err.value


# ------------------------------------------------------------------------ the valid example


def test_valid_full_example() -> None:
    cfg = parse_config(VALID)
    assert cfg.name == "aimagine-test"
    assert cfg.chain_id == 1337
    assert (cfg.genesis, cfg.epoch_seconds) == (1767225600, 86400)
    assert cfg.initial_emission == 10**24
    assert cfg.max_total_emission == 5 * 10**24
    assert (cfg.start_block, cfg.confirmations) == (7, 3)
    assert cfg.treasury == addr(0x11)
    assert cfg.excluded_addresses == frozenset({addr(0x99)})
    assert (cfg.aimg_token, cfg.aimg_vault) == (addr(0x21), addr(0x22))
    assert (cfg.contribution_registry, cfg.distributor) == (addr(0x23), addr(0x24))

    atlas, nova = cfg.agents
    assert (atlas.name, atlas.token, atlas.vault, atlas.governor, atlas.treasury) == (
        "atlas",
        addr(0x31),
        addr(0x32),
        addr(0x33),
        addr(0x34),
    )
    assert [(p.name, p.address, p.agent) for p in atlas.pools] == [
        ("atlas-aimg", addr(0x35), "atlas"),
        ("atlas-eth", addr(0x36), "atlas"),
    ]
    assert nova.pools[0].name == "nova-aimg" and nova.pools[0].agent == "nova"

    v1, v2 = cfg.policies
    assert (v1.version, v1.effective_from_epoch, v1.decay_bps) == ("v1", 0, 500)
    assert v1.tail_emission == 10**23
    assert v1.excluded_addresses == frozenset()
    assert list(v1.channel_bps.items()) == [
        ("staking", 4000),
        ("governance", 1500),
        ("subdao", 1000),
        ("liquidity", 2500),
        ("contribution", 1000),
    ]
    assert list(v1.channel_bps) == list(CHANNELS)
    assert v1.kind_multiplier_bps == {0: 10000, 1: 15000, 2: 20000}
    assert v1.agent_weight_bps == {"atlas": 6000, "nova": 4000}
    assert v1.vault_weight_bps == {addr(0x22): 5000, addr(0x32): 3000, addr(0x42): 2000}
    assert v1.pool_weight_bps == {addr(0x35): 5000, addr(0x36): 2000, addr(0x45): 3000}
    assert v2.tail_emission == 5 and v2.excluded_addresses == frozenset({addr(0x98)})
    assert v2.kind_multiplier_bps == {0: 1, 1: 2, 2: 0}


def test_policy_digest_is_sha256_of_canonical_json() -> None:
    v1 = parse_config(VALID).policies[0]
    # Written out by hand: sorted keys, ints as decimal strings, addresses for vault/pool
    # weights, kind multipliers keyed by kind number, sets as sorted lists. It covers
    # everything that moves money in v1's epochs: the deployment's emission constants,
    # treasury, global exclusions, the registry and the registry entries of v1's agents.
    canonical = {
        "deployment": {"genesis": "1767225600", "epoch_seconds": "86400",
                       "initial_emission": "1000000000000000000000000",
                       "max_total_emission": "5000000000000000000000000", "start_block": "7"},
        "treasury": addr(0x11),
        "excluded_addresses": [addr(0x99)],
        "registry": {"aimg_token": addr(0x21), "aimg_vault": addr(0x22),
                     "contribution_registry": addr(0x23)},
        "agents": [
            {"name": "atlas", "token": addr(0x31), "vault": addr(0x32), "governor": addr(0x33),
             "treasury": addr(0x34), "pools": [{"name": "atlas-aimg", "address": addr(0x35)},
                                               {"name": "atlas-eth", "address": addr(0x36)}]},
            {"name": "nova", "token": addr(0x41), "vault": addr(0x42), "governor": addr(0x43),
             "treasury": addr(0x44), "pools": [{"name": "nova-aimg", "address": addr(0x45)}]},
        ],
        "policy": {
            "version": "v1",
            "effective_from_epoch": "0",
            "decay_bps": "500",
            "tail_emission": "100000000000000000000000",
            "excluded_addresses": [],
            "channel_bps": {
                "staking": "4000",
                "governance": "1500",
                "subdao": "1000",
                "liquidity": "2500",
                "contribution": "1000",
            },
            "kind_multiplier_bps": {"0": "10000", "1": "15000", "2": "20000"},
            "agent_weight_bps": {"atlas": "6000", "nova": "4000"},
            "vault_weight_bps": {addr(0x22): "5000", addr(0x32): "3000", addr(0x42): "2000"},
            "pool_weight_bps": {addr(0x35): "5000", addr(0x36): "2000", addr(0x45): "3000"},
        },
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    assert v1.digest == hashlib.sha256(blob).hexdigest()
    # any change to the version changes the hash
    other = parse_config(mutate("decay_bps = 500", "decay_bps = 501")).policies[0]
    assert other.digest != v1.digest


@pytest.mark.parametrize("old,new", [
    (f'treasury = "{addr(0x11)}"', f'treasury = "{addr(0x12)}"'),
    (f'excluded_addresses = ["{addr(0x99)}"]', f'excluded_addresses = ["{addr(0x97)}"]'),
    (f'aimg_vault = "{addr(0x22)}"', f'aimg_vault = "{addr(0x2a)}"'),
    (f'contribution_registry = "{addr(0x23)}"', f'contribution_registry = "{addr(0x2b)}"'),
    (f'token = "{addr(0x31)}"', f'token = "{addr(0x3a)}"'),
    (f'vault = "{addr(0x42)}"', f'vault = "{addr(0x4a)}"'),
    (f'governor = "{addr(0x33)}"', f'governor = "{addr(0x3b)}"'),
    (f'treasury = "{addr(0x44)}"', f'treasury = "{addr(0x4b)}"'),
    (f'address = "{addr(0x36)}"', f'address = "{addr(0x3c)}"'),
    ("dataset = 10000, model = 15000", "dataset = 10000, model = 15001"),
    ("start_block = 7", "start_block = 8"),
    ('initial_emission = "1000000000000000000000000"',
     'initial_emission = "1000000000000000000000001"'),
])  # fmt: skip
def test_policy_hash_covers_everything_that_moves_money(old: str, new: str) -> None:
    """SPEC 4 / issue 13.10: treasury, exclusions, registry, multipliers, emission constants."""
    before = parse_config(VALID).policies[0].digest
    assert parse_config(mutate(old, new)).policies[0].digest != before


ADDED_AGENT = f"""
[[registry.agents]]
name = "orion"
token = "{addr(0x51)}"
vault = "{addr(0x52)}"
governor = "{addr(0x53)}"
treasury = "{addr(0x54)}"
pools = [{{ name = "orion-aimg", address = "{addr(0x55)}" }}]
"""

ORION_VERSION = """
[[policy]]
version = "v3"
effective_from_epoch = 20
decay_bps = 1000
tail_emission = 5
channel_bps = { staking = 3000, governance = 2000, subdao = 1000, liquidity = 3000, contribution = 1000 }
kind_multiplier_bps = { dataset = 1, model = 2, algorithm = 0 }
agent_weight_bps = { atlas = 4000, nova = 4000, orion = 2000 }
vault_weight_bps = { aimg = 4000, atlas = 2000, nova = 2000, orion = 2000 }
pool_weight_bps = { "atlas-aimg" = 1000, "atlas-eth" = 1000, "nova-aimg" = 4000, "orion-aimg" = 4000 }
"""  # noqa: E501


def test_adding_an_agent_in_a_later_version_keeps_earlier_hashes() -> None:
    """An agent added by a registry entry and a new version: v1 and v2 are untouched."""
    before = parse_config(VALID)
    registry_end = VALID.index("[[policy]]")
    after = parse_config(VALID[:registry_end] + ADDED_AGENT + VALID[registry_end:]
                         + ORION_VERSION)
    assert [p.digest for p in after.policies[:2]] == [p.digest for p in before.policies]
    assert after.policies[2].agent_names == ("atlas", "nova", "orion")
    # in force only from v3 on: its contracts are neither watched nor excluded before
    assert [a.name for a in after.agents_at(19)] == ["atlas", "nova"]
    assert [a.name for a in after.agents_at(20)] == ["atlas", "nova", "orion"]
    assert addr(0x52) not in after.position_tokens(19)
    assert addr(0x52) not in after.excluded_for(19) and addr(0x52) in after.excluded_for(20)


@pytest.mark.parametrize("field,value", [
    ("initial_emission", 0), ("max_total_emission", 0)])
def test_an_emission_of_nothing_is_refused(field: str, value: int) -> None:
    """Issue 13.8: an epoch 0 that pays nobody could never publish (a Merkle tree needs a
    leaf) and would block every later epoch, so the config refuses it up front."""
    line = {"initial_emission": 'initial_emission = "1000000000000000000000000"',
            "max_total_emission": 'max_total_emission = "5000000000000000000000000"'}[field]
    fails(mutate(line, f"{field} = {value}"), f"deployment.{field}", "must be above 0")


def test_defaults() -> None:
    text = mutate(
        f'excluded_addresses = ["{addr(0x99)}"]\n',
        "",
        "chain_id = 1337\n",
        "",
        'max_total_emission = "5000000000000000000000000"\n',
        "",
        "start_block = 7\n",
        "",
        "confirmations = 3\n",
        "",
        f'distributor = "{addr(0x24)}"\n',
        "",
    )
    cfg = parse_config(text)
    assert cfg.excluded_addresses == frozenset()
    assert cfg.chain_id is None and cfg.max_total_emission is None and cfg.distributor is None
    assert (cfg.start_block, cfg.confirmations) == (0, 12)
    assert (cfg.max_top_up, cfg.contract_warning_bps) == (None, 100)


def test_hand_off_keys() -> None:
    """Issue 18/19: ``max_top_up`` (wei, a decimal string like every amount) and
    ``contract_warning_bps`` (0..10000); neither changes the policy hash (they move no
    money)."""
    line = "confirmations = 3\n"
    cfg = parse_config(mutate(line, line + 'max_top_up = "12"\ncontract_warning_bps = 250\n'))
    assert (cfg.max_top_up, cfg.contract_warning_bps) == (12, 250)
    assert [p.digest for p in cfg.policies] == [
        p.digest for p in parse_config(VALID).policies]
    fails(mutate(line, line + "contract_warning_bps = 10001\n"),
          "deployment.contract_warning_bps")
    fails(mutate(line, line + 'max_top_up = "-1"\n'), "deployment.max_top_up")
    fails(mutate(line, line + "max_top_up = 1.5\n"), "deployment.max_top_up")


def test_helpers() -> None:
    cfg = parse_config(VALID)
    assert cfg.policy_for(0).version == "v1"
    assert cfg.policy_for(9).version == "v1"
    assert cfg.policy_for(10).version == "v2"
    assert cfg.policy_for(500).version == "v2"
    with pytest.raises(ValueError):
        cfg.policy_for(-1)
    assert cfg.calendar() == EpochCalendar(1767225600, 86400)

    zero = "0x" + "00" * 20
    # every position token's own contract never earns, in any channel or sub-pool
    tokens = {addr(0x22), addr(0x32), addr(0x42), addr(0x35), addr(0x36), addr(0x45)}
    assert cfg.excluded_for(9) == {zero, addr(0x99)} | tokens
    assert cfg.excluded_for(10) == {zero, addr(0x99), addr(0x98)} | tokens

    tokens = cfg.position_tokens()
    assert tokens == {
        addr(0x22): PositionToken(addr(0x22), "vault", "aimg", None),
        addr(0x32): PositionToken(addr(0x32), "vault", "atlas", "atlas"),
        addr(0x42): PositionToken(addr(0x42), "vault", "nova", "nova"),
        addr(0x35): PositionToken(addr(0x35), "pool", "atlas-aimg", "atlas"),
        addr(0x36): PositionToken(addr(0x36), "pool", "atlas-eth", "atlas"),
        addr(0x45): PositionToken(addr(0x45), "pool", "nova-aimg", "nova"),
    }
    assert cfg.position_tokens(0) == tokens
    assert [a.name for a in cfg.agents_at(0)] == ["atlas", "nova"]
    assert set(KINDS.values()) == {"dataset", "model", "algorithm"}


def test_emissions_through_uses_policy_versions_and_cap() -> None:
    text = mutate(
        'initial_emission = "1000000000000000000000000"',
        "initial_emission = 1000",
        'max_total_emission = "5000000000000000000000000"',
        "max_total_emission = 6000",
        'tail_emission = "100000000000000000000000"',
        "tail_emission = 0",
        "effective_from_epoch = 10",
        "effective_from_epoch = 3",
        "tail_emission = 5\n",
        "tail_emission = 700\n",
    )
    # v1 (epochs 0-2): 5% decay: 1000, 950, 902 (950*9500//10000 = 902.5 -> 902)
    # v2 (epochs 3-): 10% decay, tail 700: max(700, 811) = 811 (902*0.9 = 811.8);
    #   E4 = max(700, 729) = 729 (811*0.9 = 729.9); E5 = max(700, 656) = 700
    # cumulative: 1000, 1950, 2852, 3663, 4392, 5092; E6 = 700 -> 5792; E7 cut to 6000-5792
    assert parse_config(text).emissions_through(7) == [1000, 950, 902, 811, 729, 700, 700, 208]


# ------------------------------------------------------------------------ TOML / files


def test_invalid_toml_reports_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(VALID + "\nbroken = \n", source="demo.toml")
    msg = str(err.value)
    assert msg.startswith("demo.toml: invalid TOML") and "line" in msg


def test_source_is_named_on_field_errors() -> None:
    with pytest.raises(ConfigError, match=r"^deployment\.genesis: .* \(in my\.toml\)$"):
        parse_config(mutate("genesis = 1767225600", "genesis = -1"), source="my.toml")


def test_load_config(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(VALID, encoding="utf-8")
    assert load_config(good).name == "aimagine-test"

    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        load_config(missing)

    bad = tmp_path / "bad.toml"
    bad.write_text("x = 1\ny = \nz = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(str(bad)) + ".*line"):
        load_config(bad)

    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=re.escape(str(binary))):
        load_config(binary)


# ------------------------------------------------------------------------ unknown / missing


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("[deployment]", 'treasurey = "x"\n[deployment]', "treasurey"),
        ("genesis = 1767225600", "genisis = 1767225600", "deployment.genisis"),
        ('distributor = "', 'distributer = "', "registry.distributer"),
        ('name = "nova"', 'name = "nova"\nweight_bps = 1', "registry.agents[1].weight_bps"),
        ('{ name = "nova-aimg",', '{ nme = "nova-aimg",', "registry.agents[1].pools[0].nme"),
        ("decay_bps = 1000", "decay_bps = 1000\nfoo = 1", "policy[1].foo"),
    ],
)
def test_unknown_keys_rejected(old: str, new: str, field: str) -> None:
    fails(mutate(old, new), field, "unknown key")


@pytest.mark.parametrize(
    ("old", "field"),
    [
        (f'treasury = "{addr(0x11)}"\n', "treasury"),
        ("genesis = 1767225600\n", "deployment.genesis"),
        ("epoch_seconds = 86400\n", "deployment.epoch_seconds"),
        ('initial_emission = "1000000000000000000000000"\n', "deployment.initial_emission"),
        ('name = "aimagine-test"\n', "deployment.name"),
        (f'aimg_vault = "{addr(0x22)}"\n', "registry.aimg_vault"),
        (f'governor = "{addr(0x43)}"\n', "registry.agents[1].governor"),
        ("decay_bps = 1000\n", "policy[1].decay_bps"),
        ("agent_weight_bps = { atlas = 6000, nova = 4000 }\n", "policy[0].agent_weight_bps"),
    ],
)
def test_missing_required_keys(old: str, field: str) -> None:
    fails(mutate(old, ""), field, "missing")


def top_level(extra: str, text: str) -> str:
    """Insert top-level keys right after the treasury line (before any [table])."""
    line = f'treasury = "{addr(0x11)}"\n'
    assert text.count(line) == 1
    return text.replace(line, line + extra)


NO_POLICY = VALID.split("[[policy]]")[0]


def test_missing_sections() -> None:
    fails(NO_POLICY, "policy", "missing")
    fails("[deployment]\n", "treasury", "missing")
    fails(
        f'treasury = "{addr(0x11)}"\ndeployment = 5\nregistry = 1\npolicy = 2\n',
        "deployment",
        "expected a table",
    )


# ------------------------------------------------------------------------ integers


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("genesis = 1767225600", "genesis = true", "deployment.genesis"),
        ("genesis = 1767225600", "genesis = 1767225600.0", "deployment.genesis"),
        ("genesis = 1767225600", 'genesis = "1767225600"', "deployment.genesis"),
        ("genesis = 1767225600", "genesis = -1", "deployment.genesis"),
        ("epoch_seconds = 86400", "epoch_seconds = 0", "deployment.epoch_seconds"),
        ("epoch_seconds = 86400", "epoch_seconds = 8.64e4", "deployment.epoch_seconds"),
        ("chain_id = 1337", "chain_id = 1337.0", "deployment.chain_id"),
        ("chain_id = 1337", "chain_id = false", "deployment.chain_id"),
        ("start_block = 7", "start_block = -1", "deployment.start_block"),
        ("confirmations = 3", "confirmations = 3.5", "deployment.confirmations"),
        (
            "effective_from_epoch = 10",
            "effective_from_epoch = 10.0",
            "policy[1].effective_from_epoch",
        ),
        ("decay_bps = 500", "decay_bps = 10001", "policy[0].decay_bps"),
        ("decay_bps = 500", "decay_bps = -1", "policy[0].decay_bps"),
        ("decay_bps = 500", "decay_bps = true", "policy[0].decay_bps"),
    ],
)
def test_integer_fields(old: str, new: str, field: str) -> None:
    fails(mutate(old, new), field)


def test_big_chain_id_and_decay_bounds_accepted() -> None:
    cfg = parse_config(
        mutate(
            "chain_id = 1337", "chain_id = 131277322940537", "decay_bps = 500", "decay_bps = 10000"
        )
    )
    assert cfg.chain_id == 131277322940537 and cfg.policies[0].decay_bps == 10000


# ------------------------------------------------------------------------ amounts

INITIAL = 'initial_emission = "1000000000000000000000000"'


@pytest.mark.parametrize(
    "value",
    [
        '"-1"',
        "-1",
        '"1e24"',
        "1e24",
        '"1.5"',
        '""',
        '" 10"',
        '"0x10"',
        "true",
        f'"{2**128}"',
        '"1_000"',
    ],
)
def test_bad_amounts(value: str) -> None:
    fails(mutate(INITIAL, f"initial_emission = {value}"), "deployment.initial_emission")


def test_amount_forms() -> None:
    # TOML integer and decimal string both accepted; the largest legal value is 2**128 - 1
    assert parse_config(mutate(INITIAL, "initial_emission = 42")).initial_emission == 42
    cfg = parse_config(mutate(INITIAL, f'initial_emission = "{2**128 - 1}"'))
    assert cfg.initial_emission == 2**128 - 1
    assert parse_config(mutate(INITIAL, 'initial_emission = "1"')).initial_emission == 1
    fails(
        mutate('max_total_emission = "5000000000000000000000000"', "max_total_emission = -5"),
        "deployment.max_total_emission",
        "negative",
    )
    fails(mutate("tail_emission = 5\n", "tail_emission = 5.0\n"), "policy[1].tail_emission")
    fails(mutate("tail_emission = 5\n", 'tail_emission = "-5"\n'), "policy[1].tail_emission")


# ------------------------------------------------------------------------ addresses


def test_address_not_20_bytes_message() -> None:
    fails(mutate(f'vault = "{addr(0x42)}"', 'vault = "0x12"'), "registry.agents[1].vault")
    with pytest.raises(ConfigError) as err:
        parse_config(mutate(f'vault = "{addr(0x42)}"', 'vault = "0x12"'))
    assert str(err.value) == 'registry.agents[1].vault: "0x12" is not a 20-byte hex address'


@pytest.mark.parametrize(
    "value",
    [
        '"' + "11" * 20 + '"',  # no 0x
        '"0X' + "11" * 20 + '"',  # upper-case prefix
        '"0x' + "11" * 19 + '"',  # 19 bytes
        '"0x' + "11" * 21 + '"',  # 21 bytes
        '"0x' + "1g" * 20 + '"',  # not hex
        "17",  # not a string
        f'" {addr(0x11)}"',  # whitespace
    ],
)
def test_malformed_addresses(value: str) -> None:
    fails(
        mutate(f'treasury = "{addr(0x11)}"', f"treasury = {value}"),
        "treasury",
        "20-byte hex address",
    )


def test_address_case_rules() -> None:
    upper = "0x" + "AB" * 20
    cfg = parse_config(mutate(f'treasury = "{addr(0x11)}"', f'treasury = "{upper}"'))
    assert cfg.treasury == "0x" + "ab" * 20  # stored lowercase
    cfg = parse_config(mutate(f'treasury = "{addr(0x11)}"', f'treasury = "{CHECKSUMMED}"'))
    assert cfg.treasury == CHECKSUMMED.lower()
    fails(
        mutate(f'treasury = "{addr(0x11)}"', f'treasury = "{BAD_CHECKSUM}"'), "treasury", "EIP-55"
    )
    # the EIP-55 rule applies in exclusion lists too
    fails(
        mutate(f'["{addr(0x98)}"]', f'["{BAD_CHECKSUM}"]'),
        "policy[1].excluded_addresses[0]",
        "EIP-55",
    )


@pytest.mark.parametrize(
    ("old", "field"),
    [
        (f'treasury = "{addr(0x11)}"', "treasury"),
        (f'aimg_token = "{addr(0x21)}"', "registry.aimg_token"),
        (f'distributor = "{addr(0x24)}"', "registry.distributor"),
        (f'treasury = "{addr(0x34)}"', "registry.agents[0].treasury"),
        (f'address = "{addr(0x45)}"', "registry.agents[1].pools[0].address"),
    ],
)
def test_zero_address_rejected_for_roles(old: str, field: str) -> None:
    key = old.split(" = ")[0]
    fails(mutate(old, f'{key} = "0x{"00" * 20}"'), field, "zero address")


def test_zero_address_allowed_in_exclusions() -> None:
    cfg = parse_config(mutate(f'["{addr(0x99)}"]', f'["0x{"00" * 20}"]'))
    assert cfg.excluded_addresses == frozenset({"0x" + "00" * 20})


@pytest.mark.parametrize(
    ("old", "new", "field", "other"),
    [
        # one contract used as two vaults
        (
            f'vault = "{addr(0x42)}"',
            f'vault = "{addr(0x22)}"',
            "registry.agents[1].vault",
            "registry.aimg_vault",
        ),
        # a pool that is also a vault (case differences do not hide it)
        (
            f'address = "{addr(0x45)}"',
            f'address = "{addr(0x32).upper().replace("0X", "0x")}"',
            "registry.agents[1].pools[0].address",
            "registry.agents[0].vault",
        ),
        # two pools with the same address
        (
            f'address = "{addr(0x36)}"',
            f'address = "{addr(0x35)}"',
            "registry.agents[0].pools[1].address",
            "registry.agents[0].pools[0].address",
        ),
        # governor equal to the token
        (
            f'governor = "{addr(0x33)}"',
            f'governor = "{addr(0x31)}"',
            "registry.agents[0].governor",
            "registry.agents[0].token",
        ),
        # the deployment treasury doubling as an agent treasury
        (
            f'treasury = "{addr(0x44)}"',
            f'treasury = "{addr(0x11)}"',
            "registry.agents[1].treasury",
            "treasury",
        ),
    ],
)
def test_address_in_two_roles(old: str, new: str, field: str, other: str) -> None:
    fails(mutate(old, new), field, f"already used by {other}")


def test_duplicate_exclusions() -> None:
    dup = f'["{addr(0x99)}", "{addr(0x99).upper().replace("0X", "0x")}"]'
    fails(
        mutate(f'["{addr(0x99)}"]', dup),
        "excluded_addresses[1]",
        "duplicate of excluded_addresses[0]",
    )
    dup = f'["{addr(0x98)}", "{addr(0x98)}"]'
    fails(mutate(f'["{addr(0x98)}"]', dup), "policy[1].excluded_addresses[1]", "duplicate")
    fails(mutate(f'["{addr(0x99)}"]', '"x"'), "excluded_addresses", "expected an array")


# ------------------------------------------------------------------------ agents / pools


def test_agent_rules() -> None:
    fails(mutate('name = "nova"', 'name = "aimg"'), "registry.agents[1].name", "reserved")
    fails(mutate('name = "nova"', 'name = "Nova"'), "registry.agents[1].name", "lowercase")
    fails(mutate('name = "nova"', 'name = "no va"'), "registry.agents[1].name", "lowercase")
    fails(
        mutate('name = "nova"', 'name = "atlas"'),
        "registry.agents[1].name",
        "registry.agents[0].name",
    )
    fails(
        mutate('pools = [{ name = "nova-aimg", address = "' + addr(0x45) + '" }]', "pools = []"),
        "registry.agents[1].pools",
        "empty",
    )
    fails(
        mutate('{ name = "nova-aimg",', '{ name = "atlas-eth",'),
        "registry.agents[1].pools[0].name",
        "registry.agents[0].pools[1].name",
    )
    fails(
        mutate('{ name = "nova-aimg",', '{ name = "Nova",'),
        "registry.agents[1].pools[0].name",
        "lowercase",
    )


def test_at_least_one_agent() -> None:
    head, rest = VALID.split("[[registry.agents]]", 1)
    text = head + "agents = []\n\n[[policy]]" + rest.split("[[policy]]", 1)[1]
    fails(text, "registry.agents", "empty")


# ------------------------------------------------------------------------ policy versions


def test_policy_versions_order() -> None:
    fails(
        mutate("effective_from_epoch = 0", "effective_from_epoch = 1"),
        "policy[0].effective_from_epoch",
        "must start at 0",
    )
    fails(
        mutate("effective_from_epoch = 10", "effective_from_epoch = 0"),
        "policy[1].effective_from_epoch",
        "greater than policy[0].effective_from_epoch",
    )
    fails(mutate('version = "v2"', 'version = "v1"'), "policy[1].version", "policy[0].version")
    fails(mutate('version = "v2"', 'version = ""'), "policy[1].version", "empty")
    fails(mutate('version = "v2"', "version = 2"), "policy[1].version")


def test_channel_bps_sum_message() -> None:
    text = mutate("staking = 3000, governance = 2000", "staking = 2000, governance = 2000")
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    # 2000 + 2000 + 1000 + 3000 + 1000 = 9000
    assert str(err.value) == "policy[1].channel_bps: sums to 9000, expected 10000"


def test_channel_bps_keys_and_values() -> None:
    fails(
        mutate("liquidity = 3000, contribution = 1000", "liquidity = 3000, contributions = 1000"),
        "policy[1].channel_bps.contributions",
        "unknown channel",
    )
    fails(
        mutate("staking = 4000, governance = 1500,", "governance = 5500,"),
        "policy[0].channel_bps",
        "missing channel(s): staking",
    )
    fails(
        mutate("staking = 4000, governance = 1500,", "staking = 10500, governance = -1000,"),
        "policy[0].channel_bps.staking",
        "maximum 10000",
    )
    fails(
        mutate("staking = 4000, governance = 1500,", "staking = 4000.0, governance = 1500,"),
        "policy[0].channel_bps.staking",
        "integer",
    )
    fails(
        mutate("channel_bps = { staking = 4000", "channel_bps = [4000]#"),
        "policy[0].channel_bps",
        "expected a table",
    )


def test_kind_multipliers() -> None:
    fails(
        mutate("dataset = 1, model = 2, algorithm = 0", "dataset = 1, model = 2"),
        "policy[1].kind_multiplier_bps",
        "missing kind(s): algorithm",
    )
    fails(
        mutate(
            "dataset = 1, model = 2, algorithm = 0",
            "dataset = 1, model = 2, algorithm = 0, code = 1",
        ),
        "policy[1].kind_multiplier_bps.code",
        "unknown kind",
    )
    fails(
        mutate("dataset = 1, model = 2, algorithm = 0", "dataset = 1, model = -2, algorithm = 0"),
        "policy[1].kind_multiplier_bps.model",
        "minimum 0",
    )
    # multipliers may exceed 10000 and need not sum to anything
    cfg = parse_config(mutate("dataset = 1, model = 2", "dataset = 99999, model = 2"))
    assert cfg.policies[1].kind_multiplier_bps[0] == 99999


def test_agent_weights() -> None:
    fails(
        mutate(
            "agent_weight_bps = { atlas = 5000, nova = 5000 }",
            "agent_weight_bps = { atlas = 5000, nova = 4000, orion = 1000 }",
        ),
        "policy[1].agent_weight_bps.orion",
        "unknown agent 'orion'",
    )
    # naming a subset of the registry's agents puts only those in force: their vaults and
    # pools, and no other agent's, must then have weights
    fails(
        mutate(
            "agent_weight_bps = { atlas = 5000, nova = 5000 }",
            "agent_weight_bps = { atlas = 10000 }",
        ),
        "policy[1].vault_weight_bps.nova",
        "unknown vault 'nova'",
    )
    fails(
        mutate(
            "agent_weight_bps = { atlas = 5000, nova = 5000 }",
            "agent_weight_bps = { }",
        ),
        "policy[1].agent_weight_bps",
        "must name at least one agent",
    )
    atlas_only = parse_config(mutate(
        "agent_weight_bps = { atlas = 5000, nova = 5000 }", "agent_weight_bps = { atlas = 10000 }",
        "vault_weight_bps = { aimg = 4000, atlas = 4000, nova = 2000 }",
        "vault_weight_bps = { aimg = 4000, atlas = 6000 }",
        'pool_weight_bps = { "atlas-aimg" = 1000, "atlas-eth" = 1000, "nova-aimg" = 8000 }',
        'pool_weight_bps = { "atlas-aimg" = 1000, "atlas-eth" = 9000 }'))
    assert [a.name for a in atlas_only.agents_at(10)] == ["atlas"]
    assert set(atlas_only.position_tokens(10)) == {addr(0x22), addr(0x32), addr(0x35),
                                                   addr(0x36)}
    fails(
        mutate(
            "agent_weight_bps = { atlas = 5000, nova = 5000 }",
            "agent_weight_bps = { atlas = 5000, nova = 4999 }",
        ),
        "policy[1].agent_weight_bps",
        "sums to 9999, expected 10000",
    )


def test_vault_weights() -> None:
    fails(
        mutate("{ aimg = 5000, atlas = 3000, nova = 2000 }", "{ atlas = 8000, nova = 2000 }"),
        "policy[0].vault_weight_bps",
        "missing vault(s): aimg",
    )
    fails(
        mutate(
            "{ aimg = 5000, atlas = 3000, nova = 2000 }",
            "{ aimg = 5000, atlas = 3000, nova = 1000, orion = 1000 }",
        ),
        "policy[0].vault_weight_bps.orion",
        "unknown vault 'orion'",
    )
    fails(
        mutate(
            "{ aimg = 5000, atlas = 3000, nova = 2000 }",
            "{ aimg = 5000, atlas = 3000, nova = 2001 }",
        ),
        "policy[0].vault_weight_bps",
        "sums to 10001, expected 10000",
    )


def test_pool_weights() -> None:
    fails(
        mutate('"atlas-eth" = 1000, "nova-aimg" = 8000', '"atlas-eth" = 9000'),
        "policy[1].pool_weight_bps",
        "missing pool(s): nova-aimg",
    )
    fails(
        mutate(
            '"atlas-eth" = 1000, "nova-aimg" = 8000',
            '"atlas-eth" = 1000, "nova-aimg" = 7000, "nova-eth" = 1000',
        ),
        "policy[1].pool_weight_bps.nova-eth",
        "unknown pool 'nova-eth'",
    )
    fails(
        mutate('"atlas-eth" = 1000, "nova-aimg" = 8000', '"atlas-eth" = 1000, "nova-aimg" = 7000'),
        "policy[1].pool_weight_bps",
        "sums to 9000, expected 10000",
    )


def test_policy_table_shape() -> None:
    fails(top_level("policy = 5\n", NO_POLICY), "policy", "expected an array")
    fails(top_level("policy = [5]\n", NO_POLICY), "policy[0]", "expected a table")
    fails(top_level("policy = []\n", NO_POLICY), "policy", "empty")


def test_parse_config_rejects_non_str() -> None:
    with pytest.raises(ConfigError):
        parse_config(b"treasury = 1")  # type: ignore[arg-type]


# ------------------------------------------------------------------------ robustness

_VALUES = ["5", "-5", "true", "1.5", '"x"', "[]", "[1]", "{}", "{ a = 1 }", '"0x12"', "[{}]"]


@pytest.mark.parametrize("index", range(len(VALID.splitlines())))
def test_any_line_removed_or_retyped_gives_config_error(index: int) -> None:
    """Every shape problem must surface as ConfigError, never as a stray TypeError/KeyError."""
    lines = VALID.splitlines()
    variants = ["\n".join(lines[:index] + lines[index + 1 :])]
    if " = " in lines[index]:
        key = lines[index].split(" = ")[0]
        variants += [
            "\n".join([*lines[:index], f"{key} = {v}", *lines[index + 1 :]]) for v in _VALUES
        ]
    for text in variants:
        try:
            parse_config(text)
        except ConfigError as e:
            assert e.field is None or str(e).startswith(e.field)
