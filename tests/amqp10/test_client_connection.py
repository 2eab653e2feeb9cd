"""The client's end of `amqp10.connection` against the service's end, in memory.

Both ends are sans-I/O, so a test pumps bytes between them; no sockets. The client's end is what the
Spark reader speaks to Event Hubs; the service's end is what the emulator serves (and is tested against
the SDK and qpid-proton elsewhere), so agreeing with it here means agreeing with a checked peer.
"""

from __future__ import annotations

from typing import Any

import pytest

from amqp10.codec import Decoder, Limits
from amqp10.connection import (
    NEED_DATA,
    RECEIVER,
    SENDER,
    Connection,
    ConnectionClosed,
    ConnectionOpened,
    CreditGranted,
    DeliveriesSettled,
    Event,
    Link,
    LinkAttached,
    LinkAttaching,
    LinkDetached,
    MessageReceived,
    State,
)
from amqp10.errors import ProtocolError
from amqp10.frames import parse_frame
from amqp10.performatives import Accepted, Begin, Disposition, End, Error, Rejected, Source, Target
from amqp10.states import LINK_TRANSITIONS, SESSION_TRANSITIONS, LinkState, SessionState


class Pair:
    def __init__(self, client: Connection, server: Connection) -> None:
        self.client, self.server = client, server
        self.client_events: list[Event] = []
        self.server_events: list[Event] = []

    def pump(self) -> None:
        """Move bytes both ways until neither end has anything to say."""
        while True:
            c2s, s2c = self.client.data_to_send(), self.server.data_to_send()
            if not c2s and not s2c:
                return
            if c2s:
                self.server.receive_data(c2s)
                self.server_events += drain(self.server)
                self._answer_server()
            if s2c:
                self.client.receive_data(s2c)
                self.client_events += drain(self.client)

    def _answer_server(self) -> None:
        for event in self.server_events:
            if isinstance(event, LinkAttaching) and event.link.state.value == "attaching":
                if event.link.address == "refuse-me":
                    self.server.refuse_attach(event.link, Error("amqp:not-found", "no such node"))
                else:
                    self.server.accept_attach(event.link, max_message_size=4096)

    def of(self, kind: type, side: str = "client") -> list[Any]:
        return [
            e for e in (self.client_events if side == "client" else self.server_events) if isinstance(e, kind)
        ]


def drain(conn: Connection) -> list[Event]:
    events: list[Event] = []
    while (event := conn.next_event()) is not NEED_DATA:
        assert isinstance(event, Event)
        events.append(event)
    return events


def opened(**client_kwargs: Any) -> Pair:
    server = Connection("emulator", check_plain=lambda user, password: (user, password) == ("u", "p"))
    pair = Pair(Connection.client("reader", "ns.localhost", **client_kwargs), server)
    pair.pump()
    return pair


def test_sasl_anonymous_then_open() -> None:
    pair = opened()
    assert pair.client.state is State.OPEN and pair.server.state is State.OPEN
    assert pair.of(ConnectionOpened) == [ConnectionOpened("emulator", "ns.localhost")]
    assert pair.of(ConnectionOpened, "server") == [ConnectionOpened("reader", "ns.localhost")]
    assert pair.server.hostname == "ns.localhost"


def test_sasl_plain_with_the_right_and_the_wrong_password() -> None:
    good = opened(sasl_mechanism="PLAIN", sasl_plain=("u", "p"))
    assert good.client.state is State.OPEN and good.server.sasl_identity == "u"
    bad = opened(sasl_mechanism="PLAIN", sasl_plain=("u", "wrong"))
    assert bad.client.state is State.CLOSED
    (closed,) = bad.of(ConnectionClosed)
    assert closed.error is not None and "PLAIN refused" in (closed.error.description or "")


def test_a_mechanism_the_peer_does_not_offer_is_a_protocol_error() -> None:
    client = Connection.client("reader", "ns.localhost", sasl_mechanism="EXTERNAL")
    server = Connection("emulator")
    server.receive_data(client.data_to_send())
    drain(server)
    client.receive_data(server.data_to_send())
    with pytest.raises(ProtocolError, match="not EXTERNAL"):
        drain(client)
    assert client.state is State.ERROR


def test_a_peer_answering_with_another_protocol_header_is_refused() -> None:
    client = Connection.client("reader", "ns.localhost")
    client.receive_data(b"AMQP\x00\x01\x00\x00")
    with pytest.raises(ProtocolError, match="protocol header"):
        drain(client)


def test_begin_needs_an_open_connection() -> None:
    client = Connection.client("reader", "ns.localhost")
    with pytest.raises(ProtocolError, match="cannot begin"):
        client.begin()


def receiving(credit: int = 10) -> tuple[Pair, Link, Link]:
    """An open pair with a client receiver attached and the server's sending end."""
    pair = opened()
    session = pair.client.begin()
    link = pair.client.attach(
        session, "r", RECEIVER, source=Source("hub/p/0"), target=Target("me"), credit=credit
    )
    pair.pump()
    (attached,) = pair.of(LinkAttached)
    assert attached.link is link and link.state.value == "attached"
    (server_link,) = [e.link for e in pair.of(CreditGranted, "server")]
    return pair, link, server_link


def test_a_receiver_attaches_and_grants_its_credit() -> None:
    _pair, link, server_link = receiving(credit=10)
    assert server_link.role == SENDER and server_link.address == "hub/p/0"
    assert server_link.credit == 10 and link.credit == 10


def test_messages_arrive_in_order_and_credit_is_topped_up() -> None:
    pair, link, server_link = receiving(credit=10)
    for i in range(25):
        while not server_link.can_send:
            pair.pump()
        pair.server.send_message(server_link, b"event %d" % i)
        pair.pump()
    got = pair.of(MessageReceived)
    assert [m.payload for m in got] == [b"event %d" % i for i in range(25)]
    assert all(m.settled and m.link is link for m in got)
    assert server_link.credit > 0  # refreshed as half was used


def test_a_multi_frame_message_is_reassembled() -> None:
    pair, _link, server_link = receiving()
    pair.server.remote_max_frame_size = 512  # the spec's minimum: the payload spans frames
    payload = bytes(range(256)) * 8
    pair.server.send_message(server_link, payload)
    pair.pump()
    assert [m.payload for m in pair.of(MessageReceived)] == [payload]


def test_a_sender_waits_for_credit_and_the_server_receives() -> None:
    pair = opened()
    session = pair.client.begin()
    link = pair.client.attach(session, "s", SENDER, source=Source("me"), target=Target("$cbs"))
    pair.pump()
    assert any(isinstance(e, CreditGranted) and e.link is link for e in pair.client_events)
    pair.client.send_message(link, b"request")
    pair.pump()
    (received,) = pair.of(MessageReceived, "server")
    assert received.payload == b"request" and received.settled


def test_unsettled_deliveries_come_back_settled_with_their_outcome() -> None:
    pair = opened()
    session = pair.client.begin()
    link = pair.client.attach(
        session, "s", SENDER, source=Source("me"), target=Target("hub"), settled=False
    )  # fmt: skip
    pair.pump()
    ids = [pair.client.send_message(link, b"x" * 3000, message_format=0x80013700, settled=False)]
    ids.append(pair.client.send_message(link, b"y", settled=False))
    ids.append(pair.client.send_message(link, b"z" * 5000, settled=False))  # over max-message-size 4096
    pair.pump()
    first, second = pair.of(MessageReceived, "server")
    assert not first.settled and first.message_format == 0x80013700 and first.payload == b"x" * 3000
    pair.server.settle(first.link, first.delivery_id)
    pair.server.settle(second.link, second.delivery_id, error=Error("amqp:decode-error", "bad"))
    pair.pump()
    oversize, accepted, rejected = pair.of(DeliveriesSettled)
    assert oversize.first == ids[2] and isinstance(oversize.state, Rejected) and oversize.state.error
    assert oversize.state.error.condition == "amqp:link:message-size-exceeded"
    assert (accepted.first, accepted.last, type(accepted.state)) == (ids[0], ids[0], Accepted)
    assert rejected.first == ids[1] and isinstance(rejected.state, Rejected) and rejected.state.error
    assert rejected.state.error.condition == "amqp:decode-error"


def test_an_unsettled_outcome_is_settled_by_the_sender() -> None:
    """A receiver in rcv-settle-mode second leaves settling to the sender: it gets our settled echo."""
    pair = opened()
    session = pair.client.begin()
    link = pair.client.attach(session, "s", SENDER, source=Source("me"), target=Target("hub"), settled=False)
    pair.pump()
    delivery_id = pair.client.send_message(link, b"m", settled=False)
    pair.pump()
    pair.server._send(session.channel, Disposition(RECEIVER, delivery_id, None, False, Accepted()))
    pair.client.receive_data(pair.server.data_to_send())
    assert [e.first for e in drain(pair.client) if isinstance(e, DeliveriesSettled)] == [delivery_id]
    parsed = parse_frame(pair.client.data_to_send(), 0, 1 << 20, Decoder(Limits()))
    assert parsed is not None
    echo = parsed[0].body
    assert isinstance(echo, Disposition) and echo.role == SENDER and echo.settled
    assert (echo.first, type(echo.state)) == (delivery_id, Accepted)


def test_a_refused_attach_detaches_with_the_peer_error() -> None:
    pair = opened()
    session = pair.client.begin()
    link = pair.client.attach(session, "r", RECEIVER, source=Source("refuse-me"), target=Target("me"))
    pair.pump()
    (detached,) = pair.of(LinkDetached)
    assert detached.link is link and detached.error == Error("amqp:not-found", "no such node")
    assert link.state.value == "detached" and pair.client.state is State.OPEN is pair.server.state


def test_two_links_with_one_name_are_refused_locally() -> None:
    pair = opened()
    session = pair.client.begin()
    pair.client.attach(session, "r", RECEIVER, source=Source("a"))
    with pytest.raises(ProtocolError, match="already attached"):
        pair.client.attach(session, "r", RECEIVER, source=Source("b"))


def test_a_client_refuses_a_session_or_link_it_did_not_ask_for() -> None:
    pair = opened()
    pair.server._send(0, Begin(None, 0, 10, 10))
    with pytest.raises(ProtocolError, match="accepts none"):
        pair.pump()


def test_close_from_the_client_is_answered() -> None:
    pair = opened()
    pair.client.close()
    pair.pump()
    assert pair.client.state is State.CLOSED and pair.server.state is State.CLOSED
    assert pair.of(ConnectionClosed) and pair.of(ConnectionClosed, "server")


# ---- the rows of the link and session tables that only an end which begins and attaches meets ----------


def test_a_begin_of_ours_is_mapped_by_the_answer_and_ended_by_the_peer() -> None:
    pair = opened()
    session = pair.client.begin()
    assert session.state is SessionState.BEGIN_SENT
    pair.pump()
    assert session.state is SESSION_TRANSITIONS[(SessionState.BEGIN_SENT, "begin")]
    (server_session,) = pair.server.sessions.values()
    assert server_session.state is SessionState.MAPPED  # the peer's begin, mapped at once
    pair.server._send(server_session.channel, End())
    pair.pump()
    assert session.state is SESSION_TRANSITIONS[(SessionState.MAPPED, "end")]
    assert pair.client.state is State.OPEN is pair.server.state


def test_the_answer_to_an_attach_of_ours_attaches_it() -> None:
    pair = opened()
    session = pair.client.begin()
    link = pair.client.attach(session, "r", RECEIVER, source=Source("hub/p/0"), target=Target("me"))
    assert link.state is LinkState.ATTACHING
    pair.pump()
    assert pair.of(LinkAttached)[0].link is link
    assert link.state is LINK_TRANSITIONS[(LinkState.ATTACHING, "attach")]
