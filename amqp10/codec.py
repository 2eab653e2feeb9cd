"""AMQP 1.0 type encoding (OASIS AMQP 1.0 part 1, "Types"), sans-I/O and bounded.

Decoding dispatches on the constructor byte through `_DECODERS`, a table of pure functions
`(decoder, buffer, position, depth) -> (value, new position)`. Every length and count is checked against
the bytes actually present and against `Limits` *before* anything is allocated, so hostile input costs
at most the bytes it sent and ends in a `DecodeError` that names the bound it broke.

Encoding picks the most compact legal form (e.g. smallulong `0x53` for descriptors below 256), which is
also the form the azure-eventhub SDK's own decoder expects.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import DecodeError
from .types import (
    Array,
    Byte,
    Char,
    Decimal32,
    Decimal64,
    Decimal128,
    Described,
    Float,
    Int,
    Short,
    Symbol,
    Timestamp,
    UByte,
    UInt,
    ULong,
    UShort,
)

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")
_SIZE_COUNT8 = struct.Struct(">BB")
_SIZE_COUNT32 = struct.Struct(">II")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds a decoder enforces; an input that breaks one is rejected, never partly allocated."""

    max_depth: int = 32
    max_elements: int = 1 << 20


DEFAULT_LIMITS = Limits()

_Buffer = bytes | bytearray | memoryview
_DecodeFn = Callable[["Decoder", Any, int, int], tuple[Any, int]]


class Decoder:
    """Decodes AMQP values from a buffer under a set of `Limits`."""

    __slots__ = ("limits",)

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits

    def decode(self, data: _Buffer, pos: int = 0, depth: int = 0) -> tuple[Any, int]:
        """Decode one value starting at `pos`; return it and the position just after it."""
        if pos >= len(data):
            raise DecodeError(
                f"truncated: expected a constructor at byte {pos}, the input has {len(data)} bytes"
            )
        if depth > self.limits.max_depth:
            raise DecodeError(f"nesting deeper than max_depth={self.limits.max_depth}")
        code = data[pos]
        fn = _DECODERS[code]
        if fn is None:
            raise DecodeError(f"unknown constructor 0x{code:02x} at byte {pos}")
        return fn(self, data, pos + 1, depth)

    def decode_all(self, data: _Buffer) -> Any:
        """Decode exactly one value that fills the whole buffer."""
        value, end = self.decode(data, 0)
        if end != len(data):
            raise DecodeError(f"{len(data) - end} unexpected bytes after the value")
        return value

    def skip(self, data: _Buffer, pos: int, depth: int = 0) -> int:
        """The position just after the value at `pos`, found from widths and size fields, not by decoding."""
        _need(data, pos, 1, "constructor")
        code = data[pos]
        if code == 0x00:
            if depth > self.limits.max_depth:
                raise DecodeError(f"nesting deeper than max_depth={self.limits.max_depth}")
            return self.skip(data, self.skip(data, pos + 1, depth + 1), depth + 1)
        # On the ingest path once per section: the error text is only built when it is needed.
        width = _FIXED_WIDTH.get(code)
        if width is not None:
            if pos + 1 + width > len(data):
                _need(data, pos + 1, width, f"value of constructor 0x{code:02x}")
            return pos + 1 + width
        size_width = 1 if code >> 4 in (0xA, 0xC, 0xE) else 4 if code >> 4 in (0xB, 0xD, 0xF) else 0
        if not size_width or _DECODERS[code] is None:
            raise DecodeError(f"unknown constructor 0x{code:02x} at byte {pos}")
        if pos + 1 + size_width > len(data):
            _need(data, pos + 1, size_width, f"size of constructor 0x{code:02x}")
        size = data[pos + 1] if size_width == 1 else _U32.unpack_from(data, pos + 1)[0]
        end = pos + 1 + size_width + size
        if end > len(data):
            _need(data, pos + 1 + size_width, size, f"value of constructor 0x{code:02x}")
        return end

    def _count(self, count: int, need_per_item: int, available: int, what: str) -> None:
        if count > self.limits.max_elements:
            raise DecodeError(f"{what} of {count} elements exceeds max_elements={self.limits.max_elements}")
        if count * need_per_item > available:
            raise DecodeError(
                f"truncated: {what} declares {count} elements but only {available} bytes follow"
            )


def _need(data: _Buffer, pos: int, n: int, what: str) -> None:
    if pos + n > len(data):
        raise DecodeError(
            f"truncated: {what} needs {n} bytes at byte {pos}, {max(0, len(data) - pos)} remain"
        )


def _fixed(st: struct.Struct, wrap: Callable[[Any], Any] | None, what: str) -> _DecodeFn:
    width = st.size

    def decode(_dec: Decoder, data: Any, pos: int, _depth: int) -> tuple[Any, int]:
        _need(data, pos, width, what)
        value = st.unpack_from(data, pos)[0]
        return (wrap(value) if wrap else value), pos + width

    return decode


def _constant(value: Any) -> _DecodeFn:
    def decode(_dec: Decoder, _data: Any, pos: int, _depth: int) -> tuple[Any, int]:
        return value() if callable(value) else value, pos

    return decode


def _decode_boolean(_dec: Decoder, data: Any, pos: int, _depth: int) -> tuple[bool, int]:
    _need(data, pos, 1, "boolean")
    byte = data[pos]
    if byte > 1:
        raise DecodeError(f"boolean byte must be 0x00 or 0x01, got 0x{byte:02x}")
    return byte == 1, pos + 1


def _decode_char(_dec: Decoder, data: Any, pos: int, _depth: int) -> tuple[Char, int]:
    _need(data, pos, 4, "char")
    point = _U32.unpack_from(data, pos)[0]
    if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
        raise DecodeError(f"char 0x{point:x} is not a Unicode scalar value")
    return Char(chr(point)), pos + 4


def _decode_uuid(_dec: Decoder, data: Any, pos: int, _depth: int) -> tuple[uuid.UUID, int]:
    _need(data, pos, 16, "uuid")
    return uuid.UUID(bytes=bytes(data[pos : pos + 16])), pos + 16


def _raw(wrap: Callable[[bytes], Any], width: int, what: str) -> _DecodeFn:
    def decode(_dec: Decoder, data: Any, pos: int, _depth: int) -> tuple[Any, int]:
        _need(data, pos, width, what)
        return wrap(bytes(data[pos : pos + width])), pos + width

    return decode


def _variable(size_st: struct.Struct, kind: str) -> _DecodeFn:
    width = size_st.size

    def decode(_dec: Decoder, data: Any, pos: int, _depth: int) -> tuple[Any, int]:
        _need(data, pos, width, f"{kind} length")
        size = size_st.unpack_from(data, pos)[0]
        pos += width
        _need(data, pos, size, kind)
        raw = bytes(data[pos : pos + size])
        pos += size
        if kind == "binary":
            return raw, pos
        try:
            text = raw.decode("utf-8" if kind == "string" else "ascii")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"{kind} is not valid {'UTF-8' if kind == 'string' else 'ASCII'}: {exc}"
            ) from None
        return (text if kind == "string" else Symbol(text)), pos

    return decode


def _compound(header: struct.Struct, is_map: bool) -> _DecodeFn:
    kind = "map" if is_map else "list"

    def decode(dec: Decoder, data: Any, pos: int, depth: int) -> tuple[Any, int]:
        _need(data, pos, header.size, f"{kind} header")
        size, count = header.unpack_from(data, pos)
        body = pos + header.size
        end = pos + (1 if header.size == 2 else 4) + size
        if size < header.size // 2 or end > len(data):
            raise DecodeError(
                f"truncated: {kind} declares {size} bytes at byte {pos}, {len(data) - pos} remain"
            )
        if is_map and count % 2:
            raise DecodeError(f"map declares an odd number of elements ({count})")
        dec._count(count, 1, end - body, kind)
        items = [None] * count
        pos = body
        for i in range(count):
            if pos >= end:
                raise DecodeError(f"{kind} element {i} runs past the {kind}'s declared size")
            items[i], pos = dec.decode(data, pos, depth + 1)
        if pos != end:
            raise DecodeError(f"{kind} elements end at byte {pos}, its declared size says {end}")
        if not is_map:
            return items, pos
        result: dict[Any, Any] = {}
        for i in range(0, count, 2):
            key = items[i]
            try:
                result[key] = items[i + 1]
            except TypeError:
                raise DecodeError(f"map key of type {type(key).__name__} is not supported") from None
        return result, pos

    return decode


def _array(header: struct.Struct) -> _DecodeFn:
    def decode(dec: Decoder, data: Any, pos: int, depth: int) -> tuple[Array, int]:
        _need(data, pos, header.size, "array header")
        size, count = header.unpack_from(data, pos)
        end = pos + (1 if header.size == 2 else 4) + size
        if size < header.size // 2 or end > len(data):
            raise DecodeError(
                f"truncated: array declares {size} bytes at byte {pos}, {len(data) - pos} remain"
            )
        pos += header.size
        dec._count(count, 0, end - pos, "array")
        descriptor: Any = None
        described = pos < end and data[pos] == 0x00
        if described:
            descriptor, pos = dec.decode(data, pos + 1, depth + 1)
        _need(data, pos, 1, "array element constructor")
        code = data[pos]
        element_fn = _DECODERS[code]
        if element_fn is None or code == 0x00:
            raise DecodeError(f"unknown array element constructor 0x{code:02x}")
        dec._count(count, _MIN_WIDTH.get(code, 1), end - pos - 1, "array")
        pos += 1
        items = [None] * count
        for i in range(count):
            if depth + 1 > dec.limits.max_depth:
                raise DecodeError(f"nesting deeper than max_depth={dec.limits.max_depth}")
            items[i], pos = element_fn(dec, data, pos, depth + 1)
            if pos > end:
                raise DecodeError(f"array element {i} runs past the array's declared size")
        if pos != end:
            raise DecodeError(f"array elements end at byte {pos}, its declared size says {end}")
        if described:
            return Array([Described(descriptor, v) for v in items], element=Described), pos
        return Array(items, element=_ELEMENT_TYPE.get(code, object)), pos

    return decode


def _decode_described(dec: Decoder, data: Any, pos: int, depth: int) -> tuple[Described, int]:
    descriptor, pos = dec.decode(data, pos, depth + 1)
    if not isinstance(descriptor, ULong | Symbol):
        raise DecodeError(f"descriptor must be a ulong or a symbol, got {type(descriptor).__name__}")
    value, pos = dec.decode(data, pos, depth + 1)
    return Described(descriptor, value), pos


# <encoding code="0x.." .../> lines of the spec, one entry each.
_DECODERS: list[_DecodeFn | None] = [None] * 256
_DECODERS[0x00] = _decode_described
_DECODERS[0x40] = _constant(None)  # null
_DECODERS[0x41] = _constant(True)  # boolean true
_DECODERS[0x42] = _constant(False)  # boolean false
_DECODERS[0x43] = _constant(UInt(0))  # uint0
_DECODERS[0x44] = _constant(ULong(0))  # ulong0
_DECODERS[0x45] = _constant(list)  # list0
_DECODERS[0x50] = _fixed(_U8, UByte, "ubyte")
_DECODERS[0x51] = _fixed(_I8, Byte, "byte")
_DECODERS[0x52] = _fixed(_U8, UInt, "smalluint")
_DECODERS[0x53] = _fixed(_U8, ULong, "smallulong")
_DECODERS[0x54] = _fixed(_I8, Int, "smallint")
_DECODERS[0x55] = _fixed(_I8, None, "smalllong")
_DECODERS[0x56] = _decode_boolean
_DECODERS[0x60] = _fixed(_U16, UShort, "ushort")
_DECODERS[0x61] = _fixed(_I16, Short, "short")
_DECODERS[0x70] = _fixed(_U32, UInt, "uint")
_DECODERS[0x71] = _fixed(_I32, Int, "int")
_DECODERS[0x72] = _fixed(_F32, Float, "float")
_DECODERS[0x73] = _decode_char
_DECODERS[0x74] = _raw(Decimal32, 4, "decimal32")
_DECODERS[0x80] = _fixed(_U64, ULong, "ulong")
_DECODERS[0x81] = _fixed(_I64, None, "long")
_DECODERS[0x82] = _fixed(_F64, None, "double")
_DECODERS[0x83] = _fixed(_I64, Timestamp, "timestamp")
_DECODERS[0x84] = _raw(Decimal64, 8, "decimal64")
_DECODERS[0x94] = _raw(Decimal128, 16, "decimal128")
_DECODERS[0x98] = _decode_uuid
_DECODERS[0xA0] = _variable(_U8, "binary")
_DECODERS[0xA1] = _variable(_U8, "string")
_DECODERS[0xA3] = _variable(_U8, "symbol")
_DECODERS[0xB0] = _variable(_U32, "binary")
_DECODERS[0xB1] = _variable(_U32, "string")
_DECODERS[0xB3] = _variable(_U32, "symbol")
_DECODERS[0xC0] = _compound(_SIZE_COUNT8, is_map=False)
_DECODERS[0xC1] = _compound(_SIZE_COUNT8, is_map=True)
_DECODERS[0xD0] = _compound(_SIZE_COUNT32, is_map=False)
_DECODERS[0xD1] = _compound(_SIZE_COUNT32, is_map=True)
_DECODERS[0xE0] = _array(_SIZE_COUNT8)
_DECODERS[0xF0] = _array(_SIZE_COUNT32)

# Width after the constructor of every fixed-width encoding.
_FIXED_WIDTH = {
    0x40: 0, 0x41: 0, 0x42: 0, 0x43: 0, 0x44: 0, 0x45: 0,
    0x50: 1, 0x51: 1, 0x52: 1, 0x53: 1, 0x54: 1, 0x55: 1, 0x56: 1,
    0x60: 2, 0x61: 2, 0x70: 4, 0x71: 4, 0x72: 4, 0x73: 4, 0x74: 4,
    0x80: 8, 0x81: 8, 0x82: 8, 0x83: 8, 0x84: 8, 0x94: 16, 0x98: 16,
}  # fmt: skip

# Bytes each array element needs at least, to refuse absurd counts before allocating.
_MIN_WIDTH = {
    0x40: 0, 0x41: 0, 0x42: 0, 0x43: 0, 0x44: 0, 0x45: 0,
    0x60: 2, 0x61: 2, 0x70: 4, 0x71: 4, 0x72: 4, 0x73: 4, 0x74: 4,
    0x80: 8, 0x81: 8, 0x82: 8, 0x83: 8, 0x84: 8, 0x94: 16, 0x98: 16,
    0xB0: 4, 0xB1: 4, 0xB3: 4, 0xC0: 2, 0xC1: 2, 0xD0: 8, 0xD1: 8, 0xE0: 2, 0xF0: 8,
}  # fmt: skip

_ELEMENT_TYPE: dict[int, type] = {
    0x40: type(None), 0x41: bool, 0x42: bool, 0x56: bool, 0x43: UInt, 0x44: ULong, 0x45: list,
    0x50: UByte, 0x51: Byte, 0x52: UInt, 0x53: ULong, 0x54: Int, 0x55: int, 0x60: UShort, 0x61: Short,
    0x70: UInt, 0x71: Int, 0x72: Float, 0x73: Char, 0x74: Decimal32, 0x80: ULong, 0x81: int, 0x82: float,
    0x83: Timestamp, 0x84: Decimal64, 0x94: Decimal128, 0x98: uuid.UUID, 0xA0: bytes, 0xB0: bytes,
    0xA1: str, 0xB1: str, 0xA3: Symbol, 0xB3: Symbol, 0xC0: list, 0xD0: list, 0xC1: dict, 0xD1: dict,
    0xE0: Array, 0xF0: Array,
}  # fmt: skip

_DEFAULT_DECODER = Decoder()


def decode(data: _Buffer, pos: int = 0) -> tuple[Any, int]:
    """Decode one value at `pos` under the default limits; return it and the position after it."""
    return _DEFAULT_DECODER.decode(data, pos)


def decode_all(data: _Buffer) -> Any:
    return _DEFAULT_DECODER.decode_all(data)


# ---------------------------------------------------------------------------------------------------------
# Encoding


def _range_error(value: int, kind: str) -> ValueError:
    return ValueError(f"{value} is out of range for AMQP {kind}")


def _enc_null(out: bytearray, _v: Any) -> None:
    out.append(0x40)


def _enc_bool(out: bytearray, v: bool) -> None:
    out.append(0x41 if v else 0x42)


def _enc_long(out: bytearray, v: int) -> None:
    if -128 <= v <= 127:
        out += b"\x55" + _I8.pack(v)
    elif -(1 << 63) <= v < (1 << 63):
        out += b"\x81" + _I64.pack(v)
    else:
        raise _range_error(v, "long")


def _enc_int(out: bytearray, v: int) -> None:
    if -128 <= v <= 127:
        out += b"\x54" + _I8.pack(v)
    elif -(1 << 31) <= v < (1 << 31):
        out += b"\x71" + _I32.pack(v)
    else:
        raise _range_error(v, "int")


def _enc_uint(out: bytearray, v: int) -> None:
    if v == 0:
        out.append(0x43)
    elif 0 < v < 256:
        out += b"\x52" + _U8.pack(v)
    elif 0 <= v < (1 << 32):
        out += b"\x70" + _U32.pack(v)
    else:
        raise _range_error(v, "uint")


def _enc_ulong(out: bytearray, v: int) -> None:
    if v == 0:
        out.append(0x44)
    elif 0 < v < 256:
        out += b"\x53" + _U8.pack(v)
    elif 0 <= v < (1 << 64):
        out += b"\x80" + _U64.pack(v)
    else:
        raise _range_error(v, "ulong")


def _fixed_encoder(code: int, st: struct.Struct, kind: str) -> Callable[[bytearray, Any], None]:
    prefix = bytes([code])

    def encode(out: bytearray, v: Any) -> None:
        try:
            out += prefix + st.pack(v)
        except struct.error:
            raise ValueError(f"{v!r} is out of range for AMQP {kind}") from None

    return encode


def _enc_char(out: bytearray, v: str) -> None:
    if len(v) != 1:
        raise ValueError(f"AMQP char holds exactly one code point, got {v!r}")
    out += b"\x73" + _U32.pack(ord(v))


def _raw_encoder(code: int, width: int) -> Callable[[bytearray, Any], None]:
    def encode(out: bytearray, v: bytes) -> None:
        if len(v) != width:
            raise ValueError(f"this AMQP decimal needs exactly {width} bytes, got {len(v)}")
        out.append(code)
        out += v

    return encode


def _enc_uuid(out: bytearray, v: uuid.UUID) -> None:
    out += b"\x98" + v.bytes


def _enc_binary(out: bytearray, v: bytes | bytearray | memoryview) -> None:
    n = len(v)
    out += (b"\xa0" + _U8.pack(n)) if n < 256 else (b"\xb0" + _U32.pack(n))
    out += v


def _enc_string(out: bytearray, v: str) -> None:
    raw = v.encode("utf-8")
    n = len(raw)
    out += (b"\xa1" + _U8.pack(n)) if n < 256 else (b"\xb1" + _U32.pack(n))
    out += raw


def _enc_symbol(out: bytearray, v: str) -> None:
    raw = v.encode("ascii")
    n = len(raw)
    out += (b"\xa3" + _U8.pack(n)) if n < 256 else (b"\xb3" + _U32.pack(n))
    out += raw


def _enc_compound(out: bytearray, items: Any, count: int, small: int, large: int) -> None:
    body = bytearray()
    for item in items:
        write(body, item)
    if count < 256 and len(body) < 255:
        out += bytes((small, len(body) + 1, count))
    else:
        out.append(large)
        out += _SIZE_COUNT32.pack(len(body) + 4, count)
    out += body


def _enc_list(out: bytearray, v: list[Any]) -> None:
    if not v:
        out.append(0x45)
    else:
        _enc_compound(out, v, len(v), 0xC0, 0xD0)


def _enc_map(out: bytearray, v: dict[Any, Any]) -> None:
    flat = [x for pair in v.items() for x in pair]
    _enc_compound(out, flat, len(flat), 0xC1, 0xD1)


def _enc_described(out: bytearray, v: Described) -> None:
    out.append(0x00)
    write(out, v.descriptor)
    write(out, v.value)


# Element writers for arrays: (constructor, write-without-constructor). Variable-width kinds pick 8 or 32
# bit sizes for the whole array, because one constructor serves every element.
def _array_element_writer(
    element: type, items: list[Any]
) -> tuple[bytes, Callable[[bytearray, Any], object]]:
    fixed: dict[type, tuple[int, struct.Struct]] = {
        UByte: (0x50, _U8), Byte: (0x51, _I8), UShort: (0x60, _U16), Short: (0x61, _I16),
        UInt: (0x70, _U32), Int: (0x71, _I32), Float: (0x72, _F32), ULong: (0x80, _U64), int: (0x81, _I64),
        float: (0x82, _F64), Timestamp: (0x83, _I64),
    }  # fmt: skip
    if element in fixed:
        code, st = fixed[element]
        return bytes([code]), lambda out, x: out.__iadd__(st.pack(x))
    if element is bool:
        return b"\x56", lambda out, x: out.append(1 if x else 0)
    if element is Char:
        return b"\x73", lambda out, x: out.__iadd__(_U32.pack(ord(x)))
    if element is uuid.UUID:
        return b"\x98", lambda out, x: out.__iadd__(x.bytes)
    raw_widths = {Decimal32: (0x74, 4), Decimal64: (0x84, 8), Decimal128: (0x94, 16)}
    if element in raw_widths:
        return bytes([raw_widths[element][0]]), lambda out, x: out.__iadd__(x)
    if element in (str, Symbol, bytes):

        def to_bytes(x: Any) -> bytes:
            return x if element is bytes else x.encode("ascii" if element is Symbol else "utf-8")

        small = all(len(to_bytes(x)) < 256 for x in items)
        base = {bytes: 0xA0, str: 0xA1, Symbol: 0xA3}[element] + (0 if small else 0x10)
        size = _U8 if small else _U32

        def write_variable(out: bytearray, x: Any) -> None:
            raw = to_bytes(x)
            out += size.pack(len(raw))
            out += raw

        return bytes([base]), write_variable
    if element in (list, dict, Array):
        code = {list: 0xD0, dict: 0xD1, Array: 0xF0}[element]
        return bytes([code]), lambda out, x: _write_compound_large(out, x, element)
    raise ValueError(f"cannot encode an AMQP array of {element.__name__}")


def _write_compound_large(out: bytearray, value: Any, element: type) -> None:
    if element is Array:
        tmp = bytearray()
        _enc_array(tmp, value, force_large=True)
        out += tmp[1:]
        return
    flat = value if element is list else [x for pair in value.items() for x in pair]
    body = bytearray()
    for item in flat:
        write(body, item)
    out += _SIZE_COUNT32.pack(len(body) + 4, len(flat))
    out += body


def _enc_array(out: bytearray, v: Array, force_large: bool = False) -> None:
    if v.element is Described:
        raise ValueError("arrays of described values are decoded but not encoded here")
    constructor, write_element = _array_element_writer(v.element, v)
    body = bytearray(constructor)
    for item in v:
        if not isinstance(item, v.element):
            raise ValueError(f"array of {v.element.__name__} holds a {type(item).__name__}: {item!r}")
        write_element(body, item)
    if not force_large and len(v) < 256 and len(body) < 255:
        out += bytes((0xE0, len(body) + 1, len(v)))
    else:
        out.append(0xF0)
        out += _SIZE_COUNT32.pack(len(body) + 4, len(v))
    out += body


_ENCODERS: dict[type, Callable[[bytearray, Any], None]] = {
    type(None): _enc_null,
    bool: _enc_bool,
    int: _enc_long,
    float: _fixed_encoder(0x82, _F64, "double"),
    str: _enc_string,
    bytes: _enc_binary,
    bytearray: _enc_binary,
    memoryview: _enc_binary,
    uuid.UUID: _enc_uuid,
    list: _enc_list,
    tuple: _enc_list,
    dict: _enc_map,
    Symbol: _enc_symbol,
    UByte: _fixed_encoder(0x50, _U8, "ubyte"),
    Byte: _fixed_encoder(0x51, _I8, "byte"),
    UShort: _fixed_encoder(0x60, _U16, "ushort"),
    Short: _fixed_encoder(0x61, _I16, "short"),
    UInt: _enc_uint,
    Int: _enc_int,
    ULong: _enc_ulong,
    Timestamp: _fixed_encoder(0x83, _I64, "timestamp"),
    Float: _fixed_encoder(0x72, _F32, "float"),
    Char: _enc_char,
    Decimal32: _raw_encoder(0x74, 4),
    Decimal64: _raw_encoder(0x84, 8),
    Decimal128: _raw_encoder(0x94, 16),
    Array: _enc_array,
    Described: _enc_described,
}


def write(out: bytearray, value: Any) -> None:
    """Append the encoding of `value` to `out`."""
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        for kind, candidate in _ENCODERS.items():
            if kind is not type(None) and isinstance(value, kind):
                encoder = candidate
                break
        else:
            raise ValueError(f"cannot encode {type(value).__name__} value {value!r} as AMQP")
    encoder(out, value)


def encode(value: Any) -> bytes:
    out = bytearray()
    write(out, value)
    return bytes(out)
