"""Event Hubs messages into the connector's columns, checked against the azure-eventhub SDK's own reading.

The same bytes go through the SDK (its pyamqp decoder and `EventData`, as its consumer would) and through
`EventColumns`; the columns must say what the SDK says. Hostile bytes must only ever raise MalformedEvent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from azure.eventhub import EventData
from azure.eventhub._pyamqp import _decode as sdk_decode
from azure.eventhub._pyamqp import _encode as sdk_encode
from azure.eventhub._transport._pyamqp_transport import PyamqpTransport
from hypothesis import given, settings
from hypothesis import strategies as st

from amqp10.message import Message
from amqp10.types import Symbol, Timestamp
from eventhubs.events import stamp
from jobs.datasource.columns import EventColumns, MalformedEvent, text


def sdk_reads(payload: bytes) -> EventData:
    return EventData._from_message(sdk_decode.decode_payload(memoryview(payload)))


def sdk_system(event: EventData) -> dict[str, str | None]:
    return {(k.decode() if isinstance(k, bytes) else k): text(v) for k, v in event.system_properties.items()}


def row(payload: bytes) -> dict[str, Any]:
    columns = EventColumns("3")
    columns.add(payload)
    (got,) = columns.take_batch().to_pylist()
    return got


property_values = st.one_of(
    st.text(max_size=20), st.integers(-(2**31), 2**31 - 1), st.booleans(), st.binary(max_size=10),
    st.floats(allow_nan=False),
)  # fmt: skip


@given(
    body=st.binary(max_size=300),
    sequence=st.integers(0, 2**63 - 1),
    offset=st.integers(0, 2**40),
    enqueued_ms=st.integers(1, 4102444800000),  # the SDK reads 0 as no time
    key=st.none() | st.text(min_size=1, max_size=30),
    properties=st.dictionaries(st.text(min_size=1, max_size=10), property_values, max_size=4),
    message_id=st.none() | st.text(min_size=1, max_size=20),
)
def test_columns_say_what_the_sdk_says(
    body: bytes,
    sequence: int,
    offset: int,
    enqueued_ms: int,
    key: str | None,
    properties: dict[str, Any],
    message_id: str | None,
) -> None:
    # What a producer sends (encoded by the SDK itself), stamped as the service delivers it.
    sent = EventData(body)
    sent.properties = dict(properties) or None  # type: ignore[assignment]
    if message_id:
        sent.message_id = message_id
    outgoing = PyamqpTransport.to_outgoing_amqp_message(sent.raw_amqp_message)
    wire = stamp(bytes(sdk_encode.encode_payload(bytearray(), outgoing)), sequence, offset, enqueued_ms, key)
    event = sdk_reads(wire)
    got = row(wire)
    sdk_body = event.body if isinstance(event.body, bytes) else b"".join(event.body)  # type: ignore[arg-type]
    assert got["body"] == body == sdk_body
    assert got["sequenceNumber"] == sequence == event.sequence_number
    assert got["offset"] == str(offset) == event.offset
    assert got["enqueuedTime"] == event.enqueued_time
    assert got["partitionKey"] == (None if key is None else key) == text(event.partition_key)
    assert got["partition"] == "3" and got["publisher"] is None
    assert dict(got["properties"]) == {text(k): text(v) for k, v in (event.properties or {}).items()}
    assert dict(got["systemProperties"]) == sdk_system(event)


def test_a_multi_section_body_is_joined_and_value_bodies_become_text() -> None:
    annotations = {Symbol("x-opt-sequence-number"): 5, Symbol("x-opt-offset"): "10"}
    parts = Message(message_annotations=annotations, data=[b"ab", b"cd"]).encode()
    assert row(parts)["body"] == b"abcd"
    value = Message(message_annotations=annotations, value="hello", has_value=True).encode()
    assert row(value)["body"] == b"hello"


def test_the_publisher_and_an_odd_enqueued_time() -> None:
    annotations = {
        Symbol("x-opt-sequence-number"): 1,
        Symbol("x-opt-enqueued-time"): Timestamp(1760000000123),
        Symbol("x-opt-publisher"): "device-9",
    }
    got = row(Message(message_annotations=annotations, data=[b"x"]).encode())
    assert got["publisher"] == "device-9"
    assert got["enqueuedTime"] == datetime(2025, 10, 9, 8, 53, 20, 123000, tzinfo=UTC)
    assert got["offset"] is None


def test_a_message_without_a_sequence_number_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="x-opt-sequence-number"):
        EventColumns("0").add(Message(data=[b"x"]).encode())


def test_an_enqueued_time_no_timestamp_can_hold_is_malformed() -> None:
    # Found by the mangling test below: one flipped byte made a time Arrow could not convert.
    annotations = {Symbol("x-opt-sequence-number"): 1, Symbol("x-opt-enqueued-time"): Timestamp(2**62)}
    with pytest.raises(MalformedEvent, match="x-opt-enqueued-time"):
        EventColumns("0").add(Message(message_annotations=annotations, data=[b"x"]).encode())


@settings(max_examples=1000)
@given(st.data())
def test_mangled_messages_raise_only_malformed_event(data: st.DataObject) -> None:
    wire = bytearray(
        stamp(Message(data=[b"payload"], application_properties={"a": 1}).encode(), 7, 9, 11, "k")
    )
    for _ in range(data.draw(st.integers(1, 4))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        wire = wire[: data.draw(st.integers(0, len(wire)))]
    columns = EventColumns("0")
    try:
        columns.add(bytes(wire))
    except MalformedEvent:
        assert len(columns) == 0  # nothing half-added
        return
    assert len(columns) == 1
    columns.take_batch()  # and what was added makes a valid batch
