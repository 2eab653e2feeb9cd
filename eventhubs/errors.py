"""Event Hubs errors, keyed by their AMQP condition: one registry for the service's refusals and the
client's view of them.

The emulator raises these and sends `condition` and `description` back (on a detach, a close, a
disposition, or a `$cbs`/`$management` reply with `status_code`); hubstream's client turns what the
service sent back into the same classes with `error_for`. `retryable` says whether trying the same
operation again may succeed, as the azure-eventhub SDK's `_error.py` decides it per condition.
"""

from __future__ import annotations


class EventHubsError(Exception):
    """A refusal or failure the service reports; `description` is safe to show (it names no key)."""

    condition = "amqp:internal-error"
    status_code = 500  # what a request/response node ($cbs, $management) answers with
    retryable = True

    def __init__(self, description: str, condition: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        if condition is not None:
            self.condition = condition


class NotFoundError(EventHubsError):
    condition = "amqp:not-found"
    status_code = 404
    retryable = False


class UnauthorizedError(EventHubsError):
    condition = "amqp:unauthorized-access"
    status_code = 401
    retryable = False


class InvalidFieldError(EventHubsError):
    condition = "amqp:invalid-field"
    status_code = 400
    retryable = False


class NotAllowedError(EventHubsError):
    condition = "amqp:not-allowed"
    status_code = 400
    retryable = False


class NotImplementedByServiceError(EventHubsError):
    condition = "amqp:not-implemented"
    status_code = 501
    retryable = False


class DecodeFailedError(EventHubsError):
    condition = "amqp:decode-error"
    status_code = 400
    retryable = False


class ResourceLimitError(EventHubsError):
    condition = "amqp:resource-limit-exceeded"
    status_code = 403
    retryable = False


class LinkStolenError(EventHubsError):
    """A receiver with a higher epoch took the partition over."""

    condition = "amqp:link:stolen"
    status_code = 410
    retryable = False


class MessageSizeExceededError(EventHubsError):
    condition = "amqp:link:message-size-exceeded"
    status_code = 413
    retryable = False


class ArgumentOutOfRangeError(EventHubsError):
    condition = "com.microsoft:argument-out-of-range"
    status_code = 400
    retryable = False


class ArgumentError(EventHubsError):
    condition = "com.microsoft:argument-error"
    status_code = 400
    retryable = False


class ServerBusyError(EventHubsError):
    condition = "com.microsoft:server-busy"
    status_code = 503


class OperationTimeoutError(EventHubsError):
    condition = "com.microsoft:timeout"
    status_code = 408


class DetachForcedError(EventHubsError):
    condition = "amqp:link:detach-forced"


class ConnectionForcedError(EventHubsError):
    condition = "amqp:connection:forced"


class ConnectionLostError(EventHubsError):
    """The connection ended (the socket failed, or the service closed it): a new one may succeed."""

    condition = "amqp:connection:forced"


REGISTRY: dict[str, type[EventHubsError]] = {
    cls.condition: cls
    for cls in (
        EventHubsError,
        NotFoundError,
        UnauthorizedError,
        InvalidFieldError,
        NotAllowedError,
        NotImplementedByServiceError,
        DecodeFailedError,
        ResourceLimitError,
        LinkStolenError,
        MessageSizeExceededError,
        ArgumentOutOfRangeError,
        ArgumentError,
        ServerBusyError,
        OperationTimeoutError,
        DetachForcedError,
        ConnectionForcedError,
    )
}
_BY_STATUS: dict[int, type[EventHubsError]] = {401: UnauthorizedError, 404: NotFoundError}


def error_for(condition: str | None, description: str) -> EventHubsError:
    """The exception for a condition the service sent; an unknown condition keeps its name in the text."""
    cls = REGISTRY.get(condition or "")
    return cls(description) if cls is not None else EventHubsError(description, condition)


def error_for_status(status_code: int, description: str) -> EventHubsError:
    """The exception for a `$cbs`/`$management` reply's status code (401 and 404 have their own)."""
    return _BY_STATUS.get(status_code, EventHubsError)(description)
