"""Tests for amqp10.codec, frames, performatives and message: the AMQP 1.0 type system on the wire.

Four angles: a Hypothesis round trip over every AMQP type (values *and* Python types must survive), encodings
checked byte for byte against the spec's tables (and every legal alternative accepted on decode), interop
with the azure-eventhub SDK's own pure-Python codec in both directions, and hostile input, which must end
in a DecodeError/FramingError naming the problem, quickly and without allocating what the bytes announce.
"""

from __future__ import annotations

import itertools
import math
import struct
import time
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from azure.eventhub._pyamqp import _decode as sdk_decode
from azure.eventhub._pyamqp import _encode as sdk_encode
from azure.eventhub._pyamqp import performatives as sdk_perf
from azure.eventhub._pyamqp.endpoints import Source as SdkSource
from azure.eventhub._pyamqp.endpoints import Target as SdkTarget
from azure.eventhub._pyamqp.error import AMQPError as SdkError
from azure.eventhub._pyamqp.message import Header as SdkHeader
from azure.eventhub._pyamqp.message import Message as SdkMessage
from azure.eventhub._pyamqp.message import Properties as SdkProperties
from azure.eventhub._pyamqp.outcomes import Accepted as SdkAccepted
from azure.eventhub._pyamqp.outcomes import Rejected as SdkRejected
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from amqp10 import codec, frames, message
from amqp10 import performatives as perf
from amqp10.codec import Decoder, Limits, decode, decode_all, encode
from amqp10.errors import DecodeError, FramingError
from amqp10.frames import TYPE_AMQP, TYPE_SASL, Frame, encode_frame, encode_transfer, parse_frame
from amqp10.types import (
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

# ---------------------------------------------------------------------------------------------------------
# Helpers


def assert_same(expected: Any, actual: Any, path: str = "value") -> None:
    """Equal values of exactly the same Python types, recursively; floats compared bit for bit (NaN, -0.0)."""
    assert type(actual) is type(expected), (
        f"{path}: expected {type(expected).__name__}, got {type(actual).__name__}"
    )
    if isinstance(expected, float):
        assert struct.pack(">d", actual) == struct.pack(">d", expected), f"{path}: {actual!r} != {expected!r}"
    elif isinstance(expected, Array):
        assert actual.element is expected.element, f"{path}: element {actual.element} != {expected.element}"
        assert len(actual) == len(expected), f"{path}: {len(actual)} elements, expected {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same(e, a, f"{path}[{i}]")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: {len(actual)} items, expected {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same(e, a, f"{path}[{i}]")
    elif isinstance(expected, dict):
        assert len(actual) == len(expected), f"{path}: {len(actual)} entries, expected {len(expected)}"
        for i, ((ek, ev), (ak, av)) in enumerate(zip(expected.items(), actual.items(), strict=True)):
            assert_same(ek, ak, f"{path}.key[{i}]")
            assert_same(ev, av, f"{path}[{ek!r}]")
    elif isinstance(expected, Described):
        assert_same(expected.descriptor, actual.descriptor, f"{path}.descriptor")
        assert_same(expected.value, actual.value, f"{path}.value")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def nesting(value: Any) -> int:
    """How many decoder levels a value needs (0 for a scalar)."""
    if isinstance(value, dict):
        return 1 + max((max(nesting(k), nesting(v)) for k, v in value.items()), default=0)
    if isinstance(value, list):  # Array too
        return 1 + max((nesting(v) for v in value), default=0)
    if isinstance(value, Described):
        return 1 + max(nesting(value.descriptor), nesting(value.value))
    return 0


def assert_rejected(
    data: bytes,
    match: str,
    parse: Callable[[bytes], Any] | None = None,
    error: type[Exception] = DecodeError,
    max_bytes: int = 1 << 20,
    max_seconds: float = 2.0,
) -> Exception:
    """`parse(data)` raises `error` whose message contains `match`, within a time and memory budget.

    The time budget is loose: a busy 2-core CI machine can stall a process for most of a second (0.81 s
    was seen for a 33-byte input), while the work this catches, proportional to what the bytes announce
    (up to 2**32 elements), takes far longer.
    """
    parse = parse or decode_all
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(error) as caught:
            parse(data)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert match.lower() in str(caught.value).lower(), f"{caught.value!r} does not mention {match!r}"
    assert elapsed < max_seconds, f"rejecting took {elapsed:.3f} s"
    assert peak < max_bytes, f"rejecting allocated {peak} bytes"
    return caught.value


def frame_bytes(body: bytes, frame_type: int = TYPE_AMQP, channel: int = 0, doff: int = 2) -> bytes:
    """A frame around an already-encoded body (possibly not a valid performative)."""
    ext = b"\x00" * (doff * 4 - 8) if doff >= 2 else b""
    return struct.pack(">IBBH", 8 + len(ext) + len(body), doff, frame_type, channel) + ext + body


def parse_one(data: bytes, max_frame_size: int = 1 << 20) -> Frame:
    parsed = parse_frame(data, 0, max_frame_size, Decoder())
    assert parsed is not None, "parse_frame wants more bytes"
    frame, end = parsed
    assert end == len(data)
    return frame


def performative_bytes(code: int, fields: list[Any]) -> bytes:
    return encode(Described(ULong(code), fields))


# ---------------------------------------------------------------------------------------------------------
# Strategies: every AMQP type, as the Python type that carries it


def _text(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    # Small (str8/sym8/vbin8) and large (the 32-bit forms: more than 255 encoded bytes).
    return st.one_of(st.text(alphabet, max_size=12), st.text(alphabet, min_size=256, max_size=300))


UNICODE = st.characters(exclude_categories=["Cs"])  # surrogates are not Unicode scalar values
ASCII = st.characters(max_codepoint=0x7F)
I64 = st.integers(-(2**63), 2**63 - 1)

ELEMENTS: dict[type, st.SearchStrategy[Any]] = {
    bool: st.booleans(),
    UByte: st.integers(0, 2**8 - 1).map(UByte),
    UShort: st.integers(0, 2**16 - 1).map(UShort),
    UInt: st.integers(0, 2**32 - 1).map(UInt),
    ULong: st.integers(0, 2**64 - 1).map(ULong),
    Byte: st.integers(-(2**7), 2**7 - 1).map(Byte),
    Short: st.integers(-(2**15), 2**15 - 1).map(Short),
    Int: st.integers(-(2**31), 2**31 - 1).map(Int),
    int: I64,
    # width=32: exactly representable as float32, so the 4-byte encoding loses nothing.
    Float: st.floats(width=32, allow_nan=False).map(Float),
    float: st.floats(),  # NaN and infinities included: compared bitwise
    Decimal32: st.binary(min_size=4, max_size=4).map(Decimal32),
    Decimal64: st.binary(min_size=8, max_size=8).map(Decimal64),
    Decimal128: st.binary(min_size=16, max_size=16).map(Decimal128),
    Char: UNICODE.map(Char),
    Timestamp: I64.map(Timestamp),
    uuid.UUID: st.uuids(),
    bytes: st.one_of(st.binary(max_size=12), st.binary(min_size=256, max_size=300)),
    str: _text(UNICODE),
    Symbol: _text(ASCII).map(Symbol),
}

SCALARS = st.one_of(st.none(), *ELEMENTS.values())

# Map keys must be hashable (and equal to themselves, so no NaN).
KEYS = st.one_of(
    st.none(),
    *(s for t, s in ELEMENTS.items() if t not in (float, Float)),
)
DESCRIPTORS = st.one_of(ELEMENTS[ULong], st.text(ASCII, max_size=20).map(Symbol))


def _array_of(
    element: type, items: st.SearchStrategy[Any], min_size: int = 0, max_size: int | None = None
) -> st.SearchStrategy[Array]:
    return st.lists(items, min_size=min_size, max_size=max_size).map(lambda xs: Array(xs, element=element))


SCALAR_ARRAYS = st.sampled_from(list(ELEMENTS)).flatmap(lambda t: _array_of(t, ELEMENTS[t], max_size=5))
# Arrays that need array32: more than 255 elements, or more than 254 bytes of elements.
LARGE_ARRAYS = st.one_of(
    _array_of(bool, st.booleans(), min_size=256, max_size=260),
    _array_of(UInt, ELEMENTS[UInt], min_size=64, max_size=70),
    _array_of(ULong, ELEMENTS[ULong], min_size=32, max_size=34),
    _array_of(str, st.text(UNICODE, min_size=256, max_size=260), min_size=1, max_size=2),
    _array_of(Symbol, st.text(ASCII, min_size=256, max_size=260).map(Symbol), min_size=1, max_size=2),
)
# A list of more than 255 elements needs list32 even when each element is one byte.
LONG_LISTS = st.lists(st.none(), min_size=250, max_size=260)


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(KEYS, children, max_size=4),
        st.builds(Described, DESCRIPTORS, children),
        _array_of(list, st.lists(children, max_size=3), max_size=3),
        _array_of(dict, st.dictionaries(KEYS, children, max_size=3), max_size=3),
        _array_of(Array, SCALAR_ARRAYS, max_size=3),
        _array_of(Array, _array_of(Array, SCALAR_ARRAYS, max_size=2), max_size=2),
    )


VALUES = st.recursive(st.one_of(SCALARS, SCALAR_ARRAYS, LARGE_ARRAYS, LONG_LISTS), _extend, max_leaves=10)

SLOW_OK = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], deadline=None)


# ---------------------------------------------------------------------------------------------------------
# Round trip


@settings(SLOW_OK, max_examples=400)
@given(VALUES)
@example(Array([], element=Symbol))
@example(Array([], element=Array))
@example(Array([Array([], element=UInt), Array([Symbol("a")])], element=Array))
@example({UInt(1): Float(1.5), Symbol("k"): [None, []], None: Described(Symbol("d"), Char("\U0010ffff"))})
@example(Described(ULong(0x70), Described(ULong(0x71), Described(ULong(0x72), None))))
def test_every_value_round_trips_with_its_type(value: Any) -> None:
    assume(nesting(value) < codec.DEFAULT_LIMITS.max_depth)
    data = encode(value)
    assert_same(value, decode_all(data))
    assert_same(value, decode_all(memoryview(data)))
    assert_same(value, decode_all(bytearray(data)))
    # skip() finds the same end from size fields alone, here and after some leading bytes.
    assert Decoder().skip(data, 0) == len(data)
    prefixed = b"\x40\x45" + data
    assert Decoder().skip(prefixed, 2) == len(prefixed)
    again, end = decode(prefixed, 2)
    assert_same(value, again)
    assert end == len(prefixed)


@SLOW_OK
@given(VALUES, st.data())
def test_every_truncation_of_a_value_is_a_decode_error(value: Any, data: st.DataObject) -> None:
    assume(nesting(value) < codec.DEFAULT_LIMITS.max_depth)
    encoded = encode(value)
    cut = data.draw(st.integers(0, len(encoded) - 1), label="cut")
    with pytest.raises(DecodeError, match=r"truncated|runs past|end at byte|declares"):
        decode(encoded[:cut])
    with pytest.raises(DecodeError, match="truncated"):
        Decoder().skip(encoded[:cut], 0)


@pytest.mark.parametrize(
    "value",
    [
        Float(struct.unpack(">f", struct.pack(">f", 1.0e38))[0]),  # the largest-ish float32
        Float(-0.0),
        Float(float("inf")),
        -0.0,
        float("nan"),
        float("-inf"),
        5e-324,
        ULong(2**64 - 1),
        -(2**63),
        Timestamp(-(2**63)),
        Char("\x00"),
        Char("\U0010ffff"),
        "",
        "\u00e9" * 128,  # 256 bytes of UTF-8 from 128 characters: str32
        b"",
        Symbol(""),
        [],
        {},
        [[[[]]]],
    ],
    ids=repr,
)
def test_edge_values_round_trip(value: Any) -> None:
    assert_same(value, decode_all(encode(value)))


def test_float32_nan_stays_nan() -> None:
    decoded = decode_all(encode(Float(float("nan"))))
    assert type(decoded) is Float and math.isnan(decoded)


# ---------------------------------------------------------------------------------------------------------
# Encodings checked against the spec (part 1, section 1.6)

SPEC_ENCODINGS = [
    (None, "40"),
    (True, "41"),
    (False, "42"),
    (UByte(7), "5007"),
    (UShort(0x1234), "601234"),
    (UInt(0), "43"),
    (UInt(1), "5201"),
    (UInt(255), "52ff"),
    (UInt(256), "7000000100"),
    (UInt(2**32 - 1), "70ffffffff"),
    (ULong(0), "44"),
    (ULong(0x10), "5310"),
    (ULong(255), "53ff"),
    (ULong(256), "800000000000000100"),
    (Byte(-1), "51ff"),
    (Short(-2), "61fffe"),
    (Int(-1), "54ff"),
    (Int(127), "547f"),
    (Int(128), "7100000080"),
    (Int(-129), "71ffffff7f"),
    (0, "5500"),
    (-128, "5580"),
    (128, "810000000000000080"),
    (2**40, "810000010000000000"),
    (Float(1.5), "723fc00000"),
    (1.5, "823ff8000000000000"),
    (Char("A"), "7300000041"),
    (Char("\U0001f600"), "730001f600"),
    (Timestamp(1), "830000000000000001"),
    (Decimal32(b"\x01\x02\x03\x04"), "7401020304"),
    (Decimal64(bytes(range(8))), "840001020304050607"),
    (Decimal128(bytes(range(16))), "94" + bytes(range(16)).hex()),
    (uuid.UUID(int=1), "98" + "00" * 15 + "01"),
    (b"", "a000"),
    (b"ab", "a0026162"),
    (b"x" * 255, "a0ff" + "78" * 255),
    (b"x" * 256, "b000000100" + "78" * 256),
    ("", "a100"),
    ("\u00e9", "a102c3a9"),
    ("x" * 255, "a1ff" + "78" * 255),
    ("x" * 256, "b100000100" + "78" * 256),
    (Symbol("a"), "a30161"),
    (Symbol("s" * 256), "b300000100" + "73" * 256),
    ([], "45"),
    ([None], "c0020140"),
    ([True, UInt(0)], "c003024143"),
    # list8 holds at most 254 bytes of elements (its size byte counts the count byte too).
    ([b"x" * 252], "c0ff01a0fc" + "78" * 252),
    ([b"x" * 253], "d00000010300000001a0fd" + "78" * 253),
    ([None] * 254, "c0fffe" + "40" * 254),
    ([None] * 255, "d000000103000000ff" + "40" * 255),
    ({}, "c10100"),
    ({Symbol("a"): 1}, "c10602a301615501"),
    ({"k" * 300: None}, "d100000136" + "00000002" + "b10000012c" + "6b" * 300 + "40"),
    (Described(ULong(0x10), []), "00531045"),
    (Described(ULong(0x1234), None), "0080000000000000123440"),
    (Described(Symbol("x:y"), None), "00a303783a7940"),
    (Array([Symbol("a")]), "e00401a30161"),
    (Array([], element=Symbol), "e00200a3"),
    (Array([], element=UInt), "e0020070"),
    (Array([UInt(0), UInt(1)]), "e00a02700000000000000001"),  # fixed width in arrays: no 0x43/0x52 forms
    (Array([True, False]), "e00402560100"),
    (Array([1]), "e00a01810000000000000001"),
    (Array([Array([UInt(1)])]), "e00f01f0" + "00000009" + "00000001" + "70" + "00000001"),
    (Array([[None]]), "e00b01d0" + "00000005" + "00000001" + "40"),
    (Array([True] * 256), "f0" + "00000105" + "00000100" + "56" + "01" * 256),
]


@pytest.mark.parametrize(("value", "hexed"), SPEC_ENCODINGS, ids=[repr(v)[:40] for v, _ in SPEC_ENCODINGS])
def test_encoding_matches_the_spec(value: Any, hexed: str) -> None:
    assert encode(value).hex() == hexed
    assert_same(value, decode_all(bytes.fromhex(hexed)))


# Every legal encoding of a value decodes to it, not only the compact one we write.
ALTERNATIVES = [
    (UInt(0), ["43", "5200", "7000000000"]),
    (UInt(5), ["5205", "7000000005"]),
    (ULong(0), ["44", "5300", "800000000000000000"]),
    (ULong(5), ["5305", "800000000000000005"]),
    (Int(-3), ["54fd", "71fffffffd"]),
    (-3, ["55fd", "81fffffffffffffffd"]),
    (True, ["41", "5601"]),
    (False, ["42", "5600"]),
    (b"ab", ["a0026162", "b0000000026162"]),
    ("ab", ["a1026162", "b1000000026162"]),
    (Symbol("ab"), ["a3026162", "b3000000026162"]),
    ([], ["45", "c00100", "d00000000400000000"]),
    ([None], ["c0020140", "d0000000050000000140"]),
    ({}, ["c10100", "d10000000400000000"]),
    ({Symbol("a"): None}, ["c10502a3016140", "d10000000800000002a3016140"]),
    (Array([UInt(7)]), ["e0060170" + "00000007", "f0000000090000000170" + "00000007"]),
    (Array([Symbol("a")]), ["e00401a30161", "f00000000700000001a30161", "f00000000a00000001b30000000161"]),
    (Array([], element=Symbol), ["e00200a3", "f00000000500000000a3"]),
    (
        Described(ULong(0x24), []),
        ["00532445", "0080000000000000002445", "005324c00100", "005324d00000000400000000"],
    ),
]


@pytest.mark.parametrize(("value", "encodings"), ALTERNATIVES, ids=[repr(v)[:40] for v, _ in ALTERNATIVES])
def test_every_legal_encoding_decodes(value: Any, encodings: list[str]) -> None:
    for hexed in encodings:
        data = bytes.fromhex(hexed)
        assert_same(value, decode_all(data))
        assert Decoder().skip(data, 0) == len(data)


def test_performatives_accept_long_form_descriptors_and_lists() -> None:
    body = bytes.fromhex("0080" + "0000000000000010") + encode(["c1"])
    frame = parse_one(frame_bytes(body))
    assert frame.body == perf.Open(container_id="c1")
    list32 = bytes.fromhex("005310d0" + "00000008" + "00000001") + encode("c1")
    assert parse_one(frame_bytes(list32)).body == perf.Open(container_id="c1")


def test_parse_frame_accepts_symbolic_descriptors() -> None:
    # Part 1.6.2: a descriptor is a ulong code *or* its symbolic name; both name the same performative.
    body = encode(Described(Symbol("amqp:open:list"), ["c1"]))
    assert parse_one(frame_bytes(body)).body == perf.Open(container_id="c1")
    body = encode(Described(Symbol("amqp:sasl-init:list"), [Symbol("ANONYMOUS")]))
    assert parse_one(frame_bytes(body, frame_type=TYPE_SASL)).body == perf.SaslInit("ANONYMOUS")


def test_frame_with_an_extended_header_skips_it() -> None:
    body = encode(perf.Close().described())
    frame = parse_one(frame_bytes(body, doff=4, channel=7))
    assert frame == Frame(TYPE_AMQP, 7, perf.Close(), b"")


def test_empty_frame_is_a_heartbeat() -> None:
    assert parse_one(frames.EMPTY_FRAME) == Frame(TYPE_AMQP, 0, None)
    assert frames.EMPTY_FRAME == b"\x00\x00\x00\x08\x02\x00\x00\x00"


def test_parse_frame_waits_for_the_whole_frame() -> None:
    data = encode_frame(3, perf.Begin(None, 0, 10, 10))
    for cut in range(len(data)):
        assert parse_frame(data[:cut], 0, 1 << 20, Decoder()) is None
    # and it can start mid-buffer
    assert parse_frame(b"junk" + data, 4, 1 << 20, Decoder()) == (
        Frame(TYPE_AMQP, 3, perf.Begin(None, 0, 10, 10)),
        4 + len(data),
    )


# ---------------------------------------------------------------------------------------------------------
# Performatives: trimmed lists, extra fields, missing mandatory fields


def test_trimmed_performatives_get_the_spec_defaults() -> None:
    # qpid-proton omits trailing null fields.
    assert perf.from_described(Described(ULong(0x10), ["c"])) == perf.Open(
        container_id="c", hostname=None, max_frame_size=0xFFFFFFFF, channel_max=0xFFFF, idle_timeout=None
    )
    assert perf.from_described(Described(ULong(0x11), [None, UInt(0), UInt(5), UInt(6)])) == perf.Begin(
        None, 0, 5, 6, handle_max=0xFFFFFFFF
    )
    attach = perf.from_described(Described(ULong(0x12), ["l", UInt(1), True]))
    assert attach == perf.Attach("l", 1, True)
    assert (attach.snd_settle_mode, attach.rcv_settle_mode, attach.incomplete_unsettled) == (2, 0, False)
    src = perf.from_described(Described(ULong(0x28), ["addr"]))
    assert (src.address, src.durable, src.expiry_policy, src.timeout, src.dynamic) == (
        "addr",
        0,
        "session-end",
        0,
        False,
    )
    flow = perf.from_described(Described(ULong(0x13), [None, UInt(10), UInt(0), UInt(10)]))
    assert (flow.next_incoming_id, flow.handle, flow.drain, flow.echo) == (None, None, False, False)
    assert perf.from_described(Described(ULong(0x14), [UInt(0)])) == perf.Transfer(0)
    assert perf.from_described(Described(ULong(0x15), [True, UInt(3)])) == perf.Disposition(True, 3)
    assert perf.from_described(Described(ULong(0x16), [UInt(2)])) == perf.Detach(2, closed=False)
    assert perf.from_described(Described(ULong(0x17), [])) == perf.End()
    assert perf.from_described(Described(ULong(0x18), None)) == perf.Close()
    assert perf.from_described(Described(ULong(0x1D), [Symbol("amqp:x")])) == perf.Error("amqp:x")
    assert perf.from_described(Described(ULong(0x44), [UByte(0)])) == perf.SaslOutcome(0)


def test_a_trimmed_performative_in_a_frame_decodes() -> None:
    body = performative_bytes(0x12, ["link", UInt(0), False, None, None, Described(ULong(0x28), [])])
    attach = parse_one(frame_bytes(body)).body
    assert isinstance(attach, perf.Attach) and attach.source == perf.Source() and attach.target is None


@pytest.mark.parametrize(
    ("code", "fields", "name", "count"),
    [
        (0x10, ["c", None, None, None, None, None, None, None, None, None, None], "amqp:open:list", 10),
        (0x17, [None, None], "amqp:end:list", 1),
        (0x18, [None, "extra"], "amqp:close:list", 1),
        (0x24, [None], "amqp:accepted:list", 0),
        (0x14, [UInt(0)] + [None] * 11, "amqp:transfer:list", 11),
    ],
)
def test_more_fields_than_the_performative_has_is_a_decode_error(
    code: int, fields: list[Any], name: str, count: int
) -> None:
    err = assert_rejected(
        performative_bytes(code, fields), name, lambda d: perf.from_described(decode_all(d))
    )
    assert f"{count} fields" in str(err)
    assert f"{len(fields)} were sent" in str(err)


@pytest.mark.parametrize(
    ("code", "fields", "missing"),
    [
        (0x10, [], ["container_id"]),
        (0x10, [None, "host"], ["container_id"]),
        (0x11, [None], ["next_outgoing_id", "incoming_window", "outgoing_window"]),
        (0x12, ["name"], ["handle", "role"]),
        (0x13, [None, UInt(1), UInt(0)], ["outgoing_window"]),
        (0x14, [], ["handle"]),
        (0x15, [True], ["first"]),
        (0x16, [None, True], ["handle"]),
        (0x1D, [], ["condition"]),
        (0x23, [UInt(0)], ["section_offset"]),
        (0x40, [], ["sasl_server_mechanisms"]),
        (0x41, [], ["mechanism"]),
        (0x44, [], ["code"]),
    ],
)
def test_a_missing_mandatory_field_is_a_decode_error_naming_it(
    code: int, fields: list[Any], missing: list[str]
) -> None:
    err = assert_rejected(
        performative_bytes(code, fields), "missing mandatory", lambda d: perf.from_described(decode_all(d))
    )
    for name in missing:
        assert name in str(err)


def test_a_composite_described_by_something_other_than_a_list_is_a_decode_error() -> None:
    data = encode(Described(ULong(0x10), "c"))
    assert_rejected(
        data,
        "amqp:open:list must be described as a list, got str",
        lambda d: perf.from_described(decode_all(d)),
    )
    assert_rejected(frame_bytes(data), "must be described as a list", _parse)


# ---------------------------------------------------------------------------------------------------------
# Interop with the azure-eventhub SDK's own codec

SDK_FRAMES: dict[int, Any] = {
    0x10: sdk_perf.OpenFrame,
    0x11: sdk_perf.BeginFrame,
    0x12: sdk_perf.AttachFrame,
    0x13: sdk_perf.FlowFrame,
    0x14: sdk_perf.TransferFrame,
    0x15: sdk_perf.DispositionFrame,
    0x16: sdk_perf.DetachFrame,
    0x17: sdk_perf.EndFrame,
    0x18: sdk_perf.CloseFrame,
    0x40: sdk_perf.SASLMechanism,
    0x41: sdk_perf.SASLInit,
    0x44: sdk_perf.SASLOutcome,
}


def sdk_reads(data: bytes, frame_type: int = TYPE_AMQP, channel: int = 0) -> Any:
    """Decode one of our frames as the SDK's transport does; return the SDK's namedtuple."""
    size, doff, ftype, chan = struct.unpack_from(">IBBH", data)
    assert (size, doff, ftype, chan) == (len(data), 2, frame_type, channel)
    code, fields = sdk_decode.decode_frame(memoryview(data)[8:])
    cls = SDK_FRAMES[code]
    # The SDK builds its namedtuples positionally from *every* field: a trimmed list would shift or fail.
    assert len(fields) == len(cls._fields), f"{cls.__name__}: {len(fields)} fields for {len(cls._fields)}"
    return cls(*fields)


def sdk_writes(frame: Any, channel: int = 0, frame_type: int = TYPE_AMQP) -> bytes:
    header, body = sdk_encode.encode_frame(frame, frame_type=bytes([frame_type]))
    assert body is not None
    return header + channel.to_bytes(2, "big") + body


SELECTOR = Symbol("apache.org:selector-filter:string")
FROM_START = "amqp.annotation.x-opt-offset > '-1'"


def test_sdk_reads_our_open() -> None:
    ours = perf.Open(
        container_id="emulator", hostname="localhost", max_frame_size=65536, channel_max=4999,
        idle_timeout=240_000, offered_capabilities=["cap"], properties={"product": "hubstream"},
    )  # fmt: skip
    got = sdk_reads(encode_frame(0, ours))
    assert got.container_id == b"emulator" and got.hostname == b"localhost"
    assert (got.max_frame_size, got.channel_max, got.idle_timeout) == (65536, 4999, 240_000)
    assert got.offered_capabilities == [b"cap"]
    assert got.properties == {b"product": b"hubstream"}
    assert got.outgoing_locales is None and got.desired_capabilities is None


def test_sdk_reads_our_begin() -> None:
    got = sdk_reads(encode_frame(5, perf.Begin(5, 0, 65536, 0xFFFFFFFF, handle_max=0xFFFF)), channel=5)
    assert got == sdk_perf.BeginFrame(5, 0, 65536, 0xFFFFFFFF, 0xFFFF, None, None, None)


def test_sdk_reads_our_attach_with_source_target_and_filter() -> None:
    source = perf.Source(
        address="tweets/ConsumerGroups/$default/Partitions/0",
        filter={SELECTOR: Described(SELECTOR, FROM_START)},
        capabilities=["com.microsoft:geo-replication"],
    )
    ours = perf.Attach(
        name="receiver-link", handle=3, role=False, snd_settle_mode=1, rcv_settle_mode=0,
        source=source, target=perf.Target(address="client-link"), initial_delivery_count=0,
        max_message_size=1 << 20, offered_capabilities=["com.microsoft:enable-receiver-runtime-metric"],
        properties={"com.microsoft:epoch": 7},
    )  # fmt: skip
    got = sdk_reads(encode_frame(1, ours), channel=1)
    assert (got.name, got.handle, got.role, got.send_settle_mode, got.rcv_settle_mode) == (
        b"receiver-link",
        3,
        False,
        1,
        0,
    )
    assert len(got.source) == len(SdkSource._fields)
    sdk_source = SdkSource(*got.source)
    assert sdk_source.address == b"tweets/ConsumerGroups/$default/Partitions/0"
    assert sdk_source.filters == {SELECTOR.encode(): FROM_START.encode()}  # the SDK drops filter descriptors
    assert sdk_source.expiry_policy == b"session-end" and sdk_source.durable == 0
    assert len(got.target) == len(SdkTarget._fields)
    assert SdkTarget(*got.target).address == b"client-link"
    assert (got.initial_delivery_count, got.max_message_size) == (0, 1 << 20)
    assert got.offered_capabilities == [b"com.microsoft:enable-receiver-runtime-metric"]
    assert got.properties == {b"com.microsoft:epoch": 7}


def test_sdk_reads_our_attach_with_no_capabilities() -> None:
    # The handler echoes a consumer's desired capabilities as offered ones; a client that desired none
    # gets an empty tuple. The SDK's array decoder cannot read an empty array (it forgets the element
    # constructor), so an empty list of symbols must go on the wire as null, or at least be readable.
    ours = perf.Attach(
        "link", 0, False, source=perf.Source("a"), target=perf.Target("b"), offered_capabilities=()
    )
    got = sdk_reads(encode_frame(0, ours))
    assert got.offered_capabilities in (None, [])
    assert got.desired_capabilities is None and got.properties is None


def test_sdk_reads_our_flow() -> None:
    ours = perf.Flow(1, 65536, 2, 0xFFFFFFFF, handle=0, delivery_count=4, link_credit=300, drain=True)
    assert sdk_reads(encode_frame(0, ours)) == sdk_perf.FlowFrame(
        1, 65536, 2, 0xFFFFFFFF, 0, 4, 300, None, True, False, None
    )


@pytest.mark.parametrize("payload", [b"", b"\x00Sp\xc0\x01\x00", bytes(range(256)) * 3])
def test_sdk_reads_our_transfers_both_ways_we_write_them(payload: bytes) -> None:
    slow = encode_frame(2, perf.Transfer(9, 17, b"\x00\x00\x00\x05", 0, True, True), payload)
    fast = encode_transfer(2, 9, 17, b"\x00\x00\x00\x05", 0, True, True, payload)
    for data in (slow, fast):
        got = sdk_reads(data, channel=2)
        assert (got.handle, got.delivery_id, got.delivery_tag, got.message_format) == (
            9,
            17,
            b"\x00\x00\x00\x05",
            0,
        )
        assert (got.settled, got.more, got.aborted) == (True, True, False)
        assert bytes(got.payload) == payload
    # and ours reads both to the same Transfer
    assert parse_one(slow) == parse_one(fast)


def test_fast_transfer_decodes_to_the_same_transfer_as_the_general_encoder() -> None:
    fast = parse_one(encode_transfer(1, 2**32 - 1, 2**32 - 1, b"tag", 0x80013700, False, False, b"xyz"))
    expected = perf.Transfer(
        2**32 - 1, 2**32 - 1, b"tag", 0x80013700, False, False, resume=False, aborted=False
    )
    assert fast == Frame(TYPE_AMQP, 1, expected, b"xyz")
    raw = decode(encode_transfer(1, 2, 3, b"t", 0, True, False, b""), 8)[0]
    assert len(raw.value) == 11  # every field present, for the SDK


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (perf.Accepted(), {"accepted": []}),
        (perf.Rejected(perf.Error("amqp:link:message-size-exceeded", "too big")),
         {"rejected": [[b"amqp:link:message-size-exceeded", b"too big", None]]}),
    ],
)  # fmt: skip
def test_sdk_reads_our_disposition(state: perf.Composite, expected: Any) -> None:
    got = sdk_reads(encode_frame(0, perf.Disposition(True, 4, 4, True, state)))
    assert (got.role, got.first, got.last, got.settled, got.batchable) == (True, 4, 4, True, False)
    assert got.state == expected


def test_sdk_reads_our_detach_end_and_close() -> None:
    got = sdk_reads(
        encode_frame(0, perf.Detach(1, closed=True, error=perf.Error("amqp:not-found", "no hub", {"k": "v"})))
    )
    assert (got.handle, got.closed) == (1, True)
    assert got.error == [b"amqp:not-found", b"no hub", {b"k": b"v"}]
    assert SdkError(*got.error).condition == b"amqp:not-found"
    assert sdk_reads(encode_frame(0, perf.End())) == sdk_perf.EndFrame(None)
    assert sdk_reads(encode_frame(0, perf.Close())) == sdk_perf.CloseFrame(None)
    got = sdk_reads(encode_frame(0, perf.Close(perf.Error("amqp:connection:forced"))))
    assert got.error == [b"amqp:connection:forced", None, None]


def test_sdk_reads_our_sasl_frames() -> None:
    got = sdk_reads(
        encode_frame(0, perf.SaslMechanisms(["ANONYMOUS", "PLAIN"]), frame_type=TYPE_SASL), TYPE_SASL
    )
    assert got.sasl_server_mechanisms == [b"ANONYMOUS", b"PLAIN"]
    got = sdk_reads(encode_frame(0, perf.SaslOutcome(0), frame_type=TYPE_SASL), TYPE_SASL)
    assert got == sdk_perf.SASLOutcome(0, None)
    got = sdk_reads(encode_frame(0, perf.SaslOutcome(1, b"why"), frame_type=TYPE_SASL), TYPE_SASL)
    assert got == sdk_perf.SASLOutcome(1, b"why")


def test_we_read_the_sdks_performatives() -> None:
    source = SdkSource(  # type: ignore[call-arg]  # its fields default to None at runtime
        address=b"amqps://localhost/tweets/ConsumerGroups/$default/Partitions/0",
        filters={SELECTOR.encode(): (SELECTOR.encode(), FROM_START.encode())},
    )
    cases = [
        (sdk_perf.OpenFrame("sdk", "localhost", 65536, 65535, 60_000, None, None, None, None, {"product": 1}),
         perf.Open("sdk", "localhost", 65536, 65535, 60_000, properties={"product": 1})),
        (sdk_perf.BeginFrame(None, 0, 65536, 65536, 0xFFFFFFFF, None, None, None),
         perf.Begin(None, 0, 65536, 65536)),
        (sdk_perf.FlowFrame(0, 65536, 0, 65536, 0, 0, 300, None, False, False, None),
         perf.Flow(0, 65536, 0, 65536, 0, 0, 300)),
        (sdk_perf.DispositionFrame(True, 3, 3, True, SdkAccepted(), None),
         perf.Disposition(True, 3, 3, True, perf.Accepted())),
        (sdk_perf.DispositionFrame(True, 3, None, True, SdkRejected(SdkError(b"amqp:x", b"y", None)), None),
         perf.Disposition(True, 3, None, True, perf.Rejected(perf.Error("amqp:x", "y")))),
        (sdk_perf.DetachFrame(0, True, SdkError(b"amqp:link:detach-forced", b"bye", None)),
         perf.Detach(0, True, perf.Error("amqp:link:detach-forced", "bye"))),
        (sdk_perf.EndFrame(None), perf.End()),
        (sdk_perf.CloseFrame(SdkError(b"amqp:x", None, None)), perf.Close(perf.Error("amqp:x"))),
    ]  # fmt: skip
    for sdk_frame, expected in cases:
        assert parse_one(sdk_writes(sdk_frame, channel=4)) == Frame(TYPE_AMQP, 4, expected)

    attach = sdk_perf.AttachFrame(
        "link", 0, True, 0, 1, source, SdkTarget(address="rcv"), None, False, None, 1 << 20, None,  # type: ignore[call-arg]
        [b"com.microsoft:geo-replication"], {b"com.microsoft:epoch": 3},
    )  # fmt: skip
    got = parse_one(sdk_writes(attach)).body
    assert isinstance(got, perf.Attach)
    assert (got.name, got.handle, got.role, got.snd_settle_mode, got.rcv_settle_mode) == (
        "link",
        0,
        True,
        0,
        1,
    )
    assert isinstance(got.source, perf.Source) and got.source.address == source.address.decode()
    assert got.source.filter == {SELECTOR: Described(SELECTOR, FROM_START.encode())}
    assert got.target == perf.Target("rcv")
    assert got.max_message_size == 1 << 20
    assert got.desired_capabilities == Array([Symbol("com.microsoft:geo-replication")])
    assert got.properties == {Symbol("com.microsoft:epoch"): 3}

    transfer = sdk_perf.TransferFrame(
        handle=0,
        delivery_id=5,
        delivery_tag=b"\x00\x00\x00\x01",
        message_format=0,
        settled=False,
        more=False,
        payload=b"payload bytes",
    )
    frame = parse_one(sdk_writes(transfer))
    assert frame.body == perf.Transfer(0, 5, b"\x00\x00\x00\x01", 0, False, False)
    assert frame.payload == b"payload bytes"

    init = sdk_perf.SASLInit(b"MSSBCBS", b"", b"localhost")
    assert parse_one(sdk_writes(init, frame_type=TYPE_SASL)) == Frame(
        TYPE_SASL, 0, perf.SaslInit("MSSBCBS", b"", "localhost")
    )


def _sdk_message() -> SdkMessage:
    return SdkMessage(
        header=SdkHeader(durable=True, priority=4, ttl=60_000, first_acquirer=None, delivery_count=0),
        message_annotations={b"x-opt-partition-key": b"pk-1", b"x-opt-sequence-number": 12},
        properties=SdkProperties(
            message_id="id-1", user_id=b"me", to="tweets", content_type=b"application/json",
            creation_time=1_700_000_000_000, group_sequence=3,
            correlation_id=uuid.UUID(int=5),  # type: ignore[arg-type]  # the SDK encodes uuid ids too
        ),
        application_properties={"kind": "test", "n": 7, "ok": True, "f": 0.5},
        data=[b'{"a": 1}', b"second"],
    )  # fmt: skip


def test_we_split_and_decode_messages_the_sdk_encodes() -> None:
    encoded = bytes(sdk_encode.encode_payload(bytearray(), _sdk_message()))
    sections = message.split_sections(encoded)
    assert [s.code for s in sections] == [
        message.HEADER, message.MESSAGE_ANNOTATIONS, message.PROPERTIES, message.APPLICATION_PROPERTIES,
        message.DATA, message.DATA,
    ]  # fmt: skip
    assert sections[0].start == 0 and sections[-1].end == len(encoded)
    assert all(a.end == b.start for a, b in itertools.pairwise(sections))
    assert message.section_value(encoded, sections[-1]) == b"second"

    msg = message.Message.decode(encoded)
    assert msg.header == message.Header(True, 4, 60_000, None, 0)
    assert msg.message_annotations == {"x-opt-partition-key": b"pk-1", "x-opt-sequence-number": 12}
    assert all(type(k) is Symbol for k in msg.message_annotations)
    props = msg.properties
    assert props is not None
    assert (props.message_id, props.user_id, props.to, props.content_type) == (
        "id-1",
        b"me",
        "tweets",
        "application/json",
    )
    assert (props.creation_time, props.group_sequence, props.correlation_id) == (
        1_700_000_000_000,
        3,
        uuid.UUID(int=5),
    )
    assert type(props.creation_time) is Timestamp
    assert msg.application_properties == {"kind": "test", "n": 7, "ok": True, "f": 0.5}
    assert msg.data == [b'{"a": 1}', b"second"]
    assert not msg.has_value and msg.sequence == []


def test_the_sdk_decodes_messages_we_encode() -> None:
    ours = message.Message(
        header=message.Header(durable=True, priority=4),
        delivery_annotations={"x-opt-lock-token": uuid.UUID(int=9)},
        message_annotations={
            "x-opt-sequence-number": 42, "x-opt-offset": "1024", "x-opt-enqueued-time": Timestamp(5),
        },
        properties=message.Properties(message_id="m-1", correlation_id=ULong(8), content_type="text/plain",
                                      absolute_expiry_time=Timestamp(0), group_sequence=1),
        application_properties={"status-code": Int(200), "status-description": "OK"},
        data=[b"one", b"x" * 300],
        footer={"x-opt-hash": b"\x01"},
    )  # fmt: skip
    encoded = ours.encode()
    got = sdk_decode.decode_payload(memoryview(encoded))
    assert got.header == SdkHeader(True, 4, None, None, None)
    assert got.delivery_annotations == {b"x-opt-lock-token": uuid.UUID(int=9)}
    assert got.message_annotations == {
        b"x-opt-sequence-number": 42,
        b"x-opt-offset": b"1024",
        b"x-opt-enqueued-time": 5,
    }
    props: Any = got.properties  # the SDK's annotations say str | bytes; it decodes a ulong id to an int
    assert props.message_id == b"m-1" and props.correlation_id == 8
    assert props.content_type == b"text/plain" and props.group_sequence == 1
    assert got.application_properties == {b"status-code": 200, b"status-description": b"OK"}
    assert got.data == [b"one", b"x" * 300]
    assert got.footer == {b"x-opt-hash": b"\x01"}
    # and ours reads its own encoding back, section for section
    again = message.Message.decode(encoded)
    assert again.encode() == encoded
    assert again.properties == ours.properties and again.header == ours.header


def test_the_sdk_decodes_a_value_body_we_encode() -> None:
    ours = message.Message(
        application_properties={"statusCode": 200}, value={"partition_ids": Array(["0", "1"])}, has_value=True
    )
    got = sdk_decode.decode_payload(memoryview(ours.encode()))
    assert got.value == {b"partition_ids": [b"0", b"1"]}
    assert message.Message.decode(ours.encode()).value == {"partition_ids": Array(["0", "1"])}


# ---------------------------------------------------------------------------------------------------------
# Hostile input: truncation at every byte, for every constructor

SAMPLES = [v for v, _ in SPEC_ENCODINGS] + [
    Described(ULong(0x12), [Described(ULong(0x28), ["a", None]), {Symbol("k"): Array([Int(1)])}]),
    perf.Open("c", properties={"p": [1, 2.5, uuid.UUID(int=3)]}).described(),
    Array([{Symbol("a"): None}, {}], element=dict),
    Array([[1], []], element=list),
    Array([b"x" * 300], element=bytes),
    Array([Decimal32(b"abcd")]),
    Array([Decimal64(b"abcdefgh")]),
    Array([Decimal128(b"abcdefghijklmnop")]),
    Array([uuid.UUID(int=7)]),
    Array([Char("x")]),
    Array([Timestamp(3)]),
    Array([Float(2.0)]),
    Array([2.0]),
    Array([UByte(1), UByte(2)]),
    Array([Byte(-1)]),
    Array([UShort(1)]),
    Array([Short(1)]),
    Array([Int(1)]),
    Array([ULong(1)]),
    Array(["s"]),
    Array([b"b"]),
]


@pytest.mark.parametrize("value", SAMPLES, ids=[repr(v)[:40] for v in SAMPLES])
def test_every_truncation_is_a_decode_error(value: Any) -> None:
    data = encode(value)
    dec = Decoder()
    assert dec.decode(data, 0)[1] == dec.skip(data, 0) == len(data)
    for cut in range(len(data)):
        for piece in (data[:cut], memoryview(data)[:cut]):
            try:
                dec.decode(piece, 0)
            except DecodeError:
                pass
            else:
                pytest.fail(f"decoding {cut} of {len(data)} bytes of {value!r} succeeded")
            with pytest.raises(DecodeError):
                dec.skip(piece, 0)


def test_skip_agrees_with_decode_on_consecutive_values() -> None:
    values = [v for v, _ in SPEC_ENCODINGS]
    data = b"".join(encode(v) for v in values)
    dec = Decoder()
    pos = 0
    for v in values:
        value, end = dec.decode(data, pos)
        assert_same(v, value)
        assert dec.skip(data, pos) == end
        pos = end
    assert pos == len(data)


# ---------------------------------------------------------------------------------------------------------
# Hostile input: sizes and counts that lie

# (name, bytes, what the error says, whether skip() sees the lie too: it reads sizes, not counts)
HUGE = [
    ("list32 of 2**32-1 bytes", "d0ffffffff0000000140", "declares 4294967295 bytes", True),
    ("map32 of 2**32-1 bytes", "d1ffffffff0000000240", "declares 4294967295 bytes", True),
    ("array32 of 2**32-1 bytes", "f0ffffffff0000000140", "declares 4294967295 bytes", True),
    ("list32 of 2**32-1 elements", "d000000009ffffffff4040404040", "exceeds max_elements", False),
    ("map32 of 2**32-2 elements", "d100000009fffffffe4040404040", "exceeds max_elements", False),
    ("array32 of 2**32-1 elements", "f000000009ffffffff4040404040", "exceeds max_elements", False),
    ("list32 of 65536 elements in 5 bytes", "d00000000900010000" + "40" * 5, "65536 elements", False),
    ("map32 of 65536 elements in 5 bytes", "d10000000900010000" + "40" * 5, "65536 elements", False),
    ("array32 of 65536 uints in 5 bytes", "f00000000900010000" + "70" + "00" * 4, "65536 elements", False),
    ("array8 of 255 ulongs in 9 bytes", "e00aff80" + "00" * 8, "255 elements", False),
    ("binary32 of 2**32-1 bytes", "b0ffffffff00", "binary needs 4294967295 bytes", True),
    ("string32 of 2**32-1 bytes", "b1ffffffff00", "string needs 4294967295 bytes", True),
    ("symbol32 of 2**32-1 bytes", "b3ffffffff00", "symbol needs 4294967295 bytes", True),
    ("binary8 of 255 bytes", "a0ff00", "needs 255 bytes", True),
    ("zero-width array of 2**31 nulls", "f0000000057fffffff40", "exceeds max_elements", False),
    ("zero-width array of 2**31 trues", "f0000000057fffffff41", "exceeds max_elements", False),
    ("zero-width array of 2**31 empty lists", "f0000000057fffffff45", "exceeds max_elements", False),
    ("list8 too small for its count", "c00001", "declares 0 bytes", False),
    ("list32 too small for its count", "d00000000000000000", "declares 0 bytes", False),
    ("array8 too small for its count", "e00000", "declares 0 bytes", False),
    ("list8 whose element overruns it", "c002015500", "end at byte 5, its declared size says 4", False),
    ("list8 whose elements stop short", "c0030140404040", "end at byte 4, its declared size says 5", False),
    ("array8 whose elements overrun it", "e003025501010101", "array declares 2 elements", False),
]


@pytest.mark.parametrize(("hexed", "match", "skip_sees_it"), [h[1:] for h in HUGE], ids=[h[0] for h in HUGE])
def test_lying_sizes_and_counts_are_refused_before_allocating(
    hexed: str, match: str, skip_sees_it: bool
) -> None:
    data = bytes.fromhex(hexed)
    assert_rejected(data, match)
    assert_rejected(data, match, lambda d: decode(memoryview(d)))
    if skip_sees_it:
        assert_rejected(data, "truncated", lambda d: Decoder().skip(d, 0))


def test_zero_width_arrays_are_bounded_by_max_elements_exactly() -> None:
    dec = Decoder(Limits(max_elements=1000))
    ok = bytes.fromhex("f000000005") + (1000).to_bytes(4, "big") + b"\x40"
    assert dec.decode_all(ok) == Array([None] * 1000, element=type(None))
    too_many = bytes.fromhex("f000000005") + (1001).to_bytes(4, "big") + b"\x40"
    assert_rejected(too_many, "max_elements=1000", dec.decode_all)
    # lists too: one-byte elements, so the bytes are there, but the count is over the limit
    lst = b"\xd0" + (4 + 1001).to_bytes(4, "big") + (1001).to_bytes(4, "big") + b"\x40" * 1001
    assert_rejected(lst, "max_elements=1000", dec.decode_all)
    assert decode_all(lst) == [None] * 1001  # fine under the default limits


# ---------------------------------------------------------------------------------------------------------
# Hostile input: nesting


def _nested(kind: str, depth: int) -> bytes:
    """Valid containers nested so that the innermost value is read at `depth` (the outermost is at 0)."""
    value: Any = None if kind != "array" else Array([UInt(1)])
    for _ in range(depth if kind != "array" else depth - 1):
        if kind == "list":
            value = [value]
        elif kind == "map":
            value = {Symbol("k"): value}
        elif kind == "described":
            value = Described(ULong(1), value)
        else:
            value = Array([value], element=Array)
    return encode(value)


@pytest.mark.parametrize("kind", ["list", "map", "described", "array"])
def test_nesting_up_to_max_depth_decodes_and_deeper_is_refused(kind: str) -> None:
    dec = Decoder(Limits(max_depth=8))
    dec.decode_all(_nested(kind, 8))
    assert_rejected(_nested(kind, 9), "nesting deeper than max_depth=8", dec.decode_all)
    default = codec.DEFAULT_LIMITS.max_depth
    decode_all(_nested(kind, default))
    assert_rejected(_nested(kind, default + 1), f"max_depth={default}")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        # Each level claims 255 bytes, so the sizes only fail to add up far below the depth limit.
        ("lists", b"\xc0\xff\x01" * 100_000 + b"\x40" * 300),
        ("list32s", b"\xd0\x00\x00\x01\x00\x00\x00\x00\x01" * 50_000 + b"\x40" * 300),
        ("maps", b"\xc1\xff\x02\x40" * 100_000 + b"\x40" * 300),
        ("described descriptors", b"\x00" * 200_000 + b"\x40" * 2),
        ("described values", b"\x00\x53\x01" * 100_000 + b"\x40"),
        ("arrays of arrays", b"\xe0" + b"\xff\x01\xe0" * 100_000 + b"\x40" * 300),
        ("array32s of arrays", b"\xf0" + b"\x00\x00\x01\x00\x00\x00\x00\x01\xf0" * 50_000 + b"\x40" * 300),
    ],
)
def test_deep_nesting_is_a_decode_error_not_a_recursion_error(name: str, data: bytes) -> None:
    assert_rejected(data, "max_depth", max_bytes=4 << 20)
    assert_rejected(
        data, "max_depth", lambda d: parse_frame(frame_bytes(d), 0, 1 << 30, Decoder()), max_bytes=8 << 20
    )


# ---------------------------------------------------------------------------------------------------------
# Hostile input: values that are not values

KNOWN_CONSTRUCTORS = {
    0x00, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x60, 0x61,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x80, 0x81, 0x82, 0x83, 0x84, 0x94, 0x98, 0xA0, 0xA1, 0xA3, 0xB0,
    0xB1, 0xB3, 0xC0, 0xC1, 0xD0, 0xD1, 0xE0, 0xF0,
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(set(range(256)) - KNOWN_CONSTRUCTORS), ids=lambda c: f"0x{c:02x}")
def test_unknown_constructors_are_refused(code: int) -> None:
    data = bytes([code]) + b"\x00" * 32
    assert_rejected(data, f"unknown constructor 0x{code:02x}", lambda d: decode(d))
    with pytest.raises(DecodeError, match="unknown constructor"):
        Decoder().skip(data, 0)
    # inside a list, and as an array's element constructor
    assert_rejected(bytes([0xC0, 0x03, 0x01, code, 0x00]), "unknown", decode_all)
    assert_rejected(bytes([0xE0, 0x03, 0x01, code, 0x00]), "unknown array element constructor", decode_all)


def test_the_known_constructors_are_exactly_the_specs() -> None:
    for code in KNOWN_CONSTRUCTORS:
        try:
            decode(bytes([code]) + b"\x00" * 64)
        except DecodeError as exc:
            assert "unknown constructor" not in str(exc)


@pytest.mark.parametrize(
    ("hexed", "match"),
    [
        ("a102c328", "not valid UTF-8"),
        ("a103eda080", "not valid UTF-8"),  # an encoded surrogate
        ("a101ff", "not valid UTF-8"),
        ("b100000002c328", "not valid UTF-8"),
        ("a301e9", "not valid ASCII"),
        ("b30000000180", "not valid ASCII"),
        ("e00401a30180", "not valid ASCII"),
        ("5602", "boolean byte must be 0x00 or 0x01, got 0x02"),
        ("56ff", "got 0xff"),
        ("e00402560102", "got 0x02"),
        ("7300110000", "not a Unicode scalar value"),
        ("730000d800", "not a Unicode scalar value"),
        ("73ffffffff", "not a Unicode scalar value"),
        ("c1020140", "odd number of elements (1)"),
        ("d1000000070000000340404040", "odd number of elements (3)"),
        ("c103024540", "map key of type list"),
        ("c10602c002014140", "map key of type list"),
        ("c10502c1010040", "map key of type dict"),
        ("c10602e00200a340", "map key of type Array"),
        ("c1060200530145" + "40", "map key of type Described"),  # a Described holding a list: unhashable
        ("00a101" + "78" + "40", "descriptor must be a ulong or a symbol, got str"),
        ("00a000" + "40", "descriptor must be a ulong or a symbol, got bytes"),
        ("0045" + "40", "descriptor must be a ulong or a symbol, got list"),
        ("0040" + "40", "descriptor must be a ulong or a symbol, got NoneType"),
        ("0041" + "40", "descriptor must be a ulong or a symbol, got bool"),
        ("0055ff" + "40", "descriptor must be a ulong or a symbol, got int"),
        ("00" + "72" + "3fc00000" + "40", "descriptor must be a ulong or a symbol, got Float"),
    ],
)
def test_invalid_values_are_refused(hexed: str, match: str) -> None:
    assert_rejected(bytes.fromhex(hexed), match)


# ---------------------------------------------------------------------------------------------------------
# Hostile input: frames


def _parse(data: bytes, max_frame_size: int = 1 << 20) -> Any:
    return parse_frame(data, 0, max_frame_size, Decoder())


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (struct.pack(">IBBH", 0, 2, 0, 0), "frame size 0 is smaller than the 8-byte frame header"),
        (struct.pack(">IBBH", 7, 2, 0, 0), "frame size 7 is smaller"),
        (
            struct.pack(">IBBH", 0xFFFFFFFF, 2, 0, 0),
            "frame size 4294967295 exceeds the negotiated max-frame-size",
        ),
        (struct.pack(">IBBH", (1 << 20) + 1, 2, 0, 0), "exceeds the negotiated max-frame-size 1048576"),
        (struct.pack(">IBBH", 16, 0, 0, 0), "data offset 0"),
        (struct.pack(">IBBH", 16, 1, 0, 0), "data offset 1"),
        (struct.pack(">IBBH", 16, 5, 0, 0), "data offset 5 is outside the frame (size 16)"),
        (struct.pack(">IBBH", 16, 2, 2, 0), "unknown frame type 0x02"),
        (struct.pack(">IBBH", 16, 2, 0xFF, 0), "unknown frame type 0xff"),
    ],
)
def test_bad_frame_headers_are_refused_from_the_header_alone(header: bytes, match: str) -> None:
    assert len(header) == 8
    assert_rejected(header, match, _parse, error=FramingError)


def test_max_frame_size_is_inclusive() -> None:
    data = encode_frame(0, perf.Open("c"))
    assert _parse(data, max_frame_size=len(data)) is not None
    assert_rejected(data, "exceeds", lambda d: _parse(d, max_frame_size=len(d) - 1), error=FramingError)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (frame_bytes(encode([Symbol("open")])), "not a performative: 'list'"),
        (frame_bytes(encode("c")), "not a performative: 'str'"),
        (frame_bytes(encode(Described(ULong(0x24), []))), "not a performative: 36"),  # accepted: a state
        (frame_bytes(encode(Described(ULong(0x41), [Symbol("PLAIN")]))), "not a performative: 65"),  # SASL
        (frame_bytes(encode(perf.Open("c").described()), frame_type=TYPE_SASL), "not a SASL frame: 16"),
        (frame_bytes(encode(Described(Symbol("amqp:nope:list"), []))), "not a performative"),
        (frame_bytes(encode(perf.Open("c").described()) + b"\x40"), "1 bytes after a Open frame body"),
        (frame_bytes(encode(perf.Close().described()) + b"trailing"), "8 bytes after a Close frame body"),
        (frame_bytes(encode(perf.Open("c").described())[:-1]), "truncated"),
        (frame_bytes(b"\x00\x53\x10\xc0\x02\x01\xa1\x05c"), "truncated"),
        (frame_bytes(encode(Described(ULong(0x10), ["c", None, "not a uint"] + [None] * 8))), "fields"),
    ],
)
def test_bad_frame_bodies_are_decode_errors(data: bytes, match: str) -> None:
    assert_rejected(data, match, _parse)


def test_only_a_transfer_carries_payload() -> None:
    frame = parse_one(encode_frame(0, perf.Transfer(0, 0, b"t", 0), b"\x40\x40"))
    assert frame.payload == b"\x40\x40"


@settings(SLOW_OK, max_examples=500)
@given(st.binary(max_size=200))
@example(b"\x00\x53\x10\xd0\xff\xff\xff\xff")
@example(b"\xf0\x00\x00\x00\x05\x7f\xff\xff\xff\x40")
def test_random_bytes_only_ever_raise_decode_error(data: bytes) -> None:
    dec = Decoder()
    try:
        dec.decode(data, 0)
    except DecodeError:
        pass
    try:
        dec.skip(data, 0)
    except DecodeError:
        pass


@settings(SLOW_OK, max_examples=500)
@given(
    st.one_of(
        st.binary(max_size=200),
        # a plausible header in front of random bytes gets past the header checks more often
        st.tuples(st.integers(0, 300), st.integers(0, 4), st.integers(0, 2), st.binary(max_size=200)).map(
            lambda t: struct.pack(">IBBH", t[0], t[1], t[2], 0) + t[3]
        ),
        st.tuples(st.sampled_from([0x10, 0x11, 0x12, 0x13, 0x14, 0x18, 0x41]), st.binary(max_size=100)).map(
            lambda t: frame_bytes(b"\x00\x53" + bytes([t[0]]) + t[1])
        ),
    )
)
def test_random_frames_only_ever_raise_framing_or_decode_errors(data: bytes) -> None:
    try:
        result = _parse(data, max_frame_size=4096)
    except (DecodeError, FramingError):
        return
    if result is not None:
        frame, end = result
        assert 8 <= end <= len(data)
        assert frame.frame_type in (TYPE_AMQP, TYPE_SASL)


@SLOW_OK
@given(st.lists(st.sampled_from([perf.Open("c"), perf.Begin(None, 0, 1, 1), perf.Close(),
                                 perf.Transfer(1, 2, b"t", 0), perf.End()]),
                min_size=1, max_size=5), st.data())  # fmt: skip
def test_mutated_valid_frames_only_ever_raise_framing_or_decode_errors(
    bodies: list[Any], data: st.DataObject
) -> None:
    stream = bytearray(b"".join(encode_frame(0, b) for b in bodies))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(stream) - 1))
        stream[i] = data.draw(st.integers(0, 255))
    pos = 0
    try:
        while (result := parse_frame(stream, pos, 4096, Decoder())) is not None:
            pos = result[1]
    except (DecodeError, FramingError):
        pass


def general_transfer(data: bytes) -> Frame:
    """The frame as the general decoder reads it, without the transfer fast path."""
    body = memoryview(data)[8:]
    value, used = Decoder().decode(body, 0)
    return Frame(
        TYPE_AMQP, struct.unpack_from(">H", data, 6)[0], perf.from_described(value), bytes(body[used:])
    )


transfers = st.builds(
    perf.Transfer,
    handle=st.integers(0, 2**32 - 1),
    delivery_id=st.none() | st.integers(0, 2**32 - 1),
    delivery_tag=st.none() | st.binary(max_size=32),
    message_format=st.none() | st.integers(0, 2**32 - 1),
    settled=st.none() | st.booleans(),
    more=st.booleans(),
    resume=st.booleans(),
    aborted=st.booleans(),
    batchable=st.booleans(),
)


@given(transfers, st.binary(max_size=64), st.integers(0, 0xFFFF))
def test_the_transfer_fast_path_reads_what_the_general_decoder_reads(
    transfer: perf.Transfer, payload: bytes, channel: int
) -> None:
    data = encode_frame(channel, transfer, payload)
    assert parse_one(data) == general_transfer(data) == Frame(TYPE_AMQP, channel, transfer, payload)


@given(st.data())
def test_a_mangled_transfer_reads_as_the_general_decoder_reads_it_or_fails(data: st.DataObject) -> None:
    frame = bytearray(encode_transfer(3, 7, 11, b"tag", 0, True, False, b"payload"))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(11, len(frame) - 1))  # past the frame header and the descriptor
        frame[at] = data.draw(st.integers(0, 255))
    try:
        expected: Frame | type[Exception] = general_transfer(bytes(frame))
    except (DecodeError, FramingError) as e:
        expected = type(e)
    try:
        got: Frame | type[Exception] = parse_one(bytes(frame))
    except (DecodeError, FramingError) as e:
        got = type(e)
    assert got == expected


@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=255),
    st.integers(0, 2**32 - 1),
    st.booleans(),
    st.booleans(),
    st.binary(max_size=64),
)
def test_the_emulators_transfer_layout_reads_as_the_general_decoder_reads_it(
    channel: int,
    handle: int,
    delivery_id: int,
    tag: bytes,
    fmt: int,
    settled: bool,
    more: bool,
    payload: bytes,
) -> None:
    data = encode_transfer(channel, handle, delivery_id, tag, fmt, settled, more, payload)
    expected = perf.Transfer(handle, delivery_id, tag, fmt, settled, more, resume=False, aborted=False)
    assert parse_one(data) == general_transfer(data) == Frame(TYPE_AMQP, channel, expected, payload)
    assert frames.parse_transfer_frame(data, 0, 1 << 20) == (
        channel, (handle, delivery_id, tag, fmt, settled, more, False), payload, len(data)
    )  # fmt: skip
