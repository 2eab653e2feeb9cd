"""The handler's side of backpressure, in memory: while the transport says it is not writable consumers
send nothing; a pump sends at most its budget; a consumer dropped (detached, stolen) leaves the backlog."""

from __future__ import annotations

from amqp10.connection import RECEIVER, Link, MessageReceived
from amqp10.message import Message
from amqp10.performatives import Source, Target
from eventhubs.links import EPOCH
from tests.emulator.test_token_expiry import Peer

EVENT_BYTES = 10_000


def stalled_consumer(events: int, credit: int = 100_000) -> tuple[Peer, Link]:
    peer = Peer()
    assert peer.put_token(lifetime_s=3600).status == 200
    namespace = peer.handler.namespace
    body = Message(data=[b"x" * EVENT_BYTES]).encode()
    namespace.publish(namespace.hub("tweets"), "0", [body] * events, None)
    peer.handler.pump_budget = 100_000
    peer.handler.writable = False  # as the transport's pause_writing says
    link = peer.client.attach(
        peer.session, "reader", RECEIVER, source=Source("tweets/ConsumerGroups/$Default/Partitions/0"),
        target=Target("me"), credit=credit,
    )  # fmt: skip
    peer.pump()
    return peer, link


def received(peer: Peer, link: Link) -> int:
    return sum(1 for e in peer.events if isinstance(e, MessageReceived) and e.link is link)


def test_nothing_is_sent_while_not_writable_and_a_budget_at_a_time_after() -> None:
    peer, link = stalled_consumer(100)
    assert received(peer, link) == 0
    assert peer.handler.backlogged is False  # not writable: the transport is not asked to pump
    peer.handler.writable = True  # resume_writing
    assert peer.handler.backlogged
    peer.handler.pump_backlog()
    peer.pump()
    first = received(peer, link)
    assert 0 < first <= 100_000 // EVENT_BYTES + 1
    while peer.handler.backlogged:
        peer.handler.pump_backlog()
        peer.pump()
    assert received(peer, link) == 100


def test_a_detached_consumer_leaves_the_backlog_at_once() -> None:
    peer, link = stalled_consumer(100)
    assert peer.handler._backlog
    peer.client.detach(link)
    peer.pump()
    assert not peer.handler._backlog
    peer.handler.writable = True
    assert not peer.handler.backlogged


def test_a_stolen_consumer_leaves_the_backlog_at_once() -> None:
    peer, link = stalled_consumer(100)
    assert [lk.name for lk in peer.handler._backlog] == ["reader"]
    thief = peer.client.attach(
        peer.session, "thief", RECEIVER, source=Source("tweets/ConsumerGroups/$Default/Partitions/0"),
        target=Target("me2"), properties={EPOCH: 2}, credit=1,
    )  # fmt: skip
    peer.pump()
    assert peer.detaches(link), "the higher epoch should take the partition over"
    assert [lk.name for lk in peer.handler._backlog] == [thief.name]  # only the thief waits to send
