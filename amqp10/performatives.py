"""AMQP 1.0 composite types: performatives, SASL frames, link endpoints, delivery states and errors.

Each composite is a frozen dataclass whose field order is the spec's `<field>` order, registered with its
descriptor and, per field, the AMQP type it is written as. Encoding writes *every* field, nulls included:
the azure-eventhub SDK builds its namedtuples from the list positionally and fails on a trimmed list.
Decoding accepts trimmed lists (as qpid-proton sends them) and fills the spec's defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, dataclass_transform

from .codec import write
from .errors import DecodeError
from .types import Array, Described, Symbol, UByte, UInt, ULong, UShort

# Field writers: how a Python value is turned into the AMQP type a field is declared as.
Coerce = Callable[[Any], Any]


def _symbols(value: Any) -> Any:
    """`symbol multiple="true"`: a lone symbol or an array of them; none at all is written as null."""
    if isinstance(value, str):
        return Symbol(value)
    # The SDK's decoder misreads an empty array (it skips its element constructor).
    return Array([Symbol(v) for v in value], element=Symbol) if value else None


def _fields(value: dict[Any, Any]) -> dict[Any, Any]:
    """`fields`: a map keyed by symbols."""
    return {Symbol(k) if isinstance(k, str) else k: v for k, v in value.items()}


def _composite(value: Any) -> Any:
    return value.described() if isinstance(value, Composite) else value


def _same(value: Any) -> Any:
    return value


def _composite_of(*symbols: str) -> Coerce:
    """A field holding one of these composites: any other composite there is a decode error."""

    def coerce(value: Any) -> Any:
        return _composite(value)

    _ACCEPTS[coerce] = lambda v: isinstance(v, Composite) and v.descriptor_symbol in symbols
    return coerce


class Composite:
    """Base of the registered composites; see `composite()`."""

    descriptor_code: ClassVar[int]
    descriptor_symbol: ClassVar[str]
    field_types: ClassVar[tuple[Coerce, ...]]

    def described(self) -> Described:
        values = []
        for coerce, f in zip(self.field_types, dataclasses.fields(self), strict=True):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            values.append(None if v is None else coerce(v))
        return Described(ULong(self.descriptor_code), values)

    def encode_into(self, out: bytearray) -> None:
        write(out, self.described())


COMPOSITES_BY_CODE: dict[int, type[Composite]] = {}
COMPOSITES_BY_SYMBOL: dict[str, type[Composite]] = {}


@dataclass_transform(frozen_default=True)
def composite(code: int, symbol: str, *coerce: Coerce) -> Callable[[type], type]:
    """Register a dataclass as the composite `symbol` / `code`, one coerce function per field."""

    def register(cls: type) -> type:
        cls = dataclass(frozen=True, slots=True)(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        if len(names) != len(coerce):
            raise TypeError(f"{cls.__name__}: {len(names)} fields but {len(coerce)} field types")
        cls.descriptor_code, cls.descriptor_symbol, cls.field_types = code, symbol, coerce  # type: ignore[attr-defined]
        COMPOSITES_BY_CODE[code] = cls
        COMPOSITES_BY_SYMBOL[symbol] = cls
        return cls

    return register


def from_described(value: Any) -> Any:
    """Turn a decoded `Described` of a registered composite into its dataclass (recursively for fields)."""
    if not isinstance(value, Described):
        return value
    d = value.descriptor
    cls = COMPOSITES_BY_CODE.get(d) if isinstance(d, int) else COMPOSITES_BY_SYMBOL.get(d)
    if cls is None:
        return value
    items = value.value
    if items is None:
        items = []
    if not isinstance(items, list):
        raise DecodeError(f"{cls.descriptor_symbol} must be described as a list, got {type(items).__name__}")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if len(items) > len(fields):
        raise DecodeError(f"{cls.descriptor_symbol} has {len(fields)} fields, {len(items)} were sent")
    kwargs: dict[str, Any] = {}
    for f, coerce, v in zip(fields, cls.field_types, items, strict=False):
        if v is not None:
            v = from_described(v)
            if not _ACCEPTS.get(coerce, _anything)(v):
                raise DecodeError(
                    f"{cls.descriptor_symbol} field {f.name} cannot be {type(v).__name__} {v!r:.40}"
                )
            kwargs[f.name] = v
    missing = []
    for f in fields:
        if f.name in kwargs or f.default is not dataclasses.MISSING:
            continue
        if "None" in str(f.type):  # nullable in the spec, though it comes before mandatory fields
            kwargs[f.name] = None
        else:
            missing.append(f.name)
    if missing:
        raise DecodeError(f"{cls.descriptor_symbol} is missing mandatory field(s) {', '.join(missing)}")
    return cls(**kwargs)


def _is_uint(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _anything(_v: Any) -> bool:
    return True


# What a decoded value of each field type may be: a peer's wrongly typed field is a decode error here,
# not a TypeError deep in the connection's arithmetic.
_ACCEPTS: dict[Coerce, Callable[[Any], bool]] = {
    UInt: _is_uint,
    UShort: _is_uint,
    UByte: _is_uint,
    ULong: _is_uint,
    bool: lambda v: isinstance(v, bool),
    str: lambda v: isinstance(v, str),
    Symbol: lambda v: isinstance(v, str),
    bytes: lambda v: isinstance(v, bytes),
    _fields: lambda v: isinstance(v, dict),
    _symbols: lambda v: isinstance(v, str) or (isinstance(v, list) and all(isinstance(i, str) for i in v)),
}  # and one entry per `_composite_of` field type

_error = _composite_of("amqp:error:list")
_source = _composite_of("amqp:source:list")
_target = _composite_of("amqp:target:list")
_delivery_state = _composite_of(
    "amqp:received:list", "amqp:accepted:list", "amqp:rejected:list", "amqp:released:list",
    "amqp:modified:list",
)  # fmt: skip


# ---- errors and link endpoints ------------------------------------------------------------------------


@composite(0x1D, "amqp:error:list", Symbol, str, _fields)
class Error(Composite):
    condition: str
    description: str | None = None
    info: dict[Any, Any] | None = None


@composite(
    0x28, "amqp:source:list",
    str, UInt, Symbol, UInt, bool, _fields, Symbol, _fields, _same, _symbols, _symbols,
)  # fmt: skip
class Source(Composite):
    address: str | None = None
    durable: int = 0
    expiry_policy: str = "session-end"
    timeout: int = 0
    dynamic: bool = False
    dynamic_node_properties: dict[Any, Any] | None = None
    distribution_mode: str | None = None
    filter: dict[Any, Any] | None = None
    default_outcome: Any = None
    outcomes: Any = None
    capabilities: Any = None


@composite(0x29, "amqp:target:list", str, UInt, Symbol, UInt, bool, _fields, _symbols)
class Target(Composite):
    address: str | None = None
    durable: int = 0
    expiry_policy: str = "session-end"
    timeout: int = 0
    dynamic: bool = False
    dynamic_node_properties: dict[Any, Any] | None = None
    capabilities: Any = None


# ---- delivery states ----------------------------------------------------------------------------------


@composite(0x23, "amqp:received:list", UInt, ULong)
class Received(Composite):
    section_number: int
    section_offset: int


@composite(0x24, "amqp:accepted:list")
class Accepted(Composite):
    pass


@composite(0x25, "amqp:rejected:list", _error)
class Rejected(Composite):
    error: Error | None = None


@composite(0x26, "amqp:released:list")
class Released(Composite):
    pass


@composite(0x27, "amqp:modified:list", bool, bool, _fields)
class Modified(Composite):
    delivery_failed: bool | None = None
    undeliverable_here: bool | None = None
    message_annotations: dict[Any, Any] | None = None


# ---- performatives ------------------------------------------------------------------------------------


@composite(
    0x10, "amqp:open:list",
    str, str, UInt, UShort, UInt, _symbols, _symbols, _symbols, _symbols, _fields,
)  # fmt: skip
class Open(Composite):
    container_id: str
    hostname: str | None = None
    max_frame_size: int = 0xFFFFFFFF
    channel_max: int = 0xFFFF
    idle_timeout: int | None = None
    outgoing_locales: Any = None
    incoming_locales: Any = None
    offered_capabilities: Any = None
    desired_capabilities: Any = None
    properties: dict[Any, Any] | None = None


@composite(0x11, "amqp:begin:list", UShort, UInt, UInt, UInt, UInt, _symbols, _symbols, _fields)
class Begin(Composite):
    remote_channel: int | None
    next_outgoing_id: int
    incoming_window: int
    outgoing_window: int
    handle_max: int = 0xFFFFFFFF
    offered_capabilities: Any = None
    desired_capabilities: Any = None
    properties: dict[Any, Any] | None = None


@composite(
    0x12, "amqp:attach:list",
    str, UInt, bool, UByte, UByte, _source, _target, _same, bool, UInt, ULong,
    _symbols, _symbols, _fields,
)  # fmt: skip
class Attach(Composite):
    name: str
    handle: int
    role: bool  # False: sender, True: receiver
    snd_settle_mode: int = 2  # mixed
    rcv_settle_mode: int = 0  # first
    source: Source | None = None
    target: Target | None = None
    unsettled: dict[Any, Any] | None = None
    incomplete_unsettled: bool = False
    initial_delivery_count: int | None = None
    max_message_size: int | None = None
    offered_capabilities: Any = None
    desired_capabilities: Any = None
    properties: dict[Any, Any] | None = None


@composite(
    0x13, "amqp:flow:list",
    UInt, UInt, UInt, UInt, UInt, UInt, UInt, UInt, bool, bool, _fields,
)  # fmt: skip
class Flow(Composite):
    next_incoming_id: int | None
    incoming_window: int
    next_outgoing_id: int
    outgoing_window: int
    handle: int | None = None
    delivery_count: int | None = None
    link_credit: int | None = None
    available: int | None = None
    drain: bool = False
    echo: bool = False
    properties: dict[Any, Any] | None = None


@composite(
    0x14, "amqp:transfer:list",
    UInt, UInt, bytes, UInt, bool, bool, UByte, _delivery_state, bool, bool, bool,
)  # fmt: skip
class Transfer(Composite):
    handle: int
    delivery_id: int | None = None
    delivery_tag: bytes | None = None
    message_format: int | None = None
    settled: bool | None = None
    more: bool = False
    rcv_settle_mode: int | None = None
    state: Any = None
    resume: bool = False
    aborted: bool = False
    batchable: bool = False


@composite(0x15, "amqp:disposition:list", bool, UInt, UInt, bool, _delivery_state, bool)
class Disposition(Composite):
    role: bool
    first: int
    last: int | None = None
    settled: bool = False
    state: Any = None
    batchable: bool = False


@composite(0x16, "amqp:detach:list", UInt, bool, _error)
class Detach(Composite):
    handle: int
    closed: bool = False
    error: Error | None = None


@composite(0x17, "amqp:end:list", _error)
class End(Composite):
    error: Error | None = None


@composite(0x18, "amqp:close:list", _error)
class Close(Composite):
    error: Error | None = None


# ---- SASL ---------------------------------------------------------------------------------------------


@composite(0x40, "amqp:sasl-mechanisms:list", _symbols)
class SaslMechanisms(Composite):
    sasl_server_mechanisms: Any


@composite(0x41, "amqp:sasl-init:list", Symbol, bytes, str)
class SaslInit(Composite):
    mechanism: str
    initial_response: bytes | None = None
    hostname: str | None = None


@composite(0x42, "amqp:sasl-challenge:list", bytes)
class SaslChallenge(Composite):
    challenge: bytes


@composite(0x43, "amqp:sasl-response:list", bytes)
class SaslResponse(Composite):
    response: bytes


@composite(0x44, "amqp:sasl-outcome:list", UByte, bytes)
class SaslOutcome(Composite):
    code: int
    additional_data: bytes | None = None


PERFORMATIVES = (Open, Begin, Attach, Flow, Transfer, Disposition, Detach, End, Close)
SASL_FRAMES = (SaslMechanisms, SaslInit, SaslChallenge, SaslResponse, SaslOutcome)
DELIVERY_STATES = (Received, Accepted, Rejected, Released, Modified)

__all__ = [
    "DELIVERY_STATES", "PERFORMATIVES", "SASL_FRAMES", "Accepted", "Attach", "Begin", "Close", "Composite",
    "Detach", "Disposition", "End", "Error", "Flow", "Modified", "Open", "Received", "Rejected", "Released",
    "SaslChallenge", "SaslInit", "SaslMechanisms", "SaslOutcome", "SaslResponse", "Source", "Target",
    "Transfer", "from_described",
]  # fmt: skip
