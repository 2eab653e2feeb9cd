"""The emulator's side of the request/response nodes: `$cbs` put-token and `$management` READ.

Requests arrive on a receiving link to the node and are answered on the sending link whose source is
the node; answers wait in that link's outbox until the client grants credit.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from eventhubs import nodes
from eventhubs.errors import EventHubsError
from eventhubs.sas import JWT_TOKEN_TYPE, TOKEN_PREFIX, TOKEN_TYPE

from .authorization import Authorization
from .config import LISTEN
from .namespace import Namespace

log = logging.getLogger("emulator.connection")


@dataclass
class Replies:
    """A link on which we answer requests to a node."""

    node: str
    outbox: deque[bytes] = field(default_factory=deque)


@dataclass
class Requests:
    """A link on which a client sends requests to a node."""

    node: str


class NodeService:
    """Answers one connection's requests to `$cbs` and `$management`."""

    def __init__(self, namespace: Namespace, authorization: Authorization, peer: str) -> None:
        self.namespace = namespace
        self.authorization = authorization
        self.peer = peer

    def answer(self, node: str, payload: bytes) -> bytes:
        """The encoded reply to one request."""
        request = nodes.decode_request(payload)
        operation, handle = (
            (nodes.PUT_TOKEN, self._put_token) if node == nodes.CBS else (nodes.READ, self._management)
        )
        try:
            if request.operation == operation:
                status, description, body = handle(request)
            else:
                status, body = 400, None
                description = f"unknown {node} operation {request.operation!r}; only {operation} is supported"
        except EventHubsError as exc:
            status, description, body = exc.status_code, exc.description, None
        return nodes.encode_reply(request, status, description, body)

    def _put_token(self, request: nodes.Request) -> tuple[int, str, Any]:
        token_type, audience = request.field("type"), request.field("name")
        grant = self.authorization.put_token(request.token, token_type, audience)
        log.info(
            "%s: authorized for %s with %s (%s) until %d",
            self.peer, audience, grant.who, ", ".join(sorted(grant.rights)) or "no rights", grant.expires_at,
        )  # fmt: skip
        return 200, "OK", None

    def _management(self, request: nodes.Request) -> tuple[int, str, Any]:
        hub = self.namespace.hub(request.field("name"))
        token = request.field("security_token")
        if token and not self.authorization.covers_any(hub.name):
            kind = TOKEN_TYPE if token.startswith(TOKEN_PREFIX) else JWT_TOKEN_TYPE
            audience = None if kind == TOKEN_TYPE else self.authorization.resource(hub.name)
            self.authorization.put_token(token, kind, audience)
        if not self.authorization.covers_any(hub.name):
            # Reading runtime properties needs a valid token for the hub, with any of its rights.
            self.authorization.require(hub.name, LISTEN)
        kind = request.field("type")
        if kind == nodes.EVENTHUB:
            body = self.namespace.eventhub_properties(hub)
        elif kind == nodes.PARTITION:
            body = self.namespace.partition_properties(hub, request.field("partition"))
        else:
            return 400, f"unknown $management type {kind!r}", None
        return 200, "OK", nodes.properties_body(kind, body)
