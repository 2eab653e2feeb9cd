"""AMQP 1.0 framing (part 2.3): protocol headers and frames, parsed from a buffer without I/O.

A frame's declared size is checked against the negotiated maximum *before* its body is awaited, so a
peer announcing a 4 GB frame is refused after 8 bytes, not after we have buffered it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from .codec import Decoder
from .errors import DecodeError, FramingError
from .performatives import (
    COMPOSITES_BY_CODE,
    COMPOSITES_BY_SYMBOL,
    PERFORMATIVES,
    SASL_FRAMES,
    Composite,
    from_described,
)
from .types import Described

AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
SASL_HEADER = b"AMQP\x03\x01\x00\x00"
HEADER_SIZE = 8
MIN_MAX_FRAME_SIZE = 512  # the spec's floor for max-frame-size

TYPE_AMQP = 0x00
TYPE_SASL = 0x01

_FRAME_HEADER = struct.Struct(">IBBH")
_ALLOWED = {
    TYPE_AMQP: frozenset(c.descriptor_code for c in PERFORMATIVES),
    TYPE_SASL: frozenset(c.descriptor_code for c in SASL_FRAMES),
}


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: `body` is None for an empty (heartbeat) frame; `payload` follows a transfer."""

    frame_type: int
    channel: int
    body: Composite | None
    payload: bytes = b""


def parse_frame(data: Any, pos: int, max_frame_size: int, decoder: Decoder) -> tuple[Frame, int] | None:
    """Parse the frame at `pos`; None if more bytes are needed. Raises FramingError/DecodeError."""
    if len(data) - pos < 8:
        return None
    size, doff, frame_type, channel = _FRAME_HEADER.unpack_from(data, pos)
    if size < 8:
        raise FramingError(f"frame size {size} is smaller than the 8-byte frame header")
    if size > max_frame_size:
        raise FramingError(f"frame size {size} exceeds the negotiated max-frame-size {max_frame_size}")
    if doff < 2 or doff * 4 > size:
        raise FramingError(f"data offset {doff} is outside the frame (size {size})")
    if frame_type not in _ALLOWED:
        raise FramingError(f"unknown frame type 0x{frame_type:02x}")
    if len(data) - pos < size:
        return None
    start = pos + doff * 4
    end = pos + size
    if start == end:
        return Frame(frame_type, channel, None), end
    body = memoryview(data)[start:end]
    value, used = decoder.decode(body, 0)
    if isinstance(value, Described) and isinstance(value.descriptor, str):
        by_symbol = COMPOSITES_BY_SYMBOL.get(value.descriptor)
        value = Described(by_symbol.descriptor_code, value.value) if by_symbol else value
    if not isinstance(value, Described) or value.descriptor not in _ALLOWED[frame_type]:
        shown = value.descriptor if isinstance(value, Described) else type(value).__name__
        raise DecodeError(f"frame body is not a {'SASL frame' if frame_type else 'performative'}: {shown!r}")
    performative = from_described(value)
    payload = bytes(body[used:])
    if payload and value.descriptor != 0x14:
        raise DecodeError(f"{len(payload)} bytes after a {type(performative).__name__} frame body")
    return Frame(frame_type, channel, performative, payload), end


def split_stream(data: bytes, decoder: Decoder | None = None) -> tuple[list[bytes | Frame], bytes]:
    """A peer's byte stream as protocol headers and whole frames, and the incomplete bytes at its end.

    For reading what a connection wrote (tests, tools); a connection itself parses incrementally.
    """
    dec = decoder or Decoder()
    items: list[bytes | Frame] = []
    pos = 0
    while pos < len(data):
        if data[pos : pos + 4] == b"AMQP":
            if len(data) - pos < HEADER_SIZE:
                break
            items.append(data[pos : pos + HEADER_SIZE])
            pos += HEADER_SIZE
            continue
        parsed = parse_frame(data, pos, 0xFFFFFFFF, dec)
        if parsed is None:
            break
        frame, pos = parsed
        items.append(frame)
    return items, data[pos:]


def encode_frame(
    channel: int, body: Composite | None, payload: bytes = b"", frame_type: int = TYPE_AMQP
) -> bytes:
    out = bytearray(8)
    if body is not None:
        body.encode_into(out)
    out += payload
    _FRAME_HEADER.pack_into(out, 0, len(out), 2, frame_type, channel)
    return bytes(out)


EMPTY_FRAME = _FRAME_HEADER.pack(8, 2, TYPE_AMQP, 0)

_TRANSFER_HEAD = struct.Struct(">IBBH" + "BBB" + "BBB" + "BI" + "BI")
_TRANSFER_FIELDS = 11


def encode_transfer(
    channel: int,
    handle: int,
    delivery_id: int,
    delivery_tag: bytes,
    message_format: int,
    settled: bool,
    more: bool,
    payload: bytes | memoryview,
) -> bytes:
    """A transfer frame written directly: the egress hot path sends one per event.

    Decodes to the same Transfer as `encode_frame(channel, Transfer(...))`; uints are written fixed-width
    and all 11 fields are present.
    """
    tail = bytes((0xA0, len(delivery_tag))) + delivery_tag + b"\x70" + message_format.to_bytes(4, "big")
    tail += b"\x41" if settled else b"\x42"
    tail += b"\x41" if more else b"\x42"
    tail += b"\x40\x40\x42\x42\x42"  # rcv-settle-mode, state, resume, aborted, batchable
    list_size = 1 + 10 + len(tail)
    head = _TRANSFER_HEAD.pack(
        8 + 5 + list_size + len(payload), 2, TYPE_AMQP, channel,
        0x00, 0x53, 0x14, 0xC0, list_size, _TRANSFER_FIELDS, 0x70, handle, 0x70, delivery_id,
    )  # fmt: skip
    return b"".join((head, tail, payload))


__all__ = [
    "AMQP_HEADER", "COMPOSITES_BY_CODE", "EMPTY_FRAME", "HEADER_SIZE", "MIN_MAX_FRAME_SIZE", "SASL_HEADER",
    "TYPE_AMQP", "TYPE_SASL", "Frame", "encode_frame", "encode_transfer", "parse_frame", "split_stream",
]  # fmt: skip
