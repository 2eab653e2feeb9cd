"""What one connection may do: the tokens its client has put to `$cbs`, the rights they carry, and
until when.

A SAS token is checked against the policy its `skn` names: a policy of the hub its `sr` names first,
else a namespace-level one, with the policy's primary or secondary key. A JWT (when Entra ID is on) is
checked by `eventhubs.jwt`, without its signature. Each valid token becomes a `Grant` for the audience
the put-token named; an operation on an entity needs an unexpired grant covering it with the right
(Send to publish, Listen to read), as the service decides it, and is refused with its words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus, urlsplit

from eventhubs import jwt
from eventhubs.errors import ResourceLimitError, UnauthorizedError
from eventhubs.sas import JWT_TOKEN_TYPE, TOKEN_TYPE, token_audience, validate_sas_token

from .config import ALL_RIGHTS, NamespaceConfig, Policy

ENTRA_ID_OFF = (
    "token type 'jwt' (Microsoft Entra ID) is off in this emulator: start it with --entra-id (or "
    "entra_id = true in its config) to accept unsigned Entra ID tokens for local testing"
)


@dataclass(frozen=True)
class Grant:
    """A valid token: `rights` on `audience` and below until `expires_at` (Unix seconds); `who` for logs."""

    audience: str
    rights: frozenset[str]
    expires_at: int
    who: str


class Authorization:
    """The grants of one connection's tokens; an expired grant covers nothing."""

    def __init__(
        self, config: NamespaceConfig, clock: Callable[[], float], max_grants: int | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.max_grants = config.limits.max_tokens_per_connection if max_grants is None else max_grants
        self.grants: list[Grant] = []

    def put_token(self, token: str, token_type: str = TOKEN_TYPE, audience: str | None = None) -> Grant:
        """Check a token (for `audience`, or the audience it names) and keep what it grants."""
        if token_type == TOKEN_TYPE:
            grant = self._sas_grant(token, token_audience(token) if audience is None else audience)
        elif token_type == JWT_TOKEN_TYPE:
            grant = self._jwt_grant(token, audience)
        else:
            raise UnauthorizedError(
                f"token type {token_type!r} is not supported: send '{TOKEN_TYPE}' (a SAS token) or 'jwt'"
            )
        now = self.clock()
        kept = [g for g in self.grants if g.expires_at > now]
        if len(kept) >= self.max_grants:
            # At the cap, of the grants for one audience with the same rights only the latest stays
            # (the others add nothing), and none the new one outlasts.
            latest: dict[tuple[str, frozenset[str]], Grant] = {}
            for g in kept:
                key = (g.audience, g.rights)
                if key not in latest or g.expires_at > latest[key].expires_at:
                    latest[key] = g
            new = latest.get((grant.audience, grant.rights))
            if new is not None and new.expires_at <= grant.expires_at:
                del latest[(grant.audience, grant.rights)]
            kept = list(latest.values())
        if len(kept) >= self.max_grants:
            self.grants = kept
            raise ResourceLimitError(
                f"this connection already holds {len(kept)} unexpired tokens, the most it may "
                f"(limits.max_tokens_per_connection = {self.max_grants}); put tokens that supersede "
                "the ones you have, or open another connection"
            )
        kept.append(grant)
        self.grants = kept
        return grant

    def _sas_grant(self, token: str, audience: str) -> Grant:
        scope = _hub_of(token_audience(token))
        hub_policies = self._hub_policies(scope)
        policies = {**self.config.namespace_policies(), **hub_policies}
        first_error: UnauthorizedError | None = None
        for slot in (0, 1):  # the primary key, then the secondary
            keys = {name: p.keys[slot] for name, p in policies.items() if len(p.keys) > slot}
            try:
                claim = validate_sas_token(token, audience, keys, self.clock())
            except UnauthorizedError as exc:
                first_error = first_error or exc
                continue
            policy = policies[claim.key_name]
            return Grant(claim.audience, _rights(policy), claim.expires_at, f"key {claim.key_name}")
        assert first_error is not None
        raise first_error

    def _hub_policies(self, hub_name: str | None) -> dict[str, Policy]:
        if hub_name is None:
            return {}
        for hub in self.config.hubs.values():
            if hub.name.lower() == hub_name.lower():
                return dict(hub.policies)
        return {}

    def _jwt_grant(self, token: str, audience: str | None) -> Grant:
        if not self.config.entra_id:
            raise UnauthorizedError(ENTRA_ID_OFF)
        if not audience:
            raise UnauthorizedError("a put-token with a JWT must name the entity it is for ('name')")
        parts = urlsplit(audience)
        if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
            raise UnauthorizedError(f"the put-token audience {audience[:200]!r} has '.' or '..' segments")
        host = parts.hostname
        claims = jwt.check_jwt(token, self.clock(), host)
        return Grant(audience, claims.rights, claims.expires_at, f"Entra ID principal {claims.subject}")

    # ---- checks -----------------------------------------------------------------------------------------

    def expiry(self, entity_path: str, right: str) -> int | None:
        """When the latest grant covering `entity_path` with `right` expires; None if none does now."""
        now = self.clock()
        latest = None
        for grant in self.grants:
            if grant.expires_at > now and right in grant.rights and _covers(grant.audience, entity_path):
                latest = max(latest or 0, grant.expires_at)
        return latest

    def covers(self, entity_path: str, right: str) -> bool:
        return self.expiry(entity_path, right) is not None

    def covers_any(self, entity_path: str) -> bool:
        return any(self.covers(entity_path, right) for right in ALL_RIGHTS)

    def require(self, entity_path: str, right: str) -> None:
        """Raise the service's refusal unless an unexpired grant covers `entity_path` with `right`."""
        if self.covers(entity_path, right):
            return
        now = self.clock()
        covering = [g for g in self.grants if _covers(g.audience, entity_path)]
        resource = self.resource(entity_path)
        if any(g.expires_at > now for g in covering):
            # A valid token without the right: the service's own sentence.
            raise UnauthorizedError(
                f"Unauthorized access. '{right}' claim(s) are required to perform this operation. "
                f"Resource: '{resource}'."
            )
        if covering:
            raise UnauthorizedError(
                f"Unauthorized access. The token for '{resource}' expired and no new one was put to $cbs "
                "in time; the client must renew its token before it expires."
            )
        raise UnauthorizedError(
            f"Unauthorized access to '{entity_path}': send a valid token for it to $cbs first "
            "(check the connection string's SharedAccessKeyName and SharedAccessKey, or the credential)."
        )

    def resource(self, entity_path: str) -> str:
        """The entity's URL as the service names it in refusals, on the host the client's tokens name."""
        host = next(
            (urlsplit(g.audience).hostname for g in self.grants if urlsplit(g.audience).hostname), None
        )
        return f"sb://{host or 'localhost'}/{entity_path.strip('/').lower()}"


def _rights(policy: Policy) -> frozenset[str]:
    return ALL_RIGHTS if "Manage" in policy.rights else policy.rights


def _hub_of(audience: str) -> str | None:
    """The first path segment of a token's audience: the hub its `sr` names, if any."""
    path = unquote_plus(urlsplit(audience).path).strip("/")
    return path.split("/", 1)[0] or None if path else None


def _covers(audience: str, entity_path: str) -> bool:
    """True if a grant for `audience` covers `entity_path` (e.g. `tweets/consumergroups/$default`)."""
    granted = unquote(urlsplit(audience).path).strip("/").lower()
    wanted = entity_path.strip("/").lower()
    return not granted or wanted == granted or wanted.startswith(granted + "/")
