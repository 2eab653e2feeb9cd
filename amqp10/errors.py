"""Protocol errors, and the AMQP error conditions the emulator raises.

As in h11, an error says which side broke the protocol: the remote peer (bad bytes, a frame out of
place) or this side (our own code asked for something the protocol forbids). Either one moves the
connection to its error state; nothing is left half-alive.
"""

from __future__ import annotations

from dataclasses import dataclass


class ProtocolError(Exception):
    """Base of all AMQP protocol errors; `condition` is the AMQP error condition to report."""

    condition = "amqp:internal-error"

    def __init__(self, message: str, condition: str | None = None) -> None:
        super().__init__(message)
        if condition is not None:
            self.condition = condition


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""

    condition = "amqp:not-allowed"


class LocalProtocolError(ProtocolError):
    """This side tried to do something the protocol (or the connection's state) does not allow."""


class DecodeError(RemoteProtocolError):
    """Bytes that are not a valid AMQP encoding, or that exceed a configured bound."""

    condition = "amqp:decode-error"


class FramingError(RemoteProtocolError):
    """A frame header or protocol header that cannot be right."""

    condition = "amqp:connection:framing-error"


@dataclass(frozen=True, slots=True)
class Condition:
    """An AMQP error condition, and whether a client may retry the operation that hit it."""

    name: str
    retriable: bool


# The conditions the emulator sends, keyed by the names the azure-eventhub SDK maps to its exceptions.
CONDITIONS = {
    c.name: c
    for c in (
        Condition("amqp:not-found", retriable=False),
        Condition("amqp:unauthorized-access", retriable=False),
        Condition("amqp:invalid-field", retriable=False),
        Condition("amqp:not-implemented", retriable=False),
        Condition("amqp:not-allowed", retriable=False),
        Condition("amqp:resource-limit-exceeded", retriable=False),
        Condition("amqp:internal-error", retriable=True),
        Condition("amqp:decode-error", retriable=False),
        Condition("amqp:precondition-failed", retriable=False),
        Condition("amqp:connection:forced", retriable=True),
        Condition("amqp:connection:framing-error", retriable=False),
        Condition("amqp:session:unattached-handle", retriable=False),
        Condition("amqp:session:handle-in-use", retriable=False),
        Condition("amqp:link:stolen", retriable=False),
        Condition("amqp:link:message-size-exceeded", retriable=False),
        Condition("amqp:link:detach-forced", retriable=True),
        Condition("com.microsoft:argument-out-of-range", retriable=False),
        Condition("com.microsoft:argument-error", retriable=False),
        Condition("com.microsoft:server-busy", retriable=True),
        Condition("com.microsoft:timeout", retriable=True),
    )
}
