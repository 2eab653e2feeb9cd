"""Event Hubs messages, as delivered on the wire, turned into the connector's columns as Arrow batches.

The executors' hot path: a message's bytes go from the AMQP transfer straight into column lists, with no
object per event. Sections are located by their sizes; the message annotations (sequence number, offset,
enqueued time, partition key, publisher) are read with a small inline reader for the encodings the service
uses, and anything unusual falls back to the general, bounded decoder, so an odd message costs more
but reads the same.
"""

from __future__ import annotations

import functools
import struct
from datetime import datetime
from typing import TYPE_CHECKING, Any

from amqp10.codec import Decoder
from amqp10.errors import DecodeError
from amqp10.message import (
    AMQP_SEQUENCE,
    AMQP_VALUE,
    APPLICATION_PROPERTIES,
    DATA,
    MESSAGE_ANNOTATIONS,
    PROPERTIES,
    Properties,
    section_code,
)
from amqp10.performatives import from_described
from amqp10.types import Described, ULong
from eventhubs.events import ENQUEUED_TIME, OFFSET, PARTITION_KEY, PUBLISHER, SEQUENCE_NUMBER

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_DDL = (
    "body binary, partition string, offset string, sequenceNumber long, enqueuedTime timestamp, "
    "publisher string, partitionKey string, properties map<string,string>, "
    "systemProperties map<string,string>"
)


# The system properties the SDK takes from the properties section (when set), by field position.
_PROPERTY_KEYS = (
    "message-id", "user-id", "to", "subject", "reply-to", "correlation-id", "content-type",
    "content-encoding", "absolute-expiry-time", "creation-time", "group-id", "group-sequence",
    "reply-to-group-id",
)  # fmt: skip

# Annotations the connector turns into columns, and where `_add` keeps them.
_SPECIAL: dict[str, int] = {SEQUENCE_NUMBER: 0, OFFSET: 1, ENQUEUED_TIME: 2, PARTITION_KEY: 3, PUBLISHER: 4}
# Constructors whose size follows in 1 byte or in 4 (binary, string, symbol, list, map, array).
_SIZE1 = frozenset((0xA0, 0xA1, 0xA3, 0xC0, 0xC1, 0xE0))
_SIZE4 = frozenset((0xB0, 0xB1, 0xB3, 0xD0, 0xD1, 0xF0))

_MAX_MS = (2**63 - 1) // 1000  # the enqueued time becomes microseconds

_DECODER = Decoder()
_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")


class MalformedEvent(ValueError):
    """A message the service delivered cannot be read as an event (names what is wrong, not the body)."""


@functools.cache
def arrow_schema() -> pa.Schema:
    import pyarrow as pa

    text_map = pa.map_(pa.string(), pa.string())
    return pa.schema(
        [
            ("body", pa.binary()),
            ("partition", pa.string()),
            ("offset", pa.string()),
            ("sequenceNumber", pa.int64()),
            ("enqueuedTime", pa.timestamp("us", tz="UTC")),
            ("publisher", pa.string()),
            ("partitionKey", pa.string()),
            ("properties", text_map),
            ("systemProperties", text_map),
        ]
    )


def text(value: Any) -> str | None:
    """A property value as the connector shows it: strings as they are, bytes decoded, others str()."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _symbol_at(data: bytes, pos: int) -> tuple[str, int] | None:
    code = data[pos]
    if code == 0xA3:
        end = pos + 2 + data[pos + 1]
        return data[pos + 2 : end].decode("ascii", "replace"), end
    if code == 0xB3:
        end = pos + 5 + _U32.unpack_from(data, pos + 1)[0]
        return data[pos + 5 : end].decode("ascii", "replace"), end
    return None


def _annotations(data: bytes, start: int, end: int) -> list[tuple[str, Any]]:
    """The message annotations map as (key, value) pairs; keys are symbols (or, rarely, ulongs)."""
    code = data[start]
    if code == 0xC1:
        count, pos = data[start + 2], start + 3
    elif code == 0xD1:
        count, pos = _U32.unpack_from(data, start + 5)[0], start + 9
    elif code == 0x40:
        return []
    else:
        raise MalformedEvent(f"message annotations are not a map (constructor 0x{code:02x})")
    if count % 2:
        raise MalformedEvent("message annotations map has an odd number of items")
    pairs: list[tuple[str, Any]] = []
    for _ in range(count // 2):
        key = _symbol_at(data, pos) if pos < end else None
        if key is None:
            raw, pos = _DECODER.decode(data, pos)
            name = str(raw)
        else:
            name, pos = key
        if pos >= end:
            raise MalformedEvent("message annotations map ends inside an entry")
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
        raise MalformedEvent("message annotations map size does not match its entries")
    return pairs


class EventColumns:
    """Column lists for one partition's events, turned into an Arrow record batch on demand."""

    def __init__(self, partition_id: str) -> None:
        self.partition_id = partition_id
        self.sequence_numbers: list[int] = []
        self._clear()

    def _clear(self) -> None:
        self.body: list[bytes] = []
        self.offset: list[str | None] = []
        self.sequence_numbers = []
        self.enqueued_ms: list[int | None] = []
        self.publisher: list[str | None] = []
        self.partition_key: list[str | None] = []
        self.properties: list[list[tuple[str, str | None]]] = []
        self.system: list[list[tuple[str, str | None]]] = []

    def __len__(self) -> int:
        return len(self.sequence_numbers)

    def add(self, message: bytes) -> int:
        """Append one encoded message; return its sequence number. Raises MalformedEvent."""
        try:
            return self._add(message)
        except (DecodeError, IndexError, struct.error, UnicodeDecodeError) as e:
            raise MalformedEvent(f"cannot read an event: {e}") from None

    def _add(self, m: bytes) -> int:
        n = len(m)
        pos = 0
        parts: list[bytes] = []
        special: list[Any] = [None] * len(_SPECIAL)
        system: list[tuple[str, str | None]] = []
        app: list[tuple[str, str | None]] = []
        other_body: Any = None
        while pos < n:
            # Sections are located from their sizes; only their values are decoded.
            if m[pos] != 0x00:
                raise MalformedEvent(f"message section at byte {pos} is not a described type")
            if pos + 3 < n and m[pos + 1] == 0x53:
                code, at = m[pos + 2], pos + 3
            else:
                descriptor, at = _DECODER.decode(m, pos + 1, 1)
                code = section_code(descriptor)
            c = m[at]
            if c in _SIZE1:
                end = at + 2 + m[at + 1]
            elif c in _SIZE4:
                end = at + 5 + _U32.unpack_from(m, at + 1)[0]
            else:
                end = _DECODER.skip(m, at, 1)
            if end > n:
                raise MalformedEvent(f"section 0x{code:02x} runs past the end of the message")
            if code == DATA:
                if c == 0xA0:
                    parts.append(m[at + 2 : end])
                elif c == 0xB0:
                    parts.append(m[at + 5 : end])
                else:
                    raise MalformedEvent(f"a data section holds constructor 0x{c:02x}, not binary")
            elif code == MESSAGE_ANNOTATIONS:
                for name, value in _annotations(m, at, end):
                    slot = _SPECIAL.get(name)
                    if slot is not None:
                        special[slot] = value
                    system.append((name, str(value) if type(value) is int else text(value)))
            elif code == APPLICATION_PROPERTIES:
                values, _ = _DECODER.decode(m, at)
                if values is not None and not isinstance(values, dict):
                    raise MalformedEvent("application properties are not a map")
                app = [(text(k) or "", text(v)) for k, v in (values or {}).items()]
            elif code == PROPERTIES:
                fields, _ = _DECODER.decode(m, at)
                # Decoding it as Properties checks each field's type.
                if not isinstance(from_described(Described(ULong(PROPERTIES), fields)), Properties):
                    raise MalformedEvent("the properties section is not a list")
                system[:0] = [(k, text(v)) for k, v in zip(_PROPERTY_KEYS, fields or (), strict=False) if v]
            elif code in (AMQP_VALUE, AMQP_SEQUENCE):
                value, _ = _DECODER.decode(m, at)
                other_body = value if code == AMQP_VALUE else (other_body or []) + [value]
            pos = end
        sequence, offset, enqueued, key, publisher = special
        if type(sequence) is not int:
            raise MalformedEvent(f"the message has no {SEQUENCE_NUMBER} annotation")
        if type(enqueued) is int and not -_MAX_MS <= enqueued <= _MAX_MS:
            raise MalformedEvent(f"{ENQUEUED_TIME} {enqueued} ms is not a time a timestamp column can hold")
        if parts:
            body = parts[0] if len(parts) == 1 else b"".join(parts)
        else:
            # Sequence and value bodies (rare: other AMQP clients) become their string form.
            body = b"" if other_body is None else (text(other_body) or "").encode()
        self.body.append(body)
        self.offset.append(offset if offset is None or type(offset) is str else text(offset))
        self.sequence_numbers.append(sequence)
        self.enqueued_ms.append(enqueued if type(enqueued) is int else None)
        self.publisher.append(text(publisher))
        self.partition_key.append(text(key))
        self.properties.append(app)
        self.system.append(system)
        return sequence

    def drop_last(self) -> None:
        """Forget the last event added (one past the range being read)."""
        for column in (
            self.body, self.offset, self.sequence_numbers, self.enqueued_ms, self.publisher,
            self.partition_key, self.properties, self.system,
        ):  # fmt: skip
            column.pop()

    def take_batch(self) -> pa.RecordBatch:
        """The events added so far as one record batch; the columns start empty again."""
        import pyarrow as pa

        schema = arrow_schema()
        enqueued = pa.array(self.enqueued_ms, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
        arrays = [
            pa.array(self.body, type=pa.binary()),
            pa.array([self.partition_id] * len(self), type=pa.string()),
            pa.array(self.offset, type=pa.string()),
            pa.array(self.sequence_numbers, type=pa.int64()),
            enqueued.cast(pa.timestamp("us", tz="UTC")),
            pa.array(self.publisher, type=pa.string()),
            pa.array(self.partition_key, type=pa.string()),
            pa.array(self.properties, type=schema.field("properties").type),
            pa.array(self.system, type=schema.field("systemProperties").type),
        ]
        self._clear()
        return pa.RecordBatch.from_arrays(arrays, schema=schema)
