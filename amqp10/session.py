"""A session and its links: what each frame on a session's channel does, and what the application asks
of a link (accept or refuse it, settle what it received, detach it; sending is `Connection.send_message`).

A session writes its frames into its connection's outgoing list and its events into the connection's
queue, which it shares; which channel a frame belongs to, and the connection's own state, are the
connection's business (`connection.py`).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    CreditGranted,
    DeliveriesSettled,
    Event,
    LinkAttached,
    LinkAttaching,
    LinkDetached,
    MessageReceived,
)
from .frames import TransferFields, encode_frame
from .performatives import (
    Accepted,
    Attach,
    Begin,
    Composite,
    Detach,
    Disposition,
    End,
    Error,
    Flow,
    Received,
    Rejected,
    Source,
    Target,
    Transfer,
)
from .states import LINK_TRANSITIONS, SESSION_TRANSITIONS, LinkState, SessionState, transition

SENDER = False  # AMQP role values
RECEIVER = True

# Our announced session window, in transfer frames; refreshed when half is used.
SESSION_WINDOW = 1 << 16
# Credit we grant a peer's sender unless told otherwise, refreshed when half is used.
RECEIVER_CREDIT = 1000


@dataclass(eq=False, slots=True)
class Link:
    """One link end. `role` is *our* role: SENDER when we deliver to the peer."""

    session: Session
    name: str
    handle: int
    remote_handle: int
    role: bool
    source: Source | None
    target: Target | None
    properties: dict[Any, Any]
    desired_capabilities: tuple[str, ...]
    state: LinkState = LinkState.ATTACHING
    delivery_count: int = 0
    credit: int = 0
    drain: bool = False
    max_message_size: int | None = None
    credit_window: int = RECEIVER_CREDIT  # on a receiving link: the credit we keep the peer's sender at
    context: Any = None  # the application's own state for this link
    _partial: bytearray | None = None
    _partial_first: TransferFields | None = None
    _partial_oversize: bool = False

    @property
    def address(self) -> str | None:
        end = self.source if self.role == SENDER else self.target
        return end.address if end is not None else None

    @property
    def can_send(self) -> bool:
        return (
            self.state is LinkState.ATTACHED
            and self.role == SENDER
            and self.credit > 0
            and self.session.remote_incoming_window > 0
        )

    def _transition(self, what: str) -> LinkState:
        """Apply `what` (see LINK_TRANSITIONS) and return the state it left."""
        previous = self.state
        self.state = transition(LINK_TRANSITIONS, previous, what, f" on link {self.name!r}")
        return previous


@dataclass(eq=False, slots=True)
class Session:
    channel: int  # ours: the channel we send on
    remote_channel: int | None  # theirs; None until the peer answers a begin of ours
    next_incoming_id: int
    remote_incoming_window: int
    remote_outgoing_window: int
    incoming_window: int
    state: SessionState
    # The connection's outgoing frames and event queue, shared with it.
    _out: list[bytes] = field(repr=False)
    _events: deque[Event] = field(repr=False)
    client: bool = False  # a client's session accepts no link the peer attaches
    next_outgoing_id: int = 0
    next_delivery_id: int = 0
    links_by_remote_handle: dict[int, Link] = field(default_factory=dict)
    links_by_handle: dict[int, Link] = field(default_factory=dict)
    attaching: dict[str, Link] = field(default_factory=dict)  # ours, by name, until the peer answers
    # The highest handle the peer may attach on (the handle-max we announced): at most that many + 1
    # links per session. Beyond it the spec's answer is closing the connection with framing-error.
    handle_max: int = 0xFFFF
    # Our handles: the next never used, and those freed since (a heap: the lowest is reused first).
    _next_handle: int = 0
    _freed_handles: list[int] = field(default_factory=list)

    # ---- what the application asks, through the Connection's methods of the same purpose ------------

    def attach(
        self,
        name: str,
        role: bool,
        source: Source | None,
        target: Target | None,
        properties: dict[Any, Any] | None,
        desired_capabilities: tuple[str, ...],
        credit: int,
        settled: bool,
    ) -> Link:
        """See `Connection.attach`."""
        if name in self.attaching or any(link.name == name for link in self.links_by_handle.values()):
            raise LocalProtocolError(f"a link named {name!r} is already attached on this session")
        link = Link(
            session=self, name=name, handle=self._free_handle(), remote_handle=-1, role=role, source=source,
            target=target, properties={}, desired_capabilities=desired_capabilities, credit_window=credit,
        )  # fmt: skip
        self.links_by_handle[link.handle] = link
        self.attaching[name] = link
        self._send_attach(
            link, None, properties, None,
            desired_capabilities=desired_capabilities or None, snd_settle_mode=1 if settled else 2,
        )  # fmt: skip
        return link

    def accept(
        self,
        link: Link,
        max_message_size: int | None,
        properties: dict[Any, Any] | None,
        offered_capabilities: tuple[str, ...] | None,
    ) -> None:
        link._transition("local accept")
        link.max_message_size = max_message_size
        self._send_attach(link, max_message_size, properties, offered_capabilities)
        if link.role == RECEIVER:
            link.credit = RECEIVER_CREDIT
            self._send_link_flow(link)

    def refuse(self, link: Link, error: Error) -> None:
        link._transition("local refuse")
        self._send_attach(link, None, None, None)
        self._send(Detach(link.handle, closed=True, error=error))

    def detach(self, link: Link, error: Error | None) -> None:
        if link._transition("local detach") is not LinkState.DETACHED:
            self._send(Detach(link.handle, closed=True, error=error))

    def complete_drain(self, link: Link) -> None:
        if link.drain and link.credit > 0:
            link.delivery_count = (link.delivery_count + link.credit) & 0xFFFFFFFF
            link.credit = 0
        link.drain = False
        self._send_link_flow(link)

    def settle(self, delivery_id: int, last: int, error: Error | None) -> None:
        state: Composite = Rejected(error) if error else Accepted()
        self._send(Disposition(RECEIVER, delivery_id, last, True, state))

    # ---- what the peer sends on the session's channel -----------------------------------------------

    def on_begin_answer(self, channel: int, begin: Begin) -> None:
        self.state = transition(SESSION_TRANSITIONS, self.state, "begin", f" on channel {self.channel}")
        self.remote_channel = channel
        self.next_incoming_id = begin.next_outgoing_id
        self.remote_incoming_window = begin.incoming_window
        self.remote_outgoing_window = begin.outgoing_window

    def on_end(self, end: End, _payload: bytes) -> None:
        self.state = transition(SESSION_TRANSITIONS, self.state, "end", f" on channel {self.channel}")
        for link in list(self.links_by_handle.values()):
            if link._transition("end") is not LinkState.DETACHED:
                self._events.append(LinkDetached(link, end.error))
        self._send(End())

    def on_attach(self, attach: Attach, _payload: bytes) -> None:
        if attach.handle > self.handle_max:
            raise RemoteProtocolError(
                f"attach on handle {attach.handle}, above the handle-max {self.handle_max} of channel "
                f"{self.channel}: at most {self.handle_max + 1} links per session",
                "amqp:connection:framing-error",
            )
        if attach.handle in self.links_by_remote_handle:
            raise RemoteProtocolError(
                f"attach on handle {attach.handle}, which is in use", "amqp:session:handle-in-use"
            )
        ours = self.attaching.pop(attach.name, None)
        if ours is not None:
            self._on_attach_answer(ours, attach)
            return
        if self.client:
            raise RemoteProtocolError(f"the peer attached link {attach.name!r}: a client accepts none")
        caps = attach.desired_capabilities
        link = Link(
            session=self,
            name=attach.name,
            handle=self._free_handle(),
            remote_handle=attach.handle,
            role=not attach.role,
            source=attach.source,
            target=attach.target,
            properties=dict(attach.properties or {}),
            desired_capabilities=tuple([caps] if isinstance(caps, str) else caps or ()),
        )
        if link.role == SENDER:
            link.delivery_count = 0
        else:
            link.delivery_count = attach.initial_delivery_count or 0
        self.links_by_remote_handle[attach.handle] = link
        self.links_by_handle[link.handle] = link
        self._events.append(LinkAttaching(link))

    def _on_attach_answer(self, link: Link, attach: Attach) -> None:
        link.remote_handle = attach.handle
        link.properties = dict(attach.properties or {})
        self.links_by_remote_handle[attach.handle] = link
        link._transition("attach")
        if link.role == RECEIVER:
            link.delivery_count = attach.initial_delivery_count or 0
        self._events.append(LinkAttached(link, attach))
        # A refusal answers with no terminus and then detaches: no credit for it.
        if link.role == RECEIVER and attach.source is not None:
            link.credit = link.credit_window
            self._send_link_flow(link)

    def on_detach(self, detach: Detach, _payload: bytes) -> None:
        link = self.links_by_remote_handle.pop(detach.handle, None)
        if link is None:
            raise RemoteProtocolError(
                f"detach of handle {detach.handle}, which is not attached", "amqp:session:unattached-handle"
            )
        if link._transition("detach") is not LinkState.DETACHED:
            self._send(Detach(link.handle, closed=detach.closed))
            self._events.append(LinkDetached(link, detach.error))
        if self.links_by_handle.pop(link.handle, None) is not None:
            heapq.heappush(self._freed_handles, link.handle)

    def on_flow(self, flow: Flow, _payload: bytes) -> None:
        next_incoming = flow.next_incoming_id if flow.next_incoming_id is not None else 0
        window_was_shut = self.remote_incoming_window <= 0
        self.remote_incoming_window = next_incoming + flow.incoming_window - self.next_outgoing_id
        self.remote_outgoing_window = flow.outgoing_window
        if flow.handle is None:
            if flow.echo:
                self._send(self._flow())
            if window_was_shut and self.remote_incoming_window > 0:
                # Links that kept their credit while the session window was shut may deliver again.
                self._events.extend(
                    CreditGranted(link) for link in self.links_by_handle.values() if link.can_send
                )
            return
        link = self.links_by_remote_handle.get(flow.handle)
        if link is None:
            raise RemoteProtocolError(
                f"flow for handle {flow.handle}, which is not attached", "amqp:session:unattached-handle"
            )
        if link.role == SENDER and flow.link_credit is not None:
            their_count = flow.delivery_count if flow.delivery_count is not None else 0
            link.credit = max(0, their_count + flow.link_credit - link.delivery_count)
            link.drain = flow.drain
            if link.state is LinkState.ATTACHED:
                self._events.append(CreditGranted(link))
        if flow.echo:
            self._send_link_flow(link)

    def on_transfer_frame(self, transfer: Transfer, payload: bytes) -> None:
        t = transfer
        fields = (t.handle, t.delivery_id, t.delivery_tag, t.message_format, t.settled, t.more, t.aborted)
        self.on_transfer(fields, payload)

    def on_transfer(self, fields: TransferFields, payload: bytes) -> None:
        """A transfer frame, as the connection's fast path reads it."""
        handle, delivery_id, tag, message_format, settled, more, aborted = fields
        self.next_incoming_id = (self.next_incoming_id + 1) & 0xFFFFFFFF
        self.incoming_window -= 1
        if self.incoming_window < SESSION_WINDOW // 2:
            self.incoming_window = SESSION_WINDOW
            self._send(self._flow())
        link = self.links_by_remote_handle.get(handle)
        if link is None:
            raise RemoteProtocolError(
                f"transfer on handle {handle}, which is not attached", "amqp:session:unattached-handle"
            )
        if link.role != RECEIVER:
            raise RemoteProtocolError(f"transfer on link {link.name!r}, which does not receive")
        if link.state is not LinkState.ATTACHED:
            return  # it crossed our detach: the spec says to drop it
        limit = link.max_message_size
        if link._partial is None:
            if delivery_id is None:
                raise RemoteProtocolError("the first transfer of a delivery has no delivery-id")
            if aborted:
                return
            if not more and not (limit and len(payload) > limit):  # a whole message in one frame
                self._delivered(link, delivery_id, tag, message_format, settled, payload)
                return
            link._partial = bytearray()
            link._partial_first = fields
            link._partial_oversize = False
        if aborted:
            link._partial = None
            return
        if limit and len(link._partial) + len(payload) > limit:
            link._partial_oversize = True  # keep reading the frames, drop their bytes
        elif not link._partial_oversize:
            link._partial += payload
        if more:
            return
        first = link._partial_first
        assert first is not None and first[1] is not None
        data, oversize = bytes(link._partial), link._partial_oversize
        link._partial = None
        if oversize:
            link.delivery_count = (link.delivery_count + 1) & 0xFFFFFFFF
            link.credit -= 1
            self._top_up_credit(link)
            if not first[4]:
                error = Error(
                    "amqp:link:message-size-exceeded",
                    f"the message exceeds the link's max-message-size of {limit} bytes",
                )
                self.settle(first[1], first[1], error)
            return
        self._delivered(link, first[1], first[2], first[3], first[4], data)

    def on_disposition(self, disposition: Disposition, _payload: bytes) -> None:
        if disposition.role != RECEIVER:
            return  # a sender's word on deliveries we received: we settle those at once ourselves
        # The receiver's outcome for deliveries we sent unsettled (ours sent settled get none).
        first = disposition.first
        last = first if disposition.last is None else disposition.last
        if isinstance(disposition.state, Received) and not disposition.settled:
            return  # progress on a partly received delivery: no outcome yet
        if disposition.state is not None or disposition.settled:
            self._events.append(DeliveriesSettled(self, first, last, disposition.state))
        if not disposition.settled:  # rcv-settle-mode second: the sender settles last
            self._send(Disposition(SENDER, first, last, True, disposition.state))

    # ---- internals ----------------------------------------------------------------------------------

    def _delivered(
        self,
        link: Link,
        delivery_id: int,
        tag: bytes | None,
        message_format: int | None,
        settled: bool | None,
        data: bytes,
    ) -> None:
        link.delivery_count = (link.delivery_count + 1) & 0xFFFFFFFF
        link.credit -= 1
        self._top_up_credit(link)
        self._events.append(
            MessageReceived(link, delivery_id, tag or b"", message_format or 0, data, bool(settled))
        )

    def _top_up_credit(self, link: Link) -> None:
        if link.credit < link.credit_window // 2:
            link.credit = link.credit_window
            self._send_link_flow(link)

    def _free_handle(self) -> int:
        """The lowest handle not in use, in O(log n): a freed one, else the next never used."""
        while self._freed_handles:
            handle = heapq.heappop(self._freed_handles)
            if handle not in self.links_by_handle:
                return handle
        handle = self._next_handle
        self._next_handle += 1
        return handle

    def _send_attach(
        self,
        link: Link,
        max_message_size: int | None,
        properties: dict[Any, Any] | None,
        offered_capabilities: tuple[str, ...] | None,
        *,
        desired_capabilities: tuple[str, ...] | None = None,
        snd_settle_mode: int | None = None,
    ) -> None:
        if snd_settle_mode is None:
            snd_settle_mode = 1 if link.role == SENDER else 0  # we send settled; we accept mixed
        attach = Attach(
            name=link.name,
            handle=link.handle,
            role=link.role,
            snd_settle_mode=snd_settle_mode,
            rcv_settle_mode=0,
            source=link.source,
            target=link.target,
            initial_delivery_count=link.delivery_count if link.role == SENDER else None,
            max_message_size=max_message_size,
            offered_capabilities=offered_capabilities,
            desired_capabilities=desired_capabilities,
            properties=properties,
        )
        self._send(attach)

    def _send_link_flow(self, link: Link) -> None:
        flow = self._flow()
        flow = Flow(
            flow.next_incoming_id, flow.incoming_window, flow.next_outgoing_id, flow.outgoing_window,
            handle=link.handle, delivery_count=link.delivery_count, link_credit=max(0, link.credit),
            drain=link.drain,
        )  # fmt: skip
        self._send(flow)

    def _flow(self) -> Flow:
        return Flow(self.next_incoming_id, self.incoming_window, self.next_outgoing_id, 0xFFFFFFFF)

    def _send(self, body: Composite) -> None:
        self._out.append(encode_frame(self.channel, body))


# What each frame on a session's channel does; a begin is the connection's (it picks the session).
SESSION_FRAMES: dict[type, Callable[[Session, Any, bytes], None]] = {
    End: Session.on_end,
    Attach: Session.on_attach,
    Detach: Session.on_detach,
    Flow: Session.on_flow,
    Transfer: Session.on_transfer_frame,
    Disposition: Session.on_disposition,
}
