"""What one connection may do: the SAS tokens its client has put to `$cbs`, and the entities they cover."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from eventhubs.errors import UnauthorizedError
from eventhubs.sas import Claim, token_audience, validate_sas_token


class Authorization:
    """The claims of one connection's valid tokens; an expired claim covers nothing."""

    def __init__(self, keys: Mapping[str, str], clock: Callable[[], float]) -> None:
        self.keys = keys
        self.clock = clock
        self.claims: list[Claim] = []

    def put_token(self, token: str, audience: str | None = None) -> Claim:
        """Check a token (for `audience`, or the audience it names) and keep what it grants."""
        target = token_audience(token) if audience is None else audience
        claim = validate_sas_token(token, target, self.keys, self.clock())
        self.claims.append(claim)
        return claim

    def covers(self, entity_path: str) -> bool:
        now = self.clock()
        wanted = entity_path.strip("/").lower()
        for claim in self.claims:
            if claim.expires_at <= now:
                continue
            granted = urlsplit(claim.audience).path.strip("/").lower()
            if not granted or wanted == granted or wanted.startswith(granted + "/"):
                return True
        return False

    def require(self, entity_path: str) -> None:
        if not self.covers(entity_path):
            raise UnauthorizedError(
                f"Unauthorized access to '{entity_path}': send a valid SAS token for it to $cbs first "
                "(check the connection string's SharedAccessKeyName and SharedAccessKey)."
            )
