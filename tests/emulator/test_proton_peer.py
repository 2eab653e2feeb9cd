"""qpid-proton as a second, independent AMQP 1.0 peer against a real emulator process.

The azure-eventhub SDK is one client implementation; proton is another, with its own encoder (it trims
trailing null fields from performatives and sections), its own SASL PLAIN and its own link handling. These
tests drive the whole Event Hubs conversation by hand with proton (CBS put-token, $management reads,
producer and consumer links with a selector filter) and cross-check with the SDK in both directions.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from proton import ConnectionException, Delivery, Described, Message, symbol
from proton.reactor import Filter
from proton.utils import BlockingConnection, BlockingReceiver, BlockingSender, LinkDetached

from emulator.config import DEFAULT_KEY, DEFAULT_KEY_NAME
from emulator.process import EmulatorProcess
from eventhubs.sas import make_sas_token
from tests.sdk_events import event_with, read_events, send

HUB = "tweets"
SELECTOR = symbol("apache.org:selector-filter:string")
FROM_START = "amqp.annotation.x-opt-offset > '-1'"
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    process = EmulatorProcess()
    process.start()
    try:
        yield process
    finally:
        process.stop()


class ProtonPeer:
    """One proton connection to the emulator, with the request/response links Event Hubs needs."""

    def __init__(self, port: int, *, user: str = DEFAULT_KEY_NAME, password: str = DEFAULT_KEY) -> None:
        self.port = port
        self.conn = BlockingConnection(
            f"amqp://127.0.0.1:{port}",
            timeout=TIMEOUT,
            user=user,
            password=password,
            allowed_mechs="PLAIN",
            allow_insecure_mechs=True,
        )
        self._nodes: dict[str, tuple[BlockingSender, BlockingReceiver]] = {}

    def audience(self, path: str = HUB) -> str:
        return f"sb://localhost:{self.port}/{path}"

    def request(self, node: str, properties: dict[str, Any], body: Any = None) -> Message:
        """Send one request to `node` ($cbs or $management) and return its reply."""
        if node not in self._nodes:
            # The emulator answers on the link whose source address is the node's name.
            receiver = self.conn.create_receiver(node, credit=10)
            sender = self.conn.create_sender(node)
            self._nodes[node] = (sender, receiver)
        sender, receiver = self._nodes[node]
        message_id = str(uuid.uuid4())
        sender.send(Message(body=body, id=message_id, reply_to=f"{node}-replies", properties=properties))
        reply = receiver.receive(timeout=TIMEOUT)
        assert reply.correlation_id == message_id
        return reply

    def put_token(self, audience: str | None = None, *, key: str = DEFAULT_KEY) -> Message:
        audience = audience or self.audience()
        token = make_sas_token(audience, DEFAULT_KEY_NAME, key, int(time.time()) + 3600)
        properties = {"operation": "put-token", "type": "servicebus.windows.net:sastoken", "name": audience}
        return self.request("$cbs", properties, token)

    def partition(self, partition_id: str, hub: str = HUB) -> dict[str, Any]:
        properties = {
            "operation": "READ",
            "name": hub,
            "type": "com.microsoft:partition",
            "partition": partition_id,
        }
        reply = self.request("$management", properties)
        assert status(reply) == 200, reply.properties
        assert isinstance(reply.body, dict)
        return reply.body

    def receive_from(
        self, partition_id: str, selector: str = FROM_START, *, hub: str = HUB, credit: int = 100
    ) -> BlockingReceiver:
        address = f"{hub}/ConsumerGroups/$Default/Partitions/{partition_id}"
        return self.conn.create_receiver(
            address, credit=credit, options=Filter({SELECTOR: Described(SELECTOR, selector)})
        )

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def peer(emulator: EmulatorProcess) -> Iterator[ProtonPeer]:
    peer = ProtonPeer(emulator.port)
    try:
        assert status(peer.put_token()) == 200
        yield peer
    finally:
        peer.close()


def body(message: Message) -> bytes:
    assert isinstance(message.body, bytes | memoryview), message.body
    return bytes(message.body)


def app_properties(message: Message) -> dict[str, Any]:
    return dict(message.properties or {})


def annotation(message: Message, name: str) -> Any:
    assert message.annotations is not None
    return message.annotations[symbol(name)]


def status(reply: Message) -> Any:
    return app_properties(reply)["status-code"]


def last_sequence(peer: ProtonPeer, partition_id: str, hub: str = HUB) -> int:
    return int(peer.partition(partition_id, hub)["last_enqueued_sequence_number"])


def receive_after(receiver: BlockingReceiver, after_sequence: int, count: int) -> list[Message]:
    """The first `count` messages whose sequence number is above `after_sequence`."""
    got: list[Message] = []
    while len(got) < count:
        message = receiver.receive(timeout=TIMEOUT)  # the emulator sends deliveries settled
        if annotation(message, "x-opt-sequence-number") > after_sequence:
            got.append(message)
    return got


# ---- CBS and $management ----------------------------------------------------------------------------


def test_put_token_is_answered_on_the_cbs_receiver(emulator: EmulatorProcess) -> None:
    peer = ProtonPeer(emulator.port)
    try:
        reply = peer.put_token()
        assert status(reply) == 200
        assert app_properties(reply)["status-description"] == "OK"
    finally:
        peer.close()


def test_put_token_signed_with_a_wrong_key_is_refused(emulator: EmulatorProcess) -> None:
    peer = ProtonPeer(emulator.port)
    try:
        reply = peer.put_token(key="not-the-key")
        assert status(reply) == 401
        with pytest.raises(LinkDetached) as info:
            peer.conn.create_sender(f"{HUB}/Partitions/0")
        assert info.value.condition == "amqp:unauthorized-access"
    finally:
        peer.close()


def test_wrong_sasl_password_is_refused(emulator: EmulatorProcess) -> None:
    with pytest.raises(ConnectionException, match="amqp:unauthorized-access"):
        ProtonPeer(emulator.port, password="wrong").close()


def test_management_read_of_a_partition(peer: ProtonPeer) -> None:
    info = peer.partition("2")
    assert info["name"] == HUB
    assert info["partition"] == "2"
    assert info["type"] == "com.microsoft:partition"
    assert isinstance(info["last_enqueued_offset"], str)


# ---- producing and consuming with proton ------------------------------------------------------------


def test_proton_round_trip_with_properties_and_annotations(peer: ProtonPeer) -> None:
    before = last_sequence(peer, "0")
    sent = [
        Message(body=b"first", properties={"kind": "tweet", "n": 1, "flag": True}),
        Message(body=b"\x00\xffbinary", properties={"kind": "tweet", "n": 2, "score": 2.5}),
        Message(body=b"third", annotations={symbol("x-opt-custom"): "kept"}),
    ]
    started_ms = int(time.time() * 1000)
    sender = peer.conn.create_sender(f"{HUB}/Partitions/0")
    for message in sent:
        delivery = sender.send(message)
        assert delivery.remote_state == Delivery.ACCEPTED

    receiver = peer.receive_from("0")
    got = receive_after(receiver, before, len(sent))

    assert [body(m) for m in got] == [b"first", b"\x00\xffbinary", b"third"]
    assert app_properties(got[0]) == {"kind": "tweet", "n": 1, "flag": True}
    assert app_properties(got[1]) == {"kind": "tweet", "n": 2, "score": 2.5}
    assert not app_properties(got[2])
    sequences = [annotation(m, "x-opt-sequence-number") for m in got]
    assert sequences == [before + 1, before + 2, before + 3]
    offsets = [annotation(m, "x-opt-offset") for m in got]
    assert all(isinstance(o, str) for o in offsets)
    assert [int(o) for o in offsets] == sorted(int(o) for o in offsets)
    assert len(set(offsets)) == len(offsets)
    for message in got:
        enqueued = annotation(message, "x-opt-enqueued-time")
        assert started_ms - 1000 <= int(enqueued) <= int(time.time() * 1000) + 1000
    assert annotation(got[2], "x-opt-custom") == "kept"
    info = peer.partition("0")
    assert info["last_enqueued_sequence_number"] == before + 3
    assert info["last_enqueued_offset"] == offsets[-1]


def test_selector_on_sequence_number_starts_after_it(peer: ProtonPeer) -> None:
    sender = peer.conn.create_sender(f"{HUB}/Partitions/2")
    for payload in (b"a", b"b", b"c"):
        sender.send(Message(body=payload))
    last = last_sequence(peer, "2")
    receiver = peer.receive_from("2", f"amqp.annotation.x-opt-sequence-number > '{last - 1}'")
    message = receiver.receive(timeout=TIMEOUT)
    assert body(message) == b"c"
    assert annotation(message, "x-opt-sequence-number") == last


def test_partition_key_routes_to_one_partition_and_is_stamped(peer: ProtonPeer) -> None:
    befores = {pid: last_sequence(peer, pid) for pid in "0123"}
    key = "device-7"
    sender = peer.conn.create_sender(HUB)
    for n in range(3):
        message = Message(body=f"keyed {n}".encode(), annotations={symbol("x-opt-partition-key"): key})
        assert sender.send(message).remote_state == Delivery.ACCEPTED
    afters = {pid: last_sequence(peer, pid) for pid in "0123"}
    changed = [pid for pid in afters if afters[pid] != befores[pid]]
    assert len(changed) == 1, (befores, afters)
    pid = changed[0]
    assert afters[pid] == befores[pid] + 3

    got = receive_after(peer.receive_from(pid), befores[pid], 3)
    assert [body(m) for m in got] == [b"keyed 0", b"keyed 1", b"keyed 2"]
    assert all(annotation(m, "x-opt-partition-key") == key for m in got)


# ---- cross-peer: proton <-> SDK ---------------------------------------------------------------------


def test_sdk_consumer_reads_what_proton_sent(peer: ProtonPeer, emulator: EmulatorProcess) -> None:
    before = last_sequence(peer, "1")
    sender = peer.conn.create_sender(f"{HUB}/Partitions/1")
    bodies = [f"from proton {n}".encode() for n in range(5)]
    for n, body in enumerate(bodies):
        sender.send(Message(body=body, properties={"source": "proton", "n": n}))

    events = read_events(
        emulator.connection_string, count=before + 1 + len(bodies), partition_id="1", starting_position="-1"
    )[before + 1 :]
    assert [e.body_as_str() for e in events] == [b.decode() for b in bodies]
    for n, event in enumerate(events):
        properties = {_text(k): _text(v) for k, v in (event.properties or {}).items()}
        assert properties == {"source": "proton", "n": n}
        assert event.sequence_number == before + 1 + n
        assert isinstance(event.offset, str)
        assert event.enqueued_time is not None


def test_proton_reads_what_the_sdk_sent(peer: ProtonPeer, emulator: EmulatorProcess) -> None:
    before = last_sequence(peer, "3")
    events = [event_with(f"from the SDK {n}", source="sdk", n=n) for n in range(4)]
    send(emulator.connection_string, events, hub=HUB, partition_id="3")

    got = receive_after(peer.receive_from("3"), before, 4)
    assert [body(m) for m in got] == [f"from the SDK {n}".encode() for n in range(4)]
    assert [app_properties(m) for m in got] == [{"source": "sdk", "n": n} for n in range(4)]
    assert [annotation(m, "x-opt-sequence-number") for m in got] == [before + 1 + n for n in range(4)]


# ---- refusals ---------------------------------------------------------------------------------------


def test_receiver_from_an_unknown_hub_gets_not_found(peer: ProtonPeer) -> None:
    with pytest.raises(LinkDetached) as info:
        peer.receive_from("0", hub="no-such-hub")
    assert info.value.condition == "amqp:not-found"


def test_receiver_from_an_unknown_partition_is_refused(peer: ProtonPeer) -> None:
    with pytest.raises(LinkDetached) as info:
        peer.receive_from("9")
    assert info.value.condition == "com.microsoft:argument-out-of-range"


def test_oversize_message_is_rejected_and_not_stored(peer: ProtonPeer) -> None:
    before = peer.partition("2")
    sender = peer.conn.create_sender(f"{HUB}/Partitions/2")
    limit = sender.link.remote_max_message_size
    assert limit == 1 << 20

    # proton sends it anyway (it does not enforce the peer's max-message-size); the emulator rejects it.
    delivery = sender.link.send(Message(body=b"x" * (limit + 1)))
    assert isinstance(delivery, Delivery)
    peer.conn.wait(lambda: delivery.remote_state != 0, msg="waiting for the oversize verdict")
    assert delivery.remote_state == Delivery.REJECTED
    assert delivery.remote.condition is not None
    assert delivery.remote.condition.name == "amqp:link:message-size-exceeded"
    delivery.settle()
    assert peer.partition("2") == before

    # The link stays usable: the next message is stored right after the previous last one.
    assert sender.send(Message(body=b"small again")).remote_state == Delivery.ACCEPTED
    assert last_sequence(peer, "2") == before["last_enqueued_sequence_number"] + 1


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value
