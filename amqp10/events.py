"""What a connection hands the application: small frozen events, and NEED_DATA when it has none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .performatives import Attach, Error

if TYPE_CHECKING:
    from .session import Link, Session


__all__ = [
    "NEED_DATA", "ConnectionClosed", "ConnectionOpened", "CreditGranted", "DeliveriesSettled", "Event",
    "LinkAttached", "LinkAttaching", "LinkDetached", "MessageReceived",
]  # fmt: skip


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(frozen=True, slots=True)
class ConnectionOpened:
    container_id: str
    hostname: str | None


@dataclass(frozen=True, slots=True)
class LinkAttached:
    """The peer answered an attach of ours: the link is usable (a detach follows if it was refused)."""

    link: Link
    remote: Attach


@dataclass(frozen=True, slots=True)
class LinkAttaching:
    """The peer attached a link: answer with `accept_attach` or `refuse_attach`."""

    link: Link


@dataclass(frozen=True, slots=True)
class CreditGranted:
    """The peer granted credit on one of our sending links (or asked us to drain it)."""

    link: Link


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A whole delivery arrived on one of our receiving links; settle it with `settle`."""

    link: Link
    delivery_id: int
    delivery_tag: bytes
    message_format: int
    payload: bytes
    settled: bool


@dataclass(frozen=True, slots=True)
class LinkDetached:
    link: Link
    error: Error | None


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The connection is over: `error` is the peer's, or ours if we closed it for a protocol error."""

    error: Error | None
    clean: bool


@dataclass(frozen=True, slots=True)
class DeliveriesSettled:
    """The peer settled deliveries `first`..`last` (delivery ids) that we sent unsettled on `session`.

    `state` is the outcome: Accepted, or Rejected (with the peer's error), Released, Modified.
    """

    session: Session
    first: int
    last: int
    state: Any


Event = (
    ConnectionOpened
    | LinkAttached
    | LinkAttaching
    | CreditGranted
    | MessageReceived
    | DeliveriesSettled
    | LinkDetached
    | ConnectionClosed
)
