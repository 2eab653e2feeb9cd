"""Protocol errors: which side broke the AMQP protocol.

As in h11, an error says which side broke the protocol: the remote peer (bad bytes, a frame out of
place) or this side (our own code asked for something the protocol forbids). Either one moves the
connection to its error state; nothing is left half-alive.
"""

from __future__ import annotations


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
