"""Event Hubs Capture on the wire: the Avro files the service writes, their names, and its limits.

Shared by the emulator (which writes capture files) and the capture reader; no I/O beyond bytes in memory.

What the service writes, and how we know:

- The schema: `CAPTURE_SCHEMA`, as Microsoft's "Exploring captured Avro files" page prints it
  (`avro-tools getschema` on a capture file), field for field and in that order.
- The codec: `null`. Two files the service wrote carry `avro.codec` = `null` in their header: a 2016
  sample committed as-is in DXFrance/BlueFrogHackfest (MessageCollection/EventHub/SampleData/05) and the
  dump of one in a published book. The management API's `encoding` property offers `Avro` (the default)
  and `AvroDeflate` ("will be deprecated"): `ENCODINGS` maps them to the codecs `null` and `deflate`, and
  readers must accept both.
- The header holds `avro.codec` then `avro.schema`, the schema as compact JSON (`CAPTURE_SCHEMA_JSON`).
- `EnqueuedTimeUtc`: .NET's invariant `M/d/yyyy h:mm:ss tt`, whole seconds: "11/16/2016 4:44:11 PM" in
  that sample, "12/2/2021 2:58:24 PM" in a 2021 file quoted by a .NET capture reader (chgeuer's metering
  sample), which parses it with exactly that format.
- `SystemProperties`: the broker's annotations other than the sequence number and offset (which have their
  own fields): `x-opt-publisher` in the 2016 file; `x-opt-partition-key` (string) and `x-opt-enqueued-time`
  (long, epoch milliseconds) in the 2021 one. An AMQP timestamp thus becomes a long of milliseconds.
  Whether the service also copies the AMQP properties section (message-id, content-type...) is not
  established, so it is not copied here.
- Names: `{Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}` by default,
  date parts padded with zeros, `.avro` appended ("Capture streaming events" overview:
  `mynamespace/myeventhub/0/2017/12/08/03/03/17.avro`); a custom format must hold all nine tokens, in any
  order (the management API's ArchiveNameFormat description).
- Windows: whichever of the time window (60-900 s, default 300) and the size window (10-500 MiB, default
  300 MiB) is reached first, per partition; an empty window still writes a file unless
  skipEmptyArchives is set (overview: "Event Hubs writes empty files when there's no data").
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from amqp10.codec import Decoder
from amqp10.errors import DecodeError
from amqp10.message import AMQP_VALUE, APPLICATION_PROPERTIES, DATA, MESSAGE_ANNOTATIONS, section_bounds
from eventhubs.events import OFFSET, SEQUENCE_NUMBER, read_annotations

_VALUE_TYPES = ["long", "double", "string", "bytes"]

CAPTURE_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "EventData",
    "namespace": "Microsoft.ServiceBus.Messaging",
    "fields": [
        {"name": "SequenceNumber", "type": "long"},
        {"name": "Offset", "type": "string"},
        {"name": "EnqueuedTimeUtc", "type": "string"},
        {"name": "SystemProperties", "type": {"type": "map", "values": _VALUE_TYPES}},
        {"name": "Properties", "type": {"type": "map", "values": _VALUE_TYPES}},
        {"name": "Body", "type": ["null", "bytes"]},
    ],
}
# The schema text as the service's files carry it in their header.
CAPTURE_SCHEMA_JSON = json.dumps(CAPTURE_SCHEMA, separators=(",", ":"))
FIELD_NAMES = tuple(f["name"] for f in CAPTURE_SCHEMA["fields"])

# The management API's `encoding` values and the Avro codec each writes.
ENCODINGS = {"Avro": "null", "AvroDeflate": "deflate"}
DEFAULT_ENCODING = "Avro"
SERVICE_CODEC = ENCODINGS[DEFAULT_ENCODING]
READABLE_CODECS = ("null", "deflate")

ARCHIVE_NAME_TOKENS = (
    "Namespace", "EventHub", "PartitionId", "Year", "Month", "Day", "Hour", "Minute", "Second",
)  # fmt: skip
DEFAULT_ARCHIVE_NAME_FORMAT = (
    "{Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}"
)
ARCHIVE_SUFFIX = ".avro"

MIB = 1024 * 1024
MIN_TIME_WINDOW_SECONDS = 60
MAX_TIME_WINDOW_SECONDS = 900
DEFAULT_TIME_WINDOW_SECONDS = 300
MIN_SIZE_WINDOW_BYTES = 10 * MIB  # the API's sizeLimitInBytes: 10485760..524288000
MAX_SIZE_WINDOW_BYTES = 500 * MIB
DEFAULT_SIZE_WINDOW_BYTES = 300 * MIB

ENQUEUED_TIME_FORMAT = "M/d/yyyy h:mm:ss tt"  # .NET's notation, invariant culture

_TOKEN = re.compile(r"\{([^{}]*)\}")
_ENQUEUED_TIME = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) (AM|PM)")
_INT64 = (-(2**63), 2**63 - 1)
_DECODER = Decoder()


class ArchiveNameFormatError(ValueError):
    """An archive name format the service would refuse; the message says which token is wrong."""


class CaptureFileError(ValueError):
    """Bytes that are not a capture file (not Avro, another schema, an unknown codec, truncated)."""


# ---- names ----------------------------------------------------------------------------------------------


def check_archive_name_format(name_format: str) -> None:
    """Raise ArchiveNameFormatError unless every token is known, present, and present once."""
    if not isinstance(name_format, str) or not name_format:
        raise ArchiveNameFormatError(
            f"archive name format {name_format!r} is empty; use e.g. {DEFAULT_ARCHIVE_NAME_FORMAT}"
        )
    tokens = _TOKEN.findall(name_format)
    if "{" in _TOKEN.sub("", name_format) or "}" in _TOKEN.sub("", name_format):
        raise ArchiveNameFormatError(f"archive name format {name_format!r} has an unmatched brace")
    for token in tokens:
        if token not in ARCHIVE_NAME_TOKENS:
            raise ArchiveNameFormatError(
                f"archive name format {name_format!r}: unknown token {{{token}}}; "
                f"the tokens are {', '.join('{' + t + '}' for t in ARCHIVE_NAME_TOKENS)}"
            )
        if tokens.count(token) > 1:
            raise ArchiveNameFormatError(
                f"archive name format {name_format!r}: token {{{token}}} appears twice"
            )
    missing = [t for t in ARCHIVE_NAME_TOKENS if t not in tokens]
    if missing:
        raise ArchiveNameFormatError(
            f"archive name format {name_format!r} lacks {', '.join('{' + t + '}' for t in missing)}: "
            "the service requires all of "
            f"{', '.join('{' + t + '}' for t in ARCHIVE_NAME_TOKENS)}, in any order"
        )


def archive_name(
    name_format: str, namespace: str, event_hub: str, partition_id: str, window_start: datetime
) -> str:
    """The blob name (`.avro` included) of the window that started at `window_start` (UTC)."""
    check_archive_name_format(name_format)
    when = window_start.astimezone(UTC) if window_start.tzinfo else window_start
    values = {
        "Namespace": namespace,
        "EventHub": event_hub,
        "PartitionId": str(partition_id),
        "Year": f"{when.year:04d}",
        "Month": f"{when.month:02d}",
        "Day": f"{when.day:02d}",
        "Hour": f"{when.hour:02d}",
        "Minute": f"{when.minute:02d}",
        "Second": f"{when.second:02d}",
    }
    return _TOKEN.sub(lambda m: values[m.group(1)], name_format) + ARCHIVE_SUFFIX


# Archive names read back: which partition (and window) a capture file's name says it holds, as a
# regular expression that Python's `re` and Java's `java.util.regex` (Spark's regexp_extract) read alike,
# and as a glob for Spark's file sources.
# Date parts are zero-padded digits; names and partition ids are anything within one path segment.
_TOKEN_PATTERNS = {"Year": r"(\d{4})", "Month": r"(\d{2})", "Day": r"(\d{2})", "Hour": r"(\d{2})",
                   "Minute": r"(\d{2})", "Second": r"(\d{2})"}  # fmt: skip
_SEGMENT = r"([^/]+)"


def archive_name_tokens(name_format: str) -> list[str]:
    """The format's tokens in the order they appear (the order of `archive_name_pattern`'s groups)."""
    check_archive_name_format(name_format)
    return _TOKEN.findall(name_format)


def archive_name_pattern(name_format: str) -> str:
    """A regex matching the end of a path named by `name_format` (+ `.avro`); group i+1 is token i.

    Unnamed groups and plain escapes only, so Spark's regexp_extract reads it as Python does.
    """
    check_archive_name_format(name_format)
    parts, at = [], 0
    for match in _TOKEN.finditer(name_format):
        parts.append(re.escape(name_format[at : match.start()]))
        parts.append(_TOKEN_PATTERNS.get(match.group(1), _SEGMENT))
        at = match.end()
    parts.append(re.escape(name_format[at:] + ARCHIVE_SUFFIX))
    return "(?:^|/)" + "".join(parts) + "$"


def parse_archive_name(name_format: str, name: str) -> dict[str, str] | None:
    """The token values in a file's name (or path), None when it is not named by `name_format`."""
    match = re.search(archive_name_pattern(name_format), name)
    if match is None:
        return None
    return dict(zip(archive_name_tokens(name_format), match.groups(), strict=True))


def archive_glob(name_format: str) -> str:
    """A glob of every file `name_format` names, relative to the container or folder root."""
    check_archive_name_format(name_format)
    return _TOKEN.sub("*", name_format) + ARCHIVE_SUFFIX


# ---- records --------------------------------------------------------------------------------------------


def format_enqueued_time_utc(enqueued_time_ms: int) -> str:
    """`EnqueuedTimeUtc` as the service writes it: "12/2/2021 2:58:24 PM" (seconds, truncated)."""
    return _enqueued_second(enqueued_time_ms // 1000)


@functools.lru_cache(maxsize=64)  # a window's events share a few seconds: format each once
def _enqueued_second(seconds: int) -> str:
    when = datetime.fromtimestamp(seconds, UTC)
    hour = when.hour % 12 or 12
    half = "AM" if when.hour < 12 else "PM"
    return f"{when.month}/{when.day}/{when.year} {hour}:{when.minute:02d}:{when.second:02d} {half}"


def parse_enqueued_time_utc(text: str) -> datetime:
    """The UTC datetime an `EnqueuedTimeUtc` string names; ValueError naming the text otherwise."""
    match = _ENQUEUED_TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"EnqueuedTimeUtc {text!r} is not in the service's format {ENQUEUED_TIME_FORMAT}")
    month, day, year, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not 1 <= hour <= 12:
        raise ValueError(f"EnqueuedTimeUtc {text!r}: hour {hour} is not on a 12-hour clock")
    hour = hour % 12 + (12 if match.group(7) == "PM" else 0)
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _avro_value(value: Any) -> Any:
    """A property value in the union [long, double, string, bytes]; None when it has no place there."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):  # timestamps (epoch ms) included, as the service writes x-opt-enqueued-time
        return int(value) if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value)


def _property_map(pairs: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        converted = _avro_value(value)
        if converted is not None:
            out[str(key)] = converted
    return out


def capture_record(
    message: bytes, sequence_number: int, offset: int, enqueued_time_ms: int
) -> dict[str, Any]:
    """The capture record of one stored event: `message` is the event as consumers receive it.

    Raises ValueError (DecodeError) if the message cannot be read.
    """
    system: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    parts: list[bytes] = []
    value_body: Any = None
    try:
        for code, _start, end, at in section_bounds(message):
            if code == MESSAGE_ANNOTATIONS:
                system = _property_map(
                    (name, value)
                    for name, value in read_annotations(message, at, end)
                    if name not in (SEQUENCE_NUMBER, OFFSET)
                )
            elif code == APPLICATION_PROPERTIES:
                mapping = _DECODER.decode(message, at)[0] or {}
                properties = _property_map(mapping.items())
            elif code == DATA:
                # Sliced, not decoded: section_bounds has checked the sizes (as events.unpack does).
                constructor = message[at]
                if constructor not in (0xA0, 0xB0):
                    raise DecodeError(f"a data section holds constructor 0x{constructor:02x}, not binary")
                parts.append(bytes(message[at + (2 if constructor == 0xA0 else 5) : end]))
            elif code == AMQP_VALUE:
                value_body = _DECODER.decode(message, at)[0]
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise DecodeError(f"event {sequence_number}: cannot read the message: {exc}") from None
    if parts:
        body: bytes | None = b"".join(parts)
    elif isinstance(value_body, bytes | bytearray):
        body = bytes(value_body)
    elif isinstance(value_body, str):
        body = value_body.encode("utf-8")
    else:
        body = None
    return {
        "SequenceNumber": sequence_number,
        "Offset": str(offset),
        "EnqueuedTimeUtc": format_enqueued_time_utc(enqueued_time_ms),
        "SystemProperties": system,
        "Properties": properties,
        "Body": body,
    }


# ---- files ----------------------------------------------------------------------------------------------


class ArchiveWriter:
    """Writes one capture file to `out`, block by block, with the service's header byte for byte.

    fastavro encodes the records; the container is written here because fastavro's writer puts its own
    rendering of the schema in the header, not the service's text.
    """

    def __init__(self, out: IO[bytes], codec: str = SERVICE_CODEC, sync_marker: bytes | None = None) -> None:
        if codec not in READABLE_CODECS:
            raise ValueError(
                f"codec {codec!r} is not one the service writes; use one of {', '.join(READABLE_CODECS)}"
            )
        self._out = out
        self._codec = codec
        self._sync = os.urandom(16) if sync_marker is None else sync_marker
        if len(self._sync) != 16:
            raise ValueError("an Avro sync marker is 16 bytes")
        header = bytearray(b"Obj\x01")
        header += _zigzag(2)  # the metadata map: one block of two entries, as the service writes it
        for key, value in (("avro.codec", codec), ("avro.schema", CAPTURE_SCHEMA_JSON)):
            header += _avro_bytes(key.encode())
            header += _avro_bytes(value.encode())
        header += b"\x00"
        header += self._sync
        out.write(header)
        self.records = 0

    def write_block(self, records: Iterable[dict[str, Any]]) -> None:
        """Append one block holding `records` (nothing is written for none)."""
        import fastavro

        schema = _parsed_schema()
        buffer = io.BytesIO()
        count = 0
        for record in records:
            fastavro.schemaless_writer(buffer, schema, record)
            count += 1
        if count == 0:
            return
        data = buffer.getvalue()
        if self._codec == "deflate":
            squeeze = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15
            )  # raw deflate, per spec
            data = squeeze.compress(data) + squeeze.flush()
        self._out.write(_zigzag(count) + _zigzag(len(data)) + data + self._sync)
        self.records += count


def encode_archive(
    records: Iterable[dict[str, Any]], codec: str = SERVICE_CODEC, sync_marker: bytes | None = None
) -> bytes:
    """One capture file holding `records` (possibly none) in one block."""
    out = io.BytesIO()
    ArchiveWriter(out, codec, sync_marker).write_block(records)
    return out.getvalue()


def _zigzag(value: int) -> bytes:
    """An Avro long: zig-zag, then 7 bits a byte, low first."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _avro_bytes(data: bytes) -> bytes:
    return _zigzag(len(data)) + data


def read_archive(source: bytes | IO[bytes]) -> Iterator[dict[str, Any]]:
    """The records of a capture file, checked to be one; CaptureFileError names what is wrong."""
    import fastavro

    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        reader = fastavro.reader(stream)
    except Exception as exc:  # fastavro raises ValueError, EOFError, StopIteration... for non-Avro bytes
        raise CaptureFileError(f"not an Avro file: {exc or type(exc).__name__}") from None
    codec = reader.metadata.get("avro.codec", "null")
    if codec not in READABLE_CODECS:
        raise CaptureFileError(f"Avro codec {codec!r}: capture files use {' or '.join(READABLE_CODECS)}")
    schema = reader.writer_schema
    names = tuple(f.get("name") for f in schema.get("fields", ())) if isinstance(schema, dict) else ()
    if names != FIELD_NAMES:
        raise CaptureFileError(f"not the capture schema: fields {list(names)}, expected {list(FIELD_NAMES)}")
    return _records(reader)


def _records(reader: Any) -> Iterator[dict[str, Any]]:
    try:
        yield from reader
    except Exception as exc:  # a truncated or corrupt block
        raise CaptureFileError(f"corrupt Avro data: {exc or type(exc).__name__}") from None


@functools.cache
def _parsed_schema() -> Any:
    import fastavro

    return fastavro.parse_schema(CAPTURE_SCHEMA)
