"""AMQP 1.0 messages (part 3.2): a message is a sequence of described sections.

Two views: `split_sections` walks an encoded message and returns each section's raw bytes without
decoding bodies (the ingest path re-uses them as they are), and `Message` decodes everything (the
request/response nodes `$cbs` and `$management` use it).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .codec import DEFAULT_LIMITS, Decoder, write
from .errors import DecodeError
from .performatives import Composite, composite, from_described
from .types import Described, Symbol, Timestamp, UByte, UInt, ULong

HEADER = 0x70
DELIVERY_ANNOTATIONS = 0x71
MESSAGE_ANNOTATIONS = 0x72
PROPERTIES = 0x73
APPLICATION_PROPERTIES = 0x74
DATA = 0x75
AMQP_SEQUENCE = 0x76
AMQP_VALUE = 0x77
FOOTER = 0x78

SECTION_SYMBOLS = {
    "amqp:header:list": HEADER,
    "amqp:delivery-annotations:map": DELIVERY_ANNOTATIONS,
    "amqp:message-annotations:map": MESSAGE_ANNOTATIONS,
    "amqp:properties:list": PROPERTIES,
    "amqp:application-properties:map": APPLICATION_PROPERTIES,
    "amqp:data:binary": DATA,
    "amqp:amqp-sequence:list": AMQP_SEQUENCE,
    "amqp:amqp-value:*": AMQP_VALUE,
    "amqp:footer:map": FOOTER,
}

# Constructors whose size follows in 1 byte or in 4 (binary, string, symbol, list, map, array).
_SIZE1 = frozenset((0xA0, 0xA1, 0xA3, 0xC0, 0xC1, 0xE0))
_SIZE4 = frozenset((0xB0, 0xB1, 0xB3, 0xD0, 0xD1, 0xF0))
_U32 = struct.Struct(">I")

BATCH_MESSAGE_FORMAT = 0x80013700  # Microsoft's batch: each data section is one encoded message


@composite(0x70, "amqp:header:list", bool, UByte, UInt, bool, UInt)
class Header(Composite):
    durable: bool | None = None
    priority: int | None = None
    ttl: int | None = None
    first_acquirer: bool | None = None
    delivery_count: int | None = None


def _any(value: Any) -> Any:
    return value


@composite(
    0x73, "amqp:properties:list",
    _any, bytes, str, str, str, _any, Symbol, Symbol, Timestamp, Timestamp, str, UInt, str,
)  # fmt: skip
class Properties(Composite):
    message_id: Any = None
    user_id: bytes | None = None
    to: str | None = None
    subject: str | None = None
    reply_to: str | None = None
    correlation_id: Any = None
    content_type: str | None = None
    content_encoding: str | None = None
    absolute_expiry_time: int | None = None
    creation_time: int | None = None
    group_id: str | None = None
    group_sequence: int | None = None
    reply_to_group_id: str | None = None


class Section(NamedTuple):
    """Where one section lies in an encoded message (a tuple: the executors' hot path makes many)."""

    code: int
    start: int  # where the section (its 0x00 constructor) starts in the message
    end: int
    value_at: int  # where its value's constructor is


def section_code(descriptor: Any) -> int:
    code = SECTION_SYMBOLS.get(descriptor) if isinstance(descriptor, str) else descriptor
    if not isinstance(code, int) or not HEADER <= code <= FOOTER:
        raise DecodeError(f"{descriptor!r} is not a message section descriptor")
    return code


def split_sections(data: Any, decoder: Decoder | None = None) -> list[Section]:
    """Locate each section of an encoded message; bodies are skipped, not decoded."""
    return [Section._make(bounds) for bounds in section_bounds(data, decoder)]


def section_bounds(data: Any, decoder: Decoder | None = None) -> Iterator[tuple[int, int, int, int]]:
    """`split_sections` as plain tuples (code, start, end, value_at): the executors' hot path."""
    dec = decoder or _DECODER
    pos, n = 0, len(data)
    while pos < n:
        if data[pos] != 0x00:
            raise DecodeError(f"message section at byte {pos} is not a described type (0x{data[pos]:02x})")
        if pos + 2 < n and data[pos + 1] == 0x53 and HEADER <= data[pos + 2] <= FOOTER:
            code, value_at = data[pos + 2], pos + 3  # a smallulong descriptor: the common case
        else:
            descriptor, value_at = dec.decode(data, pos + 1, 1)
            code = section_code(descriptor)
        constructor = data[value_at] if value_at < n else None
        if constructor in _SIZE1 and value_at + 1 < n:
            end = value_at + 2 + data[value_at + 1]
        elif constructor in _SIZE4 and value_at + 4 < n:
            end = value_at + 5 + _U32.unpack_from(data, value_at + 1)[0]
        else:
            end = dec.skip(data, value_at, 1)
        if end > n:
            dec.skip(data, value_at, 1)  # raises, naming what is truncated
        yield code, pos, end, value_at
        pos = end


def section_value(data: Any, section: Section, decoder: Decoder | None = None) -> Any:
    value, _ = (decoder or _DECODER).decode(data, section.start)
    return value.value


def encode_section(out: bytearray, code: int, value: Any) -> None:
    out += bytes((0x00, 0x53, code))
    write(out, value)


@dataclass(slots=True)
class Message:
    """A fully decoded message, for the management and CBS nodes."""

    header: Header | None = None
    delivery_annotations: dict[Any, Any] | None = None
    message_annotations: dict[Any, Any] | None = None
    properties: Properties | None = None
    application_properties: dict[Any, Any] | None = None
    data: list[bytes] = field(default_factory=list)
    sequence: list[list[Any]] = field(default_factory=list)
    value: Any = None
    has_value: bool = False
    footer: dict[Any, Any] | None = None

    def encode(self) -> bytes:
        out = bytearray()
        if self.header is not None:
            write(out, self.header.described())
        if self.delivery_annotations is not None:
            encode_section(out, DELIVERY_ANNOTATIONS, _symbol_keys(self.delivery_annotations))
        if self.message_annotations is not None:
            encode_section(out, MESSAGE_ANNOTATIONS, _symbol_keys(self.message_annotations))
        if self.properties is not None:
            write(out, self.properties.described())
        if self.application_properties is not None:
            encode_section(out, APPLICATION_PROPERTIES, self.application_properties)
        for chunk in self.data:
            encode_section(out, DATA, bytes(chunk))
        for items in self.sequence:
            encode_section(out, AMQP_SEQUENCE, items)
        if self.has_value:
            encode_section(out, AMQP_VALUE, self.value)
        if self.footer is not None:
            encode_section(out, FOOTER, _symbol_keys(self.footer))
        return bytes(out)

    @classmethod
    def decode(cls, data: Any, decoder: Decoder | None = None) -> Message:
        dec = decoder or _DECODER
        msg = cls()
        for section in split_sections(data, dec):
            value = section_value(data, section, dec)
            code = section.code
            if code == HEADER:
                msg.header = from_described(Described(ULong(HEADER), value))
            elif code == PROPERTIES:
                msg.properties = from_described(Described(ULong(PROPERTIES), value))
            elif code == DATA:
                if not isinstance(value, bytes):
                    raise DecodeError(f"a data section holds binary, got {type(value).__name__}")
                msg.data.append(value)
            elif code == AMQP_SEQUENCE:
                msg.sequence.append(value)
            elif code == AMQP_VALUE:
                msg.value, msg.has_value = value, True
            else:
                if value is not None and not isinstance(value, dict):
                    raise DecodeError(f"section 0x{code:02x} holds a map, got {type(value).__name__}")
                attr = {
                    DELIVERY_ANNOTATIONS: "delivery_annotations",
                    MESSAGE_ANNOTATIONS: "message_annotations",
                    APPLICATION_PROPERTIES: "application_properties",
                    FOOTER: "footer",
                }[code]
                setattr(msg, attr, value)
        return msg


def _symbol_keys(mapping: dict[Any, Any]) -> dict[Any, Any]:
    return {Symbol(k) if type(k) is str else k: v for k, v in mapping.items()}


_DECODER = Decoder(DEFAULT_LIMITS)
