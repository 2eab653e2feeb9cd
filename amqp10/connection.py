"""Either end of an AMQP 1.0 connection, sans-I/O: bytes in, events out, bytes to send.

    conn = Connection(container_id="emulator")                  # the service's end (the emulator)
    conn = Connection.client("reader", hostname="ns.example")   # the client's end (the Spark reader)
    conn.receive_data(data)            # bytes from the socket; b"" at end of stream
    while (event := conn.next_event()) is not NEED_DATA: ...
    socket.send(conn.data_to_send())

It owns protocol bookkeeping (headers, SASL, open/close, session windows, link credit, delivery ids,
multi-frame transfers, heartbeats) and hands the application only what it must decide: a link to accept
or refuse, a message that arrived, credit to spend. The two ends differ only in who speaks first (a
client sends the headers, SASL init and open, and begins sessions and attaches links); sessions, links,
transfers and flow are the same code. No sockets, no asyncio, no clock of its own.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .codec import Decoder, Limits
from .errors import FramingError, LocalProtocolError, ProtocolError, RemoteProtocolError
from .frames import (
    AMQP_HEADER,
    EMPTY_FRAME,
    HEADER_SIZE,
    MIN_MAX_FRAME_SIZE,
    SASL_HEADER,
    TYPE_AMQP,
    TYPE_SASL,
    Frame,
    TransferFields,
    encode_frame,
    encode_transfer,
    parse_frame,
    parse_transfer_frame,
)
from .performatives import (
    Accepted,
    Attach,
    Begin,
    Close,
    Composite,
    Detach,
    Disposition,
    End,
    Error,
    Flow,
    Open,
    Received,
    Rejected,
    SaslInit,
    SaslMechanisms,
    SaslOutcome,
    Source,
    Target,
    Transfer,
)
from .types import Symbol

SENDER = False  # AMQP role values
RECEIVER = True


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


# ---- events -------------------------------------------------------------------------------------------


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
class DeliveriesSettled:
    """The peer settled deliveries `first`..`last` (delivery ids) that we sent unsettled on `session`.

    `state` is the outcome: Accepted, or Rejected (with the peer's error), Released, Modified.
    """

    session: Session
    first: int
    last: int
    state: Any


@dataclass(frozen=True, slots=True)
class LinkDetached:
    link: Link
    error: Error | None


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The connection is over: `error` is the peer's, or ours if we closed it for a protocol error."""

    error: Error | None
    clean: bool


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


# ---- the connection's state machine, as data -----------------------------------------------------------


class State(enum.Enum):
    AWAIT_HEADER = "await protocol header"
    AWAIT_SASL_INIT = "await sasl-init"
    AWAIT_SASL_MECHANISMS = "await sasl-mechanisms"
    AWAIT_SASL_OUTCOME = "await sasl-outcome"
    AWAIT_AMQP_HEADER = "await AMQP header after SASL"
    AWAIT_OPEN = "await open"
    OPEN = "open"
    CLOSE_SENT = "close sent"
    CLOSED = "closed"
    ERROR = "error"


# (state, input) -> next state. An input missing here for the current state is a protocol error.
_OPEN_AND_CLOSE: dict[tuple[State, str], State] = {
    (State.AWAIT_AMQP_HEADER, "amqp header"): State.AWAIT_OPEN,
    (State.AWAIT_OPEN, "open"): State.OPEN,
    (State.OPEN, "close"): State.CLOSED,  # theirs, answered with ours at once
    (State.OPEN, "local close"): State.CLOSE_SENT,
    (State.CLOSE_SENT, "close"): State.CLOSED,
    # Frames that cross our close are read and dropped until theirs arrives.
    (State.CLOSE_SENT, "frame"): State.CLOSE_SENT,
    (State.OPEN, "frame"): State.OPEN,
}
# The service's end.
TRANSITIONS: dict[tuple[State, str], State] = {
    # Event Hubs clients start with SASL; a client may also skip it and open anonymously.
    (State.AWAIT_HEADER, "sasl header"): State.AWAIT_SASL_INIT,
    (State.AWAIT_HEADER, "amqp header"): State.AWAIT_OPEN,
    (State.AWAIT_SASL_INIT, "sasl accepted"): State.AWAIT_AMQP_HEADER,
    # A refused SASL outcome ends the connection: the peer may not go on to open it.
    (State.AWAIT_SASL_INIT, "sasl refused"): State.CLOSED,
    **_OPEN_AND_CLOSE,
}
# The client's end: it has sent the SASL header and waits for the service's answers.
CLIENT_TRANSITIONS: dict[tuple[State, str], State] = {
    (State.AWAIT_HEADER, "sasl header"): State.AWAIT_SASL_MECHANISMS,
    (State.AWAIT_SASL_MECHANISMS, "sasl mechanisms"): State.AWAIT_SASL_OUTCOME,
    (State.AWAIT_SASL_OUTCOME, "sasl accepted"): State.AWAIT_AMQP_HEADER,
    (State.AWAIT_SASL_OUTCOME, "sasl refused"): State.CLOSED,
    **_OPEN_AND_CLOSE,
}

# Our announced session window, in transfer frames; refreshed when half is used.
SESSION_WINDOW = 1 << 16
# Credit we grant a peer's sender unless told otherwise, refreshed when half is used.
RECEIVER_CREDIT = 1000


# ---- sessions and links -------------------------------------------------------------------------------


class LinkState(enum.Enum):
    ATTACHING = "attaching"
    ATTACHED = "attached"
    DETACHED = "detached"


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


@dataclass(eq=False, slots=True)
class Session:
    channel: int  # ours: the channel we send on
    remote_channel: int | None  # theirs; None until the peer answers a begin of ours
    next_incoming_id: int
    remote_incoming_window: int
    remote_outgoing_window: int
    incoming_window: int
    next_outgoing_id: int = 0
    next_delivery_id: int = 0
    links_by_remote_handle: dict[int, Link] = field(default_factory=dict)
    links_by_handle: dict[int, Link] = field(default_factory=dict)
    attaching: dict[str, Link] = field(default_factory=dict)  # ours, by name, until the peer answers
    ended: bool = False


_TAG = struct.Struct(">I")


class Connection:
    """One end of an AMQP connection. See the module docstring for the calling pattern."""

    def __init__(
        self,
        container_id: str,
        *,
        max_frame_size: int = 1 << 20,
        channel_max: int = 4999,
        idle_timeout_ms: int = 240_000,
        sasl_mechanisms: tuple[str, ...] = ("ANONYMOUS", "PLAIN"),
        check_plain: Callable[[str, str], bool] | None = None,
        limits: Limits | None = None,
        now: float = 0.0,
    ) -> None:
        self.container_id = container_id
        self.max_frame_size = max_frame_size
        self.channel_max = channel_max
        self.idle_timeout_ms = idle_timeout_ms
        self.sasl_mechanisms = sasl_mechanisms
        self.check_plain = check_plain
        self.state = State.AWAIT_HEADER
        self.remote_max_frame_size = MIN_MAX_FRAME_SIZE
        self.remote_idle_timeout_ms: int | None = None
        self.sasl_identity: str | None = None
        self.hostname: str | None = None
        self.sessions: dict[int, Session] = {}  # by the channel the peer sends on
        self.is_client = False
        self._transitions = TRANSITIONS
        self._sasl_init: SaslInit | None = None
        self._begun: dict[int, Session] = {}  # sessions we began, by our channel, until the peer answers
        self._decoder = Decoder(limits or Limits())
        self._in = bytearray()
        self._in_pos = 0
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self._eof = False
        self._closed_event_sent = False
        self._last_received = now
        self._last_sent = now

    @classmethod
    def client(
        cls,
        container_id: str,
        hostname: str,
        *,
        sasl_mechanism: str = "ANONYMOUS",
        sasl_plain: tuple[str, str] | None = None,
        max_frame_size: int = 1 << 20,
        idle_timeout_ms: int = 0,
        limits: Limits | None = None,
        now: float = 0.0,
    ) -> Connection:
        """The client's end: it starts SASL at once, opens once SASL succeeds, and begins sessions.

        `sasl_plain` is (user, password) for PLAIN; Event Hubs uses ANONYMOUS and then a `$cbs` token.
        """
        conn = cls(
            container_id, max_frame_size=max_frame_size, idle_timeout_ms=idle_timeout_ms,
            sasl_mechanisms=(sasl_mechanism,), limits=limits, now=now,
        )  # fmt: skip
        conn.is_client = True
        conn.hostname = hostname
        conn._transitions = CLIENT_TRANSITIONS
        response = None
        if sasl_plain is not None:
            response = b"\x00" + sasl_plain[0].encode() + b"\x00" + sasl_plain[1].encode()
        conn._sasl_init = SaslInit(sasl_mechanism, response, hostname)
        conn._send_raw(SASL_HEADER)
        return conn

    # ---- I/O side ---------------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float | None = None) -> None:
        """Feed bytes read from the peer; b"" means the peer closed its end."""
        if now is not None:
            self._last_received = now
        if not data:
            self._eof = True
        else:
            self._in += data

    def next_event(self) -> Event | _NeedData:
        """The next event, or NEED_DATA. Raises a ProtocolError (and queues a close) on a bad peer."""
        while not self._events:
            if self.state in (State.CLOSED, State.ERROR):
                break
            try:
                progressed = self._process_one()
            except ProtocolError as exc:
                self._fail(exc)
                raise
            if not progressed:
                break
        if self._events:
            return self._events.popleft()
        if self._eof or self.state in (State.CLOSED, State.ERROR):
            if not self._closed_event_sent:
                self._closed_event_sent = True
                clean = self.state is State.CLOSED
                return ConnectionClosed(None, clean)
        return NEED_DATA

    def data_to_send(self) -> bytes:
        data = b"".join(self._out)
        self._out.clear()
        return data

    @property
    def finished(self) -> bool:
        """Nothing more will be read: the transport may be closed once `data_to_send()` is flushed."""
        return self.state in (State.CLOSED, State.ERROR) or self._eof

    def check_timers(self, now: float) -> None:
        """Send a heartbeat if the peer's idle timeout is near; close if the peer has been silent too long."""
        if self.state is not State.OPEN:
            return
        if self.idle_timeout_ms and now - self._last_received > self.idle_timeout_ms / 1000:
            self.close(Error("amqp:resource-limit-exceeded", f"no frame for {self.idle_timeout_ms} ms"))
            return
        if self.remote_idle_timeout_ms and now - self._last_sent > self.remote_idle_timeout_ms / 2000:
            self._send_raw(EMPTY_FRAME, now)

    # ---- application side ---------------------------------------------------------------------------------

    def begin(self) -> Session:
        """Begin a session (a client's; once the connection is open). Links may attach on it at once."""
        if self.state is not State.OPEN:
            raise LocalProtocolError(f"cannot begin a session while the connection is '{self.state.value}'")
        used = set(self._begun) | {s.channel for s in self.sessions.values() if not s.ended}
        channel = next(c for c in range(len(used) + 1) if c not in used)
        if channel > self.channel_max:
            raise LocalProtocolError(f"no free channel: channel-max is {self.channel_max}")
        session = Session(channel, None, 0, 0, 0, SESSION_WINDOW)
        self._begun[channel] = session
        self._send(channel, Begin(None, 0, SESSION_WINDOW, 0xFFFFFFFF, handle_max=0xFFFF))
        return session

    def attach(
        self,
        session: Session,
        name: str,
        role: bool,
        *,
        source: Source | None = None,
        target: Target | None = None,
        properties: dict[Any, Any] | None = None,
        desired_capabilities: tuple[str, ...] = (),
        credit: int = RECEIVER_CREDIT,
        settled: bool = True,
    ) -> Link:
        """Attach a link of ours (`role` is ours); LinkAttached follows when the peer answers.

        A receiving link then keeps the peer's sender at `credit`. `settled` asks (and, when we send,
        promises) deliveries sent settled; a peer that sends them unsettled anyway gets them settled.
        """
        if name in session.attaching or any(link.name == name for link in session.links_by_handle.values()):
            raise LocalProtocolError(f"a link named {name!r} is already attached on this session")
        handle = next(h for h in range(len(session.links_by_handle) + 1) if h not in session.links_by_handle)
        link = Link(
            session=session, name=name, handle=handle, remote_handle=-1, role=role, source=source,
            target=target, properties={}, desired_capabilities=desired_capabilities, credit_window=credit,
        )  # fmt: skip
        session.links_by_handle[handle] = link
        session.attaching[name] = link
        self._send_attach(
            link, None, properties, None,
            desired_capabilities=desired_capabilities or None, snd_settle_mode=1 if settled else 2,
        )  # fmt: skip
        return link

    def accept_attach(
        self,
        link: Link,
        *,
        max_message_size: int | None = None,
        properties: dict[Any, Any] | None = None,
        offered_capabilities: tuple[str, ...] | None = None,
    ) -> None:
        self._require_link(link, LinkState.ATTACHING)
        link.max_message_size = max_message_size
        link.state = LinkState.ATTACHED
        self._send_attach(link, max_message_size, properties, offered_capabilities)
        if link.role == RECEIVER:
            link.credit = RECEIVER_CREDIT
            self._send_link_flow(link)

    def refuse_attach(self, link: Link, error: Error) -> None:
        """Answer an attach with a refusal: an attach echoing the terminus, then a closing detach."""
        self._require_link(link, LinkState.ATTACHING)
        self._send_attach(link, None, None, None)
        self._detach(link, error)

    def send_message(
        self, link: Link, payload: bytes, *, message_format: int = 0, settled: bool = True
    ) -> int:
        """Deliver one message on a sending link with credit; returns its delivery id.

        Unsettled (`settled=False`), the peer's disposition comes back as a DeliveriesSettled event.
        """
        if not link.can_send:
            raise LocalProtocolError(f"link {link.name!r} cannot send now (credit {link.credit})")
        session = link.session
        delivery_id = session.next_delivery_id
        session.next_delivery_id = (delivery_id + 1) & 0xFFFFFFFF
        tag = _TAG.pack(link.delivery_count & 0xFFFFFFFF)
        room = self.remote_max_frame_size - 64 - len(tag)
        view = memoryview(payload)
        chunks = [view[i : i + room] for i in range(0, len(payload), room)] or [view]
        frames = [
            encode_transfer(
                session.channel,
                link.handle,
                delivery_id,
                tag,
                message_format,
                settled,
                i < len(chunks) - 1,
                chunk,
            )
            for i, chunk in enumerate(chunks)
        ]
        session.next_outgoing_id = (session.next_outgoing_id + len(frames)) & 0xFFFFFFFF
        session.remote_incoming_window -= len(frames)
        link.delivery_count = (link.delivery_count + 1) & 0xFFFFFFFF
        link.credit -= 1
        self._out.extend(frames)
        return delivery_id

    def complete_drain(self, link: Link) -> None:
        """The application has nothing more for a draining link: spend the remaining credit."""
        if link.drain and link.credit > 0:
            link.delivery_count = (link.delivery_count + link.credit) & 0xFFFFFFFF
            link.credit = 0
        link.drain = False
        self._send_link_flow(link)

    def settle(
        self, link: Link, delivery_id: int, *, error: Error | None = None, last: int | None = None
    ) -> None:
        """Settle a received delivery (or the range up to `last`): accepted, or rejected with `error`."""
        state: Composite = Rejected(error) if error else Accepted()
        last = delivery_id if last is None else last
        self._send(link.session.channel, Disposition(RECEIVER, delivery_id, last, True, state))

    def detach(self, link: Link, error: Error | None = None) -> None:
        if link.state is LinkState.DETACHED:
            return
        self._detach(link, error)

    def close(self, error: Error | None = None) -> None:
        if self.state is State.OPEN:
            self._send(0, Close(error))
            self.state = TRANSITIONS[(self.state, "local close")]

    # ---- internals: reading ----------------------------------------------------------------------------

    def _process_one(self) -> bool:
        available = len(self._in) - self._in_pos
        if self.state in (State.AWAIT_HEADER, State.AWAIT_AMQP_HEADER):
            if available < HEADER_SIZE:
                if self._eof and available:
                    raise FramingError(f"stream ended inside the protocol header ({available} bytes)")
                return False
            header = bytes(self._in[self._in_pos : self._in_pos + HEADER_SIZE])
            self._consume(HEADER_SIZE)
            self._on_header(header)
            return True
        if self.state is State.OPEN:  # the hot path: a transfer read without building a Frame
            fast = parse_transfer_frame(self._in, self._in_pos, self.max_frame_size)
            if fast is not None:
                channel, fields, payload, end = fast
                self._consume(end - self._in_pos)
                self._transfer(channel, fields, payload)
                return True
        max_size = self.max_frame_size if self.state is not State.AWAIT_SASL_INIT else MIN_MAX_FRAME_SIZE
        parsed = parse_frame(self._in, self._in_pos, max_size, self._decoder)
        if parsed is None:
            if self._eof and available:
                raise FramingError(f"stream ended inside a frame ({available} bytes buffered)")
            return False
        frame, end = parsed
        self._consume(end - self._in_pos)
        self._on_frame(frame)
        return True

    def _consume(self, n: int) -> None:
        self._in_pos += n
        if self._in_pos > 65536 and self._in_pos * 2 > len(self._in):
            del self._in[: self._in_pos]
            self._in_pos = 0

    def _transition(self, what: str) -> None:
        try:
            self.state = self._transitions[(self.state, what)]
        except KeyError:
            raise RemoteProtocolError(f"unexpected {what} in state '{self.state.value}'") from None

    def _on_header(self, header: bytes) -> None:
        if self.is_client:
            expected = SASL_HEADER if self.state is State.AWAIT_HEADER else AMQP_HEADER
            if header != expected:
                raise FramingError(f"the peer answered protocol header {header!r}, not {expected!r}")
            self._transition("sasl header" if header == SASL_HEADER else "amqp header")
            return
        if header == SASL_HEADER:
            self._transition("sasl header")
            self._send_raw(SASL_HEADER)
            mechanisms = SaslMechanisms([Symbol(m) for m in self.sasl_mechanisms])
            self._send(0, mechanisms, frame_type=TYPE_SASL)
        elif header == AMQP_HEADER:
            self._transition("amqp header")
            self._send_raw(AMQP_HEADER)
        else:
            # The spec: answer with the header we do support, then close.
            self._send_raw(SASL_HEADER if self.state is State.AWAIT_HEADER else AMQP_HEADER)
            raise FramingError(f"unsupported protocol header {header!r}")

    def _on_frame(self, frame: Frame) -> None:
        body = frame.body
        if self.state in (State.AWAIT_SASL_MECHANISMS, State.AWAIT_SASL_OUTCOME):
            self._on_sasl_answer(frame)
            return
        if self.state is State.AWAIT_SASL_INIT:
            if frame.frame_type != TYPE_SASL or not isinstance(body, SaslInit):
                raise RemoteProtocolError(f"expected sasl-init, got {type(body).__name__}")
            self._on_sasl_init(body)
            return
        if frame.frame_type != TYPE_AMQP:
            raise RemoteProtocolError(f"SASL frame {type(body).__name__} after SASL finished")
        if self.state is State.AWAIT_OPEN:
            if not isinstance(body, Open):
                raise RemoteProtocolError(
                    f"expected open, got {type(body).__name__ if body else 'empty frame'}"
                )
            self._on_open(body)
            return
        if isinstance(body, Close):
            self._on_close(body)
            return
        self._transition("frame")
        if self.state is State.CLOSE_SENT or body is None:
            return
        handler = _FRAME_HANDLERS.get(type(body))
        if handler is None:
            raise RemoteProtocolError(f"unexpected {type(body).__name__} on an open connection")
        handler(self, frame.channel, body, frame.payload)

    def _on_sasl_init(self, init: SaslInit) -> None:
        ok = False
        if init.mechanism in self.sasl_mechanisms:
            if init.mechanism == "ANONYMOUS":
                ok = True
            elif init.mechanism == "PLAIN":
                parts = (init.initial_response or b"").split(b"\x00")
                if len(parts) == 3:
                    user, password = parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
                    ok = self.check_plain is None or self.check_plain(user, password)
                    self.sasl_identity = user if ok else None
        self.hostname = init.hostname
        self._send(0, SaslOutcome(0 if ok else 1), frame_type=TYPE_SASL)
        self._transition("sasl accepted" if ok else "sasl refused")

    def _on_sasl_answer(self, frame: Frame) -> None:
        body = frame.body
        init = self._sasl_init
        assert init is not None
        if self.state is State.AWAIT_SASL_MECHANISMS:
            if frame.frame_type != TYPE_SASL or not isinstance(body, SaslMechanisms):
                raise RemoteProtocolError(f"expected sasl-mechanisms, got {type(body).__name__}")
            offered = body.sasl_server_mechanisms
            offered = [offered] if isinstance(offered, str) else list(offered or ())
            if init.mechanism not in offered:
                raise RemoteProtocolError(f"the peer offers SASL {offered}, not {init.mechanism}")
            self._send(0, init, frame_type=TYPE_SASL)
            self._transition("sasl mechanisms")
            return
        if frame.frame_type != TYPE_SASL or not isinstance(body, SaslOutcome):
            raise RemoteProtocolError(f"expected sasl-outcome, got {type(body).__name__}")
        if body.code != 0:
            self._transition("sasl refused")
            self._closed_event_sent = True
            error = Error("amqp:unauthorized-access", f"SASL {init.mechanism} refused (outcome {body.code})")
            self._events.append(ConnectionClosed(error, clean=False))
            return
        self._transition("sasl accepted")
        self._send_raw(AMQP_HEADER)
        self._send(0, self._our_open(self.hostname))

    def _our_open(self, hostname: str | None) -> Open:
        return Open(
            container_id=self.container_id,
            hostname=hostname,
            max_frame_size=self.max_frame_size,
            channel_max=self.channel_max,
            idle_timeout=self.idle_timeout_ms or None,
        )

    def _on_open(self, open_: Open) -> None:
        self._transition("open")
        self.remote_max_frame_size = max(MIN_MAX_FRAME_SIZE, min(open_.max_frame_size, 0xFFFFFFFF))
        self.remote_idle_timeout_ms = open_.idle_timeout or None
        self.channel_max = min(self.channel_max, open_.channel_max)
        if self.is_client:  # ours went out when SASL succeeded
            self._events.append(ConnectionOpened(open_.container_id, open_.hostname))
            return
        self.hostname = open_.hostname or self.hostname
        self._send(
            0,
            self._our_open(open_.hostname),
        )
        self._events.append(ConnectionOpened(open_.container_id, open_.hostname))

    def _on_close(self, close: Close) -> None:
        previous = self.state
        self._transition("close")
        if previous is State.OPEN:
            self._send(0, Close())
        self._closed_event_sent = True
        self._events.append(ConnectionClosed(close.error, clean=True))

    def _session(self, channel: int) -> Session | None:
        """The session on `channel`; None if it has ended (the SDK detaches links after ending a session)."""
        session = self.sessions.get(channel)
        if session is None:
            raise RemoteProtocolError(f"frame on channel {channel}, which has no session")
        return None if session.ended else session

    def _on_begin(self, channel: int, begin: Begin, _payload: bytes) -> None:
        if begin.remote_channel is not None:
            ours = self._begun.pop(begin.remote_channel, None)
            if ours is None:
                raise RemoteProtocolError(f"begin answers channel {begin.remote_channel}, where none began")
            ours.remote_channel = channel
            ours.next_incoming_id = begin.next_outgoing_id
            ours.remote_incoming_window = begin.incoming_window
            ours.remote_outgoing_window = begin.outgoing_window
            self.sessions[channel] = ours
            return
        if self.is_client:
            raise RemoteProtocolError("the peer began a session: a client accepts none")
        if channel > self.channel_max:
            raise RemoteProtocolError(f"channel {channel} exceeds channel-max {self.channel_max}")
        if channel in self.sessions and not self.sessions[channel].ended:
            raise RemoteProtocolError(f"channel {channel} already has a session")
        # Our channel numbers mirror the peer's: one session per channel either way.
        session = Session(
            channel=channel,
            remote_channel=channel,
            next_incoming_id=begin.next_outgoing_id,
            remote_incoming_window=begin.incoming_window,
            remote_outgoing_window=begin.outgoing_window,
            incoming_window=SESSION_WINDOW,
        )
        self.sessions[channel] = session
        self._send(channel, Begin(channel, 0, SESSION_WINDOW, 0xFFFFFFFF, handle_max=0xFFFF))

    def _on_end(self, channel: int, end: End, _payload: bytes) -> None:
        session = self._session(channel)
        if session is None:
            return
        for link in list(session.links_by_handle.values()):
            if link.state is not LinkState.DETACHED:
                link.state = LinkState.DETACHED
                self._events.append(LinkDetached(link, end.error))
        session.ended = True
        self._send(channel, End())

    def _on_attach(self, channel: int, attach: Attach, _payload: bytes) -> None:
        session = self._session(channel)
        if session is None:
            return
        if attach.handle in session.links_by_remote_handle:
            raise RemoteProtocolError(
                f"attach on handle {attach.handle}, which is in use", "amqp:session:handle-in-use"
            )
        ours = session.attaching.pop(attach.name, None)
        if ours is not None:
            self._on_attach_answer(ours, attach)
            return
        if self.is_client:
            raise RemoteProtocolError(f"the peer attached link {attach.name!r}: a client accepts none")
        handle = next(h for h in range(len(session.links_by_handle) + 1) if h not in session.links_by_handle)
        caps = attach.desired_capabilities
        link = Link(
            session=session,
            name=attach.name,
            handle=handle,
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
        session.links_by_remote_handle[attach.handle] = link
        session.links_by_handle[handle] = link
        self._events.append(LinkAttaching(link))

    def _on_attach_answer(self, link: Link, attach: Attach) -> None:
        link.remote_handle = attach.handle
        link.properties = dict(attach.properties or {})
        link.session.links_by_remote_handle[attach.handle] = link
        link.state = LinkState.ATTACHED
        if link.role == RECEIVER:
            link.delivery_count = attach.initial_delivery_count or 0
        self._events.append(LinkAttached(link, attach))
        # A refusal answers with no terminus and then detaches: no credit for it.
        if link.role == RECEIVER and attach.source is not None:
            link.credit = link.credit_window
            self._send_link_flow(link)

    def _on_detach(self, channel: int, detach: Detach, _payload: bytes) -> None:
        session = self._session(channel)
        if session is None:
            return
        link = session.links_by_remote_handle.pop(detach.handle, None)
        if link is None:
            raise RemoteProtocolError(
                f"detach of handle {detach.handle}, which is not attached", "amqp:session:unattached-handle"
            )
        if link.state is not LinkState.DETACHED:
            link.state = LinkState.DETACHED
            self._send(channel, Detach(link.handle, closed=detach.closed))
            self._events.append(LinkDetached(link, detach.error))
        session.links_by_handle.pop(link.handle, None)

    def _on_flow(self, channel: int, flow: Flow, _payload: bytes) -> None:
        session = self._session(channel)
        if session is None:
            return
        next_incoming = flow.next_incoming_id if flow.next_incoming_id is not None else 0
        window_was_shut = session.remote_incoming_window <= 0
        session.remote_incoming_window = next_incoming + flow.incoming_window - session.next_outgoing_id
        session.remote_outgoing_window = flow.outgoing_window
        if flow.handle is None:
            if flow.echo:
                self._send_session_flow(session)
            if window_was_shut and session.remote_incoming_window > 0:
                # Links that kept their credit while the session window was shut may deliver again.
                self._events.extend(
                    CreditGranted(link) for link in session.links_by_handle.values() if link.can_send
                )
            return
        link = session.links_by_remote_handle.get(flow.handle)
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

    def _on_transfer(self, channel: int, transfer: Transfer, payload: bytes) -> None:
        t = transfer
        fields = (t.handle, t.delivery_id, t.delivery_tag, t.message_format, t.settled, t.more, t.aborted)
        self._transfer(channel, fields, payload)

    def _transfer(self, channel: int, fields: TransferFields, payload: bytes) -> None:
        handle, delivery_id, tag, message_format, settled, more, aborted = fields
        session = self._session(channel)
        if session is None:
            return
        session.next_incoming_id = (session.next_incoming_id + 1) & 0xFFFFFFFF
        session.incoming_window -= 1
        if session.incoming_window < SESSION_WINDOW // 2:
            session.incoming_window = SESSION_WINDOW
            self._send_session_flow(session)
        link = session.links_by_remote_handle.get(handle)
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
                self.settle(link, first[1], error=error)
            return
        self._delivered(link, first[1], first[2], first[3], first[4], data)

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

    def _on_disposition(self, channel: int, disposition: Disposition, _payload: bytes) -> None:
        session = self._session(channel)
        if session is None or disposition.role != RECEIVER:
            return  # a sender's word on deliveries we received: we settle those at once ourselves
        # The receiver's outcome for deliveries we sent unsettled (ours sent settled get none).
        first = disposition.first
        last = first if disposition.last is None else disposition.last
        if isinstance(disposition.state, Received) and not disposition.settled:
            return  # progress on a partly received delivery: no outcome yet
        if disposition.state is not None or disposition.settled:
            self._events.append(DeliveriesSettled(session, first, last, disposition.state))
        if not disposition.settled:  # rcv-settle-mode second: the sender settles last
            self._send(channel, Disposition(SENDER, first, last, True, disposition.state))

    # ---- internals: writing -----------------------------------------------------------------------------

    def _require_link(self, link: Link, state: LinkState) -> None:
        if link.state is not state:
            raise LocalProtocolError(f"link {link.name!r} is {link.state.value}, not {state.value}")

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
        self._send(link.session.channel, attach)

    def _detach(self, link: Link, error: Error | None) -> None:
        link.state = LinkState.DETACHED
        self._send(link.session.channel, Detach(link.handle, closed=True, error=error))

    def _send_session_flow(self, session: Session) -> None:
        self._send(session.channel, self._flow(session))

    def _send_link_flow(self, link: Link) -> None:
        flow = self._flow(link.session)
        flow = Flow(
            flow.next_incoming_id, flow.incoming_window, flow.next_outgoing_id, flow.outgoing_window,
            handle=link.handle, delivery_count=link.delivery_count, link_credit=max(0, link.credit),
            drain=link.drain,
        )  # fmt: skip
        self._send(link.session.channel, flow)

    @staticmethod
    def _flow(session: Session) -> Flow:
        return Flow(session.next_incoming_id, session.incoming_window, session.next_outgoing_id, 0xFFFFFFFF)

    def _send(self, channel: int, body: Composite, frame_type: int = TYPE_AMQP) -> None:
        self._send_raw(encode_frame(channel, body, frame_type=frame_type))

    def _send_raw(self, data: bytes, now: float | None = None) -> None:
        self._out.append(data)
        if now is not None:
            self._last_sent = now

    def note_sent(self, now: float) -> None:
        """Tell the connection that bytes went out at `now` (for heartbeats)."""
        self._last_sent = now

    def _fail(self, exc: ProtocolError) -> None:
        # A close must follow an open: before the peer's open, we open only to say why we close.
        if self.state is State.AWAIT_OPEN and not self.is_client:  # a client's open went out already
            self._send(0, Open(container_id=self.container_id))
        if self.state in (State.AWAIT_OPEN, State.OPEN):
            self._send(0, Close(Error(exc.condition, str(exc))))
        self.state = State.ERROR


_FRAME_HANDLERS: dict[type, Callable[[Connection, int, Any, bytes], None]] = {
    Begin: Connection._on_begin,
    End: Connection._on_end,
    Attach: Connection._on_attach,
    Detach: Connection._on_detach,
    Flow: Connection._on_flow,
    Transfer: Connection._on_transfer,
    Disposition: Connection._on_disposition,
}
