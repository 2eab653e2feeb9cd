"""Stamping events as the service does, checked with the SDK's own decoder."""

from __future__ import annotations

from typing import Any

import pytest
from azure.eventhub._pyamqp._decode import decode_payload
from azure.eventhub._pyamqp._encode import encode_payload
from azure.eventhub._pyamqp.message import BatchMessage, Header, Properties
from azure.eventhub._pyamqp.message import Message as SdkMessage

from eventhubs.events import stamp, unpack, with_delivery_annotations


def sdk_encoded(**sections: Any) -> bytes:
    out = bytearray()
    encode_payload(out, SdkMessage(**sections))
    return bytes(out)


MESSAGES: dict[str, dict[str, Any]] = {
    "data only": {"data": [b"hello"]},
    "with partition key": {"data": [b"k"], "message_annotations": {b"x-opt-partition-key": "key-1"}},
    "own annotations": {"data": [b"own"], "message_annotations": {b"custom": 7, b"x-opt-offset": "forged"}},
    "header and properties": {
        "header": Header(durable=True),
        "properties": Properties(message_id="m-1", content_type="application/json"),
        "application_properties": {b"n": 1},
        "data": [b'{"a": 1}'],
    },
    "long body": {"data": [b"x" * 70_000]},
}


@pytest.mark.parametrize("name", list(MESSAGES))
@pytest.mark.parametrize("sequence", [0, 5, 2**40])
def test_stamped_messages_read_back_in_the_sdk(name: str, sequence: int) -> None:
    original = MESSAGES[name]
    key = "key-1" if name == "with partition key" else None
    stamped: Any = decode_payload(
        memoryview(stamp(sdk_encoded(**original), sequence, 123_456, 1_700_000_000_123, key))
    )
    annotations = stamped.message_annotations
    assert annotations[b"x-opt-sequence-number"] == sequence
    assert annotations[b"x-opt-offset"] == b"123456"  # a string, as the service sends it
    assert annotations[b"x-opt-enqueued-time"] == 1_700_000_000_123
    assert annotations.get(b"x-opt-partition-key") == (key.encode() if key else None)
    if name == "own annotations":
        assert annotations[b"custom"] == 7  # kept; the forged service annotation is replaced
    assert stamped.data == original["data"]
    if name == "header and properties":
        assert stamped.header.durable is True
        assert stamped.properties.message_id == b"m-1"
        assert stamped.application_properties == {b"n": 1}


def test_a_batch_unpacks_into_its_messages_and_its_key() -> None:
    inner = [sdk_encoded(data=[f"event {i}".encode()]) for i in range(3)]
    inner.append(sdk_encoded(data=[b"y" * 300]))  # a data section over 255 bytes: the 32-bit form
    out = bytearray()
    encode_payload(out, BatchMessage(data=inner, message_annotations={b"x-opt-partition-key": "pk"}))
    messages, key = unpack(bytes(out), 0x80013700)
    assert messages == inner
    assert key == "pk"


def test_delivery_annotations_go_after_the_header() -> None:
    stored = stamp(sdk_encoded(header=Header(durable=True), data=[b"d"]), 1, 2, 3, None)
    delivered: Any = decode_payload(
        memoryview(with_delivery_annotations(stored, {"last_enqueued_sequence_number": 9}))
    )
    assert delivered.delivery_annotations == {b"last_enqueued_sequence_number": 9}
    assert delivered.header.durable is True
    assert delivered.data == [b"d"]


@pytest.mark.parametrize("key", [5, [b"k"]], ids=["long", "list"])
def test_a_key_that_is_not_a_string_routes_nothing_and_is_delivered_as_sent(key: Any) -> None:
    """As the service does (azure-eventhub's send_batch docstring): no partition key, the annotation kept."""
    sent = sdk_encoded(data=[b"d"], message_annotations={b"x-opt-partition-key": key})
    messages, routing_key = unpack(sent, 0)
    assert routing_key is None
    stamped: Any = decode_payload(memoryview(stamp(messages[0], 1, 2, 3, routing_key)))
    assert stamped.message_annotations[b"x-opt-partition-key"] == key
    assert stamped.message_annotations[b"x-opt-sequence-number"] == 1
