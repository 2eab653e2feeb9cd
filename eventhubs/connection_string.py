"""Event Hubs connection strings: parsed once, checked, and kept so that no key reaches a message or a repr.

`redact` is the one place that hides keys in text: a `Secret`'s value wherever it appears, and the value
of any `SharedAccessKey=` or `SharedAccessSignature=` (an error from Spark or the SDK may quote either).
"""

from __future__ import annotations

import difflib
import hmac
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SECRET_FIELD = re.compile(r"(?i)\b(SharedAccessKey|SharedAccessSignature)\s*=\s*([^;\s]*)")


class ConnectionStringError(ValueError):
    """A connection string is wrong; the message says where, what and how to fix it, never the key."""


class Secret:
    """A secret string: repr/str show "Secret('***')"; reveal() gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: pass it straight to the client that needs it, never to a log."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time, so comparing secrets leaks nothing about where they differ.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def redact(text: str, *secrets: Secret | None) -> str:
    """`text` with each secret's value, and every SharedAccessKey=/SharedAccessSignature= value, as ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret.reveal(), "***")
    return SECRET_FIELD.sub(lambda m: f"{m.group(1)}=***", text)


def holds_secret(text: str) -> bool:
    """True when `text` has a SharedAccessKey= or SharedAccessSignature= in it."""
    return SECRET_FIELD.search(text) is not None


# The keys the azure-eventhub SDK reads (azure/eventhub/_client_base.py `_parse_conn_str`), lower-cased as the
# SDK compares them. HostName is the SDK's fallback spelling of Endpoint.
_KEYS = {
    "endpoint": "Endpoint",
    "hostname": "HostName",
    "sharedaccesskeyname": "SharedAccessKeyName",
    "sharedaccesskey": "SharedAccessKey",
    "sharedaccesssignature": "SharedAccessSignature",
    "entitypath": "EntityPath",
    "usedevelopmentemulator": "UseDevelopmentEmulator",
}
_FORMAT = (
    "Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=<policy>;SharedAccessKey=<key>"
)


@dataclass(frozen=True)
class ConnectionString:
    """A parsed Event Hubs connection string; str() masks the key."""

    endpoint: str  # "sb://host[:port]/"
    host: str  # the fully qualified namespace, without the port
    port: int | None
    key_name: str  # "" when the string carries a SharedAccessSignature instead of a key
    key: Secret  # Secret("") when the string carries a SharedAccessSignature instead of a key
    entity_path: str | None
    use_development_emulator: bool
    shared_access_signature: Secret | None = None
    text: Secret = field(default=Secret(""), compare=False)  # as given, for clients that take the text

    def reveal(self) -> str:
        """The connection string as given: pass it straight to a client that takes the text (the SDK, the
        Scala connector, a Spark option), never to a log."""
        return self.text.reveal()

    def secrets(self) -> tuple[Secret, ...]:
        """What `redact` must hide for this connection string."""
        return tuple(s for s in (self.text, self.key, self.shared_access_signature) if s)

    @property
    def fully_qualified_namespace(self) -> str:
        """host[:port], as the SDK's `fully_qualified_namespace` argument takes it."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        parts = [f"Endpoint={self.endpoint}"]
        if self.key_name:
            parts += [f"SharedAccessKeyName={self.key_name}", "SharedAccessKey=***"]
        if self.shared_access_signature is not None:
            parts.append("SharedAccessSignature=***")
        if self.entity_path is not None:
            parts.append(f"EntityPath={self.entity_path}")
        if self.use_development_emulator:
            parts.append("UseDevelopmentEmulator=true")
        return ";".join(parts)


def parse_connection_string(text: str, *, where: str = "the connection string") -> ConnectionString:
    """Parse and check an Event Hubs connection string as the azure-eventhub SDK reads it.

    Keys are case-insensitive, as in the SDK. Errors say what is missing or malformed in `where`
    (e.g. "conf/azure.toml [eventhub] connection_string") and never include a key or signature.
    """
    segments = [s for s in text.strip().split(";") if s.strip()]
    if not segments:
        raise ConnectionStringError(f"{where} is empty; expected {_FORMAT}")
    values: dict[str, str] = {}
    unknown: list[str] = []
    for index, segment in enumerate(segments, start=1):
        name, eq, value = segment.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name:
            # The segment is not echoed: a stray ';' inside a key would put part of the key here.
            raise ConnectionStringError(
                f"{where}: part {index} of {len(segments)} is not Key=value; expected {_FORMAT}"
            )
        lower = name.lower()
        if lower not in _KEYS:
            unknown.append(name)
            continue
        if lower in values:
            raise ConnectionStringError(
                f"{where}: {_KEYS[lower]} is given twice (keys ignore case); keep one"
            )
        if not value:
            raise ConnectionStringError(f"{where}: {_KEYS[lower]} has no value; expected {_FORMAT}")
        values[lower] = value
    if unknown:
        names = []
        for name in unknown:
            close = difflib.get_close_matches(name.lower(), _KEYS, n=1)
            names.append(f"{name!r}" + (f" (did you mean {_KEYS[close[0]]}?)" if close else ""))
        known = ", ".join(_KEYS.values())
        raise ConnectionStringError(f"{where}: unknown key(s) {', '.join(names)}; the known keys are {known}")

    if "endpoint" in values and "hostname" in values:
        raise ConnectionStringError(f"{where}: give Endpoint or HostName, not both")
    endpoint_key = "Endpoint" if "endpoint" in values else "HostName"
    raw_endpoint = values.get("endpoint") or values.get("hostname")
    if raw_endpoint is None:
        raise ConnectionStringError(f"{where}: Endpoint is missing; expected {_FORMAT}")
    host, port = _parse_endpoint(raw_endpoint, f"{where}: {endpoint_key}")

    key_name = values.get("sharedaccesskeyname")
    key = values.get("sharedaccesskey")
    signature = values.get("sharedaccesssignature")
    if signature is not None:
        if key is not None:
            raise ConnectionStringError(
                f"{where}: give SharedAccessKey or SharedAccessSignature, not both (the SDK takes one)"
            )
        if key_name is not None:
            raise ConnectionStringError(
                f"{where}: SharedAccessKeyName belongs with SharedAccessKey, not a signature; remove it"
            )
    elif key_name is None or key is None:
        missing = " and ".join(
            k for k, v in (("SharedAccessKeyName", key_name), ("SharedAccessKey", key)) if v is None
        )
        raise ConnectionStringError(
            f"{where}: {missing} missing (or give a SharedAccessSignature); expected {_FORMAT}, "
            "as copied from the portal's 'Shared access policies' page"
        )

    emulator = values.get("usedevelopmentemulator", "false")
    # The SDK only honours the exact lower-case "true": "True" would silently mean TLS to the emulator.
    if emulator not in ("true", "false"):
        raise ConnectionStringError(
            f"{where}: UseDevelopmentEmulator must be 'true' or 'false' (lower case), not {emulator!r}"
        )

    return ConnectionString(
        endpoint=f"sb://{host}{'' if port is None else f':{port}'}/",
        host=host,
        port=port,
        key_name=key_name or "",
        key=Secret(key or ""),
        entity_path=values.get("entitypath"),
        use_development_emulator=emulator == "true",
        shared_access_signature=None if signature is None else Secret(signature),
        text=Secret(text.strip()),
    )


def _parse_endpoint(value: str, where: str) -> tuple[str, int | None]:
    fix = "expected sb://<namespace>.servicebus.windows.net/ (or sb://localhost:5672 for the emulator)"
    if not value.lower().startswith("sb://"):
        raise ConnectionStringError(f"{where} must start with sb://, got {value!r}; {fix}")
    parts = urlsplit(value)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ConnectionStringError(f"{where} has a bad port in {value!r}; {fix}") from None
    if port == 0:
        raise ConnectionStringError(f"{where} has port 0 in {value!r}; {fix}")
    if not host or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConnectionStringError(
            f"{where} must be sb://host[:port]/ with nothing else, got {value!r}; {fix}"
        )
    return host, port
