"""Wrongly typed fields, one table row each, on raw frames against a real emulator process: each gets a
named AMQP error on its own link, delivery, request or connection, never amqp:internal-error, while a
well-behaved SDK client sends and reads beside them (issue 11, case 7)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient

from amqp10.codec import encode, write
from amqp10.connection import RECEIVER, SENDER, LinkDetached, MessageReceived
from amqp10.frames import encode_frame
from amqp10.message import (
    APPLICATION_PROPERTIES,
    BATCH_MESSAGE_FORMAT,
    DATA,
    DELIVERY_ANNOTATIONS,
    FOOTER,
    HEADER,
    MESSAGE_ANNOTATIONS,
    PROPERTIES,
    Message,
    Properties,
    encode_section,
)
from amqp10.performatives import Attach, Error, Source, Target
from amqp10.types import Described, Symbol, UInt, ULong
from emulator.process import EmulatorProcess
from eventhubs import nodes
from eventhubs.links import EPOCH
from eventhubs.selector import SELECTOR_FILTER
from tests.conftest import default_emulator
from tests.emulator import hostile_peers as peers
from tests.emulator.hostile_peers import HUB, Neighbour

pytestmark = pytest.mark.timeout(120)
RECEIVER_ADDRESS = f"{HUB}/ConsumerGroups/$Default/Partitions/0"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with default_emulator(tmp_path_factory.mktemp("fields")) as process:
        yield process


@pytest.fixture(scope="module")
def attacker(emu: EmulatorProcess) -> Iterator[peers.RawClient]:
    """One raw connection with a token and $cbs links: every row below runs on it, and must not end it."""
    client = peers.RawClient(emu.port)
    client.requests = client.attach("cbs-requests", SENDER, "attacker", "$cbs").link  # type: ignore[attr-defined]
    client.replies = client.attach("cbs-replies", RECEIVER, "$cbs", "attacker").link  # type: ignore[attr-defined]
    ask(client, peers.put_token_request(emu, f"sb://localhost/{HUB}", "attacker"))
    yield client
    client.close()


def ask(client: peers.RawClient, request: bytes, link: Any = None) -> Any:
    """Send a request to $cbs (or `link`'s node) and return the reply, or the rejection's condition."""
    link = link or client.requests  # type: ignore[attr-defined]
    client.wait(lambda: link.can_send, "get credit")
    events, outcomes = len(client.events), len(client.outcomes())
    client.conn.send_message(link, request, settled=False)
    client.flush()
    client.wait(lambda: len(client.outcomes()) > outcomes, "hear the outcome")
    if (refused := peers.condition(client.outcomes()[-1])) is not None:
        return refused
    replies = lambda: [e for e in client.events[events:] if isinstance(e, MessageReceived)]  # noqa: E731
    client.wait(lambda: bool(replies()), "hear the reply")
    return nodes.decode_reply(replies()[0].payload)


# ---- attach: link properties and source filters -----------------------------------------------------


ATTACH_ROWS: dict[str, dict[str, Any]] = {
    "epoch-as-string": {"properties": {EPOCH: "5"}},
    "epoch-as-list": {"properties": {EPOCH: [5]}},
    "epoch-as-double": {"properties": {EPOCH: 1.5}},
    "epoch-as-boolean": {"properties": {EPOCH: True}},
    "epoch-as-map": {"properties": {EPOCH: {"a": 1}}},
    "epoch-ulong-past-long": {"properties": {EPOCH: ULong(2**64 - 1)}},
    "selector-value-integer": {"filter": {SELECTOR_FILTER: Described(SELECTOR_FILTER, 5)}},
    "selector-value-list": {"filter": {SELECTOR_FILTER: Described(SELECTOR_FILTER, ["x"])}},
    "selector-bare-integer": {"filter": {SELECTOR_FILTER: 7}},
    "selector-value-map": {"filter": {SELECTOR_FILTER: Described(SELECTOR_FILTER, {"a": 1})}},
}


@pytest.mark.parametrize("row", ATTACH_ROWS, ids=list(ATTACH_ROWS))
def test_a_wrongly_typed_attach_field_refuses_that_link_by_name(
    attacker: peers.RawClient, neighbour: Neighbour, row: str
) -> None:
    spec = ATTACH_ROWS[row]
    with neighbour.beside():
        link = attacker.conn.attach(
            attacker.session, f"reader-{row}", RECEIVER,
            source=Source(RECEIVER_ADDRESS, filter=spec.get("filter")), target=Target("attacker"),
            properties=spec.get("properties"),
        )  # fmt: skip
        attacker.flush()
        attacker.wait(
            lambda: any(isinstance(e, LinkDetached) and e.link is link for e in attacker.events),
            "hear the refusal",
        )
    (detached,) = [e for e in attacker.events if isinstance(e, LinkDetached) and e.link is link]
    assert detached.error is not None and detached.error.condition == "amqp:invalid-field", detached.error


# ---- messages: sections and annotations ------------------------------------------------------------


def section(code: int, value: Any) -> bytes:
    out = bytearray()
    encode_section(out, code, value)
    return bytes(out)


def raw_map_section(code: int, *pairs: Any) -> bytes:
    """A map section written item by item: keys a Python dict cannot hold (a list) included."""
    items = b"".join(encode(item) for pair in pairs for item in pair)
    return bytes((0x00, 0x53, code, 0xC1, len(items) + 1, 2 * len(pairs))) + items


BODY = section(DATA, b"event")
MESSAGE_ROWS = {
    "annotations-as-list": (0, section(MESSAGE_ANNOTATIONS, [1, 2]) + BODY),
    "annotations-as-string": (0, section(MESSAGE_ANNOTATIONS, "x") + BODY),
    "annotations-string-key": (0, section(MESSAGE_ANNOTATIONS, {"x-opt-a": 1}) + BODY),
    "annotations-long-key": (0, section(MESSAGE_ANNOTATIONS, {5: 1}) + BODY),
    "annotations-list-key": (0, raw_map_section(MESSAGE_ANNOTATIONS, (["k"], 1)) + BODY),
    "delivery-annotations-string-key": (0, section(DELIVERY_ANNOTATIONS, {"k": 1}) + BODY),
    "footer-binary-key": (0, BODY + section(FOOTER, {b"k": 1})),
    "application-properties-as-list": (0, section(APPLICATION_PROPERTIES, ["a"]) + BODY),
    "application-properties-long-key": (0, section(APPLICATION_PROPERTIES, {5: "v"}) + BODY),
    "application-properties-symbol-key": (0, section(APPLICATION_PROPERTIES, {Symbol("k"): "v"}) + BODY),
    "application-properties-map-key": (0, raw_map_section(APPLICATION_PROPERTIES, ({"k": 1}, "v")) + BODY),
    "application-properties-garbled-inside": (  # its size is right; a string inside runs past it
        0, bytes((0x00, 0x53, APPLICATION_PROPERTIES, 0xC1, 5, 2, 0xA1, 9)) + b"ab" + BODY,
    ),
    "header-durable-as-string": (0, section(HEADER, ["yes"]) + BODY),
    "header-six-fields": (0, section(HEADER, [None] * 6) + BODY),
    "properties-to-as-integer": (0, section(PROPERTIES, [None, None, 5]) + BODY),
    "properties-user-id-as-string": (0, section(PROPERTIES, [None, "me"]) + BODY),
    "batch-event-application-properties-long-key": (
        BATCH_MESSAGE_FORMAT, section(DATA, section(APPLICATION_PROPERTIES, {5: "v"}) + BODY),
    ),
    "data-holding-a-string": (0, section(DATA, "not binary")),
    "batch-event-annotations-as-list": (
        BATCH_MESSAGE_FORMAT, section(DATA, section(MESSAGE_ANNOTATIONS, [1]) + BODY),
    ),
    "batch-envelope-annotations-as-list": (
        BATCH_MESSAGE_FORMAT, section(MESSAGE_ANNOTATIONS, [1]) + section(DATA, BODY),
    ),
    "batch-data-holding-a-list": (BATCH_MESSAGE_FORMAT, section(DATA, BODY) + section(DATA, [1])),
}  # fmt: skip


@pytest.fixture(scope="module")
def publisher(attacker: peers.RawClient) -> Any:
    return attacker.attach("publisher", SENDER, "attacker", HUB).link


@pytest.mark.parametrize("row", MESSAGE_ROWS, ids=list(MESSAGE_ROWS))
def test_a_wrongly_typed_message_is_rejected_by_name(
    attacker: peers.RawClient, publisher: Any, neighbour: Neighbour, row: str
) -> None:
    message_format, payload = MESSAGE_ROWS[row]
    before = len(attacker.outcomes())
    with neighbour.beside():
        attacker.wait(lambda: publisher.can_send, "get credit")
        attacker.conn.send_message(publisher, payload, message_format=message_format, settled=False)
        attacker.flush()
        attacker.wait(lambda: len(attacker.outcomes()) > before, "hear the outcome")
    assert peers.condition(attacker.outcomes()[-1]) == "amqp:decode-error"


def test_what_the_service_stores_the_sdk_may_send(emu: EmulatorProcess) -> None:
    """A partition key that is not a string, and a map-valued application property: the service takes
    both (azure-eventhub's send_batch docstring: such a key is ignored and the events go round-robin;
    azure-sdk-for-python#12353 and azure-sdk-for-js#31067: consumers then read them as sent), and so the
    emulator does, where it once refused the key with amqp:decode-error."""
    marker = uuid.uuid4().hex
    received: dict[str, EventData] = {}
    both = threading.Event()

    def on_event(context: Any, event: EventData) -> None:
        if event.body_as_str().startswith(marker):
            received[context.partition_id] = event
            if len(received) == 2:
                both.set()

    consumer = EventHubConsumerClient.from_connection_string(
        emu.connection_string, "$Default", eventhub_name=HUB
    )
    since = datetime.now(UTC) - timedelta(seconds=1)  # what other tests sent is told apart by the marker
    reading = threading.Thread(target=consumer.receive, args=(on_event,), kwargs={"starting_position": since})
    reading.start()
    try:
        with EventHubProducerClient.from_connection_string(
            emu.connection_string, eventhub_name=HUB
        ) as producer:
            for i in range(2):
                batch = producer.create_batch(partition_key=5)  # type: ignore[arg-type]
                event = EventData(f"{marker}-{i}")
                event.properties = {"nested": {"a": 1}}
                batch.add(event)
                producer.send_batch(batch)
        both.wait(20)
    finally:
        consumer.close()
        reading.join(10)
    assert len(received) == 2, f"read back in partitions {sorted(received)}: the key was not ignored"
    for event in received.values():
        assert event.partition_key == 5  # type: ignore[comparison-overlap]  # typed bytes, sent as a long
        assert event.properties == {b"nested": {b"a": 1}}


# ---- $cbs and $management requests -------------------------------------------------------------------


def request(properties: dict[str, Any], body: Any = "token") -> bytes:
    message = Message(
        properties=Properties(message_id="m", reply_to="attacker"),
        application_properties=properties,
        value=body,
        has_value=True,
    )
    return message.encode()


PUT = {"operation": "put-token", "type": "servicebus.windows.net:sastoken", "name": f"sb://localhost/{HUB}"}
READ = {"operation": "READ", "name": HUB, "type": nodes.PARTITION, "partition": "0"}
REQUEST_ROWS: dict[str, tuple[str, dict[str, Any], Any]] = {
    "cbs-operation-as-list": ("$cbs", {**PUT, "operation": ["put-token"]}, "token"),
    "cbs-name-as-list": ("$cbs", {**PUT, "name": ["x"]}, "token"),
    "cbs-name-as-integer": ("$cbs", {**PUT, "name": 5}, "token"),
    "cbs-type-as-integer": ("$cbs", {**PUT, "type": 1}, "token"),
    "cbs-token-as-integer": ("$cbs", PUT, 12345),
    "cbs-token-as-map": ("$cbs", PUT, {"a": 1}),
    "management-name-as-list": ("$management", {**READ, "name": [HUB]}, None),
    "management-type-as-integer": ("$management", {**READ, "type": 3}, None),
    "management-partition-as-integer": ("$management", {**READ, "partition": 0}, None),
    "management-operation-as-map": ("$management", {**READ, "operation": {"a": 1}}, None),
}


@pytest.mark.parametrize("row", REQUEST_ROWS, ids=list(REQUEST_ROWS))
def test_a_wrongly_typed_request_property_is_answered_400_naming_it(
    attacker: peers.RawClient, neighbour: Neighbour, row: str
) -> None:
    node, properties, body = REQUEST_ROWS[row]
    if node == "$management" and not hasattr(attacker, "management"):
        attacker.management = attacker.attach("mgmt-requests", SENDER, "attacker", "$management").link  # type: ignore[attr-defined]
        attacker.attach("mgmt-replies", RECEIVER, "$management", "attacker")
    link = attacker.management if node == "$management" else attacker.requests  # type: ignore[attr-defined]
    with neighbour.beside():
        reply = ask(attacker, request(properties, body), link)
    assert isinstance(reply, nodes.Reply), reply
    assert reply.status == 400, (reply.status, reply.description)
    assert "must be a string" in reply.description


def test_the_expiration_property_is_not_read_so_any_type_is_accepted(
    emu: EmulatorProcess, attacker: peers.RawClient
) -> None:
    """The token's own expiry (`se`) decides: a put-token's `expiration` of another type changes nothing."""
    token_request = Message.decode(peers.put_token_request(emu, f"sb://localhost/{HUB}", "attacker"))
    assert token_request.application_properties is not None
    token_request.application_properties["expiration"] = ["soon"]
    reply = ask(attacker, token_request.encode())
    assert isinstance(reply, nodes.Reply) and reply.status == 200


# ---- performatives: the AMQP layer's own field types (the connection is closed, as the spec says) -----


class RawAttach:
    """An attach performative written as given, field by field (no coercion to the declared types)."""

    def __init__(self, **changes: Any) -> None:
        fields = Attach("raw", 0, SENDER, source=Source("a"), target=Target("$cbs")).described().value
        names = ["name", "handle", "role", "snd_settle_mode", "rcv_settle_mode", "source", "target",
                 "unsettled", "incomplete_unsettled", "initial_delivery_count", "max_message_size",
                 "offered_capabilities", "desired_capabilities", "properties"]  # fmt: skip
        for name, value in changes.items():
            fields[names.index(name)] = value
        self.fields = fields

    def encode_into(self, out: bytearray) -> None:
        write(out, Described(ULong(0x12), self.fields))


FRAME_ROWS: dict[str, dict[str, Any]] = {
    "source-given-a-target": {"source": Target("a").described()},
    "target-given-an-error": {"target": Error("x").described()},
    "source-as-string": {"source": "a"},
    "properties-as-list": {"properties": [1, 2]},
    "desired-capabilities-integers": {"desired_capabilities": [1, 2]},
    "handle-as-string": {"handle": "0"},
    "name-as-integer": {"name": 5},
    "max-message-size-negative": {"max_message_size": -1},
    "role-as-integer": {"role": UInt(1)},
}


@pytest.mark.parametrize("row", FRAME_ROWS, ids=list(FRAME_ROWS))
def test_a_wrongly_typed_performative_field_closes_that_connection_with_decode_error(
    emu: EmulatorProcess, neighbour: Neighbour, row: str
) -> None:
    attach = RawAttach(**FRAME_ROWS[row])
    with neighbour.beside():
        frames = peers.raw_frames_until_closed(emu.port, peers.OPEN_AND_BEGIN + encode_frame(0, attach))  # type: ignore[arg-type]
    assert peers.close_error(frames) == "amqp:decode-error"


def test_no_internal_error_was_logged(emu: EmulatorProcess) -> None:
    assert not [line for line in emu.output if "internal error" in line or "Traceback" in line]
