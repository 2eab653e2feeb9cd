"""Tests for amqp10.connection, driven purely in memory: client bytes in, events and server bytes out.

As with h11, no sockets: the client side is written with our own encoder (`frames.encode_frame`) and the
server's replies are read back with `frames.parse_frame`, so every test sees exactly the bytes a peer would.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest
from azure.eventhub._pyamqp import _decode as sdk_decode

from amqp10 import connection as conn_mod
from amqp10 import performatives as perf
from amqp10.codec import decode, encode
from amqp10.connection import (
    NEED_DATA,
    RECEIVER,
    SENDER,
    TRANSITIONS,
    Connection,
    ConnectionClosed,
    ConnectionOpened,
    CreditGranted,
    Event,
    Link,
    LinkAttaching,
    LinkDetached,
    LinkState,
    MessageReceived,
    State,
)
from amqp10.errors import FramingError, LocalProtocolError, ProtocolError, RemoteProtocolError
from amqp10.frames import (
    AMQP_HEADER,
    EMPTY_FRAME,
    SASL_HEADER,
    TYPE_AMQP,
    TYPE_SASL,
    Frame,
    encode_frame,
    split_stream,
)
from amqp10.states import LINK_TRANSITIONS
from amqp10.types import Array, Described, Symbol, UInt, ULong

HUB = "tweets"
CREDENTIALS = ("RootManageSharedAccessKey", "secret")


def read_output(data: bytes) -> list[bytes | Frame]:
    """Split server output into protocol headers (bytes) and frames, checking it ends on a boundary."""
    items, rest = split_stream(data)
    assert not rest, f"server output ends inside a frame: {rest!r}"
    return items


class Client:
    """A hand-driven AMQP client around one server `Connection`."""

    def __init__(self, **kwargs: Any) -> None:
        self.calls: list[tuple[str, str]] = []
        kwargs.setdefault("check_plain", self._check_plain)
        self.conn = Connection("emulator", **kwargs)

    def _check_plain(self, user: str, password: str) -> bool:
        self.calls.append((user, password))
        return (user, password) == CREDENTIALS

    # ---- writing ----------------------------------------------------------------------------------------

    def send(self, data: bytes, now: float | None = None) -> list[Event]:
        """Feed bytes and return every event they complete (raising what next_event raises)."""
        self.conn.receive_data(data, now=now)
        return self.events()

    def events(self) -> list[Event]:
        events: list[Event] = []
        while (event := self.conn.next_event()) is not NEED_DATA:
            assert isinstance(event, Event)
            events.append(event)
            if isinstance(event, ConnectionClosed):
                assert self.conn.next_event() is NEED_DATA  # reported once
                break
        return events

    def frame(
        self, body: perf.Composite | None, channel: int = 0, payload: bytes = b"", now: float | None = None
    ) -> list[Event]:
        return self.send(encode_frame(channel, body, payload), now=now)

    def sasl(self, body: perf.Composite) -> list[Event]:
        return self.send(encode_frame(0, body, frame_type=TYPE_SASL))

    # ---- reading ----------------------------------------------------------------------------------------

    def output(self) -> list[bytes | Frame]:
        return read_output(self.conn.data_to_send())

    def frames(self) -> list[Frame]:
        out = self.output()
        assert all(isinstance(f, Frame) for f in out), out
        return out  # type: ignore[return-value]

    def bodies(self) -> list[Any]:
        return [f.body for f in self.frames()]

    # ---- common conversations ----------------------------------------------------------------------------

    def open(
        self, *, max_frame_size: int = 65536, idle_timeout: int | None = None, now: float | None = None
    ) -> None:
        self.send(AMQP_HEADER, now=now)
        self.conn.receive_data(
            encode_frame(0, perf.Open("client", "localhost", max_frame_size, 255, idle_timeout)), now=now
        )
        events = self.events()
        assert events == [ConnectionOpened("client", "localhost")]
        out = self.output()
        assert out[0] == AMQP_HEADER and isinstance(out[1], Frame) and isinstance(out[1].body, perf.Open)
        assert self.conn.state is State.OPEN

    def begin(self, channel: int = 0, incoming_window: int = 5000) -> perf.Begin:
        assert self.frame(perf.Begin(None, 0, incoming_window, 5000), channel) == []
        [reply] = self.frames()
        assert reply.channel == channel and isinstance(reply.body, perf.Begin)
        return reply.body

    def attach(
        self, name: str, handle: int, role: bool, channel: int = 0, address: str = HUB, **kw: Any
    ) -> Link:
        """Attach a link (role is the *client's*) and return the server's Link from LinkAttaching."""
        attach = perf.Attach(
            name, handle, role, source=perf.Source(address), target=perf.Target(address), **kw
        )
        [event] = self.frame(attach, channel)
        assert isinstance(event, LinkAttaching)
        assert self.conn.data_to_send() == b""  # nothing is sent before the application decides
        return event.link

    def producer_link(self, max_message_size: int | None = None, channel: int = 0) -> Link:
        link = self.attach("producer", 0, SENDER, channel)
        self.conn.accept_attach(link, max_message_size=max_message_size)
        self.frames()
        return link

    def consumer_link(self, credit: int, channel: int = 0) -> Link:
        link = self.attach("consumer", 0, RECEIVER, channel)
        self.conn.accept_attach(link)
        self.frames()
        events = self.frame(
            perf.Flow(0, 5000, 0, 5000, handle=0, delivery_count=0, link_credit=credit), channel
        )
        assert events == [CreditGranted(link)]
        return link


def state_of(client: Client) -> State:
    """The connection's state, read through a call so that type checkers do not pin it after an assert."""
    return client.conn.state


def opened(**kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.open()
    return client


def assert_error_close(client: Client, exc: ProtocolError) -> None:
    """After a protocol error: a Close with the error's condition is queued, and the connection is over."""
    out = client.output()
    closes = [f for f in out if isinstance(f, Frame) and isinstance(f.body, perf.Close)]
    assert closes, f"no Close frame queued after {exc!r}: {out}"
    error = closes[-1].body.error  # type: ignore[union-attr]
    assert error is not None and error.condition == exc.condition
    assert str(exc) in (error.description or "")
    assert client.conn.state is State.ERROR
    assert client.conn.finished
    assert client.events() == [ConnectionClosed(None, clean=False)]


# ---------------------------------------------------------------------------------------------------------
# SASL


def test_sasl_header_gets_our_header_and_the_mechanisms() -> None:
    client = Client()
    assert client.send(SASL_HEADER) == []
    header, mechanisms = client.output()
    assert header == SASL_HEADER
    assert isinstance(mechanisms, Frame) and mechanisms.frame_type == TYPE_SASL
    assert mechanisms.body == perf.SaslMechanisms(Array([Symbol("ANONYMOUS"), Symbol("PLAIN")]))
    assert client.conn.state is State.AWAIT_SASL_INIT


def test_sasl_anonymous_succeeds() -> None:
    client = Client()
    client.send(SASL_HEADER)
    client.output()
    assert client.sasl(perf.SaslInit("ANONYMOUS", hostname="ns.localhost")) == []
    [outcome] = client.frames()
    assert outcome.frame_type == TYPE_SASL and outcome.body == perf.SaslOutcome(0)
    assert client.conn.state is State.AWAIT_AMQP_HEADER
    assert client.conn.hostname == "ns.localhost"
    assert client.calls == []
    # then the AMQP layer, as usual
    client.open()


def test_sasl_plain_with_the_right_credentials() -> None:
    client = Client()
    client.send(SASL_HEADER)
    client.output()
    user, password = CREDENTIALS
    client.sasl(perf.SaslInit("PLAIN", f"\x00{user}\x00{password}".encode()))
    assert client.bodies() == [perf.SaslOutcome(0)]
    assert client.calls == [CREDENTIALS]
    assert client.conn.sasl_identity == user
    assert client.conn.state is State.AWAIT_AMQP_HEADER


@pytest.mark.parametrize(
    "response",
    [
        b"\x00RootManageSharedAccessKey\x00wrong",
        b"\x00someone-else\x00secret",
        b"no separators",
        b"",
        None,
    ],
)
def test_sasl_plain_with_wrong_credentials_ends_the_connection(response: bytes | None) -> None:
    client = Client()
    client.send(SASL_HEADER)
    client.output()
    events = client.sasl(perf.SaslInit("PLAIN", response))
    assert client.bodies() == [perf.SaslOutcome(1)]
    assert client.conn.sasl_identity is None
    assert client.conn.state is State.CLOSED
    assert client.conn.finished
    assert [type(e) for e in events] == [ConnectionClosed]
    # nothing more is read: the peer may not go on to open
    assert client.send(AMQP_HEADER + encode_frame(0, perf.Open("c"))) == []
    assert client.conn.data_to_send() == b""


def test_sasl_mechanism_we_did_not_offer_is_refused() -> None:
    client = Client(sasl_mechanisms=("PLAIN",))
    client.send(SASL_HEADER)
    assert client.output()[1].body == perf.SaslMechanisms(Array([Symbol("PLAIN")]))  # type: ignore[union-attr]
    client.sasl(perf.SaslInit("ANONYMOUS"))
    assert client.bodies() == [perf.SaslOutcome(1)]
    client.sasl(perf.SaslInit("EXTERNAL"))  # ignored: the connection is over
    assert client.conn.state is State.CLOSED


def test_an_amqp_frame_instead_of_sasl_init_is_a_protocol_error() -> None:
    client = Client()
    client.send(SASL_HEADER)
    client.output()
    with pytest.raises(RemoteProtocolError, match="expected sasl-init"):
        client.frame(perf.Open("c"))
    assert client.conn.state is State.ERROR


def test_sasl_frames_are_limited_to_512_bytes() -> None:
    client = Client()
    client.send(SASL_HEADER)
    client.output()
    big = encode_frame(0, perf.SaslInit("PLAIN", b"x" * 600), frame_type=TYPE_SASL)
    with pytest.raises(FramingError, match="exceeds the negotiated max-frame-size 512"):
        client.send(big[:8])


# ---------------------------------------------------------------------------------------------------------
# Open, begin, attach


def test_open_is_answered_with_a_complete_open() -> None:
    client = Client(max_frame_size=1 << 20, channel_max=4999, idle_timeout_ms=240_000)
    assert client.send(AMQP_HEADER) == []
    assert client.output() == [AMQP_HEADER]
    events = client.frame(perf.Open("client-1", "ns.servicebus.localhost", 4096, 7, 30_000))
    assert events == [ConnectionOpened("client-1", "ns.servicebus.localhost")]
    [frame] = client.frames()
    assert frame.channel == 0 and frame.frame_type == TYPE_AMQP
    assert frame.body == perf.Open(
        container_id="emulator",
        hostname="ns.servicebus.localhost",
        max_frame_size=1 << 20,
        channel_max=7,  # the smaller of ours and theirs
        idle_timeout=240_000,
    )
    assert client.conn.remote_max_frame_size == 4096
    assert client.conn.remote_idle_timeout_ms == 30_000
    # every field is on the wire (the SDK builds its OpenFrame positionally)
    raw = encode_frame(0, frame.body)
    described, _ = decode(raw, 8)
    assert isinstance(described, Described) and len(described.value) == 10
    assert len(sdk_decode.decode_frame(memoryview(raw)[8:])[1]) == 10


def test_a_tiny_max_frame_size_is_raised_to_the_spec_minimum() -> None:
    client = Client()
    client.send(AMQP_HEADER)
    client.frame(perf.Open("c", max_frame_size=10))
    assert client.conn.remote_max_frame_size == 512


def test_begin_is_answered_with_our_begin() -> None:
    client = opened()
    reply = client.begin(channel=3)
    assert reply == perf.Begin(remote_channel=3, next_outgoing_id=0, incoming_window=1 << 16,
                          outgoing_window=0xFFFFFFFF, handle_max=0xFFFF)  # fmt: skip
    assert 3 in client.conn.sessions


def test_attach_of_a_client_sender_asks_the_application() -> None:
    client = opened()
    client.begin()
    link = client.attach("sender-link", 7, SENDER, properties={"com.microsoft:epoch": 1})
    assert (link.name, link.remote_handle, link.handle) == ("sender-link", 7, 0)
    assert link.role == RECEIVER and link.state is LinkState.ATTACHING
    assert link.address == HUB
    assert link.properties == {"com.microsoft:epoch": 1}


def test_accept_attach_of_a_sender_replies_and_grants_credit() -> None:
    client = opened()
    client.begin()
    link = client.attach("sender-link", 7, SENDER)
    client.conn.accept_attach(link, max_message_size=1000, properties={"k": "v"})
    attach, flow = client.bodies()
    assert isinstance(attach, perf.Attach)
    assert (attach.name, attach.handle, attach.role) == ("sender-link", 0, RECEIVER)
    assert attach.max_message_size == 1000
    assert attach.source == perf.Source(HUB) and attach.target == perf.Target(HUB)
    assert attach.properties == {"k": "v"}
    assert attach.initial_delivery_count is None  # only a sender sets it
    assert isinstance(flow, perf.Flow)
    assert (flow.handle, flow.delivery_count, flow.link_credit) == (0, 0, conn_mod.RECEIVER_CREDIT)
    assert link.state is LinkState.ATTACHED


# ---------------------------------------------------------------------------------------------------------
# Receiving messages


def producing(max_message_size: int | None = None) -> tuple[Client, Link]:
    client = opened()
    client.begin()
    return client, client.producer_link(max_message_size)


def test_a_single_frame_transfer_is_one_message() -> None:
    client, link = producing()
    events = client.frame(perf.Transfer(0, 0, b"tag0", 0, False, False), payload=b"hello")
    assert events == [MessageReceived(link, 0, b"tag0", 0, b"hello", False)]
    assert client.conn.data_to_send() == b""  # settling is the application's call


def test_a_multi_frame_transfer_is_one_message() -> None:
    client, link = producing()
    assert client.frame(perf.Transfer(0, 5, b"t", 0x80013700, False, more=True), payload=b"part one, ") == []
    assert client.frame(perf.Transfer(0, more=True), payload=b"part two, ") == []
    events = client.frame(perf.Transfer(0, more=False), payload=b"part three")
    assert events == [MessageReceived(link, 5, b"t", 0x80013700, b"part one, part two, part three", False)]
    # and the next delivery starts afresh
    events = client.frame(perf.Transfer(0, 6, b"u", 0, True), payload=b"next")
    assert events == [MessageReceived(link, 6, b"u", 0, b"next", True)]


def test_an_aborted_transfer_delivers_nothing() -> None:
    client, _ = producing()
    assert client.frame(perf.Transfer(0, 1, b"t", 0, False, more=True), payload=b"abc") == []
    assert client.frame(perf.Transfer(0, aborted=True)) == []
    [event] = client.frame(perf.Transfer(0, 2, b"u", 0, False), payload=b"fresh")
    assert isinstance(event, MessageReceived) and event.payload == b"fresh"


def test_settle_sends_a_settled_accepted_disposition() -> None:
    client, link = producing()
    [event] = client.frame(perf.Transfer(0, 3, b"t", 0, False), payload=b"x")
    assert isinstance(event, MessageReceived)
    client.conn.settle(link, event.delivery_id)
    assert client.bodies() == [perf.Disposition(RECEIVER, 3, 3, True, perf.Accepted())]
    client.conn.settle(link, 4, error=perf.Error("amqp:not-found", "gone"))
    assert client.bodies() == [
        perf.Disposition(RECEIVER, 4, 4, True, perf.Rejected(perf.Error("amqp:not-found", "gone")))
    ]


@pytest.mark.parametrize("chunks", [[b"x" * 101], [b"x" * 60, b"x" * 41], [b"x" * 100, b"y"]])
def test_a_delivery_over_max_message_size_is_rejected(chunks: list[bytes]) -> None:
    client, link = producing(max_message_size=100)
    events: list[Event] = []
    for i, chunk in enumerate(chunks):
        first = i == 0
        more = i < len(chunks) - 1
        body = perf.Transfer(0, 9, b"big", 0, False, more) if first else perf.Transfer(0, more=more)
        events += client.frame(body, payload=chunk)
    assert not any(isinstance(e, MessageReceived) for e in events)
    [disposition] = client.bodies()
    assert isinstance(disposition, perf.Disposition)
    assert (disposition.first, disposition.last, disposition.settled) == (9, 9, True)
    assert isinstance(disposition.state, perf.Rejected)
    assert disposition.state.error is not None
    assert disposition.state.error.condition == "amqp:link:message-size-exceeded"
    # a delivery of exactly the limit still goes through
    [event] = client.frame(perf.Transfer(0, 10, b"ok", 0, False), payload=b"z" * 100)
    assert isinstance(event, MessageReceived) and event.link is link and len(event.payload) == 100


def test_receiving_many_transfers_refreshes_credit() -> None:
    client, _ = producing()
    half = conn_mod.RECEIVER_CREDIT // 2
    for i in range(half + 1):
        client.frame(perf.Transfer(0, i, b"t", 0, True), payload=b".")
    flows = [b for b in client.bodies() if isinstance(b, perf.Flow)]
    assert flows and flows[-1].link_credit == conn_mod.RECEIVER_CREDIT
    assert flows[-1].delivery_count == half + 1


# ---------------------------------------------------------------------------------------------------------
# Sending messages


def test_a_client_receiver_gets_credit_events() -> None:
    client = opened()
    client.begin()
    link = client.attach("consumer", 2, RECEIVER, address=f"{HUB}/ConsumerGroups/$default/Partitions/0")
    assert link.role == SENDER and link.address == f"{HUB}/ConsumerGroups/$default/Partitions/0"
    client.conn.accept_attach(link)
    [attach] = client.bodies()
    assert isinstance(attach, perf.Attach)
    assert (attach.role, attach.initial_delivery_count, attach.snd_settle_mode) == (SENDER, 0, 1)
    assert not link.can_send
    events = client.frame(perf.Flow(0, 5000, 0, 5000, handle=2, delivery_count=0, link_credit=3))
    assert events == [CreditGranted(link)]
    assert link.credit == 3 and link.can_send


def test_send_message_spends_credit_and_then_refuses() -> None:
    client = opened()
    client.begin()
    link = client.consumer_link(credit=3)
    ids = [client.conn.send_message(link, f"event {i}".encode()) for i in range(3)]
    assert ids == [0, 1, 2]
    assert not link.can_send and link.credit == 0
    with pytest.raises(LocalProtocolError, match="cannot send"):
        client.conn.send_message(link, b"one too many")
    transfers = client.frames()
    assert [f.payload for f in transfers] == [b"event 0", b"event 1", b"event 2"]
    for i, frame in enumerate(transfers):
        body = frame.body
        assert isinstance(body, perf.Transfer)
        assert (body.handle, body.delivery_id, body.settled, body.more) == (link.handle, i, True, False)
        assert body.delivery_tag == struct.pack(">I", i)
    # more credit, more messages; delivery-count moved on by the three sent
    assert link.delivery_count == 3
    assert client.frame(perf.Flow(0, 5000, 0, 5000, handle=0, delivery_count=3, link_credit=1)) == [
        CreditGranted(link)
    ]
    assert link.can_send


def test_the_session_window_limits_sending_too() -> None:
    client = opened()
    client.begin(incoming_window=2)
    link = client.attach("consumer", 0, RECEIVER)
    client.conn.accept_attach(link)
    client.frame(perf.Flow(0, 2, 0, 5000, handle=0, delivery_count=0, link_credit=10))
    client.conn.send_message(link, b"a")
    client.conn.send_message(link, b"b")
    assert link.credit == 8 and not link.can_send
    with pytest.raises(LocalProtocolError):
        client.conn.send_message(link, b"c")
    client.frames()
    # a session flow re-opening the window lets it go on
    client.frame(perf.Flow(2, 10, 0, 5000))
    assert link.can_send


def test_a_big_message_is_split_to_the_peers_max_frame_size() -> None:
    client = Client()
    client.send(AMQP_HEADER)
    client.frame(perf.Open("c", max_frame_size=512))
    client.output()
    client.begin()
    link = client.consumer_link(credit=1)
    payload = bytes(range(256)) * 12  # 3072 bytes
    client.conn.send_message(link, payload)
    raw = client.conn.data_to_send()
    transfers = read_output(raw)
    assert len(transfers) > 1
    pos = 0
    for frame in transfers:
        assert isinstance(frame, Frame)
        size = struct.unpack_from(">I", raw, pos)[0]
        assert size <= 512
        pos += size
    reassembled = b""
    for i, frame in enumerate(transfers):
        assert isinstance(frame, Frame) and isinstance(frame.body, perf.Transfer)
        assert frame.body.more is (i < len(transfers) - 1)
        assert frame.body.delivery_id == 0  # written on every frame by the fast encoder; all the same
        reassembled += frame.payload
    assert reassembled == payload
    assert link.credit == 0  # one message, one credit, however many frames


def test_refuse_attach_sends_attach_then_a_closing_detach() -> None:
    client = opened()
    client.begin()
    link = client.attach("bad", 4, SENDER, address="no-such-hub")
    error = perf.Error("amqp:not-found", "The messaging entity 'no-such-hub' could not be found.")
    client.conn.refuse_attach(link, error)
    attach, detach = client.bodies()
    assert isinstance(attach, perf.Attach) and attach.name == "bad" and attach.handle == link.handle
    assert detach == perf.Detach(link.handle, closed=True, error=error)
    assert link.state is LinkState.DETACHED
    with pytest.raises(LocalProtocolError):
        client.conn.accept_attach(link)
    # the client's detach answering ours is quietly taken
    assert client.frame(perf.Detach(4, closed=True)) == []
    assert client.conn.data_to_send() == b""


def test_detach_by_the_client_is_answered() -> None:
    client, link = producing()
    events = client.frame(perf.Detach(0, closed=True, error=perf.Error("amqp:link:detach-forced")))
    assert events == [LinkDetached(link, perf.Error("amqp:link:detach-forced"))]
    assert client.bodies() == [perf.Detach(link.handle, closed=True)]
    assert link.state is LinkState.DETACHED


def test_end_then_detach_on_the_ended_channel_is_ignored() -> None:
    # The azure-eventhub SDK ends a session and then detaches its links on it.
    client, link = producing()
    events = client.frame(perf.End())
    assert events == [LinkDetached(link, None)]
    assert client.bodies() == [perf.End()]
    for late in (perf.Detach(0, closed=True), perf.Flow(0, 10, 0, 10, handle=0, link_credit=1),
                 perf.Transfer(0, 1, b"t", 0), perf.Disposition(True, 0), perf.End()):  # fmt: skip
        assert client.frame(late) == []
    assert client.conn.data_to_send() == b""
    assert client.conn.state is State.OPEN
    # the channel can be begun again
    assert client.begin().remote_channel == 0


# ---------------------------------------------------------------------------------------------------------
# Protocol errors


def test_a_frame_before_open_is_a_protocol_error_closed_with_its_condition() -> None:
    client = Client()
    client.send(AMQP_HEADER)
    client.output()
    with pytest.raises(RemoteProtocolError, match="expected open") as caught:
        client.frame(perf.Begin(None, 0, 10, 10))
    out = client.conn.data_to_send()
    frames = read_output(out)
    # The spec allows a close only after an open: an Open may come first, then the Close with the error.
    assert frames and isinstance(frames[-1], Frame) and isinstance(frames[-1].body, perf.Close), (
        f"nothing tells the peer why its connection ends: {frames}"
    )
    assert all(isinstance(f, Frame) and isinstance(f.body, perf.Open | perf.Close) for f in frames)
    error = frames[-1].body.error
    assert error is not None and error.condition == caught.value.condition
    assert client.conn.state is State.ERROR


def test_a_begin_on_a_channel_in_use_is_a_protocol_error() -> None:
    client = opened()
    client.begin(channel=1)
    with pytest.raises(RemoteProtocolError, match="channel 1 already has a session") as caught:
        client.frame(perf.Begin(None, 0, 10, 10), channel=1)
    assert_error_close(client, caught.value)


@pytest.mark.parametrize(
    ("body", "channel", "match"),
    [
        (perf.Transfer(5, 0, b"t", 0), 0, "transfer on handle 5, which is not attached"),
        (perf.Flow(0, 10, 0, 10, handle=9, link_credit=1), 0, "flow for handle 9"),
        (perf.Detach(9), 0, "detach of handle 9"),
        (
            perf.Attach("dup", 0, SENDER, source=perf.Source("a"), target=perf.Target("a")),
            0,
            "attach on handle 0, which is in use",
        ),
        (perf.Transfer(0, 0, b"t", 0), 2, "channel 2, which has no session"),
        (perf.Begin(0, 0, 10, 10), 4, "begin answers channel"),
        (perf.Begin(None, 0, 10, 10), 300, "channel 300 exceeds channel-max 255"),
        (perf.Open("again"), 0, "unexpected Open"),
    ],
)
def test_frames_out_of_place_are_protocol_errors(body: perf.Composite, channel: int, match: str) -> None:
    client, _ = producing()
    with pytest.raises(RemoteProtocolError, match=match) as caught:
        client.frame(body, channel)
    assert_error_close(client, caught.value)


def test_a_transfer_on_our_sending_link_is_a_protocol_error() -> None:
    client = opened()
    client.begin()
    client.consumer_link(credit=1)
    with pytest.raises(RemoteProtocolError, match="does not receive") as caught:
        client.frame(perf.Transfer(0, 0, b"t", 0))
    assert_error_close(client, caught.value)


def test_a_sasl_frame_after_sasl_is_a_protocol_error() -> None:
    client = opened()
    with pytest.raises(RemoteProtocolError, match="SASL frame SaslInit after SASL finished") as caught:
        client.sasl(perf.SaslInit("ANONYMOUS"))
    assert_error_close(client, caught.value)


def test_undecodable_bytes_close_with_decode_error() -> None:
    client = opened()
    body = b"\x00\x53\x11\xc0\x03\x01\x56\x07"  # a begin whose only field is the boolean 0x07
    with pytest.raises(RemoteProtocolError) as caught:
        client.send(struct.pack(">IBBH", 8 + len(body), 2, 0, 0) + body)
    assert caught.value.condition == "amqp:decode-error"
    assert_error_close(client, caught.value)


def test_a_frame_too_big_is_refused_from_its_header() -> None:
    client = opened()
    with pytest.raises(FramingError, match="exceeds the negotiated max-frame-size") as caught:
        client.send(struct.pack(">IBBH", 0xFFFFFFFF, 2, 0, 0))
    assert_error_close(client, caught.value)


def raw_frame(code: int, fields: list[Any], channel: int = 0) -> bytes:
    """A performative written without our field coercion, as a misbehaving peer would write it."""
    body = encode(Described(ULong(code), fields))
    return struct.pack(">IBBH", 8 + len(body), 2, TYPE_AMQP, channel) + body


@pytest.mark.parametrize(
    "fields",
    [
        ["c", None, "not a number"],  # max-frame-size as a string
        ["c", None, None, []],  # channel-max as a list
    ],
    ids=["max-frame-size-str", "channel-max-list"],
)
def test_a_wrongly_typed_open_is_a_protocol_error_not_a_crash(fields: list[Any]) -> None:
    client = Client()
    client.send(AMQP_HEADER)
    client.output()
    with pytest.raises(RemoteProtocolError):
        client.send(raw_frame(0x10, fields))
    assert client.conn.state is State.ERROR


def test_a_wrongly_typed_idle_timeout_cannot_break_the_timers() -> None:
    client = Client(now=0.0)
    client.send(AMQP_HEADER)
    try:
        client.send(raw_frame(0x10, ["c", None, None, None, "soon"]))
    except RemoteProtocolError:
        assert client.conn.state is State.ERROR  # refused at once: fine
        return
    # accepted: then the timers must still run (the server calls check_timers for every connection
    # from one task, so an exception here stops heartbeats and idle timeouts for all of them)
    client.conn.check_timers(100.0)


@pytest.mark.parametrize(
    ("code", "fields"),
    [
        (0x12, ["x", [], False]),  # attach: handle as a list (unhashable)
        (0x13, [0, "wide", 0, 10]),  # flow: incoming-window as a string
        (0x13, [0, 10, 0, 10, UInt(1), UInt(0), "lots"]),  # flow: link-credit as a string, on our sender
    ],
    ids=["attach-handle-list", "flow-window-str", "flow-credit-str"],
)
def test_wrongly_typed_fields_on_an_open_connection_close_it(code: int, fields: list[Any]) -> None:
    client, _ = producing()
    client.attach("consumer", 1, RECEIVER)
    client.conn.accept_attach(client.conn.sessions[0].links_by_remote_handle[1])
    client.frames()
    with pytest.raises(RemoteProtocolError) as caught:
        client.send(raw_frame(code, fields))
    assert_error_close(client, caught.value)


# ---------------------------------------------------------------------------------------------------------
# Closing, EOF, timers


def test_close_is_answered_and_reported_clean() -> None:
    client = opened()
    events = client.frame(perf.Close(perf.Error("amqp:connection:forced", "bye")))
    assert events == [ConnectionClosed(perf.Error("amqp:connection:forced", "bye"), clean=True)]
    assert client.bodies() == [perf.Close()]
    assert client.conn.state is State.CLOSED and client.conn.finished
    assert client.send(encode_frame(0, perf.Begin(None, 0, 1, 1))) == []  # nothing after close is read


def test_our_close_waits_for_theirs() -> None:
    client, _ = producing()
    client.conn.close(perf.Error("amqp:connection:forced", "shutting down"))
    assert client.bodies() == [perf.Close(perf.Error("amqp:connection:forced", "shutting down"))]
    assert client.conn.state is State.CLOSE_SENT
    assert not client.conn.finished
    # frames that crossed our close are dropped, not answered
    assert client.frame(perf.Transfer(0, 0, b"t", 0), payload=b"late") == []
    assert client.conn.data_to_send() == b""
    assert client.frame(perf.Close()) == [ConnectionClosed(None, clean=True)]
    assert client.conn.data_to_send() == b""
    assert state_of(client) is State.CLOSED


@pytest.mark.parametrize("cut", [1, 4, 7, 8, 12])
def test_eof_in_the_middle_of_a_frame_is_a_framing_error(cut: int) -> None:
    client = opened()
    data = encode_frame(0, perf.Begin(None, 0, 10, 10))
    assert client.send(data[:cut]) == []
    with pytest.raises(
        FramingError, match=f"stream ended inside a frame \\({cut} bytes buffered\\)"
    ) as caught:
        client.send(b"")
    assert_error_close(client, caught.value)


def test_eof_in_the_middle_of_the_protocol_header_is_a_framing_error() -> None:
    client = Client()
    client.send(AMQP_HEADER[:5])
    with pytest.raises(FramingError, match="inside the protocol header"):
        client.send(b"")
    assert client.conn.state is State.ERROR


def test_eof_between_frames_is_an_unclean_close() -> None:
    client = opened()
    assert client.send(b"") == [ConnectionClosed(None, clean=False)]
    assert client.conn.finished
    assert client.conn.data_to_send() == b""


def test_heartbeats_go_out_when_half_the_peers_idle_timeout_has_passed() -> None:
    client = Client(now=0.0)
    client.open(idle_timeout=10_000, now=0.0)
    client.conn.check_timers(4.9)
    assert client.conn.data_to_send() == b""
    client.conn.check_timers(5.1)
    assert client.conn.data_to_send() == EMPTY_FRAME
    client.conn.check_timers(9.0)  # 3.9 s since that heartbeat
    assert client.conn.data_to_send() == b""
    client.conn.check_timers(10.2)
    assert client.conn.data_to_send() == EMPTY_FRAME
    # other traffic counts as a heartbeat
    client.conn.note_sent(14.0)
    client.conn.check_timers(18.0)
    assert client.conn.data_to_send() == b""
    assert client.conn.state is State.OPEN


def test_no_heartbeats_to_a_peer_without_idle_timeout() -> None:
    client = Client(now=0.0)
    client.open(now=0.0)
    client.conn.check_timers(100.0)
    assert client.conn.data_to_send() == b""


def test_a_silent_peer_is_closed_after_our_idle_timeout() -> None:
    client = Client(idle_timeout_ms=2000, now=0.0)
    client.open(now=0.0)
    client.conn.check_timers(1.9)
    assert client.conn.data_to_send() == b""
    assert client.send(EMPTY_FRAME, now=1.9) == []  # the peer's heartbeat resets our clock
    client.conn.check_timers(3.8)
    assert client.conn.data_to_send() == b""
    client.conn.check_timers(4.0)
    [close] = client.bodies()
    assert isinstance(close, perf.Close) and close.error is not None
    assert close.error.condition == "amqp:resource-limit-exceeded"
    assert "2000 ms" in (close.error.description or "")
    assert client.conn.state is State.CLOSE_SENT
    client.conn.check_timers(100.0)  # only once
    assert client.conn.data_to_send() == b""
    assert client.frame(perf.Close()) == [ConnectionClosed(None, clean=True)]


def test_timers_do_nothing_before_open() -> None:
    client = Client(idle_timeout_ms=1000, now=0.0)
    client.send(SASL_HEADER)
    client.output()
    client.conn.check_timers(100.0)
    assert client.conn.data_to_send() == b""


@pytest.mark.parametrize(
    ("before", "header", "reply"),
    [
        (b"", b"AMQP\x02\x01\x00\x00", SASL_HEADER),  # TLS
        (b"", b"AMQP\x00\x00\x09\x01", SASL_HEADER),  # AMQP 0-9-1
        (b"", b"GET / HTTP/1.1\r\n", SASL_HEADER),
        (b"", b"AMQP\x00\x01\x00\x01", SASL_HEADER),  # a later AMQP revision
        ("sasl", b"AMQP\x03\x01\x00\x00", None),  # SASL twice: refused by the state table
        ("sasl", b"AMQP\x02\x01\x00\x00", AMQP_HEADER),
    ],
)
def test_an_unsupported_protocol_header_gets_ours_back(
    before: Any, header: bytes, reply: bytes | None
) -> None:
    client = Client()
    if before == "sasl":
        client.send(SASL_HEADER)
        client.sasl(perf.SaslInit("ANONYMOUS"))
        client.output()
    with pytest.raises(RemoteProtocolError) as caught:
        client.send(header)
    if reply is not None:
        assert isinstance(caught.value, FramingError)
        assert "unsupported protocol header" in str(caught.value)
        assert client.conn.data_to_send() == reply
    assert client.conn.state is State.ERROR
    assert client.conn.finished


# ---------------------------------------------------------------------------------------------------------
# The state table, walked by feeding bytes


# How to bring a fresh connection into each state.
def _after_sasl(c: Client) -> None:
    c.send(SASL_HEADER)
    c.sasl(perf.SaslInit("ANONYMOUS"))


def _close_sent(c: Client) -> None:
    c.open()
    c.conn.close()


def _closed(c: Client) -> None:
    c.open()
    c.frame(perf.Close())


SETUP: dict[State, Callable[[Client], object]] = {
    State.AWAIT_HEADER: lambda c: None,
    State.AWAIT_SASL_INIT: lambda c: c.send(SASL_HEADER),
    State.AWAIT_AMQP_HEADER: _after_sasl,
    State.AWAIT_OPEN: lambda c: c.send(AMQP_HEADER),
    State.OPEN: Client.open,
    State.CLOSE_SENT: _close_sent,
    State.CLOSED: _closed,
}

# Each input of the table, as what a peer sends (or, for "local close", what the application calls).
INPUTS: dict[str, Callable[[Client], object]] = {
    "sasl header": lambda c: c.send(SASL_HEADER),
    "amqp header": lambda c: c.send(AMQP_HEADER),
    "sasl accepted": lambda c: c.sasl(perf.SaslInit("ANONYMOUS")),
    "sasl refused": lambda c: c.sasl(perf.SaslInit("PLAIN", b"\x00nobody\x00wrong")),
    "open": lambda c: c.frame(perf.Open("client")),
    "close": lambda c: c.frame(perf.Close()),
    "local close": lambda c: c.conn.close(),
    "frame": lambda c: c.send(EMPTY_FRAME),
}


def test_the_walk_covers_every_state_and_input() -> None:
    assert {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values()) <= set(SETUP) | {State.ERROR}
    assert {i for _, i in TRANSITIONS} == set(INPUTS)
    for state, setup in SETUP.items():
        client = Client()
        setup(client)
        assert client.conn.state is state


@pytest.mark.parametrize(("state", "what"), list(TRANSITIONS), ids=[f"{s.name}-{i}" for s, i in TRANSITIONS])
def test_every_listed_transition_happens(state: State, what: str) -> None:
    client = Client()
    SETUP[state](client)
    assert client.conn.state is state
    client.conn.data_to_send()
    INPUTS[what](client)
    assert client.conn.state is TRANSITIONS[(state, what)]


UNLISTED = [
    (state, what)
    for state in (
        State.AWAIT_HEADER,
        State.AWAIT_SASL_INIT,
        State.AWAIT_AMQP_HEADER,
        State.AWAIT_OPEN,
        State.OPEN,
    )
    for what in INPUTS
    if (state, what) not in TRANSITIONS
    and what != "local close"
    # In OPEN an empty frame is the "frame" input; an Open there is checked in test_frames_out_of_place.
    and not (state is State.OPEN and what == "open")
]


@pytest.mark.parametrize(("state", "what"), UNLISTED, ids=[f"{s.name}-{i}" for s, i in UNLISTED])
def test_every_unlisted_input_is_a_protocol_error(state: State, what: str) -> None:
    client = Client()
    SETUP[state](client)
    with pytest.raises(RemoteProtocolError):
        INPUTS[what](client)
    assert client.conn.state is State.ERROR
    assert client.conn.finished


# ---------------------------------------------------------------------------------------------------------
# The link table, walked on links the client attaches (the answers to links of ours are walked in
# test_client_connection.py)


def _detached_link(c: Client) -> Link:
    link = c.producer_link()
    c.conn.detach(link)
    c.frames()
    return link


LINK_SETUP: dict[LinkState, Callable[[Client], Link]] = {
    LinkState.ATTACHING: lambda c: c.attach("l", 0, SENDER),
    LinkState.ATTACHED: lambda c: c.producer_link(),
    LinkState.DETACHED: _detached_link,
}

LINK_INPUTS: dict[str, Callable[[Client, Link], object]] = {
    "local accept": lambda c, link: c.conn.accept_attach(link),
    "local refuse": lambda c, link: c.conn.refuse_attach(link, perf.Error("amqp:not-found")),
    "local detach": lambda c, link: c.conn.detach(link),
    "detach": lambda c, link: c.frame(perf.Detach(link.remote_handle, closed=True)),
    "end": lambda c, link: c.frame(perf.End()),
}

LINK_ROWS = [(state, what) for state, what in LINK_TRANSITIONS if what != "attach"]


@pytest.mark.parametrize(("state", "what"), LINK_ROWS, ids=[f"{s.name}-{i}" for s, i in LINK_ROWS])
def test_every_listed_link_transition_happens(state: LinkState, what: str) -> None:
    client = opened()
    client.begin()
    link = LINK_SETUP[state](client)
    assert link.state is state
    LINK_INPUTS[what](client, link)
    assert link.state is LINK_TRANSITIONS[(state, what)]
    assert client.conn.state is State.OPEN


LINK_UNLISTED = [
    (state, what) for state in LinkState for what in LINK_INPUTS if (state, what) not in LINK_TRANSITIONS
]


@pytest.mark.parametrize(("state", "what"), LINK_UNLISTED, ids=[f"{s.name}-{i}" for s, i in LINK_UNLISTED])
def test_an_unlisted_link_input_of_ours_is_a_local_protocol_error(state: LinkState, what: str) -> None:
    assert what.startswith("local ")  # every input of the peer's is listed in every state
    client = opened()
    client.begin()
    link = LINK_SETUP[state](client)
    with pytest.raises(LocalProtocolError):
        LINK_INPUTS[what](client, link)
    assert link.state is state and client.conn.data_to_send() == b""
