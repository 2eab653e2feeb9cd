"""The request/response nodes `$cbs` (put a token) and `$management` (read hub and partition properties).

A request is a message to the node, sent on a sender link whose target is the node, with a message id
and a reply-to address; the answer comes back on a receiver link whose target is that address, with the
request's message id as its correlation id and a status code in its application properties. The
shapes here are the azure-eventhub SDK's (`_pyamqp/cbs.py`, `_pyamqp/management_operation.py`); the
emulator answers them and hubstream's client asks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from amqp10.message import Message, Properties
from amqp10.types import Array, Int, Timestamp

from .errors import InvalidFieldError

CBS = "$cbs"
MANAGEMENT = "$management"
NODES = (CBS, MANAGEMENT)

PUT_TOKEN = "put-token"
READ = "READ"
EVENTHUB = "com.microsoft:eventhub"
PARTITION = "com.microsoft:partition"

_TIMESTAMPS = frozenset({"created_at", "last_enqueued_time_utc"})
# The service sends these as AMQP int, not long: the Java client (azure-eventhubs 3.x) casts them with
# `(int)`, which a long fails with ClassCastException.
_INTS = frozenset({"partition_count"})


@dataclass(frozen=True)
class Request:
    """A request as a node reads it: its application properties by text name, and its body."""

    properties: dict[str, Any]
    body: Any
    message_id: Any
    reply_to: str | None

    @property
    def operation(self) -> str:
        return self.field("operation")

    def field(self, name: str) -> str:
        """A property as text; a value of any type but string (or binary) is refused, naming it."""
        return strict_text(self.properties.get(name), f"request property {name!r}")

    @property
    def token(self) -> str:
        """The body of a put-token: the token, a string."""
        return strict_text(self.body, "the put-token body (the token)")


@dataclass(frozen=True)
class Reply:
    """A node's answer: the status code (200 or 202 for success), its description and body."""

    status: int
    description: str
    body: Any
    correlation_id: Any

    @property
    def ok(self) -> bool:
        return self.status in (200, 202)


def put_token(token: str, token_type: str, audience: str, expires_at: int) -> dict[str, Any]:
    """The application properties of a `$cbs` put-token request; the token is its body."""
    return {"operation": PUT_TOKEN, "type": token_type, "name": audience, "expiration": expires_at}


def read(hub: str, kind: str, token: str | None, partition_id: str | None = None) -> dict[str, Any]:
    """The application properties of a `$management` READ of a hub (EVENTHUB) or a partition (PARTITION)."""
    properties: dict[str, Any] = {"operation": READ, "name": hub, "type": kind, "security_token": token}
    if partition_id is not None:
        properties["partition"] = partition_id
    return properties


def encode_request(properties: dict[str, Any], body: Any, message_id: str, reply_to: str) -> bytes:
    request = Message(
        properties=Properties(message_id=message_id, reply_to=reply_to),
        application_properties=properties,
        value=body,
        has_value=body is not None,
    )
    return request.encode()


def decode_request(payload: bytes) -> Request:
    message = Message.decode(payload)
    props = message.properties
    return Request(
        properties={text(k): v for k, v in (message.application_properties or {}).items()},
        body=message.value,
        message_id=props.message_id if props else None,
        reply_to=props.reply_to if props else None,
    )


def encode_reply(request: Request, status: int, description: str, body: Any = None) -> bytes:
    reply = Message(
        properties=Properties(correlation_id=request.message_id, to=request.reply_to),
        # azure-eventhub reads "status-description" for $cbs but "statusDescription" for $management.
        # The status code is an AMQP int, as the service sends it: the Java client casts it with `(int)`.
        application_properties={
            "status-code": Int(status),
            "status-description": description,
            "statusDescription": description,
        },
        value=body,
        has_value=body is not None,
    )
    return reply.encode()


def decode_reply(payload: bytes) -> Reply:
    message = Message.decode(payload)
    props = {text(k): v for k, v in (message.application_properties or {}).items()}
    status = int(props.get("status-code", props.get("statusCode", 0)) or 0)
    description = props.get("status-description") or props.get("statusDescription") or ""
    correlation = message.properties.correlation_id if message.properties else None
    return Reply(status, text(description), message.value, correlation)


def properties_body(kind: str, properties: dict[str, Any]) -> dict[Any, Any]:
    """A READ reply's body with the AMQP types the SDK reads (timestamps in ms, a string array)."""
    wire: dict[Any, Any] = {}
    for key, value in properties.items():
        if key in _TIMESTAMPS:
            value = Timestamp(value)
        elif key in _INTS:
            value = Int(value)
        elif key == "partition_ids":
            value = Array(value, element=str)
        wire[key] = value
    wire["type"] = kind
    return wire


def partition_properties(body: dict[Any, Any]) -> dict[str, Any]:
    """A partition READ reply as the SDK's `get_partition_properties` returns it."""
    values = {text(k): v for k, v in body.items()}
    enqueued_ms = int(values.get("last_enqueued_time_utc") or 0)
    return {
        "beginning_sequence_number": int(values["begin_sequence_number"]),
        "last_enqueued_sequence_number": int(values["last_enqueued_sequence_number"]),
        "last_enqueued_offset": str(values.get("last_enqueued_offset")),
        "last_enqueued_time_utc": datetime.fromtimestamp(enqueued_ms / 1000, UTC),
        "is_empty": bool(values.get("is_partition_empty")),
    }


def strict_text(value: Any, what: str) -> str:
    """`text` of a string, binary or null; InvalidFieldError (400) naming `what` for any other type."""
    if value is None or isinstance(value, str | bytes):
        return text(value)
    raise InvalidFieldError(f"{what} must be a string, got {type(value).__name__} {value!r:.60}")


def text(value: Any) -> str:
    """A property value as text: symbols and strings as they are, bytes decoded, None as ""."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
