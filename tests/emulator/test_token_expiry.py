"""Token lifetime on open links, in memory on a clock the test controls: our client's end of
`amqp10.connection` against the emulator's `Handler`, no sockets, no waiting for real seconds."""

from __future__ import annotations

import uuid
from typing import Any

from amqp10.connection import (
    NEED_DATA,
    RECEIVER,
    SENDER,
    Connection,
    Event,
    Link,
    LinkAttached,
    LinkDetached,
    MessageReceived,
    Session,
)
from amqp10.performatives import Source, Target
from emulator.config import default_config
from emulator.handler import Handler
from emulator.namespace import Namespace
from emulator.storage import MemoryStore
from eventhubs import nodes
from eventhubs.sas import TOKEN_TYPE, make_sas_token

T0 = 1_800_000_000.0
AUDIENCE = "sb://localhost:5672/tweets"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Peer:
    """A client connection wired to a Handler; `pump` moves bytes both ways until both are quiet."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.handler = Handler(
            Namespace(default_config(), MemoryStore(), clock=self.clock),
            Connection("emulator"),
            clock=self.clock,
        )
        self.client = Connection.client("test", "localhost")
        self.events: list[Event] = []
        self.pump()
        self.session: Session = self.client.begin()
        reply_to = "cbs-replies"
        self.cbs = self.client.attach(
            self.session, "cbs-s", SENDER, source=Source(reply_to), target=Target("$cbs")
        )
        self.replies = self.client.attach(
            self.session, "cbs-r", RECEIVER, source=Source("$cbs"), target=Target(reply_to)
        )
        self.pump()

    def pump(self) -> None:
        server = self.handler.connection
        while True:
            c2s, s2c = self.client.data_to_send(), server.data_to_send()
            if not c2s and not s2c:
                return
            if c2s:
                self.handler.receive_data(c2s)
            if s2c:
                self.client.receive_data(s2c)
                while (event := self.client.next_event()) is not NEED_DATA:
                    assert isinstance(event, Event)
                    self.events.append(event)

    def put_token(self, lifetime_s: int) -> Any:
        expires = int(self.clock.now) + lifetime_s
        token = make_sas_token(AUDIENCE, "RootManageSharedAccessKey", "SAS_KEY_VALUE", expires)
        message_id = uuid.uuid4().hex
        request = nodes.encode_request(
            nodes.put_token(token, TOKEN_TYPE, AUDIENCE, expires), token, message_id, "cbs-replies"
        )
        self.client.send_message(self.cbs, request)
        self.pump()
        reply = [e for e in self.events if isinstance(e, MessageReceived) and e.link is self.replies][-1]
        return nodes.decode_reply(reply.payload)

    def attach_sender(self) -> Link:
        link = self.client.attach(
            self.session, "producer", SENDER, source=Source("me"), target=Target("tweets")
        )
        self.pump()
        attached = [e for e in self.events if isinstance(e, LinkAttached) and e.link is link]
        assert attached and attached[0].remote.target is not None, "the sender should be accepted"
        return link

    def detaches(self, link: Link) -> list[LinkDetached]:
        return [e for e in self.events if isinstance(e, LinkDetached) and e.link is link]

    def tick(self, at: float) -> None:
        self.clock.now = at
        self.handler.check_tokens()
        self.pump()


def test_an_open_link_is_detached_when_its_token_expires() -> None:
    peer = Peer()
    assert peer.put_token(lifetime_s=60).status == 200
    link = peer.attach_sender()
    peer.tick(T0 + 59)
    assert peer.detaches(link) == []
    peer.tick(T0 + 60)
    (detached,) = peer.detaches(link)
    assert detached.error is not None
    assert detached.error.condition == "amqp:unauthorized-access"
    assert "expired and no new one was put" in (detached.error.description or "")
    # The request/response links to $cbs stay: the client can put a token and attach again.
    assert peer.detaches(peer.cbs) == [] and peer.detaches(peer.replies) == []


def test_a_token_renewed_in_time_keeps_the_link_open() -> None:
    peer = Peer()
    peer.put_token(lifetime_s=60)
    link = peer.attach_sender()
    for step in range(1, 6):  # renew every 54 s, as the SDK does at 10% of a 60 s token
        peer.tick(T0 + 54 * step)
        assert peer.put_token(lifetime_s=60).status == 200
    peer.tick(T0 + 54 * 5 + 59)
    assert peer.detaches(link) == []
    peer.tick(T0 + 54 * 5 + 60)
    assert len(peer.detaches(link)) == 1


def test_a_late_token_does_not_bring_a_detached_link_back() -> None:
    peer = Peer()
    peer.put_token(lifetime_s=10)
    link = peer.attach_sender()
    peer.tick(T0 + 11)
    assert peer.put_token(lifetime_s=60).status == 200
    peer.tick(T0 + 12)
    assert len(peer.detaches(link)) == 1  # detached once, and a new link must be attached
    assert peer.attach_sender() is not link


def test_a_message_after_expiry_is_not_stored_even_before_the_timer_runs() -> None:
    peer = Peer()
    peer.put_token(lifetime_s=10)
    link = peer.attach_sender()
    namespace = peer.handler.namespace
    hub = namespace.hub("tweets")

    def stored() -> int:
        return sum(namespace.log(hub, p).next_sequence_number for p in namespace.partition_ids(hub))

    message = nodes.encode_request({}, "an event", "m1", "nowhere")  # any AMQP message will do
    peer.client.send_message(link, message)
    peer.pump()
    assert stored() == 1
    peer.clock.now = T0 + 10  # expired; check_tokens has not run yet
    peer.client.send_message(link, message)
    peer.pump()
    assert stored() == 1
