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

This module is the connection itself: headers, SASL, open and close, channels, heartbeats. What happens
on a session's channel is `session.py`; the state tables are `states.py`; the events `events.py`.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from . import events
from .codec import Decoder, Limits
from .errors import FramingError, LocalProtocolError, ProtocolError, RemoteProtocolError
from .events import *  # noqa: F403  (the events are this module's to hand on, as before they moved)
from .events import (
    NEED_DATA,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    _NeedData,
)
from .frames import (
    AMQP_HEADER,
    EMPTY_FRAME,
    HEADER_SIZE,
    MIN_MAX_FRAME_SIZE,
    SASL_HEADER,
    TYPE_AMQP,
    TYPE_SASL,
    Frame,
    encode_frame,
    encode_transfer,
    parse_frame,
    parse_transfer_frame,
)
from .performatives import (
    Begin,
    Close,
    Composite,
    Error,
    Open,
    SaslInit,
    SaslMechanisms,
    SaslOutcome,
    Source,
    Target,
)
from .session import RECEIVER, RECEIVER_CREDIT, SENDER, SESSION_FRAMES, SESSION_WINDOW, Link, Session
from .states import CLIENT_TRANSITIONS, TRANSITIONS, LinkState, SessionState, State, transition
from .types import Symbol

# Where the application and the other packages have always imported them from.
__all__ = [
    "CLIENT_TRANSITIONS", "RECEIVER", "RECEIVER_CREDIT", "SENDER", "SESSION_WINDOW", "TRANSITIONS",
    "Connection", "Link", "LinkState", "Session", "SessionState", "State", *events.__all__,
]  # fmt: skip

_TAG = struct.Struct(">I")

# Read for every transfer: a member looked up through its Enum class costs a descriptor call on 3.11.
_ENDED = SessionState.ENDED


class Connection:
    """One end of an AMQP connection. See the module docstring for the calling pattern."""

    def __init__(
        self,
        container_id: str,
        *,
        max_frame_size: int = 1 << 20,
        channel_max: int = 4999,
        handle_max: int = 0xFFFF,
        idle_timeout_ms: int = 240_000,
        sasl_mechanisms: tuple[str, ...] = ("ANONYMOUS", "PLAIN"),
        check_plain: Callable[[str, str], bool] | None = None,
        limits: Limits | None = None,
        now: float = 0.0,
    ) -> None:
        self.container_id = container_id
        self.max_frame_size = max_frame_size
        self.channel_max = channel_max
        self.handle_max = handle_max
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
        live = (s.channel for s in self.sessions.values() if s.state is not SessionState.ENDED)
        used = set(self._begun) | set(live)
        channel = next(c for c in range(len(used) + 1) if c not in used)
        if channel > self.channel_max:
            raise LocalProtocolError(f"no free channel: channel-max is {self.channel_max}")
        session = self._new_session(channel, None, 0, 0, 0, SessionState.BEGIN_SENT)
        self._begun[channel] = session
        self._send(channel, Begin(None, 0, SESSION_WINDOW, 0xFFFFFFFF, handle_max=self.handle_max))
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
        return session.attach(name, role, source, target, properties, desired_capabilities, credit, settled)

    def accept_attach(
        self,
        link: Link,
        *,
        max_message_size: int | None = None,
        properties: dict[Any, Any] | None = None,
        offered_capabilities: tuple[str, ...] | None = None,
    ) -> None:
        link.session.accept(link, max_message_size, properties, offered_capabilities)

    def refuse_attach(self, link: Link, error: Error) -> None:
        """Answer an attach with a refusal: an attach echoing the terminus, then a closing detach."""
        link.session.refuse(link, error)

    def send_message(
        self, link: Link, payload: bytes, *, message_format: int = 0, settled: bool = True
    ) -> int:
        """Deliver one message on a sending link with credit; returns its delivery id.

        Unsettled (`settled=False`), the peer's disposition comes back as a DeliveriesSettled event.
        """
        # Written here rather than handed to the session: it runs once per message, and a call costs.
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
        link.session.complete_drain(link)

    def settle(
        self, link: Link, delivery_id: int, *, error: Error | None = None, last: int | None = None
    ) -> None:
        """Settle a received delivery (or the range up to `last`): accepted, or rejected with `error`."""
        link.session.settle(delivery_id, delivery_id if last is None else last, error)

    def detach(self, link: Link, error: Error | None = None) -> None:
        link.session.detach(link, error)

    def close(self, error: Error | None = None) -> None:
        if self.state is State.OPEN:
            self._send(0, Close(error))
            self.state = transition(self._transitions, self.state, "local close")

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
                session = self._session(channel)
                if session is not None:
                    session.on_transfer(fields, payload)
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
        self.state = transition(self._transitions, self.state, what)

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
        if isinstance(body, Begin):
            self._on_begin(frame.channel, body)
            return
        handler = SESSION_FRAMES.get(type(body))
        if handler is None:
            raise RemoteProtocolError(f"unexpected {type(body).__name__} on an open connection")
        session = self._session(frame.channel)
        if session is not None:
            handler(session, body, frame.payload)

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
        """The session on `channel`; None once it has ended (what still arrives for it is dropped)."""
        session = self.sessions.get(channel)
        if session is None:
            raise RemoteProtocolError(f"frame on channel {channel}, which has no session")
        return None if session.state is _ENDED else session

    def _new_session(
        self,
        channel: int,
        remote_channel: int | None,
        next_incoming_id: int,
        remote_incoming_window: int,
        remote_outgoing_window: int,
        state: SessionState,
    ) -> Session:
        return Session(
            channel, remote_channel, next_incoming_id, remote_incoming_window, remote_outgoing_window,
            SESSION_WINDOW, state, self._out, self._events, client=self.is_client,
            handle_max=self.handle_max,
        )  # fmt: skip

    def _on_begin(self, channel: int, begin: Begin) -> None:
        if begin.remote_channel is not None:
            ours = self._begun.pop(begin.remote_channel, None)
            if ours is None:
                raise RemoteProtocolError(f"begin answers channel {begin.remote_channel}, where none began")
            ours.on_begin_answer(channel, begin)
            self.sessions[channel] = ours
            return
        if self.is_client:
            raise RemoteProtocolError("the peer began a session: a client accepts none")
        if channel > self.channel_max:
            raise RemoteProtocolError(
                f"channel {channel} exceeds channel-max {self.channel_max}: at most "
                f"{self.channel_max + 1} sessions per connection",
                "amqp:connection:framing-error",
            )
        if channel in self.sessions and self.sessions[channel].state is not SessionState.ENDED:
            raise RemoteProtocolError(f"channel {channel} already has a session")
        # Our channel numbers mirror the peer's: one session per channel either way.
        self.sessions[channel] = self._new_session(
            channel, channel, begin.next_outgoing_id, begin.incoming_window, begin.outgoing_window,
            SessionState.MAPPED,
        )  # fmt: skip
        self._send(channel, Begin(channel, 0, SESSION_WINDOW, 0xFFFFFFFF, handle_max=self.handle_max))

    # ---- internals: writing -----------------------------------------------------------------------------

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
