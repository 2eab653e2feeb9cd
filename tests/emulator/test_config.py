"""Tests for emulator.config: defaults, the example file and every validation error."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.config import (
    ConfigError,
    HubConfig,
    NamespaceConfig,
    ServerLimits,
    _parse,
    default_config,
    load_config,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "emulator" / "example-config.toml"
KEYS = '[keys]\nRootManageSharedAccessKey = "SAS_KEY_VALUE"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "namespace.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str) -> NamespaceConfig:
    return load_config(write(tmp_path, text))


def error_for(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message


def hub(name: str = "tweets", **fields: object) -> str:
    lines = ["[[hubs]]", f"name = {name!r}".replace("'", '"')]
    for key, value in fields.items():
        lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


# --- defaults and valid files ---------------------------------------------------------------


def test_default_config() -> None:
    config = default_config()
    assert config.namespace == "emulator"
    assert dict(config.keys) == {"RootManageSharedAccessKey": "SAS_KEY_VALUE"}
    assert list(config.hubs) == ["tweets", "telemetry"]
    for name, hub_config in config.hubs.items():
        assert hub_config == HubConfig(
            name=name,
            partition_count=4,
            consumer_groups=("$Default",),
            retention_hours=24.0,
            max_retention_bytes=None,
        )
    assert config.max_message_bytes == 1_048_576


def test_load_none_is_default() -> None:
    assert load_config(None) == default_config()


def test_config_is_immutable() -> None:
    config = default_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.namespace = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.hubs["new"] = config.hubs["tweets"]  # type: ignore[index]
    with pytest.raises(TypeError):
        config.keys["k"] = "v"  # type: ignore[index]


def test_example_file_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.namespace == "emulator"
    assert dict(config.keys) == {"RootManageSharedAccessKey": "SAS_KEY_VALUE"}
    assert config.hubs["tweets"].partition_count == 4
    assert config.hubs["tweets"].consumer_groups == ("$Default", "spark")
    assert config.hubs["tweets"].retention_hours == 24.0
    assert config.hubs["tweets"].max_retention_bytes is None
    assert "telemetry" in config.hubs


def test_full_file(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        'namespace = "local-ns"\nmax_message_bytes = 262144\n'
        '[keys]\nsend = "s3cret"\nlisten = "other"\n'
        + hub(
            "orders",
            partitions=32,
            consumer_groups='["spark", "$Default", "audit"]',
            retention_hours=0.5,
            max_retention_bytes=1073741824,
        )
        + hub("Clicks_2.v1"),
    )
    assert config.namespace == "local-ns"
    assert config.max_message_bytes == 262144
    assert dict(config.keys) == {"send": "s3cret", "listen": "other"}
    assert list(config.hubs) == ["orders", "Clicks_2.v1"]
    orders = config.hubs["orders"]
    assert orders == HubConfig("orders", 32, ("$Default", "spark", "audit"), 0.5, 1073741824)
    # Omitted hub keys take the documented defaults.
    assert config.hubs["Clicks_2.v1"] == HubConfig("Clicks_2.v1", 4, ("$Default",), 24.0, None)


def test_limits_are_inclusive(tmp_path: Path) -> None:
    groups = "[" + ", ".join(f'"g{i}"' for i in range(19)) + "]"
    config = load_text(
        tmp_path,
        KEYS
        + hub("a" * 256, partitions=1, retention_hours=2160, consumer_groups=groups)
        + "".join(hub(f"h{i}") for i in range(9)),
    )
    assert len(config.hubs) == 10
    big = config.hubs["a" * 256]
    assert big.partition_count == 1
    assert big.retention_hours == 2160.0
    assert len(big.consumer_groups) == 20


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}", fullmatch=True))
def test_valid_hub_names_round_trip(name: str) -> None:
    config = _parse({"keys": {"k": "v"}, "hubs": [{"name": name}]}, "test.toml")
    assert list(config.hubs) == [name]


# --- file-level errors ------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=re.escape(f"{path}: no such config file; check the --config path")):
        load_config(path)


def test_malformed_toml_names_line(tmp_path: Path) -> None:
    message = error_for(tmp_path, KEYS + "[[hubs]]\nname = tweets\n")
    assert "not valid TOML" in message
    assert "line 4" in message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'namespace = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_unknown_top_level_key_suggests_fix(tmp_path: Path) -> None:
    message = error_for(tmp_path, 'namespase = "x"\n' + KEYS + hub())
    assert "unknown key 'namespase'" in message
    assert "did you mean 'namespace'?" in message


def test_unknown_top_level_key_lists_known(tmp_path: Path) -> None:
    message = error_for(tmp_path, "zzz = 1\n" + KEYS + hub())
    assert "unknown key 'zzz'" in message
    assert "known keys are namespace, max_message_bytes, keys, policies, hubs" in message


def test_unknown_hub_key_suggests_fix(tmp_path: Path) -> None:
    message = error_for(tmp_path, KEYS + hub(partiton=8))
    assert "hubs[0] 'tweets': unknown key 'partiton'; did you mean 'partitions'?" in message


def test_invalid_namespace(tmp_path: Path) -> None:
    message = error_for(tmp_path, 'namespace = "my namespace"\n' + KEYS + hub())
    assert "namespace = 'my namespace' is invalid" in message


# --- keys -------------------------------------------------------------------------------------


def test_keys_missing(tmp_path: Path) -> None:
    message = error_for(tmp_path, hub())
    assert "[keys] has no SAS key; add one" in message


def test_keys_empty(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[keys]\n" + hub())
    assert "[keys] has no SAS key" in message


def test_keys_not_a_table(tmp_path: Path) -> None:
    message = error_for(tmp_path, 'keys = "abc"\n' + hub())
    assert "keys must be a table, got a string" in message


def test_key_value_not_string(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[keys]\nsender = 42\n" + hub())
    assert "keys.sender must be a non-empty string, got an integer" in message


def test_key_value_empty(tmp_path: Path) -> None:
    message = error_for(tmp_path, '[keys]\nsender = ""\n' + hub())
    assert "keys.sender must be a non-empty string" in message


def test_key_name_invalid(tmp_path: Path) -> None:
    message = error_for(tmp_path, '[keys]\n"my key" = "x"\n' + hub())
    assert "keys.'my key' is not a valid key name" in message


# --- hubs -------------------------------------------------------------------------------------


def test_no_hubs(tmp_path: Path) -> None:
    message = error_for(tmp_path, KEYS)
    assert "no event hubs defined; add at least one [[hubs]] table" in message


def test_hubs_not_array_of_tables(tmp_path: Path) -> None:
    message = error_for(tmp_path, 'hubs = "tweets"\n' + KEYS)
    assert "hubs must be an array of tables written as [[hubs]], got a string" in message


def test_hub_entry_not_table(tmp_path: Path) -> None:
    message = error_for(tmp_path, 'hubs = ["tweets"]\n' + KEYS)
    assert "hubs[0] must be a table, got a string" in message


def test_hub_without_name(tmp_path: Path) -> None:
    message = error_for(tmp_path, KEYS + "[[hubs]]\npartitions = 2\n")
    assert "hubs[0] has no name" in message


@pytest.mark.parametrize("name", ["-tweets", ".hidden", "a/b", "tw eets", "", "a" * 257, "über"])
def test_invalid_hub_name(tmp_path: Path, name: str) -> None:
    message = error_for(tmp_path, KEYS + f"[[hubs]]\nname = {name!r}\n".replace("'", '"'))
    assert f"hubs[0]: name = {name!r} is not a valid hub name" in message
    assert "starting with a letter or digit" in message


def test_hub_name_not_string(tmp_path: Path) -> None:
    message = error_for(tmp_path, KEYS + "[[hubs]]\nname = 7\n")
    assert "name = 7 is not a valid hub name" in message


def test_duplicate_hub_name(tmp_path: Path) -> None:
    message = error_for(tmp_path, KEYS + hub("tweets") + hub("telemetry") + hub("Tweets"))
    assert "hubs[2]: name = 'Tweets' duplicates hub 'tweets'" in message
    assert "rename or remove one of them" in message


def test_too_many_hubs(tmp_path: Path) -> None:
    message = error_for(tmp_path, KEYS + "".join(hub(f"h{i}") for i in range(11)))
    assert "11 hubs defined, at most 10 are allowed" in message


@pytest.mark.parametrize("value", ["0", "33", "-1"])
def test_partitions_out_of_range(tmp_path: Path, value: str) -> None:
    message = error_for(tmp_path, KEYS + hub(partitions=value))
    assert f"hubs[0] 'tweets': partitions = {value} is out of range; use 1..32" in message


@pytest.mark.parametrize(
    ("value", "kind"), [('"4"', "a string"), ("4.0", "a number"), ("true", "a boolean"), ("[4]", "an array")]
)
def test_partitions_not_integer(tmp_path: Path, value: str, kind: str) -> None:
    message = error_for(tmp_path, KEYS + hub(partitions=value))
    assert "hubs[0] 'tweets': partitions = " in message
    assert f"must be an integer, got {kind}" in message


def test_consumer_groups_not_array(tmp_path: Path) -> None:
    message = error_for(tmp_path, KEYS + hub(consumer_groups='"spark"'))
    assert "consumer_groups must be an array of names, got a string" in message


def test_consumer_group_invalid_name(tmp_path: Path) -> None:
    message = error_for(tmp_path, KEYS + hub(consumer_groups='["ok", "$spark"]'))
    assert "consumer group '$spark' is not a valid name" in message


def test_consumer_group_duplicate(tmp_path: Path) -> None:
    message = error_for(tmp_path, KEYS + hub(consumer_groups='["spark", "Spark"]'))
    assert "consumer group 'Spark' is listed twice" in message


def test_default_consumer_group_listed_is_not_a_duplicate(tmp_path: Path) -> None:
    config = load_text(tmp_path, KEYS + hub(consumer_groups='["$Default", "spark"]'))
    assert config.hubs["tweets"].consumer_groups == ("$Default", "spark")


def test_too_many_consumer_groups(tmp_path: Path) -> None:
    groups = "[" + ", ".join(f'"g{i}"' for i in range(20)) + "]"
    message = error_for(tmp_path, KEYS + hub(consumer_groups=groups))
    assert "21 consumer groups including $Default, at most 20 are allowed; remove 1" in message


@pytest.mark.parametrize("value", ["0", "-1", "2160.5", "10000"])
def test_retention_out_of_range(tmp_path: Path, value: str) -> None:
    message = error_for(tmp_path, KEYS + hub(retention_hours=value))
    assert f"retention_hours = {value} is out of range" in message
    assert "at most 2160 (90 days; the service's Standard tier allows 168)" in message


@pytest.mark.parametrize("value", ['"24"', "true"])
def test_retention_not_number(tmp_path: Path, value: str) -> None:
    message = error_for(tmp_path, KEYS + hub(retention_hours=value))
    assert "retention_hours = " in message
    assert "must be a number of hours" in message


@pytest.mark.parametrize("value", ["0", "-5"])
def test_max_retention_bytes_out_of_range(tmp_path: Path, value: str) -> None:
    message = error_for(tmp_path, KEYS + hub(max_retention_bytes=value))
    assert f"max_retention_bytes = {value} is out of range; use an integer >= 1" in message


def test_max_retention_bytes_not_integer(tmp_path: Path) -> None:
    message = error_for(tmp_path, KEYS + hub(max_retention_bytes='"1GB"'))
    assert "max_retention_bytes = '1GB' must be an integer, got a string" in message


@pytest.mark.parametrize("value", ["0", str(100 * 1_048_576 + 1)])
def test_max_message_bytes_out_of_range(tmp_path: Path, value: str) -> None:
    message = error_for(tmp_path, f"max_message_bytes = {value}\n" + KEYS + hub())
    assert f"max_message_bytes = {value} is out of range; use 1..104857600" in message


# --- shared access policies and Entra ID ------------------------------------------------------------


POLICIES = """
[[policies]]
name = "listen-only"
key = "l-key"
secondary_key = "l-key-2"
rights = ["Listen"]

[[policies]]
name = "admin"
key = "a-key"
rights = ["manage"]
"""


def test_policies_at_namespace_level_and_on_a_hub(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        KEYS + POLICIES + hub() + '[[hubs.policies]]\nname = "tweets-send"\nkey = "s"\nrights = ["Send"]\n',
    )
    policies = config.namespace_policies()
    assert sorted(policies) == ["RootManageSharedAccessKey", "admin", "listen-only"]
    assert policies["RootManageSharedAccessKey"].rights == {"Manage", "Send", "Listen"}
    assert policies["listen-only"].keys == ("l-key", "l-key-2")
    assert policies["listen-only"].allows("Listen") and not policies["listen-only"].allows("Send")
    assert policies["admin"].rights == {"Manage", "Send", "Listen"}  # Manage brings both
    send = config.hubs["tweets"].policies["tweets-send"]
    assert send.rights == {"Send"}
    assert "'s'" not in repr(send) and "l-key" not in repr(config)  # keys never in a repr


def test_policies_alone_need_no_keys_table(tmp_path: Path) -> None:
    config = load_text(tmp_path, POLICIES + hub())
    assert dict(config.keys) == {}
    assert sorted(config.namespace_policies()) == ["admin", "listen-only"]


def test_entra_id_alone_needs_no_key(tmp_path: Path) -> None:
    config = load_text(tmp_path, "entra_id = true\n" + hub())
    assert config.entra_id and not config.namespace_policies()
    assert default_config().entra_id is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[policies]]\nname = "p"\nkey = "k"\nrights = ["Read"]\n', "right 'Read' is unknown"),
        ('[[policies]]\nname = "p"\nkey = "k"\nrights = []\n', "rights must be a non-empty array"),
        ('[[policies]]\nname = "p"\nrights = ["Send"]\n', "key must be a non-empty string"),
        ('[[policies]]\nname = "p"\nkey = "k"\nrights = ["Send"]\nkeys = 1\n', "unknown key 'keys'"),
        (
            '[[policies]]\nname = "p"\nkey = "k"\nrights = ["Send"]\n'
            '[[policies]]\nname = "p"\nkey = "k"\nrights = ["Send"]\n',
            "defined twice",
        ),
        ('[[policies]]\nname = "RootManageSharedAccessKey"\nkey = "k"\nrights = ["Send"]\n', "both in"),
        ('entra_id = "yes"\n', "entra_id = 'yes' must be true or false"),
    ],
)
def test_bad_policies_are_named(tmp_path: Path, text: str, expected: str) -> None:
    keys = KEYS if "RootManage" in text else ""
    assert expected in error_for(tmp_path, text + keys + hub())


def test_limits_default_and_override(tmp_path: Path) -> None:
    assert load_config(None).limits == ServerLimits()
    config = load_config(write(tmp_path, KEYS + hub() + "[limits]\nmax_pending_replies = 7\n"))
    assert config.limits.max_pending_replies == 7
    assert config.limits.write_buffer_bytes == ServerLimits().write_buffer_bytes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max_pending_replie = 3", "unknown key 'max_pending_replie'; did you mean 'max_pending_replies'?"),
        ("max_pending_replies = 0", "limits.max_pending_replies = 0 is out of range"),
        ('write_buffer_bytes = "1M"', "limits.write_buffer_bytes = '1M' must be an integer"),
    ],
)
def test_limits_are_checked(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_for(tmp_path, KEYS + hub() + f"[limits]\n{text}\n")


def test_the_example_file_lists_every_limit_at_its_default() -> None:
    text = EXAMPLE.read_text()
    for name in dataclasses.asdict(ServerLimits()):
        assert f"\n{name} = " in text, f"{name} is missing from {EXAMPLE.name}'s [limits]"
    assert load_config(EXAMPLE).limits == ServerLimits()
