"""Shared access signature (SAS) tokens: signed for clients, parsed and checked for the service.

A token reads ``SharedAccessSignature sr=<audience>&sig=<signature>&se=<expiry>&skn=<key name>`` with
URL-encoded values in any order; the signature is ``base64(HMAC-SHA256(key, quote_plus(audience) + "\\n" +
se))``, ``se`` the expiry in Unix seconds, as the azure-eventhub SDK's `generate_sas_token` signs it.
The SDK signs the audience it later names in the put-token, e.g. ``sb://localhost:5672/tweets`` for a
producer or ``sb://localhost:5672/tweets/consumergroups/$Default`` for a consumer; a token whose
audience is the namespace (``sb://localhost:5672/``) covers every hub in it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote_plus, unquote, unquote_plus, urlencode, urlsplit

from .errors import UnauthorizedError

TOKEN_PREFIX = "SharedAccessSignature "
TOKEN_TYPE = "servicebus.windows.net:sastoken"
JWT_TOKEN_TYPE = "jwt"


def make_sas_token(audience: str, key_name: str, key: str, expires_at: int) -> str:
    """Sign a token for `audience` with the policy `key_name`'s `key`, valid until `expires_at`."""
    signature = sign(key, quote_plus(audience), str(int(expires_at)))
    fields = {"sr": audience, "sig": signature, "se": str(int(expires_at)), "skn": key_name}
    return TOKEN_PREFIX + urlencode(fields)


def sign(key: str, encoded_audience: str, se: str) -> str:
    """The signature of an (already URL-encoded) audience and expiry."""
    digest = hmac.new(key.encode("utf-8"), f"{encoded_audience}\n{se}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


_FIELDS = ("sr", "sig", "se", "skn")
_SCHEMES = frozenset({"sb", "amqp", "amqps"})


@dataclass(frozen=True)
class Claim:
    """What a valid token grants: access to `audience` and below, until `expires_at` (Unix seconds)."""

    audience: str
    key_name: str
    expires_at: int


def validate_sas_token(token: str, audience: str, keys: Mapping[str, str], now: float) -> Claim:
    """Check a token's form, key, signature, expiry and audience; raise `UnauthorizedError` if one fails."""
    if not token.startswith(TOKEN_PREFIX):
        raise UnauthorizedError(
            f"token does not start with {TOKEN_PREFIX.strip()!r}; send a SAS token of the form "
            "'SharedAccessSignature sr=...&sig=...&se=...&skn=...'"
        )
    raw = _split_fields(token[len(TOKEN_PREFIX) :])

    missing = [name for name in _FIELDS if not raw.get(name)]
    if missing:
        raise UnauthorizedError(
            f"token is missing field(s) {', '.join(missing)}; a SAS token needs sr, sig, se and skn"
        )

    sr = unquote_plus(raw["sr"])
    se = unquote_plus(raw["se"])
    # base64 has '+' but never ' ': decode without turning a raw '+' into a space.
    sig = unquote(raw["sig"])
    if not se.isascii() or not se.isdigit():
        raise UnauthorizedError(f"token expiry se={se[:20]!r} is not a whole number of seconds since 1970")
    expires_at = int(se)

    key_name = _resolve_key_name(raw["skn"], keys)
    key = keys[key_name]

    # The SDK signs quote_plus(audience); other clients sign the sr text exactly as they encoded it.
    candidates = {quote_plus(sr), raw["sr"]}
    if not any(hmac.compare_digest(sign(key, text, se).encode(), sig.encode()) for text in candidates):
        raise UnauthorizedError(
            f"token signature does not match key {key_name!r} for audience {sr!r}; "
            "sign it with the key configured for that name in the emulator"
        )

    if expires_at <= now:
        raise UnauthorizedError(
            f"token expired at {_utc(expires_at)} (emulator time is {_utc(now)}); request a new token, "
            "and check the clock if this repeats"
        )

    if not audience_covers(sr, audience):
        raise UnauthorizedError(
            f"token audience {sr!r} does not cover {audience!r}; request a token for that entity "
            "or for the namespace"
        )
    return Claim(audience=sr, key_name=key_name, expires_at=expires_at)


def audience_covers(claim_audience: str, resource: str) -> bool:
    """True if `resource` is the token's audience or lies under it (on a '/' boundary).

    Schemes sb, amqp and amqps are interchangeable, the host is compared ignoring case, a trailing '/'
    is ignored, and a URL without a port matches the same host on any port.
    """
    claim = _normalise(claim_audience)
    target = _normalise(resource)
    if claim is None or target is None:
        return False
    claim_host, claim_port, claim_path = claim
    host, port, path = target
    if claim_host != host:
        return False
    # The SDK signs 'sb://localhost:5672/hub' but its AMQP open frame names only 'localhost', so an
    # audience rebuilt from the connection has no port: a missing port matches any, two must agree.
    if claim_port is not None and port is not None and claim_port != port:
        return False
    return path == claim_path or path.startswith(claim_path + "/")


def _normalise(url: str) -> tuple[str, int | None, str] | None:
    """(lower-cased host, port, decoded path without trailing '/'), or None if it is not a usable URL."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    path = unquote(parts.path).rstrip("/")
    # Refuse dot segments: after prefix matching, 'hub/../other' would escape the token's scope.
    if any(segment in (".", "..") for segment in path.split("/")):
        return None
    return parts.hostname.lower(), port, path


def _split_fields(text: str) -> dict[str, str]:
    """Split 'a=1&b=2' into raw (still URL-encoded) values; reject duplicates rather than pick one."""
    fields: dict[str, str] = {}
    for part in text.strip().split("&"):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise UnauthorizedError(
                f"token field {name[:20]!r} has no '=value'; fields are written name=value"
            )
        if name in fields:
            raise UnauthorizedError(
                f"token has field {name!r} more than once; send each of sr, sig, se, skn once"
            )
        fields[name] = value.strip()
    return fields


def _resolve_key_name(raw_skn: str, keys: Mapping[str, str]) -> str:
    once = unquote_plus(raw_skn)
    if once in keys:
        return once
    # azure-eventhub URL-encodes the key name twice (quote_plus, then urlencode).
    twice = unquote_plus(once)
    if twice in keys:
        return twice
    raise UnauthorizedError(
        f"unknown shared access key name {once[:256]!r}; use a key name from the emulator's [keys] config"
    )


def _utc(seconds: float) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    except (OverflowError, OSError, ValueError):
        return f"{seconds:.0f} (Unix seconds)"


def token_audience(token: str) -> str:
    """The audience (`sr`) a token names, not yet verified; "" when it names none."""
    return _unverified(token, "sr")


def token_expiry(token: str) -> int | None:
    """The expiry (`se`, Unix seconds) a token names, not yet verified; None when it names none."""
    se = _unverified(token, "se")
    return int(se) if se.isascii() and se.isdigit() else None


def _unverified(token: str, name: str) -> str:
    if not token.startswith(TOKEN_PREFIX):
        return ""
    try:
        return unquote_plus(_split_fields(token[len(TOKEN_PREFIX) :]).get(name, ""))
    except UnauthorizedError:
        return ""
