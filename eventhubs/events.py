"""Event Hubs events on the wire: the annotations, batches unpacked, events stamped and read.

A producer sends either one message (format 0) or a batch (format 0x80013700) whose data sections each
hold one encoded message. The service stamps every event with its sequence number, offset and enqueued
time as message annotations; the emulator does that once, at ingest, and stores the stamped bytes, so
delivering an event is a copy, not a re-encode. `read_annotations` reads them back on the client's hot
path: a small inline reader for the encodings the service uses, the general bounded decoder for the rest.
"""

from __future__ import annotations

import functools
import struct
from typing import Any

from amqp10.codec import Decoder, encode, write
from amqp10.errors import DecodeError
from amqp10.message import (
    AMQP_SEQUENCE,
    APPLICATION_PROPERTIES,
    BATCH_MESSAGE_FORMAT,
    DATA,
    DELIVERY_ANNOTATIONS,
    FOOTER,
    HEADER,
    MESSAGE_ANNOTATIONS,
    PROPERTIES,
    SECTION_SYMBOLS,
    section_bounds,
    split_sections,
)
from amqp10.performatives import from_described
from amqp10.types import Described, Symbol, Timestamp, ULong

# The annotations the service stamps on every event, and the ones a sender may set.
PARTITION_KEY = Symbol("x-opt-partition-key")
SEQUENCE_NUMBER = Symbol("x-opt-sequence-number")
OFFSET = Symbol("x-opt-offset")
ENQUEUED_TIME = Symbol("x-opt-enqueued-time")
PUBLISHER = Symbol("x-opt-publisher")
_STAMPED = frozenset((SEQUENCE_NUMBER, OFFSET, ENQUEUED_TIME, PARTITION_KEY))


def unpack(payload: bytes, message_format: int) -> tuple[list[bytes], str | None]:
    """The single messages a transfer carries, and the partition key its envelope names (if any)."""
    bounds = list(section_bounds(payload))
    check_section_types(payload, bounds)
    if message_format != BATCH_MESSAGE_FORMAT:
        return [payload], partition_key_of(payload, bounds)
    messages = []
    for code, _start, end, value_at in bounds:
        if code == DATA:
            # Sliced, not decoded: section_bounds has already checked the sizes.
            constructor = payload[value_at]
            if constructor not in (0xA0, 0xB0):
                raise DecodeError(f"a batch's data section holds constructor 0x{constructor:02x}, not binary")
            messages.append(payload[value_at + (2 if constructor == 0xA0 else 5) : end])
    if not messages:
        raise DecodeError("a batch message with no data sections")
    return messages, partition_key_of(payload, bounds)


def partition_key_of(message: bytes, bounds: list[tuple[int, int, int, int]]) -> str | None:
    """The partition key a message's annotations name; `bounds` are its `section_bounds`.

    A key that is not a string is no key: the service ignores it and spreads the events round-robin,
    keeping the annotation as sent (azure-eventhub's `send_batch` docstring says so; consumers that
    expect a string then fail on it, azure-sdk-for-python#12353), so the emulator does the same.
    """
    for code, _start, end, value_at in bounds:
        if code == MESSAGE_ANNOTATIONS:
            for name, key in read_annotations(message, value_at, end):
                if name == PARTITION_KEY and isinstance(key, str):
                    return key
            return None
    return None


_LISTS = frozenset((0x45, 0xC0, 0xD0))
_MAPS = frozenset((0x40, 0xC1, 0xD1))  # null too: an empty section
# The constructors each section's value may start with (amqp-value may hold anything).
_SECTION_CONSTRUCTORS = {
    HEADER: _LISTS, DELIVERY_ANNOTATIONS: _MAPS, MESSAGE_ANNOTATIONS: _MAPS, PROPERTIES: _LISTS,
    APPLICATION_PROPERTIES: _MAPS, DATA: frozenset((0xA0, 0xB0)), AMQP_SEQUENCE: _LISTS, FOOTER: _MAPS,
}  # fmt: skip
_SECTION_NAMES = {code: symbol for symbol, code in SECTION_SYMBOLS.items()}


def check_section_types(message: bytes, bounds: list[tuple[int, int, int, int]]) -> None:
    """Raise DecodeError unless each section holds its type (a map of annotations, a list header...):
    what the service stores, every consumer must be able to decode."""
    for code, _start, _end, value_at in bounds:
        allowed = _SECTION_CONSTRUCTORS.get(code)
        if allowed is not None and message[value_at] not in allowed:
            raise DecodeError(
                f"section {_SECTION_NAMES[code]} holds a value of constructor 0x{message[value_at]:02x}"
            )


def _is_string(key: Any) -> bool:
    return type(key) is str  # a Symbol is a str too, but not an AMQP string


def _is_annotation_key(key: Any) -> bool:
    return isinstance(key, Symbol | ULong)


# The key types the AMQP spec allows in each map section (3.2.5: application-properties keys are
# strings; annotations, 3.2.10, and footers are keyed by symbol or ulong), and how to say so.
_ANNOTATION_KEY = (_is_annotation_key, "a symbol or ulong")
_MAP_KEYS = {
    APPLICATION_PROPERTIES: (_is_string, "a string"), MESSAGE_ANNOTATIONS: _ANNOTATION_KEY,
    DELIVERY_ANNOTATIONS: _ANNOTATION_KEY, FOOTER: _ANNOTATION_KEY,
}  # fmt: skip


def check_section_fields(message: bytes, bounds: list[tuple[int, int, int, int]]) -> dict[Any, Any]:
    """Raise DecodeError unless every section other than the body decodes whole, with the field types the
    spec gives its header and properties and the key types it gives its maps; return the message's own
    message annotations (not to be changed: they may be shared).

    Keys only, not application-property values: the service stores a map-valued property (it reached a
    JavaScript consumer and broke only .NET's converter, azure-sdk-for-js#31067), and azure-eventhub
    sends a dict value as one. A key of another type no SDK sends, and statically typed consumers cannot
    read (a list key even makes azure-eventhub's decoder raise TypeError on every receive).
    """
    own: dict[Any, Any] = {}
    for code, start, end, value_at in bounds:
        if code in _CHECKED_SECTIONS:
            section = bytes(message[start:end])  # hashable, whatever buffer the message is in
            # A stream repeats its headers, keys and properties: each small one is decoded once.
            check = _checked_small if end - start <= _SMALL else _checked
            value = check(code, section, value_at - start)
            if code == MESSAGE_ANNOTATIONS:
                own = value
    return own


_SMALL = 256  # bytes: sections this small are remembered once checked, the last 1,024 of them
_CHECKED_SECTIONS = frozenset((HEADER, PROPERTIES, *_MAP_KEYS))


def _checked(code: int, section: bytes, value_at: int) -> Any:
    value = _DECODER.decode(section, value_at)[0]
    if code in (HEADER, PROPERTIES):
        return from_described(Described(ULong(code), value))
    allowed, expected = _MAP_KEYS[code]
    for key in value or ():
        if not allowed(key):
            raise DecodeError(
                f"section {_SECTION_NAMES[code]} has a key of type {type(key).__name__} "
                f"{key!r:.40}: its keys must each be {expected}"
            )
    return value or {}


_checked_small = functools.lru_cache(maxsize=1024)(_checked)


_DECODER = Decoder()
_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")


def _symbol_at(data: bytes, pos: int) -> tuple[str, int] | None:
    code = data[pos]
    if code == 0xA3:
        end = pos + 2 + data[pos + 1]
        return data[pos + 2 : end].decode("ascii", "replace"), end
    if code == 0xB3:
        end = pos + 5 + _U32.unpack_from(data, pos + 1)[0]
        return data[pos + 5 : end].decode("ascii", "replace"), end
    return None


def read_annotations(data: bytes, start: int, end: int) -> list[tuple[str, Any]]:
    """The message-annotations map whose value lies at data[start:end], as (name, value) pairs.

    Keys are symbols (or, rarely, ulongs, given as text); longs and timestamps come back as int, str8 as
    str. Raises DecodeError (or IndexError/struct.error on truncated bytes) for a map that is not one.
    """
    code = data[start]
    if code == 0xC1:
        count, pos = data[start + 2], start + 3
    elif code == 0xD1:
        count, pos = _U32.unpack_from(data, start + 5)[0], start + 9
    elif code == 0x40:
        return []
    else:
        raise DecodeError(f"message annotations are not a map (constructor 0x{code:02x})")
    if count % 2:
        raise DecodeError("message annotations map has an odd number of items")
    pairs: list[tuple[str, Any]] = []
    for _ in range(count // 2):
        key = _symbol_at(data, pos) if pos < end else None
        if key is None:
            raw, pos = _DECODER.decode(data, pos)
            name = str(raw)
        else:
            name, pos = key
        if pos >= end:
            raise DecodeError("message annotations map ends inside an entry")
        c = data[pos]
        if c == 0x81 or c == 0x83:  # long, timestamp: the sequence number and the enqueued time
            value: Any = _I64.unpack_from(data, pos + 1)[0]
            pos += 9
        elif c == 0xA1:  # str8: the offset, the partition key
            stop = pos + 2 + data[pos + 1]
            value = data[pos + 2 : stop].decode("utf-8", "replace")
            pos = stop
        else:
            value, pos = _DECODER.decode(data, pos)
        pairs.append((name, value))
    if pos != end:
        raise DecodeError("message annotations map size does not match its entries")
    return pairs


def stamp(
    message: bytes, sequence_number: int, offset: int, enqueued_ms: int, partition_key: str | None
) -> bytes:
    """The message as consumers receive it: the service's annotations merged into its own."""
    bounds = list(section_bounds(message))  # plain tuples: once per stored event
    check_section_types(message, bounds)
    own = check_section_fields(message, bounds)
    # A sender's partition key that is not a string routed nothing; it is delivered as sent.
    kept = {
        k: v for k, v in own.items()
        if k not in _STAMPED or (k == PARTITION_KEY and not isinstance(v, str) and partition_key is None)
    }  # fmt: skip
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
    return _replace_annotations(message, bounds, section)


# The common case, written directly: no annotations of the sender's own but (maybe) its partition key.
_KEYS = {name: encode(name) for name in (SEQUENCE_NUMBER, OFFSET, ENQUEUED_TIME, PARTITION_KEY)}
_TYPED_LONG = struct.Struct(">Bq")


def _service_annotations(sequence: int, offset: int, enqueued_ms: int, key: str | None) -> bytearray:
    body = bytearray(_KEYS[SEQUENCE_NUMBER])
    body += _TYPED_LONG.pack(0x81, sequence)  # long
    body += _KEYS[OFFSET]
    digits = str(offset).encode("ascii")
    body += bytes((0xA1, len(digits)))  # str8: an offset has at most 20 digits
    body += digits
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


def _replace_annotations(
    message: bytes, bounds: list[tuple[int, int, int, int]], annotations: bytes | bytearray
) -> bytes:
    """The message with its message-annotations section replaced, in the place the spec gives it."""
    out = bytearray()
    placed = False
    for code, start, end, _value_at in bounds:
        if code == MESSAGE_ANNOTATIONS:
            continue
        if not placed and code > MESSAGE_ANNOTATIONS:
            out += annotations
            placed = True
        out += message[start:end]
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


# ---- packing: what a producer sends ------------------------------------------------------------------
# The azure-eventhub SDK's encoding (`EventDataBatch`, `_pyamqp`): a keyed event carries a durable header
# and the key as message annotation `x-opt-partition-key`; a batch is a message of format 0x80013700 with
# the same header and annotation on its envelope and one data section per encoded event.

_DATA_8 = bytes((0x00, 0x53, DATA, 0xA0))  # vbin8
_DATA_32 = bytes((0x00, 0x53, DATA, 0xB0))  # vbin32


# header [durable=true, 4 nulls], written as the SDK writes it (boolean 0x56 0x01, not 0x41), so that
# our batches are byte for byte the SDK's (tests/eventhubs/test_pack.py compares them).
_HEADER_DURABLE = bytes.fromhex("005370c00705560140404040")


def _data_section(out: bytearray, chunk: bytes | bytearray | memoryview) -> None:
    size = len(chunk)
    if size < 256:
        out += _DATA_8
        out.append(size)
    else:
        out += _DATA_32
        out += size.to_bytes(4, "big")
    out += chunk


def _key_sections(partition_key: str | None) -> bytes:
    if partition_key is None:
        return b""
    out = bytearray(_HEADER_DURABLE)
    out += bytes((0x00, 0x53, MESSAGE_ANNOTATIONS))
    write(out, {PARTITION_KEY: partition_key})
    return bytes(out)


def encode_event(
    body: bytes, properties: dict[str, Any] | None = None, partition_key: str | None = None
) -> bytes:
    """One event as a single encoded message: (header and key annotation,) application properties, body."""
    if partition_key is None and not properties:  # the common case, written at once
        size = len(body)
        if size < 256:
            return b"".join((_DATA_8, bytes((size,)), body))
        return b"".join((_DATA_32, size.to_bytes(4, "big"), body))
    out = bytearray(_key_sections(partition_key))
    if properties:
        out += bytes((0x00, 0x53, 0x74))  # application-properties: string keys, as the SDK writes them
        write(out, {str(k): v for k, v in properties.items()})
    _data_section(out, body)
    return bytes(out)


def batch_overhead(message_size: int) -> int:
    """Bytes a message of `message_size` adds to a batch beyond itself: its data section's head."""
    return 5 if message_size < 256 else 8


def envelope(partition_key: str | None = None) -> bytes:
    """A batch's sections before its events: the header and key annotation of a keyed batch, else none."""
    return _key_sections(partition_key)


def pack(messages: list[bytes], partition_key: str | None = None) -> bytes:
    """The payload of one batch transfer (message format BATCH_MESSAGE_FORMAT); `unpack` reverses it."""
    out = bytearray(envelope(partition_key))
    for message in messages:
        _data_section(out, message)
    return bytes(out)


class BatchPacker:
    """Packs encoded events into one batch payload of at most `max_size` bytes, as `pack` would.

    `add` returns False when the event does not fit; a lone event too large for any batch raises
    ValueError (EventTooLarge's message names its size and the limit).
    """

    __slots__ = ("_out", "count", "max_size", "partition_key")

    def __init__(self, max_size: int, partition_key: str | None = None) -> None:
        self.max_size = max_size
        self.partition_key = partition_key
        self._out = bytearray(envelope(partition_key))
        self.count = 0

    @property
    def size(self) -> int:
        return len(self._out)

    def fits_alone(self, message_size: int) -> bool:
        return (
            len(envelope(self.partition_key)) + message_size + batch_overhead(message_size) <= self.max_size
        )

    def add(self, message: bytes) -> bool:
        size = len(message)
        if len(self._out) + size + (5 if size < 256 else 8) > self.max_size:
            return False
        _data_section(self._out, message)
        self.count += 1
        return True

    def payload(self) -> bytes:
        return bytes(self._out)
