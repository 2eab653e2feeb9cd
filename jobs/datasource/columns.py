"""Event Hubs messages, as delivered on the wire, turned into the connector's columns as Arrow batches.

The executors' hot path: a message's bytes go from the AMQP transfer straight into column lists, with no
object per event. Sections are located by their sizes (`amqp10.message.section_bounds`); the message
annotations (sequence number, offset, enqueued time, partition key, publisher) are read by
`eventhubs.events.read_annotations`, fast for the encodings the service uses, so an odd message costs
more but reads the same.
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
    section_bounds,
)
from amqp10.performatives import from_described
from amqp10.types import Described, ULong
from eventhubs.events import (
    ENQUEUED_TIME,
    OFFSET,
    PARTITION_KEY,
    PUBLISHER,
    SEQUENCE_NUMBER,
    read_annotations,
)

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

_MAX_MS = (2**63 - 1) // 1000  # the enqueued time becomes microseconds

_DECODER = Decoder()


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
        parts: list[bytes] = []
        special: list[Any] = [None] * len(_SPECIAL)
        system: list[tuple[str, str | None]] = []
        app: list[tuple[str, str | None]] = []
        other_body: Any = None
        for code, _start, end, at in section_bounds(m):
            if code == DATA:
                c = m[at]
                if c == 0xA0:
                    parts.append(m[at + 2 : end])
                elif c == 0xB0:
                    parts.append(m[at + 5 : end])
                else:
                    raise MalformedEvent(f"a data section holds constructor 0x{c:02x}, not binary")
            elif code == MESSAGE_ANNOTATIONS:
                for name, value in read_annotations(m, at, end):
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
