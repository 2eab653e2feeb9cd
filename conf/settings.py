"""Settings for the producers and the Spark job, read from a TOML profile in conf/ or any TOML file.

A profile is chosen by the `profile` argument, else $HUBSTREAM_PROFILE, else `local`. A name such as
`azure` means conf/azure.toml, shipped with the package; anything with a `/` or ending in `.toml` is a path.
String values may use `${VAR}`, `${VAR:-default}` (also when VAR is empty) and `$$` for a literal `$`, and
Databricks secret references `{{secrets/<scope>/<key>}}`.

Overrides, strongest first: the `connection_string` argument (`--connection-string`), then
$EVENTHUB_CONNECTION_STRING; either replaces the profile's connection_string or fully_qualified_namespace.
$EVENTHUB_NAME replaces [eventhub] name.

[checkpoint_store] (the consumers' Blob Storage) is read only when a consumer asks for it, with
load_checkpoint_store: a producer or a Spark job never needs its variables or secrets.
$CHECKPOINT_STORE_CONNECTION_STRING replaces its connection_string or account_url.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from eventhubs.connection_string import (
    SECRET_FIELD,
    ConnectionString,
    ConnectionStringError,
    Secret,
    holds_secret,
    parse_connection_string,
)
from eventhubs.links import CustomEndpoint

__all__ = [
    "CHECKPOINT_STORE_ENV",
    "CONNECTION_STRING_ENV",
    "DEFAULT_PROFILE",
    "NAME_ENV",
    "PROFILE_DIR",
    "PROFILE_ENV",
    "CheckpointStoreSettings",
    "EventHubSettings",
    "JobSettings",
    "ProducerSettings",
    "SecretResolver",
    "Settings",
    "SettingsError",
    "add_settings_arguments",
    "available_profiles",
    "databricks_secrets",
    "load_checkpoint_store",
    "load_settings",
    "settings_from_arguments",
]


class SettingsError(ValueError):
    """A profile, an override or a connection string is wrong; the message says where and how to fix it."""


PROFILE_ENV = "HUBSTREAM_PROFILE"
CONNECTION_STRING_ENV = "EVENTHUB_CONNECTION_STRING"
NAME_ENV = "EVENTHUB_NAME"
CHECKPOINT_STORE_ENV = "CHECKPOINT_STORE_CONNECTION_STRING"
DEFAULT_PROFILE = "local"
# The profiles ship inside the package (package data), so this holds for a wheel install too.
PROFILE_DIR = Path(__file__).resolve().parent

SecretResolver = Callable[[str, str], str]  # (scope, key) -> value


@dataclass(frozen=True)
class EventHubSettings:
    """Which event hub, and how to authenticate: a connection string or passwordless (Entra ID)."""

    name: str  # the event hub; EntityPath in the connection string sets it if absent
    consumer_group: str = "$Default"
    connection_string: ConnectionString | None = None  # exactly one of these two
    fully_qualified_namespace: str | None = None  # passwordless: azure-identity DefaultAzureCredential
    # How every client (the producers' SDK and our engine, the consumers, the Spark job) reaches the
    # namespace, as the azure-eventhub SDK's keyword arguments of the same names: "amqp" (TLS, port 5671)
    # or "websocket" (AMQP over WebSockets, wss on 443, for networks that open only 443).
    # connection_verify: the PEM file of the CAs to trust instead of the default ones (the emulator's local
    # CA: `python -m emulator ca`). custom_endpoint_address: where to dial instead, "sb://host:port" (an
    # emulator's --tls-port/--ws-port other than 5671/443); the port defaults to 5671 (443 for websocket).
    transport: Literal["amqp", "websocket"] = "amqp"
    connection_verify: str | None = None
    custom_endpoint_address: str | None = None

    def __post_init__(self) -> None:
        if (self.connection_string is None) == (self.fully_qualified_namespace is None):
            raise SettingsError(
                "EventHubSettings needs exactly one of connection_string and fully_qualified_namespace"
            )

    @property
    def uses_credential(self) -> bool:
        """True for passwordless access through azure-identity's DefaultAzureCredential."""
        return self.fully_qualified_namespace is not None


@dataclass(frozen=True)
class ProducerSettings:
    """How the producers send: pace, batching, SDK retries and the sources' options."""

    rate: float | None = None  # events/s; None: as fast as possible
    linger_s: float = 0.1  # send a partly filled batch after this long
    on_oversize: Literal["skip", "fail"] = "skip"
    retry_total: int = 3
    retry_backoff_factor: float = 0.8
    retry_backoff_max: float = 120.0
    retry_mode: Literal["exponential", "fixed"] = "exponential"
    twitter_query: str = "#Azure -is:retweet lang:en"
    twitter_poll_interval_s: float = 30.0
    twitter_bearer_token_env: str = "X_BEARER_TOKEN"
    telemetry_devices: int = 10
    telemetry_interval_s: float = 0.0  # the tutorial sends without pausing; --rate paces it


@dataclass(frozen=True)
class JobSettings:
    """How the Spark job reads the hub."""

    max_events_per_trigger: int = 1000
    starting_position: str = "-1"
    trigger: str = "available-now"
    checkpoint_dir: str | None = None
    use_connector: bool = False  # the Scala azure-eventhubs-spark jar is installed (Databricks on Spark 3)
    # Our source only (the Scala connector has none of these), named as Spark's Kafka source names them:
    fail_on_data_loss: bool = True  # false: skip events retention removed, with a warning, instead of failing
    min_events_per_trigger: int | None = None  # wait for this many events...
    max_trigger_delay: str = "15m"  # ...but no longer than this


@dataclass(frozen=True)
class CheckpointStoreSettings:
    """Where the consumers keep checkpoints and partition ownership: a Blob Storage container.

    Either a storage connection string (Azurite's development account locally; from the environment or a
    secret scope elsewhere) or an account URL reached with azure-identity's DefaultAzureCredential.
    """

    container: str = "checkpoints"
    connection_string: Secret | None = None
    account_url: str | None = None

    def __post_init__(self) -> None:
        if self.connection_string is not None and self.account_url is not None:
            raise SettingsError("CheckpointStoreSettings takes connection_string or account_url, not both")


@dataclass(frozen=True)
class Settings:
    """One profile, loaded: repr and str never show a key."""

    profile: str  # name, or the file path given
    path: Path | None  # file it came from
    eventhub: EventHubSettings
    producer: ProducerSettings = ProducerSettings()
    job: JobSettings = JobSettings()

    def with_connection_string(self, value: str) -> Settings:
        """These settings with another connection string (validated); a passwordless namespace is dropped."""
        parsed = _parse(value, "the new connection string")
        _check_entity_path(
            parsed, self.eventhub.name, "the new connection string", "the settings' event hub name"
        )
        hub = dataclasses.replace(self.eventhub, connection_string=parsed, fully_qualified_namespace=None)
        return dataclasses.replace(self, eventhub=hub)


_SECTIONS: dict[str, type] = {
    "eventhub": EventHubSettings,
    "producer": ProducerSettings,
    "job": JobSettings,
    "checkpoint_store": CheckpointStoreSettings,
}
# [eventhub] keys passed as they are, whichever way the profile authenticates.
_CONNECTION_KEYS = ("consumer_group", "transport", "connection_verify", "custom_endpoint_address")
# Bounds the loader enforces, by (section, key); the dataclasses themselves stay plain values so that
# command-line flags can replace fields freely.
_POSITIVE = {
    ("producer", "rate"),
    ("producer", "retry_backoff_max"),
    ("producer", "twitter_poll_interval_s"),
    ("producer", "telemetry_devices"),
    ("job", "max_events_per_trigger"),
    ("job", "min_events_per_trigger"),
}
_NOT_NEGATIVE = {
    ("producer", "linger_s"),
    ("producer", "retry_total"),
    ("producer", "retry_backoff_factor"),
    ("producer", "telemetry_interval_s"),
}
# Blob container names: 3-63 lower-case letters, digits and single hyphens, a letter or digit first and last.
_CONTAINER = re.compile(r"(?=.{3,63}$)[a-z0-9](?:-?[a-z0-9])*")
_STORAGE_SECRET = re.compile(r"(?i)\b(AccountKey|SharedAccessSignature)\s*=\s*([^;\s]*)")
# Azure's rule for event hub names: letters, digits, '.', '-', '_'; a letter or digit first and last.
_HUB_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,254}[A-Za-z0-9])?")
_NAMESPACE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")
# One pass over a string value: `$$`, `${...}`, a secret reference, or the broken forms of the last two.
_TOKEN = re.compile(
    r"\$\$|\$\{(?P<env>[^}]*)\}|\{\{secrets/(?P<scope>[^/{}]+)/(?P<key>[^/{}]+)\}\}|(?P<open>\$\{)"
    r"|(?P<badref>\{\{\s*secrets)"
)
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-)?\}|\{\{secrets/[^/{}]+/[^/{}]+\}\}")


def available_profiles() -> list[str]:
    """The names of the profiles shipped in conf/."""
    return sorted(path.stem for path in PROFILE_DIR.glob("*.toml"))


def load_settings(
    profile: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    connection_string: str | None = None,
    secrets: SecretResolver | None = None,
) -> Settings:
    """Load a profile (see the module docstring); `secrets` resolves {{secrets/...}} (default: Databricks)."""
    env = os.environ if environ is None else environ
    label, path = _locate(profile, env)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read profile {path}: {exc.strerror}") from None
    loader = _Loader(path, env, secrets)
    tables = loader.tables(data)
    return Settings(
        profile=label,
        path=path,
        eventhub=loader.eventhub(tables.get("eventhub", {}), connection_string),
        producer=ProducerSettings(**loader.section("producer", tables.get("producer", {}))),
        job=JobSettings(**loader.section("job", tables.get("job", {}))),
    )


def load_checkpoint_store(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    secrets: SecretResolver | None = None,
) -> CheckpointStoreSettings:
    """[checkpoint_store] of the profile `settings` came from; $CHECKPOINT_STORE_CONNECTION_STRING wins."""
    env = os.environ if environ is None else environ
    table: dict[str, Any] = {}
    if settings.path is not None:
        try:
            data = tomllib.loads(settings.path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read profile {settings.path} again: {exc}") from None
        table = data.get("checkpoint_store", {})
    loader = _Loader(settings.path or Path("(no profile file)"), env, secrets)
    return loader.checkpoint_store(table)


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --profile and --connection-string; read them back with settings_from_arguments."""
    group = parser.add_argument_group("settings")
    group.add_argument(
        "--profile",
        metavar="NAME|PATH",
        help=f"settings profile: {', '.join(available_profiles())} (in conf/), or a TOML file's path "
        f"(default: ${PROFILE_ENV}, else {DEFAULT_PROFILE})",
    )
    group.add_argument(
        "--connection-string",
        metavar="STRING",
        help=f"Event Hubs connection string; wins over the profile and ${CONNECTION_STRING_ENV}. "
        f"Prefer ${CONNECTION_STRING_ENV}: a command line is visible to other users of the machine",
    )


def settings_from_arguments(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings chosen by the arguments add_settings_arguments added."""
    return load_settings(
        getattr(args, "profile", None),
        environ=environ,
        connection_string=getattr(args, "connection_string", None),
    )


def databricks_secrets() -> SecretResolver | None:
    """dbutils.secrets.get when running on Databricks, else None."""
    if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return None
    dbutils = _dbutils()
    if dbutils is None:
        return None

    def resolve(scope: str, key: str) -> str:
        return str(dbutils.secrets.get(scope=scope, key=key))

    return resolve


def _dbutils() -> Any:
    # Imported by name: pyspark and the Databricks modules exist only on a cluster or with Databricks Connect.
    try:
        spark = importlib.import_module("pyspark.sql").SparkSession.builder.getOrCreate()
        return importlib.import_module("pyspark.dbutils").DBUtils(spark)
    except Exception:
        pass
    try:
        return importlib.import_module("databricks.sdk.runtime").dbutils
    except Exception:
        return None


def _locate(profile: str | Path | None, environ: Mapping[str, str]) -> tuple[str, Path]:
    """The profile's label (its name or the path given) and its file."""
    source = ""
    if profile is None or profile == "":
        profile = environ.get(PROFILE_ENV) or DEFAULT_PROFILE
        source = f" (from ${PROFILE_ENV})" if environ.get(PROFILE_ENV) else ""
    names = ", ".join(available_profiles())
    if isinstance(profile, str) and _is_name(profile):
        path = PROFILE_DIR / f"{profile}.toml"
        if not path.is_file():
            raise SettingsError(
                f"unknown profile {profile!r}{source}: the profiles in {PROFILE_DIR} are {names}; "
                "or give the path of a TOML file (containing '/' or ending in .toml)"
            )
        return profile, path
    path = Path(profile).expanduser()
    if not path.is_file():
        raise SettingsError(
            f"profile file {str(profile)!r}{source} does not exist; give an existing TOML file or one of "
            f"the profile names {names}"
        )
    return str(profile), path


def _is_name(profile: str) -> bool:
    return "/" not in profile and os.sep not in profile and not profile.endswith(".toml")


def _check_entity_path(parsed: ConnectionString, name: str, cs_where: str, name_where: str) -> None:
    if parsed.entity_path is not None and parsed.entity_path != name:
        raise SettingsError(
            f"{cs_where} has EntityPath={parsed.entity_path} but {name_where} is {name!r}: they must "
            f"name the same event hub; set the name (or ${NAME_ENV}) to {parsed.entity_path!r}, or remove "
            "EntityPath from the connection string"
        )


_KINDS: dict[type, str] = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    return "a table" if isinstance(value, dict) else "a list" if isinstance(value, list) else "a date/time"


def _parse(text: str, where: str) -> ConnectionString:
    try:
        return parse_connection_string(text, where=where)
    except ConnectionStringError as e:
        raise SettingsError(str(e)) from None


def _shown(value: str, secret: bool) -> str:
    """The value for a message, unless it is or may contain a secret."""
    if secret or holds_secret(value):
        return "(value hidden: it holds a secret)"
    return repr(value)


def _toml_literal(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Loader:
    """Reads one profile file; every message names the file, the key and the fix."""

    def __init__(self, path: Path, environ: Mapping[str, str], secrets: SecretResolver | None) -> None:
        self.path = path
        self.environ = environ
        self._secrets = secrets
        self._looked_up = secrets is not None

    def where(self, section: str, key: str) -> str:
        return f"{self.path} [{section}] {key}"

    def tables(self, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The sections, checked for typos."""
        for name, table in data.items():
            homes = [s for s, cls in _SECTIONS.items() if name in {f.name for f in dataclasses.fields(cls)}]
            if name not in _SECTIONS and not isinstance(table, dict) and homes:
                raise SettingsError(f"{self.path}: {name} is outside any section: move it under [{homes[0]}]")
            if name not in _SECTIONS:
                raise SettingsError(f"{self.path}: unknown section [{name}]{self._suggest(name, _SECTIONS)}")
            if not isinstance(table, dict):
                raise SettingsError(
                    f"{self.path}: {name} must be a section, [{name}] on a line of its own followed by its "
                    f"keys, not {_describe(table)}"
                )
            fields = [f.name for f in dataclasses.fields(_SECTIONS[name])]
            for key in table:
                if key not in fields and (home := self._home(key)):
                    raise SettingsError(f"{self.path}: {key} belongs under [{home}], not [{name}]: move it")
                if key not in fields:
                    raise SettingsError(
                        f"{self.path}: unknown key {key!r} in [{name}]{self._suggest(key, fields)}"
                    )
        return data

    @staticmethod
    def _home(key: str) -> str | None:
        """The section that has `key`, if any (e.g. a setting moved from [producer] to [eventhub])."""
        return next(
            (s for s, cls in _SECTIONS.items() if key in {f.name for f in dataclasses.fields(cls)}), None
        )

    @staticmethod
    def _suggest(word: str, choices: typing.Iterable[str]) -> str:
        choices = list(choices)
        close = difflib.get_close_matches(word, choices, n=1)
        hint = f": did you mean {close[0]!r}?" if close else ""
        return f"{hint} (known: {', '.join(choices)})"

    def expand(self, text: str, where: str) -> tuple[str, bool]:
        """`text` with ${VAR}, $$ and {{secrets/scope/key}} replaced; and whether a secret went in."""
        used_secret = False

        def replace(match: re.Match[str]) -> str:
            nonlocal used_secret
            if match.group(0) == "$$":
                return "$"
            if match.group("open") is not None:
                raise SettingsError(f"{where}: '${{' has no closing '}}'; write $$ for a literal $")
            if match.group("badref") is not None:
                raise SettingsError(
                    f"{where}: malformed secret reference; write {{{{secrets/<scope>/<key>}}}}"
                )
            if match.group("env") is not None:
                return self._variable(match.group("env"), where)
            used_secret = True
            return self._secret(match.group("scope"), match.group("key"), where)

        return _TOKEN.sub(replace, text), used_secret

    def _variable(self, body: str, where: str) -> str:
        name, has_default, default = body.partition(":-")
        if not _VARIABLE.fullmatch(name):
            raise SettingsError(
                f"{where}: ${{{body}}} is not a variable reference; write ${{NAME}} or ${{NAME:-default}} "
                "(NAME: letters, digits, _), or $$ for a literal $"
            )
        if "${" in default:
            raise SettingsError(f"{where}: ${{{name}:-...}} cannot nest another ${{...}} in its default")
        value = self.environ.get(name)
        if has_default:
            return value or default
        if value is None:
            # No default offered for a connection string: a default there would be a key in plain text.
            default_fix = "" if where.endswith("connection_string") else f", or write ${{{name}:-default}}"
            raise SettingsError(
                f"{where} uses ${{{name}}}, but environment variable {name} is not set: "
                f"export {name}=...{default_fix}"
            )
        return value

    def _secret(self, scope: str, key: str, where: str) -> str:
        if not self._looked_up:
            # Looked up only now: finding dbutils starts a Spark session.
            self._secrets, self._looked_up = databricks_secrets(), True
        if self._secrets is None:
            override = CHECKPOINT_STORE_ENV if "[checkpoint_store]" in where else CONNECTION_STRING_ENV
            raise SettingsError(
                f"{where} uses the Databricks secret {{{{secrets/{scope}/{key}}}}}, which only resolves "
                f"on Databricks: run this profile there, or override the value with {override}"
            )
        try:
            return self._secrets(scope, key)
        except Exception as exc:
            raise SettingsError(
                f"{where}: cannot read Databricks secret {key!r} in scope {scope!r} "
                f"({type(exc).__name__}: {exc}); check it with `databricks secrets list-secrets {scope}`"
            ) from None

    def value(self, section: str, key: str, raw: object, hint: Any) -> Any:
        """A TOML value, expanded and checked against the field's type `hint`."""
        where = self.where(section, key)
        expanded = isinstance(raw, str) and _TOKEN.search(raw) is not None
        secret = False
        value: object = raw
        if isinstance(raw, str):
            value, secret = self.expand(raw, where)
        allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        base = next(a for a in allowed if a is not type(None))
        origin = typing.get_origin(base)
        if origin is Literal:
            choices = typing.get_args(base)
            if value not in choices:
                shown = _shown(value, secret) if isinstance(value, str) else _describe(value)
                raise SettingsError(
                    f"{where} = {shown} must be one of {', '.join(map(_toml_literal, choices))}"
                )
            return value
        if base in (str, ConnectionString, Secret):  # connection strings are read as text, parsed later
            if not isinstance(value, str):
                fix = f": write {key} = {_toml_literal(str(value))}" if isinstance(value, int | float) else ""
                raise SettingsError(f"{where} must be a string, got {_describe(value)}{fix}")
            if not value.strip():
                raise SettingsError(f"{where} is empty: give a value, or remove the key for the default")
            return value
        number = self._number(value, base, where, key, expanded, secret)
        # The value as written (5, not 5.0), unless it came from a secret.
        self._check_bounds(section, key, number, f"{where} = {'(hidden)' if secret else repr(value)}")
        return number

    def _number(
        self, value: object, base: type, where: str, key: str, expanded: bool, secret: bool
    ) -> object:
        if isinstance(value, str):
            if not expanded:
                raise SettingsError(
                    f"{where} must be {_KINDS[base]}, not a string: write {key} = {value} without quotes"
                )
            # A value that came from ${VAR} is text: read it as the field's type.
            try:
                if base is bool:
                    if value not in ("true", "false"):
                        raise ValueError(value)
                    return value == "true"
                return base(value)
            except ValueError:
                raise SettingsError(
                    f"{where} = {_shown(value, secret)} (after ${{...}}) must be {_KINDS[base]}"
                ) from None
        if base is bool:
            if not isinstance(value, bool):
                raise SettingsError(f"{where} must be true or false, got {_describe(value)}")
            return value
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (base is int and isinstance(value, float))
        ):
            raise SettingsError(f"{where} must be {_KINDS[base]}, got {_describe(value)}")
        return base(value)

    @staticmethod
    def _check_bounds(section: str, key: str, number: object, shown: str) -> None:
        if isinstance(number, bool) or not isinstance(number, int | float):
            return
        if not math.isfinite(number):
            raise SettingsError(f"{shown} must be a finite number")
        if (section, key) in _POSITIVE and number <= 0:
            fix = "; remove the key to send as fast as possible" if key == "rate" else ""
            raise SettingsError(f"{shown} must be greater than 0{fix}")
        if (section, key) in _NOT_NEGATIVE and number < 0:
            raise SettingsError(f"{shown} must be 0 or more")

    def section(self, section: str, table: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments for the section's dataclass: only the keys the file sets."""
        hints = typing.get_type_hints(_SECTIONS[section])
        return {key: self.value(section, key, raw, hints[key]) for key, raw in table.items()}

    def eventhub(self, table: dict[str, Any], flag: str | None) -> EventHubSettings:
        """[eventhub] with the overrides applied: flag > $EVENTHUB_CONNECTION_STRING > file."""
        if "connection_string" in table and "fully_qualified_namespace" in table:
            raise SettingsError(
                f"{self.path} [eventhub] sets both connection_string and fully_qualified_namespace: keep "
                "connection_string for a key, or fully_qualified_namespace for passwordless (Entra ID) access"
            )
        if isinstance(table.get("connection_string"), str):
            self._check_plain_text(table["connection_string"])
        env_connection = self.environ.get(CONNECTION_STRING_ENV) or None
        env_name = self.environ.get(NAME_ENV) or None
        # An overridden value is never expanded: its variables or secrets need not exist here.
        skip = {"connection_string", "fully_qualified_namespace"} if flag or env_connection else set()
        if env_name:
            skip.add("name")
        values = self.section("eventhub", {k: v for k, v in table.items() if k not in skip})

        name: str | None = values.get("name")
        name_where = self.where("eventhub", "name")
        if env_name:
            name, name_where = env_name, f"${NAME_ENV}"
        if name is not None and not _HUB_NAME.fullmatch(name):
            raise SettingsError(
                f"{name_where} = {name!r} is not an event hub name: letters, digits, '.', '-' and '_', "
                "starting and ending with a letter or digit"
            )

        if "custom_endpoint_address" in values:
            try:
                CustomEndpoint.parse(values["custom_endpoint_address"])
            except ValueError as exc:
                raise SettingsError(f"{self.where('eventhub', 'custom_endpoint_address')}: {exc}") from None
        group = {key: values[key] for key in _CONNECTION_KEYS if key in values}
        namespace: str | None = values.get("fully_qualified_namespace")
        if flag:
            text, cs_where = flag, "--connection-string"
        elif env_connection:
            text, cs_where = env_connection, f"${CONNECTION_STRING_ENV}"
        elif "connection_string" in values:
            text, cs_where = values["connection_string"], self.where("eventhub", "connection_string")
        elif namespace is not None:
            self._check_namespace(namespace)
            if name is None:
                raise SettingsError(
                    f'{self.path} [eventhub] has no name: add name = "<event hub>" or set ${NAME_ENV}'
                )
            return EventHubSettings(name, **group, fully_qualified_namespace=namespace)
        else:
            raise SettingsError(
                f"{self.path} [eventhub] says nothing about how to connect: set connection_string (e.g. "
                f'"${{{CONNECTION_STRING_ENV}}}") or fully_qualified_namespace (passwordless), '
                f"or set ${CONNECTION_STRING_ENV}"
            )

        parsed = _parse(text, cs_where)
        if name is None:
            if parsed.entity_path is None:
                raise SettingsError(
                    f"{self.path} [eventhub] has no name and {cs_where} has no EntityPath: add "
                    f'name = "<event hub>" under [eventhub], or set ${NAME_ENV}'
                )
            name = parsed.entity_path
        _check_entity_path(parsed, name, cs_where, name_where)
        return EventHubSettings(name, **group, connection_string=parsed)

    def checkpoint_store(self, table: dict[str, Any]) -> CheckpointStoreSettings:
        """[checkpoint_store], with $CHECKPOINT_STORE_CONNECTION_STRING winning over the file."""
        section = "checkpoint_store"
        if "connection_string" in table and "account_url" in table:
            raise SettingsError(
                f"{self.path} [{section}] sets both connection_string and account_url: keep one "
                "(account_url authenticates with DefaultAzureCredential)"
            )
        raw = table.get("connection_string")
        if isinstance(raw, str) and self.path.name != "local.toml":
            for match in _STORAGE_SECRET.finditer(raw):
                if not _REFERENCE.fullmatch(match.group(2).strip()):
                    raise SettingsError(
                        f"{self.where(section, 'connection_string')} has {match.group(1)}=..., a secret "
                        f"written in plain text: use ${{{CHECKPOINT_STORE_ENV}}} "
                        "or {{secrets/scope/key}} "
                        "(only local.toml may hold Azurite's development key)"
                    )
        from_env = self.environ.get(CHECKPOINT_STORE_ENV) or None
        skip = {"connection_string", "account_url"} if from_env else set()
        values = self.section(section, {k: v for k, v in table.items() if k not in skip})
        container = values.get("container", CheckpointStoreSettings.container)
        if not _CONTAINER.fullmatch(container):
            raise SettingsError(
                f"{self.where(section, 'container')} = {container!r} is not a Blob container name: 3 to 63 "
                "lower-case letters, digits and single hyphens, starting and ending with a letter or digit"
            )
        text = from_env or values.get("connection_string")
        if text is not None:
            where = f"${CHECKPOINT_STORE_ENV}" if from_env else self.where(section, "connection_string")
            fields = dict(part.split("=", 1) for part in text.strip().strip(";").split(";") if "=" in part)
            if not {"AccountName", "BlobEndpoint", "SharedAccessSignature"} & set(fields):
                raise SettingsError(
                    f"{where} is not a storage connection string: expected AccountName=...;AccountKey=... "
                    "(and BlobEndpoint=... for Azurite), as the storage account's Access keys page shows it"
                )
            return CheckpointStoreSettings(container, connection_string=Secret(text))
        url: str | None = values.get("account_url")
        if url is not None and not url.startswith(("https://", "http://")):
            raise SettingsError(
                f"{self.where(section, 'account_url')} = {url!r} must be a URL: "
                "https://<account>.blob.core.windows.net"
            )
        if url is None:
            raise SettingsError(
                f"no checkpoint store configured: {self.path} [{section}] has neither connection_string nor "
                f"account_url; set ${CHECKPOINT_STORE_ENV}, or account_url = "
                '"https://<account>.blob.core.windows.net" (DefaultAzureCredential)'
            )
        return CheckpointStoreSettings(container, account_url=url)

    def _check_plain_text(self, raw: str) -> None:
        """Outside local.toml a key must come from the environment or a secret scope, never the file."""
        if self.path.name == "local.toml":
            return  # the emulator's development key, SAS_KEY_VALUE, is not a secret
        for match in SECRET_FIELD.finditer(raw):
            if not _REFERENCE.fullmatch(match.group(2).strip()):
                raise SettingsError(
                    f"{self.where('eventhub', 'connection_string')} has {match.group(1)}=..., a secret "
                    f"written in plain text: use ${{{CONNECTION_STRING_ENV}}} or {{{{secrets/scope/key}}}} "
                    "(only local.toml may hold the emulator's development key)"
                )

    def _check_namespace(self, namespace: str) -> None:
        where = self.where("eventhub", "fully_qualified_namespace")
        if ";" in namespace or "=" in namespace:
            raise SettingsError(
                f"{where} looks like a connection string: put it in connection_string instead "
                "(fully_qualified_namespace is just <namespace>.servicebus.windows.net)"
            )
        if "://" in namespace:
            raise SettingsError(
                f"{where} = {namespace!r} must be a host name without a scheme: "
                f"write {namespace.split('://', 1)[1].rstrip('/')!r}"
            )
        if not _NAMESPACE.fullmatch(namespace):
            raise SettingsError(
                f"{where} = {namespace!r} is not a host name; expected <namespace>.servicebus.windows.net"
            )
