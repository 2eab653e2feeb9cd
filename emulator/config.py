"""Namespace configuration: which event hubs exist, their partitions, consumer groups and SAS keys.

With no file the emulator serves `default_config()`. A file is TOML::

    namespace = "emulator"            # optional, default "emulator"
    max_message_bytes = 1048576       # optional, default 1 MiB (the service's Standard tier limit)
    retention_check_seconds = 60      # optional, default 60: how often retention runs; > 0, <= 86400

    entra_id = false                  # optional: accept Microsoft Entra ID (JWT) tokens, unsigned; local only

    [keys]                            # SAS keys with every right (Manage, Send, Listen): name = key
    RootManageSharedAccessKey = "SAS_KEY_VALUE"

    [[policies]]                      # optional: namespace-level shared access policies with rights
    name = "listen-only"
    key = "another-key"               # the primary key; secondary_key = "..." is optional
    rights = ["Listen"]               # any of Listen, Send, Manage (Manage implies Send and Listen)

    [limits]                          # optional: what one client may cost (defaults below); see ServerLimits
    write_buffer_bytes = 1048576      # a connection's consumers pause while this much waits to be written
    max_pending_replies = 100         # $cbs/$management answers waiting for credit on one reply link
    max_tokens_per_connection = 100   # unexpired, distinct tokens one connection holds
    max_links_per_session = 256       # announced as handle-max + 1
    max_sessions_per_connection = 32  # announced as channel-max + 1
    handshake_timeout_seconds = 10    # from accept to the client's open (protocol header, SASL, open)
    max_connections = 500             # open connections in all; more are closed at once
    max_connections_per_peer = 250    # open connections from one peer IP address

    [[hubs]]                          # one table per event hub, at most 10
    name = "tweets"                   # letters, digits, '.', '-', '_'; starts with a letter or digit
    partitions = 4                    # 1..32, default 4
    consumer_groups = ["spark"]       # "$Default" is always added; at most 20 groups in all
    retention_hours = 24              # > 0 and <= 2160 (90 days), default 24
    # max_retention_bytes = 1073741824  # optional: also drop the oldest events past this size

    [[hubs.policies]]                 # optional: a policy of this hub only (its tokens name this hub)
    name = "tweets-send"
    key = "third-key"
    rights = ["Send"]

    [hubs.capture]                    # optional: Event Hubs Capture of this hub (README, "Capture")
    enabled = true                    # default false
    folder = "capture"                # the destination: a local folder (relative to this file), or
    # blob_container = "capture"      # a Blob container, through the connection string held by the
    # connection_string_env = "AZURE_STORAGE_CONNECTION_STRING"   # environment variable named here
    time_window_seconds = 300         # 60..900, default 300
    size_window_mib = 300             # 10..500, default 300
    skip_empty_archives = false       # default false: an empty window still writes a file
    archive_name_format = "{Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}"
    encoding = "Avro"                 # "Avro" (codec null, the default) or "AvroDeflate" (codec deflate)
    # local_testing_time_window_seconds = 2   # LOCAL TESTING ONLY: any window from 1 s, instead
    # local_testing_size_window_bytes = 4096  # LOCAL TESTING ONLY: any size window from 1 byte, instead

At least one key or namespace-level policy is needed, unless `entra_id` is on.

Retention is not applied on every append but on a periodic check, every `retention_check_seconds`
(the service, too, removes expired events some time after they expire). Tests that need retention to
happen within seconds set it low, e.g. `retention_check_seconds = 0.2` with a small `max_retention_bytes`.

The Event Hubs Standard tier keeps events for at most 7 days (168 h); the emulator allows up to 90 days
so a laptop can replay an old capture, but anything meant to run on the service should stay within 168.
Hub names become directory names under the data directory, hence the restricted alphabet and the
case-insensitive duplicate check (macOS and Windows file systems ignore case).

Unknown keys are errors, not ignored, so a typo such as `partiton = 8` cannot silently fall back to
a default. Every `ConfigError` names the file, the offending key and value, and how to fix it.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from eventhubs import capture as capture_format

DEFAULT_NAMESPACE = "emulator"
DEFAULT_CONSUMER_GROUP = "$Default"
# Microsoft's Event Hubs emulator documents this key for its development connection string; it is
# public and only ever valid against a local emulator.
DEFAULT_KEY_NAME = "RootManageSharedAccessKey"
DEFAULT_KEY = "SAS_KEY_VALUE"
DEFAULT_HUBS = ("tweets", "telemetry")
DEFAULT_PARTITIONS = 4
DEFAULT_RETENTION_HOURS = 24.0
DEFAULT_MAX_MESSAGE_BYTES = 1_048_576
DEFAULT_RETENTION_CHECK_SECONDS = 60.0

MAX_PARTITIONS = 32
MAX_HUBS = 10
MAX_CONSUMER_GROUPS = 20
SERVICE_MAX_RETENTION_HOURS = 168.0
MAX_RETENTION_HOURS = 2160.0
MAX_MESSAGE_BYTES_LIMIT = 100 * 1_048_576
MAX_RETENTION_CHECK_SECONDS = 86_400.0

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,255}")
_NAMESPACE_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,49}")
_TOP_KEYS = (
    "namespace", "max_message_bytes", "keys", "policies", "hubs", "retention_check_seconds", "entra_id",
    "limits",
)  # fmt: skip
_HUB_KEYS = (
    "name", "partitions", "consumer_groups", "retention_hours", "max_retention_bytes", "policies", "capture",
)  # fmt: skip
_CAPTURE_KEYS = (
    "enabled", "folder", "blob_container", "connection_string_env", "time_window_seconds", "size_window_mib",
    "skip_empty_archives", "archive_name_format", "encoding", "local_testing_time_window_seconds",
    "local_testing_size_window_bytes",
)  # fmt: skip
DEFAULT_CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
_CONTAINER_RE = re.compile(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]")  # Blob Storage's container names
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_POLICY_KEYS = ("name", "key", "secondary_key", "rights")

LISTEN, SEND, MANAGE = "Listen", "Send", "Manage"
RIGHTS = (LISTEN, SEND, MANAGE)
ALL_RIGHTS = frozenset(RIGHTS)


class ConfigError(ValueError):
    """The namespace configuration is invalid; the message says where and how to fix it."""


@dataclass(frozen=True)
class Policy:
    """A shared access policy: a name, its keys (primary, then secondary) and its rights."""

    name: str
    keys: tuple[str, ...] = field(repr=False)
    rights: frozenset[str] = ALL_RIGHTS

    def allows(self, right: str) -> bool:
        return right in self.rights or MANAGE in self.rights


def _no_policies() -> Mapping[str, Policy]:
    return MappingProxyType({})


@dataclass(frozen=True)
class CaptureConfig:
    """A hub's `[hubs.capture]` table: Event Hubs Capture's settings, with the service's limits.

    Exactly one destination: `folder` (a local directory) or `blob_container`, reached through the
    connection string in the environment variable `connection_string_env` (read when the emulator starts,
    never stored here). The windows are the effective ones: a `local_testing_*` key replaces the
    service's range for tests and demos.
    """

    enabled: bool = False
    folder: Path | None = None
    blob_container: str | None = None
    connection_string_env: str = DEFAULT_CONNECTION_STRING_ENV
    time_window_seconds: int = capture_format.DEFAULT_TIME_WINDOW_SECONDS
    size_window_bytes: int = capture_format.DEFAULT_SIZE_WINDOW_BYTES
    skip_empty_archives: bool = False
    archive_name_format: str = capture_format.DEFAULT_ARCHIVE_NAME_FORMAT
    encoding: str = capture_format.DEFAULT_ENCODING
    local_testing: bool = False  # a window outside the service's range was asked for

    @property
    def codec(self) -> str:
        return capture_format.ENCODINGS[self.encoding]


@dataclass(frozen=True)
class HubConfig:
    """One event hub: its partitions, consumer groups, retention and its own policies."""

    name: str
    partition_count: int
    consumer_groups: tuple[str, ...]
    retention_hours: float
    max_retention_bytes: int | None
    policies: Mapping[str, Policy] = field(default_factory=_no_policies)
    capture: CaptureConfig = CaptureConfig()


@dataclass(frozen=True)
class ServerLimits:
    """What one client may cost the emulator: the `[limits]` table. Each bound, once reached, refuses
    that client's excess with a named AMQP error (or, for the write buffer, makes it wait) and leaves
    every other client alone."""

    # A connection's consumers stop sending while its transport holds more than this, unwritten
    # (a receiver that grants credit and never reads costs this much, not the partition).
    write_buffer_bytes: int = 1_048_576
    # Answers from `$cbs`/`$management` waiting on one reply link for the client's credit; a request
    # past it is rejected with amqp:resource-limit-exceeded.
    max_pending_replies: int = 100
    # Unexpired tokens one connection keeps (an expired one, or one a newer token for the same audience
    # and rights outlasts, is dropped); a put-token past it is answered 403, amqp:resource-limit-exceeded.
    max_tokens_per_connection: int = 100
    # Announced as each session's handle-max (this - 1); an attach on a higher handle closes the
    # connection with amqp:connection:framing-error, as the spec says.
    max_links_per_session: int = 256
    # Announced as the connection's channel-max (this - 1); a begin on a higher channel closes it.
    max_sessions_per_connection: int = 32
    # From accept to the client's open (protocol header, SASL, open; under TLS or WebSockets, their
    # handshakes too): a connection still short of it is closed.
    handshake_timeout_seconds: int = 10
    # Open connections, in all and from one peer IP address: a socket past either is closed as soon as
    # it is accepted, and the refusals are logged at most once per 10 s.
    max_connections: int = 500
    max_connections_per_peer: int = 250


# Each `[limits]` key: (lowest, highest) accepted.
_LIMIT_RANGES: dict[str, tuple[int, int]] = {
    "write_buffer_bytes": (65_536, 1 << 30),
    "max_pending_replies": (1, 1_000_000),
    "max_tokens_per_connection": (1, 1_000_000),
    "max_links_per_session": (1, 65_536),
    "max_sessions_per_connection": (1, 65_536),
    "handshake_timeout_seconds": (1, 3600),
    "max_connections": (1, 1_000_000),
    "max_connections_per_peer": (1, 1_000_000),
}


@dataclass(frozen=True)
class NamespaceConfig:
    """The whole emulated namespace; `hubs`, `keys` and `policies` are read-only mappings.

    `keys` is the `[keys]` table (every right); `policies` the namespace-level `[[policies]]`.
    """

    namespace: str
    hubs: Mapping[str, HubConfig]
    keys: Mapping[str, str] = field(repr=False)
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    retention_check_seconds: float = DEFAULT_RETENTION_CHECK_SECONDS
    policies: Mapping[str, Policy] = field(default_factory=_no_policies)
    entra_id: bool = False
    limits: ServerLimits = ServerLimits()

    def namespace_policies(self) -> dict[str, Policy]:
        """Every namespace-level policy: the `[keys]` ones (all rights) and the `[[policies]]`."""
        found = {name: Policy(name, (key,), ALL_RIGHTS) for name, key in self.keys.items()}
        found.update(self.policies)
        return found


def default_config() -> NamespaceConfig:
    """The configuration used when no file is given: hubs `tweets` and `telemetry`, 4 partitions each."""
    hubs = {
        name: HubConfig(
            name=name,
            partition_count=DEFAULT_PARTITIONS,
            consumer_groups=(DEFAULT_CONSUMER_GROUP,),
            retention_hours=DEFAULT_RETENTION_HOURS,
            max_retention_bytes=None,
        )
        for name in DEFAULT_HUBS
    }
    return NamespaceConfig(
        namespace=DEFAULT_NAMESPACE,
        hubs=MappingProxyType(hubs),
        keys=MappingProxyType({DEFAULT_KEY_NAME: DEFAULT_KEY}),
        max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
    )


def one_hub_config_text(
    hub: str, partitions: int, capture: Mapping[str, str | int | bool] | None = None
) -> str:
    """A config file's TOML: the default key and one hub, with Capture (`[hubs.capture]`, enabled, with
    these settings) when `capture` is given. For demos and benchmarks that run an emulator of their own."""
    lines = ["[keys]", f"{DEFAULT_KEY_NAME} = {json.dumps(DEFAULT_KEY)}"]
    lines += ["[[hubs]]", f"name = {json.dumps(hub)}", f"partitions = {partitions}"]
    if capture is not None:
        lines += ["[hubs.capture]", "enabled = true"]
        lines += [
            f"{key} = {json.dumps(value)}" for key, value in capture.items()
        ]  # JSON's are TOML's literals
    return "\n".join(lines) + "\n"


def load_config(path: Path | None) -> NamespaceConfig:
    """Read and validate a TOML namespace file; `None` gives `default_config()`."""
    if path is None:
        return default_config()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file; check the --config path") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    if Path(path).suffix.lower() == ".json" or text.lstrip().startswith("{"):
        return _parse_microsoft_config(text, str(path))
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message carries the line and column, e.g. "Invalid value (at line 3, column 9)".
        raise ConfigError(f"{path}: not valid TOML: {exc}; fix the syntax there") from None
    return _parse(raw, str(path))


def _parse_microsoft_config(text: str, source: str) -> NamespaceConfig:
    """Microsoft's Event Hubs emulator's `Config.json`, so its docker-compose files work unchanged.

    Its shape (their `Config-schema.json`): `UserConfig.NamespaceConfig[0]` with `Name` and `Entities[]`,
    each `{"Name", "PartitionCount" (a string there), "ConsumerGroups": [{"Name"}]}`; `LoggingConfig`
    and keys this emulator does not know are ignored. It has no keys: the well-known development key
    serves, as in their emulator.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON: {exc}; fix the syntax there") from None
    user = raw.get("UserConfig") if isinstance(raw, dict) else None
    namespaces = user.get("NamespaceConfig") if isinstance(user, dict) else None
    if not isinstance(namespaces, list) or len(namespaces) != 1 or not isinstance(namespaces[0], dict):
        raise ConfigError(
            f"{source}: a Config.json needs UserConfig.NamespaceConfig as an array of one namespace "
            '(as in Microsoft\'s emulator: {"UserConfig": {"NamespaceConfig": [{"Type": "EventHub", '
            '"Name": "emulatorNs1", "Entities": [...]}]}})'
        )
    namespace = namespaces[0]
    entities = namespace.get("Entities")
    if not isinstance(entities, list):
        raise ConfigError(f"{source}: UserConfig.NamespaceConfig[0].Entities must be an array of event hubs")
    hubs = []
    for index, entity in enumerate(entities):
        where = f"Entities[{index}]"
        if not isinstance(entity, dict):
            raise ConfigError(f"{source}: {where} must be an object with Name and PartitionCount")
        count = entity.get("PartitionCount")
        if isinstance(count, str) and count.strip().isdigit():
            count = int(count)
        groups = entity.get("ConsumerGroups", [])
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise ConfigError(
                f'{source}: {where}: ConsumerGroups must be an array of {{"Name": ...}} objects'
            )
        # "$default" (any case) is always there; their schema forbids listing it, we just skip it.
        names = [g.get("Name") for g in groups if str(g.get("Name", "")).lower() != "$default"]
        hubs.append({"name": entity.get("Name"), "partitions": count, "consumer_groups": names})
    converted: dict[str, Any] = {"namespace": namespace.get("Name", DEFAULT_NAMESPACE), "hubs": hubs}
    converted["keys"] = {DEFAULT_KEY_NAME: DEFAULT_KEY}
    return _parse(converted, source)


def _parse(raw: dict[str, Any], source: str) -> NamespaceConfig:
    _check_known_keys(raw, _TOP_KEYS, source, "top level")

    namespace = raw.get("namespace", DEFAULT_NAMESPACE)
    if not isinstance(namespace, str) or not _NAMESPACE_RE.fullmatch(namespace):
        raise ConfigError(
            f"{source}: namespace = {namespace!r} is invalid; use 1-50 letters, digits and '-', "
            "starting with a letter"
        )

    max_message_bytes = raw.get("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES)
    _check_int_range(max_message_bytes, 1, MAX_MESSAGE_BYTES_LIMIT, source, "max_message_bytes")

    check = raw.get("retention_check_seconds", DEFAULT_RETENTION_CHECK_SECONDS)
    if (
        isinstance(check, bool)
        or not isinstance(check, int | float)
        or not 0 < check <= MAX_RETENTION_CHECK_SECONDS
    ):
        raise ConfigError(
            f"{source}: retention_check_seconds = {check!r} must be a number of seconds above 0 and at "
            f"most {MAX_RETENTION_CHECK_SECONDS:g}; write e.g. retention_check_seconds = 60"
        )

    entra_id = raw.get("entra_id", False)
    if not isinstance(entra_id, bool):
        raise ConfigError(f"{source}: entra_id = {entra_id!r} must be true or false, got {_kind(entra_id)}")

    limits = _parse_limits(raw.get("limits", {}), source)

    raw_keys = raw.get("keys")
    policies = _parse_policies(raw.get("policies", []), source, "policies")
    keys = _parse_keys(raw_keys, source) if raw_keys is not None or not (policies or entra_id) else {}
    for name in policies:
        if name in keys:
            raise ConfigError(
                f"{source}: policy {name!r} is both in [keys] and in [[policies]]; rename one of them"
            )

    raw_hubs = raw.get("hubs", [])
    if not isinstance(raw_hubs, list):
        raise ConfigError(
            f"{source}: hubs must be an array of tables written as [[hubs]], got {_kind(raw_hubs)}; "
            "declare each hub under its own [[hubs]] header"
        )
    if not raw_hubs:
        raise ConfigError(f"{source}: no event hubs defined; add at least one [[hubs]] table with a name")
    if len(raw_hubs) > MAX_HUBS:
        raise ConfigError(
            f"{source}: {len(raw_hubs)} hubs defined, at most {MAX_HUBS} are allowed; remove some [[hubs]]"
        )

    hubs: dict[str, HubConfig] = {}
    seen: dict[str, str] = {}
    for index, raw_hub in enumerate(raw_hubs):
        hub = _parse_hub(raw_hub, source, index)
        folded = hub.name.casefold()
        if folded in seen:
            raise ConfigError(
                f"{source}: hubs[{index}]: name = {hub.name!r} duplicates hub {seen[folded]!r} "
                "(hub names are compared ignoring case); rename or remove one of them"
            )
        seen[folded] = hub.name
        hubs[hub.name] = hub

    return NamespaceConfig(
        namespace=namespace,
        hubs=MappingProxyType(hubs),
        keys=MappingProxyType(keys),
        max_message_bytes=max_message_bytes,
        retention_check_seconds=float(check),
        policies=MappingProxyType(policies),
        entra_id=entra_id,
        limits=limits,
    )


def _parse_limits(raw: object, source: str) -> ServerLimits:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: limits must be a table written as [limits], got {_kind(raw)}")
    _check_known_keys(raw, tuple(_LIMIT_RANGES), source, "[limits]")
    for key, value in raw.items():
        low, high = _LIMIT_RANGES[key]
        _check_int_range(value, low, high, source, f"limits.{key}")
    return ServerLimits(**raw)


def _parse_keys(raw_keys: object, source: str) -> dict[str, str]:
    if raw_keys is None:
        raw_keys = {}
    if not isinstance(raw_keys, dict):
        raise ConfigError(
            f"{source}: keys must be a table, got {_kind(raw_keys)}; write it as [keys] with lines "
            f'like {DEFAULT_KEY_NAME} = "..."'
        )
    if not raw_keys:
        raise ConfigError(
            f'{source}: [keys] has no SAS key; add one, e.g. [keys] {DEFAULT_KEY_NAME} = "{DEFAULT_KEY}"'
        )
    keys: dict[str, str] = {}
    for name, key in raw_keys.items():
        # Key names travel in the token's skn field, which the SDK URL-encodes twice: a plain
        # alphabet keeps both encodings identical.
        if not _NAME_RE.fullmatch(name):
            raise ConfigError(
                f"{source}: keys.{name!r} is not a valid key name; use 1-256 letters, digits, '.', '-' "
                "and '_', starting with a letter or digit"
            )
        if not isinstance(key, str) or not key:
            raise ConfigError(
                f"{source}: keys.{name} must be a non-empty string, got {_kind(key)}; "
                f'write {name} = "your-key"'
            )
        keys[name] = key
    return keys


def _parse_policies(raw: object, source: str, where: str) -> dict[str, Policy]:
    if not isinstance(raw, list):
        raise ConfigError(
            f"{source}: {where} must be an array of tables written as [[{where}]], got {_kind(raw)}"
        )
    policies: dict[str, Policy] = {}
    for index, entry in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: {at} must be a table, got {_kind(entry)}; write it as [[{where}]]")
        _check_known_keys(entry, _POLICY_KEYS, source, at)
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ConfigError(
                f"{source}: {at}: name = {name!r} is not a valid policy name; use 1-256 letters, digits, "
                "'.', '-' and '_', starting with a letter or digit"
            )
        if name in policies:
            raise ConfigError(f"{source}: {at}: policy {name!r} is defined twice; rename or remove one")
        keys = []
        for key_field in ("key", "secondary_key"):
            key = entry.get(key_field)
            if key is None and key_field == "secondary_key":
                continue
            if not isinstance(key, str) or not key:
                raise ConfigError(
                    f"{source}: {at} {name!r}: {key_field} must be a non-empty string, got {_kind(key)}; "
                    f'write {key_field} = "your-key"'
                )
            keys.append(key)
        rights = entry.get("rights")
        if not isinstance(rights, list) or not rights:
            raise ConfigError(
                f"{source}: {at} {name!r}: rights must be a non-empty array of {', '.join(RIGHTS)}, "
                f'got {_kind(rights)}; write e.g. rights = ["Listen"]'
            )
        granted = set()
        for right in rights:
            known = {r.lower(): r for r in RIGHTS}
            if not isinstance(right, str) or right.lower() not in known:
                raise ConfigError(
                    f"{source}: {at} {name!r}: right {right!r} is unknown; use {', '.join(RIGHTS)}"
                )
            granted.add(known[right.lower()])
        if MANAGE in granted:  # as on the service, Manage comes with Send and Listen
            granted |= {SEND, LISTEN}
        policies[name] = Policy(name, tuple(keys), frozenset(granted))
    return policies


def _parse_hub(raw_hub: object, source: str, index: int) -> HubConfig:
    where = f"hubs[{index}]"
    if not isinstance(raw_hub, dict):
        raise ConfigError(
            f"{source}: {where} must be a table, got {_kind(raw_hub)}; declare hubs with [[hubs]] headers"
        )
    name = raw_hub.get("name")
    if name is None:
        raise ConfigError(f'{source}: {where} has no name; add name = "my-hub" to that [[hubs]] table')
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ConfigError(
            f"{source}: {where}: name = {name!r} is not a valid hub name; use 1-256 letters, digits, "
            "'.', '-' and '_', starting with a letter or digit"
        )
    where = f"hubs[{index}] {name!r}"
    _check_known_keys(raw_hub, _HUB_KEYS, source, where)

    partitions = raw_hub.get("partitions", DEFAULT_PARTITIONS)
    _check_int_range(partitions, 1, MAX_PARTITIONS, source, f"{where}: partitions")

    groups = _parse_consumer_groups(raw_hub.get("consumer_groups", []), source, where)

    retention = raw_hub.get("retention_hours", DEFAULT_RETENTION_HOURS)
    if isinstance(retention, bool) or not isinstance(retention, int | float):
        raise ConfigError(
            f"{source}: {where}: retention_hours = {retention!r} must be a number of hours, "
            f"got {_kind(retention)}; write e.g. retention_hours = 24"
        )
    if not 0 < retention <= MAX_RETENTION_HOURS:
        raise ConfigError(
            f"{source}: {where}: retention_hours = {retention!r} is out of range; use a value above 0 "
            f"and at most {MAX_RETENTION_HOURS:g} (90 days; the service's Standard tier allows "
            f"{SERVICE_MAX_RETENTION_HOURS:g})"
        )

    max_bytes = raw_hub.get("max_retention_bytes")
    if max_bytes is not None:
        _check_int_range(max_bytes, 1, None, source, f"{where}: max_retention_bytes")

    policies = _parse_policies(raw_hub.get("policies", []), source, "hubs.policies")
    capture = _parse_capture(raw_hub.get("capture", {}), source, where)

    return HubConfig(
        name=name,
        partition_count=partitions,
        consumer_groups=groups,
        retention_hours=float(retention),
        max_retention_bytes=max_bytes,
        policies=MappingProxyType(policies),
        capture=capture,
    )


def _parse_capture(raw: object, source: str, where: str) -> CaptureConfig:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: {where}: capture must be a table written as [hubs.capture], got {_kind(raw)}"
        )
    at = f"{where}: capture"
    _check_known_keys(raw, _CAPTURE_KEYS, source, at)
    flags = {}
    for key in ("enabled", "skip_empty_archives"):
        value = raw.get(key, False)
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {at}.{key} = {value!r} must be true or false, got {_kind(value)}")
        flags[key] = value

    window = raw.get("time_window_seconds", capture_format.DEFAULT_TIME_WINDOW_SECONDS)
    low, high = capture_format.MIN_TIME_WINDOW_SECONDS, capture_format.MAX_TIME_WINDOW_SECONDS
    _check_int_range(
        window, low, high, source, f"{at}.time_window_seconds",
        "the service's range; for a shorter window in tests and demos set local_testing_time_window_seconds",
    )  # fmt: skip
    mib = raw.get("size_window_mib", capture_format.DEFAULT_SIZE_WINDOW_BYTES // capture_format.MIB)
    low, high = (
        capture_format.MIN_SIZE_WINDOW_BYTES // capture_format.MIB,
        capture_format.MAX_SIZE_WINDOW_BYTES // capture_format.MIB,
    )
    _check_int_range(
        mib, low, high, source, f"{at}.size_window_mib",
        "the service's range; for a smaller window in tests and demos set local_testing_size_window_bytes",
    )  # fmt: skip
    size = mib * capture_format.MIB
    local_testing = False
    if "local_testing_time_window_seconds" in raw:
        window = raw["local_testing_time_window_seconds"]
        _check_int_range(
            window,
            1,
            capture_format.MAX_TIME_WINDOW_SECONDS,
            source,
            f"{at}.local_testing_time_window_seconds",
        )
        local_testing = True
    if "local_testing_size_window_bytes" in raw:
        size = raw["local_testing_size_window_bytes"]
        _check_int_range(
            size, 1, capture_format.MAX_SIZE_WINDOW_BYTES, source, f"{at}.local_testing_size_window_bytes"
        )
        local_testing = True

    name_format = raw.get("archive_name_format", capture_format.DEFAULT_ARCHIVE_NAME_FORMAT)
    try:
        capture_format.check_archive_name_format(name_format)
    except capture_format.ArchiveNameFormatError as exc:
        raise ConfigError(f"{source}: {at}.archive_name_format: {exc}") from None
    # Names become folders and blob paths: no empty, "." or ".." segment may climb out of the destination.
    segments = name_format.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise ConfigError(
            f"{source}: {at}.archive_name_format = {name_format!r}: a '/'-separated part is empty, '.' or "
            "'..'; write parts such as {Namespace}/{EventHub}/..."
        )

    encoding = raw.get("encoding", capture_format.DEFAULT_ENCODING)
    if encoding not in capture_format.ENCODINGS:
        raise ConfigError(
            f"{source}: {at}.encoding = {encoding!r} is unknown; use "
            f"{' or '.join(repr(e) for e in capture_format.ENCODINGS)} (the service's values)"
        )

    folder, container = raw.get("folder"), raw.get("blob_container")
    env = raw.get("connection_string_env", DEFAULT_CONNECTION_STRING_ENV)
    if flags["enabled"] and (folder is None) == (container is None):
        raise ConfigError(
            f'{source}: {at}: give exactly one destination: folder = "some/dir" or '
            f'blob_container = "capture" (with connection_string_env naming the variable that holds the '
            "storage account's connection string)"
        )
    if folder is not None and (not isinstance(folder, str) or not folder):
        raise ConfigError(f"{source}: {at}.folder = {folder!r} must be a non-empty path string")
    if container is not None and (not isinstance(container, str) or not _CONTAINER_RE.fullmatch(container)):
        raise ConfigError(
            f"{source}: {at}.blob_container = {container!r} is not a valid container name; use 3-63 "
            "lowercase letters, digits and single '-', starting and ending with a letter or digit"
        )
    if not isinstance(env, str) or not _ENV_RE.fullmatch(env):
        raise ConfigError(
            f"{source}: {at}.connection_string_env = {env!r} must be the NAME of an environment variable "
            f"(e.g. {DEFAULT_CONNECTION_STRING_ENV}), not the connection string itself"
        )
    # A relative folder is taken from the config file's directory, as paths in compose files are.
    folder_path = None
    if folder is not None:
        folder_path = Path(folder).expanduser()
        if not folder_path.is_absolute():
            folder_path = Path(source).resolve().parent / folder_path
    return CaptureConfig(
        enabled=flags["enabled"],
        folder=folder_path,
        blob_container=container,
        connection_string_env=env,
        time_window_seconds=window,
        size_window_bytes=size,
        skip_empty_archives=flags["skip_empty_archives"],
        archive_name_format=name_format,
        encoding=encoding,
        local_testing=local_testing,
    )


def _parse_consumer_groups(raw_groups: object, source: str, where: str) -> tuple[str, ...]:
    if not isinstance(raw_groups, list):
        raise ConfigError(
            f"{source}: {where}: consumer_groups must be an array of names, got {_kind(raw_groups)}; "
            'write e.g. consumer_groups = ["spark"]'
        )
    groups = [DEFAULT_CONSUMER_GROUP]
    for group in raw_groups:
        if group == DEFAULT_CONSUMER_GROUP:
            continue  # always present; listing it is harmless
        if not isinstance(group, str) or not _NAME_RE.fullmatch(group):
            raise ConfigError(
                f"{source}: {where}: consumer group {group!r} is not a valid name; use 1-256 letters, "
                "digits, '.', '-' and '_', starting with a letter or digit"
            )
        if group.casefold() in (g.casefold() for g in groups):
            raise ConfigError(
                f"{source}: {where}: consumer group {group!r} is listed twice (names are compared "
                "ignoring case); remove the duplicate"
            )
        groups.append(group)
    if len(groups) > MAX_CONSUMER_GROUPS:
        raise ConfigError(
            f"{source}: {where}: {len(groups)} consumer groups including {DEFAULT_CONSUMER_GROUP}, "
            f"at most {MAX_CONSUMER_GROUPS} are allowed; "
            f"remove {len(groups) - MAX_CONSUMER_GROUPS} from consumer_groups"
        )
    return tuple(groups)


def _check_known_keys(table: Mapping[str, object], allowed: tuple[str, ...], source: str, where: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys are {', '.join(allowed)}"
            raise ConfigError(f"{source}: {where}: unknown key {key!r}; {hint}")


def _check_int_range(
    value: object, low: int, high: int | None, source: str, what: str, why: str = ""
) -> None:
    # TOML booleans are Python ints; `partitions = true` must not mean 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"{source}: {what} = {value!r} must be an integer, got {_kind(value)}; write it without "
            "quotes or decimals"
        )
    if value < low or (high is not None and value > high):
        allowed = f"{low}..{high}" if high is not None else f"an integer >= {low}"
        raise ConfigError(
            f"{source}: {what} = {value} is out of range; use {allowed}{f' ({why})' if why else ''}"
        )


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    if isinstance(value, dict):
        return "a table"
    return names.get(type(value), type(value).__name__)
