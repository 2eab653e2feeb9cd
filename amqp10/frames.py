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
    Transfer,
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
_U32 = struct.Struct(">I")
_U32X2 = struct.Struct(">II")
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
    if data[start : start + 3] == b"\x00\x53\x14":
        fast = _transfer_fields(body)
        if fast is not None:
            fields, at = fast
            return Frame(frame_type, channel, Transfer(*fields), bytes(body[at:])), end
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


# The transfer fields the hot path reads without the general decoder, by position: uints (handle,
# delivery-id, message-format) as uint0/smalluint/uint, the tag as vbin8, booleans; anything else
# (a delivery state, a rcv-settle-mode) goes the general way.
_UINT_WIDTH = {0x43: 0, 0x52: 1, 0x70: 4}
_UINT_FIELDS = (0, 1, 3)
_BOOL_FIELDS = (4, 5, 8, 9, 10)
_BOOLS = {0x41: True, 0x42: False}
_FIXED_HEAD = struct.Struct(">BIBIBB")
_FIXED_TAIL = b"\x40\x40\x42\x42\x42"  # rcv-settle-mode, state, resume, aborted, batchable
_TRANSFER_DEFAULTS: tuple[Any, ...] = (None, None, None, None, None, False, None, None, False, False, False)


# What a transfer carries for the connection: handle, delivery-id, delivery-tag, message-format, settled,
# more, aborted.
TransferFields = tuple[int, int | None, bytes | None, int | None, bool | None, bool, bool]


def parse_transfer_frame(
    data: Any, pos: int, max_frame_size: int
) -> tuple[int, TransferFields, bytes, int] | None:
    """(channel, fields, payload, end) of a whole transfer frame at `pos` in the common encodings;
    None for anything else (another frame, a partial one, an unusual encoding): use `parse_frame`."""
    if len(data) - pos < 16:
        return None
    size, doff, frame_type, channel = _FRAME_HEADER.unpack_from(data, pos)
    start, end = pos + doff * 4, pos + size
    if (
        frame_type != TYPE_AMQP or doff < 2 or size > max_frame_size or end > len(data) or start + 3 > end
        or data[start] != 0x00 or data[start + 1] != 0x53 or data[start + 2] != 0x14
    ):  # fmt: skip
        return None
    body = memoryview(data)[start:end]
    fast = _transfer_fields(body)
    if fast is None:
        return None
    f, at = fast
    return channel, (f[0], f[1], f[2], f[3], f[4], bool(f[5]), bool(f[9])), bytes(body[at:]), end


def _transfer_fields(body: memoryview) -> tuple[list[Any], int] | None:
    """A transfer's 11 fields (defaults filled) and where its payload starts, read without the general
    decoder; None to leave anything else to it (which also reports what is wrong). Each field is read
    only once its bytes are known to lie inside the list, so a hostile frame falls back; it never reads
    past the body.
    """
    n = len(body)
    code = body[3] if n > 3 else 0
    if code == 0xC0 and n >= 6:
        size, count, pos = body[4], body[5], 6
        end = 5 + size
    elif code == 0xD0 and n >= 12:
        size, count = _U32X2.unpack_from(body, 4)
        pos, end = 12, 8 + size
    else:
        return None
    if end > n or not 1 <= count <= _TRANSFER_FIELDS:
        return None
    # First, the layout `encode_transfer` writes (the emulator's), read with two struct calls.
    if count == _TRANSFER_FIELDS and end - pos >= 17 and body[pos] == 0x70:
        uint1, handle, uint2, delivery_id, vbin8, length = _FIXED_HEAD.unpack_from(body, pos)
        at = pos + 12 + length
        if (uint1, uint2, vbin8) == (0x70, 0x70, 0xA0) and at + 12 == end and body[at] == 0x70:
            tail = body[at + 5 : end]
            if tail[2:] == _FIXED_TAIL and tail[0] in _BOOLS and tail[1] in _BOOLS:
                tag = bytes(body[pos + 12 : at])
                message_format = _U32.unpack_from(body, at + 1)[0]
                fields = [handle, delivery_id, tag, message_format, _BOOLS[tail[0]], _BOOLS[tail[1]]]
                return fields + list(_TRANSFER_DEFAULTS[6:]), end
    fields = list(_TRANSFER_DEFAULTS)
    for index in range(count):
        if pos >= end:
            return None
        c = body[pos]
        if c == 0x40 and index:  # null: the field's default
            pos += 1
        elif index in _UINT_FIELDS and c in _UINT_WIDTH:
            width = _UINT_WIDTH[c]
            if pos + 1 + width > end:
                return None
            fields[index] = int.from_bytes(body[pos + 1 : pos + 1 + width], "big")
            pos += 1 + width
        elif index == 2 and c == 0xA0 and pos + 1 < end:
            length = body[pos + 1]
            if pos + 2 + length > end:
                return None
            fields[2] = bytes(body[pos + 2 : pos + 2 + length])
            pos += 2 + length
        elif index in _BOOL_FIELDS and c in _BOOLS:
            fields[index] = _BOOLS[c]
            pos += 1
        else:
            return None
    if pos != end or fields[0] is None:
        return None
    return fields, end


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
    "TYPE_AMQP", "TYPE_SASL", "Frame", "TransferFields", "encode_frame", "encode_transfer", "parse_frame",
    "parse_transfer_frame", "split_stream",
]  # fmt: skip
