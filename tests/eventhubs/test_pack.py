"""Packing events into batches: byte for byte what the azure-eventhub SDK's EventDataBatch sends."""

from __future__ import annotations

import pytest
from azure.eventhub import EventData, EventDataBatch
from azure.eventhub._pyamqp._encode import encode_payload

from amqp10.message import BATCH_MESSAGE_FORMAT, Message
from eventhubs.events import BatchPacker, encode_event, pack, unpack


def sdk_batch(events: list[tuple[bytes, dict[str, str] | None]], key: str | None, max_size: int) -> bytes:
    batch = EventDataBatch(partition_key=key, max_size_in_bytes=max_size)
    for body, properties in events:
        event = EventData(body)
        if properties:
            event.properties = properties  # type: ignore[assignment]
        batch.add(event)
    out = bytearray()
    encode_payload(out, batch._message)
    assert len(out) == batch.size_in_bytes  # the SDK's own size accounting matches what it encodes
    return bytes(out)


EVENTS = [
    (b"hello", {"source": "test", "n": "1"}),
    (b"x" * 300, None),  # a body over 255 bytes: vbin32 inside, 8 bytes of batch overhead
    (b"", None),
    ("caf\u00e9".encode(), {"k\u00e9y": "v\u00e4lue"}),
]


@pytest.mark.parametrize("key", [None, "device-7", "\u00fcnicode-key"])
def test_a_batch_is_the_sdks_byte_for_byte(key: str | None) -> None:
    ours = pack([encode_event(body, props, key) for body, props in EVENTS], key)
    assert ours == sdk_batch(EVENTS, key, 1 << 20)


def test_unpack_reverses_pack() -> None:
    messages = [encode_event(body, props, "k") for body, props in EVENTS]
    assert unpack(pack(messages, "k"), BATCH_MESSAGE_FORMAT) == (messages, "k")
    decoded = Message.decode(messages[0])
    assert decoded.data == [b"hello"] and decoded.application_properties == {"source": "test", "n": "1"}
    assert decoded.message_annotations == {"x-opt-partition-key": "k"}
    assert decoded.header is not None and decoded.header.durable


@pytest.mark.parametrize("key", [None, "k"])
@pytest.mark.parametrize("body_size", [10, 200, 251, 260, 5000])
def test_a_packer_fills_a_batch_exactly_as_far_as_the_sdk(key: str | None, body_size: int) -> None:
    max_size = 20_000
    body = b"b" * body_size
    sdk = EventDataBatch(partition_key=key, max_size_in_bytes=max_size)
    sdk_count = 0
    while True:
        try:
            sdk.add(EventData(body))
        except ValueError:
            break
        sdk_count += 1
    packer = BatchPacker(max_size, key)
    message = encode_event(body, None, key)
    while packer.add(message):
        pass
    assert packer.count == sdk_count
    assert packer.size <= max_size and packer.payload() == sdk_batch(
        [(body, None)] * sdk_count, key, max_size
    )


def test_an_event_too_large_for_any_batch_does_not_fit_alone() -> None:
    packer = BatchPacker(1000)
    assert packer.fits_alone(len(encode_event(b"x" * 980)))
    assert not packer.fits_alone(len(encode_event(b"x" * 990)))
    assert not packer.add(encode_event(b"x" * 990)) and packer.count == 0
