"""Microsoft Entra ID (JWT) access tokens as `$cbs` receives them (`type=jwt`), read without their signature.

A local emulator cannot check Entra's signature (it has neither the tenant's keys nor the network), so,
as Azurite's `--oauth basic` does, it checks everything else: the token is a well-formed JWT (three
base64url parts, JSON header and claims), it is inside its `nbf`/`exp` window, and its `aud` is one
Event Hubs accepts. What a token may do comes from its `roles` claim when it has one (see
`data_rights`); a token without one may do everything. Never use this to protect anything: anyone can
mint such a token.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import UnauthorizedError

# The resource the SDKs ask a credential for ("https://eventhubs.azure.net/.default"); Entra writes it
# into `aud` with or without the trailing '/'.
EVENTHUBS_RESOURCE = "https://eventhubs.azure.net"
NAMESPACE_HOST_SUFFIX = ".servicebus.windows.net"
CLOCK_SKEW_S = 300  # as Entra-protected services allow for nbf and exp

LISTEN, SEND, MANAGE = "Listen", "Send", "Manage"
# Azure's built-in data-plane roles, by name and by role definition id.
DATA_OWNER = ("Azure Event Hubs Data Owner", "f526a384-b230-433a-b45c-95f59c4a2dec")
DATA_SENDER = ("Azure Event Hubs Data Sender", "2b629674-e913-4c01-ae53-ef4638d8f975")
DATA_RECEIVER = ("Azure Event Hubs Data Receiver", "a638d3c7-ab3a-418d-83e6-5f17a39d4fde")
_ROLE_RIGHTS: dict[str, frozenset[str]] = {
    **{role.lower(): frozenset({MANAGE, SEND, LISTEN}) for role in DATA_OWNER},
    **{role.lower(): frozenset({SEND}) for role in DATA_SENDER},
    **{role.lower(): frozenset({LISTEN}) for role in DATA_RECEIVER},
    # The data actions the roles grant, for tokens that list those instead.
    "microsoft.eventhub/namespaces/messages/send/action": frozenset({SEND}),
    "microsoft.eventhub/namespaces/messages/receive/action": frozenset({LISTEN}),
}
MAX_TOKEN_CHARS = 64 * 1024


@dataclass(frozen=True)
class JwtClaims:
    """What the emulator takes from a JWT: who, for which audience, until when, with which rights."""

    subject: str
    audience: str
    expires_at: int
    rights: frozenset[str]


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a compact JWT, or `UnauthorizedError`. The signature is not read."""
    if len(token) > MAX_TOKEN_CHARS:
        raise UnauthorizedError(f"the JWT is {len(token)} characters long, more than {MAX_TOKEN_CHARS}")
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise UnauthorizedError(
            f"the token is not a JWT: it has {len(parts)} dot-separated part(s), a JWT has 3 "
            "(header.claims.signature)"
        )
    header = _json_part(parts[0], "header")
    claims = _json_part(parts[1], "claims")
    if not isinstance(header.get("alg"), str):
        raise UnauthorizedError("the JWT header has no 'alg'")
    return header, claims


def check_jwt(token: str, now: float, namespace_host: str | None = None) -> JwtClaims:
    """Check a JWT's form, validity window and audience; its signature is NOT checked."""
    _, claims = decode_unverified(token)
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise UnauthorizedError("the JWT has no numeric 'exp' (expiry) claim")
    if exp <= now:
        raise UnauthorizedError(
            f"the JWT expired at {int(exp)} (Unix seconds; emulator time is {int(now)}); get a new token"
        )
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and not isinstance(nbf, bool) and nbf > now + CLOCK_SKEW_S:
        raise UnauthorizedError(
            f"the JWT is not valid before {int(nbf)} (Unix seconds; emulator time is {int(now)})"
        )
    audience = _accepted_audience(claims.get("aud"), namespace_host)
    subject = next(
        (str(claims[k]) for k in ("oid", "appid", "azp", "sub") if isinstance(claims.get(k), str)), "unknown"
    )
    roles = claims.get("roles")
    if roles is not None and not (isinstance(roles, list) and all(isinstance(r, str) for r in roles)):
        raise UnauthorizedError("the JWT's 'roles' claim must be an array of strings")
    return JwtClaims(subject, audience, int(exp), data_rights(roles))


def data_rights(roles: Iterable[str] | None) -> frozenset[str]:
    """The Event Hubs rights a token's `roles` grant: Data Owner everything, Data Sender Send, Data
    Receiver Listen (by role name, role definition id or data action). No `roles` claim: everything."""
    if roles is None:
        return frozenset({MANAGE, SEND, LISTEN})
    rights: set[str] = set()
    for role in roles:
        rights |= _ROLE_RIGHTS.get(role.strip().lower(), frozenset())
    return frozenset(rights)


def is_accepted_audience(audience: str, namespace_host: str | None = None) -> bool:
    """`https://eventhubs.azure.net[/]`, `https://<namespace>.servicebus.windows.net[/]`, or the namespace
    host the client connected to (`https://localhost` for a local emulator)."""
    parts = urlsplit(audience.strip())
    if parts.scheme.lower() != "https" or not parts.hostname or parts.path.strip("/") or parts.query:
        return False
    host = parts.hostname.lower()
    if f"https://{host}" == EVENTHUBS_RESOURCE:
        return True
    if host.endswith(NAMESPACE_HOST_SUFFIX) and len(host) > len(NAMESPACE_HOST_SUFFIX):
        return True
    return namespace_host is not None and host == namespace_host.lower()


def _accepted_audience(aud: object, namespace_host: str | None) -> str:
    candidates = aud if isinstance(aud, list) else [aud]
    for candidate in candidates:
        if isinstance(candidate, str) and is_accepted_audience(candidate, namespace_host):
            return candidate
    raise UnauthorizedError(
        f"the JWT's audience {aud!r} is not one Event Hubs accepts; request the token for "
        f"'{EVENTHUBS_RESOURCE}/.default' (or https://<namespace>{NAMESPACE_HOST_SUFFIX})"
    )


def _json_part(part: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise UnauthorizedError(f"the JWT {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise UnauthorizedError(f"the JWT {what} is not a JSON object")
    return value


def make_unsigned_jwt(claims: dict[str, Any]) -> str:
    """A JWT with `alg: none` and no signature: what local tests and stand-in identity endpoints issue."""

    def part(value: dict[str, Any]) -> str:
        return (
            base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()
        )

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."
