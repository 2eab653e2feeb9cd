"""Event Hubs events on the wire: unpacking what producers send, stamping what consumers receive.

A producer sends either one message (format 0) or a batch (format 0x80013700) whose data sections each
hold one encoded message. The service stamps every event with its sequence number, offset and enqueued
time as message annotations; the emulator does that once, at ingest, and stores the stamped bytes, so
delivering an event is a copy, not a re-encode.
"""

from __future__ import annotations

import struct
from typing import Any

from amqp10.codec import encode, write
from amqp10.errors import DecodeError
from amqp10.message import (
    BATCH_MESSAGE_FORMAT,
    DATA,
    DELIVERY_ANNOTATIONS,
    HEADER,
    MESSAGE_ANNOTATIONS,
    Section,
    section_value,
    split_sections,
)
from amqp10.types import Symbol, Timestamp

# The annotations the service stamps on every event, and the ones a sender may set.
PARTITION_KEY = Symbol("x-opt-partition-key")
SEQUENCE_NUMBER = Symbol("x-opt-sequence-number")
OFFSET = Symbol("x-opt-offset")
ENQUEUED_TIME = Symbol("x-opt-enqueued-time")
PUBLISHER = Symbol("x-opt-publisher")
_STAMPED = frozenset((SEQUENCE_NUMBER, OFFSET, ENQUEUED_TIME, PARTITION_KEY))


def unpack(payload: bytes, message_format: int) -> tuple[list[bytes], str | None]:
    """The single messages a transfer carries, and the partition key its envelope names (if any)."""
    if message_format != BATCH_MESSAGE_FORMAT:
        return [payload], partition_key_of(payload, split_sections(payload))
    sections = split_sections(payload)
    messages = []
    for section in sections:
        if section.code == DATA:
            # Sliced, not decoded: split_sections has already checked the sizes.
            constructor = payload[section.value_at]
            if constructor not in (0xA0, 0xB0):
                raise DecodeError(f"a batch's data section holds constructor 0x{constructor:02x}, not binary")
            messages.append(payload[section.value_at + (2 if constructor == 0xA0 else 5) : section.end])
    if not messages:
        raise DecodeError("a batch message with no data sections")
    return messages, partition_key_of(payload, sections)


def partition_key_of(message: bytes, sections: list[Section]) -> str | None:
    for section in sections:
        if section.code == MESSAGE_ANNOTATIONS:
            annotations = section_value(message, section) or {}
            key = annotations.get(PARTITION_KEY)
            if isinstance(key, bytes):
                key = key.decode("utf-8", "replace")
            return None if key is None else str(key)
    return None


def stamp(
    message: bytes, sequence_number: int, offset: int, enqueued_ms: int, partition_key: str | None
) -> bytes:
    """The message as consumers receive it: the service's annotations merged into its own."""
    sections = split_sections(message)
    own_section = next((s for s in sections if s.code == MESSAGE_ANNOTATIONS), None)
    own = (section_value(message, own_section) or {}) if own_section is not None else {}
    kept = {k: v for k, v in own.items() if k not in _STAMPED}
    if kept:
        annotations: dict[Any, Any] = {
            SEQUENCE_NUMBER: sequence_number,
            OFFSET: str(offset),
            ENQUEUED_TIME: Timestamp(enqueued_ms),
            **({PARTITION_KEY: partition_key} if partition_key is not None else {}),
            **kept,
        }
        section = bytearray(b"\x00\x53\x72")
        write(section, annotations)
    else:
        section = _service_annotations(sequence_number, offset, enqueued_ms, partition_key)
    return _replace_annotations(message, sections, section)


# The common case, written directly: no annotations of the sender's own but (maybe) its partition key.
_KEYS = {name: encode(name) for name in (SEQUENCE_NUMBER, OFFSET, ENQUEUED_TIME, PARTITION_KEY)}
_TYPED_LONG = struct.Struct(">Bq")


def _service_annotations(sequence: int, offset: int, enqueued_ms: int, key: str | None) -> bytearray:
    body = bytearray(_KEYS[SEQUENCE_NUMBER])
    body += _TYPED_LONG.pack(0x81, sequence)  # long
    body += _KEYS[OFFSET]
    write(body, str(offset))
    body += _KEYS[ENQUEUED_TIME]
    body += _TYPED_LONG.pack(0x83, enqueued_ms)  # timestamp
    count = 6
    if key is not None:
        body += _KEYS[PARTITION_KEY]
        write(body, key)
        count = 8
    if len(body) < 255:
        section = bytearray((0x00, 0x53, MESSAGE_ANNOTATIONS, 0xC1, len(body) + 1, count))
    else:
        section = bytearray(b"\x00\x53\x72\xd1") + struct.pack(">II", len(body) + 4, count)
    return section + body


def _replace_annotations(message: bytes, sections: list[Section], annotations: bytes | bytearray) -> bytes:
    """The message with its message-annotations section replaced, in the place the spec gives it."""
    out = bytearray()
    placed = False
    for section in sections:
        if section.code == MESSAGE_ANNOTATIONS:
            continue
        if not placed and section.code > MESSAGE_ANNOTATIONS:
            out += annotations
            placed = True
        out += message[section.start : section.end]
    if not placed:
        out += annotations
    return bytes(out)


def with_delivery_annotations(stored: bytes, annotations: dict[Any, Any]) -> bytes:
    """Insert a delivery-annotations section where the spec puts it: after the header, if any."""
    at = 0
    if stored[:3] == bytes((0x00, 0x53, HEADER)):
        at = split_sections(stored)[0].end
    out = bytearray(stored[:at])
    out += bytes((0x00, 0x53, DELIVERY_ANNOTATIONS))
    write(out, {Symbol(k): v for k, v in annotations.items()})
    out += stored[at:]
    return bytes(out)
