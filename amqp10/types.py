"""Python types for AMQP 1.0 values whose encoding a plain Python type cannot tell.

Plain Python maps onto AMQP like this: None -> null, bool -> boolean, int -> long, float -> double,
str -> string, bytes -> binary, uuid.UUID -> uuid, list -> list, dict -> map. Every other AMQP type has a
subclass here, so a decoded value re-encodes to the same type it arrived as.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Symbol(str):
    """An ASCII symbolic name (`symbol`), distinct from a UTF-8 `string`."""

    __slots__ = ()


class UByte(int):
    __slots__ = ()


class UShort(int):
    __slots__ = ()


class UInt(int):
    __slots__ = ()


class ULong(int):
    __slots__ = ()


class Byte(int):
    __slots__ = ()


class Short(int):
    __slots__ = ()


class Int(int):
    __slots__ = ()


class Timestamp(int):
    """Milliseconds since the Unix epoch."""

    __slots__ = ()


class Float(float):
    """A 32-bit IEEE 754 float; a plain float is encoded as a 64-bit double."""

    __slots__ = ()


class Char(str):
    """A single UTF-32 code point."""

    __slots__ = ()


class Decimal32(bytes):
    """IEEE 754 decimal32, kept as its 4 raw bytes: nothing here does arithmetic on it."""

    __slots__ = ()


class Decimal64(bytes):
    __slots__ = ()


class Decimal128(bytes):
    __slots__ = ()


class Array(list[Any]):
    """An AMQP array: elements of one type, written with one shared constructor.

    `element` is the Python type of the elements (e.g. Symbol, UInt, str); an empty array needs it to be
    written, and decoding sets it from the constructor it read.
    """

    __slots__ = ("element",)

    def __init__(self, items: Any = (), element: type | None = None) -> None:
        super().__init__(items)
        self.element = element if element is not None else (type(self[0]) if self else Symbol)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Array) and self.element is other.element and list.__eq__(self, other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"Array({list.__repr__(self)}, element={self.element.__name__})"


@dataclass(frozen=True, slots=True)
class Described:
    """A described type: a descriptor (ulong code or symbol name) and the value it describes."""

    descriptor: Any
    value: Any
