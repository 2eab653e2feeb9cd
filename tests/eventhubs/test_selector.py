"""Tests for emulator.eventhubs.selector against the SDK's own `event_position_selector`."""

from __future__ import annotations

import datetime as dt

import pytest
from azure.eventhub._utils import event_position_selector
from hypothesis import given
from hypothesis import strategies as st

from eventhubs.selector import (
    FROM_START,
    LATEST,
    SelectorError,
    StartPosition,
    parse_selector,
)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def epoch_ms(when: dt.datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (when - EPOCH) // dt.timedelta(milliseconds=1)


# --- what the SDK sends ------------------------------------------------------------------------


@pytest.mark.parametrize("inclusive", [False, True])
def test_sdk_from_start(inclusive: bool) -> None:
    expr = event_position_selector("-1", inclusive)
    assert parse_selector(expr) == FROM_START == StartPosition("offset", -1, False)


@pytest.mark.parametrize("inclusive", [False, True])
def test_sdk_latest(inclusive: bool) -> None:
    expr = event_position_selector("@latest", inclusive)
    assert expr == (
        b"amqp.annotation.x-opt-offset >= '@latest'"
        if inclusive
        else b"amqp.annotation.x-opt-offset > '@latest'"
    )
    assert parse_selector(expr) == LATEST
    assert LATEST.kind == "latest"
    assert not LATEST.inclusive


@pytest.mark.parametrize("inclusive", [False, True])
@pytest.mark.parametrize("offset", ["0", "12345", "9223372036854775807"])
def test_sdk_offset(offset: str, inclusive: bool) -> None:
    expr = event_position_selector(offset, inclusive)
    assert parse_selector(expr) == StartPosition("offset", int(offset), inclusive)


@pytest.mark.parametrize("inclusive", [False, True])
@pytest.mark.parametrize("sequence", [-1, 0, 1, 42, 2**63 - 1])
def test_sdk_sequence(sequence: int, inclusive: bool) -> None:
    expr = event_position_selector(sequence, inclusive)
    assert expr.startswith(b"amqp.annotation.x-opt-sequence-number ")
    assert parse_selector(expr) == StartPosition("sequence", sequence, inclusive)


@pytest.mark.parametrize("inclusive", [False, True])
@pytest.mark.parametrize(
    "when",
    [
        dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC),
        dt.datetime(2024, 5, 1, 14, 30, 15, 999000, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(2024, 5, 1, 12, 30, 15),  # naive: the SDK treats it as UTC
        EPOCH,
    ],
)
def test_sdk_enqueued_time(when: dt.datetime, inclusive: bool) -> None:
    expr = event_position_selector(when, inclusive)
    assert expr.startswith(b"amqp.annotation.x-opt-enqueued-time ")
    assert parse_selector(expr) == StartPosition("time", epoch_ms(when), inclusive)


def test_sdk_enqueued_time_exact_value() -> None:
    when = dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    assert parse_selector(event_position_selector(when)).value == 1714566615123


@given(st.integers(-1, 2**63 - 1), st.booleans())
def test_any_sdk_sequence(sequence: int, inclusive: bool) -> None:
    assert parse_selector(event_position_selector(sequence, inclusive)) == StartPosition(
        "sequence", sequence, inclusive
    )


@given(st.integers(0, 2**63 - 1), st.booleans())
def test_any_sdk_offset(offset: int, inclusive: bool) -> None:
    assert parse_selector(event_position_selector(str(offset), inclusive)) == StartPosition(
        "offset", offset, inclusive
    )


# Whole milliseconds: the SDK adds microseconds as a float, which rounds in far-future years.
_MS_DATETIMES = st.datetimes(min_value=dt.datetime(1970, 1, 1), timezones=st.just(dt.UTC)).map(
    lambda when: when.replace(microsecond=when.microsecond // 1000 * 1000)
)


@given(_MS_DATETIMES, st.booleans())
def test_any_sdk_time(when: dt.datetime, inclusive: bool) -> None:
    assert parse_selector(event_position_selector(when, inclusive)) == StartPosition(
        "time", epoch_ms(when), inclusive
    )


# --- tolerated variations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("amqp.annotation.x-opt-offset > '-1'", FROM_START),
        ("  amqp.annotation.x-opt-offset>'-1'  ", FROM_START),
        ("amqp.annotation.x-opt-offset\t>=\t'7'", StartPosition("offset", 7, True)),
        ('amqp.annotation.x-opt-offset > "7"', StartPosition("offset", 7, False)),
        ("amqp.annotation.x-opt-offset > 7", StartPosition("offset", 7, False)),
        ("amqp.annotation.x-opt-offset > ' 7 '", StartPosition("offset", 7, False)),
        ("AMQP.ANNOTATION.X-OPT-OFFSET > '@LATEST'", LATEST),
        ("amqp.annotation.x-opt-sequence-number>=0", StartPosition("sequence", 0, True)),
        ("amqp.annotation.x-opt-enqueued-time > '-1000'", StartPosition("time", -1000, False)),
        (bytearray(b"amqp.annotation.x-opt-offset > '3'"), StartPosition("offset", 3, False)),
    ],
)
def test_tolerated_forms(expr: str | bytes, expected: StartPosition) -> None:
    assert parse_selector(expr) == expected


# The Java client under the Scala connector (azure-eventhubs 3.3.0, EventPositionImpl.getExpression):
# String.format("amqp.annotation.%s >%s '%s'", name, inclusive ? "=" : "", value); enqueued time is always
# ">" in epoch ms, start of stream is offset "-1" inclusive, end of stream "@latest" exclusive.
JAVA_FORMAT = "amqp.annotation.%s >%s '%s'"


@pytest.mark.parametrize(
    ("name", "inclusive", "value", "expected"),
    [
        ("x-opt-offset", True, "-1", FROM_START),
        ("x-opt-offset", False, "@latest", LATEST),
        ("x-opt-offset", True, "226", StartPosition("offset", 226, True)),
        ("x-opt-offset", False, "226", StartPosition("offset", 226, False)),
        ("x-opt-sequence-number", True, "7", StartPosition("sequence", 7, True)),
        ("x-opt-sequence-number", False, "7", StartPosition("sequence", 7, False)),
        ("x-opt-enqueued-time", False, "1796176269487", StartPosition("time", 1796176269487, False)),
    ],
)
def test_the_java_clients_forms(name: str, inclusive: bool, value: str, expected: StartPosition) -> None:
    expression = JAVA_FORMAT % (name, "=" if inclusive else "", value)
    assert parse_selector(expression) == expected


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("", "selector filter '' is not a start-position comparison; expected e.g."),
        ("from the start", "selector filter 'from the start' is not a start-position comparison"),
        ("x-opt-offset > '1'", "selector filter \"x-opt-offset > '1'\" is not a start-position comparison"),
        ("amqp.annotation.x-opt-offset > '1' AND 1=1", "is not a start-position comparison"),
        (
            "amqp.annotation.x-opt-partition-key > '1'",
            "cannot start from annotation 'x-opt-partition-key'; use one of amqp.annotation.x-opt-offset, "
            "amqp.annotation.x-opt-sequence-number, amqp.annotation.x-opt-enqueued-time",
        ),
        ("amqp.annotation.x-opt-offset < '5'", "operator '<' is not supported; use '>' or '>='"),
        ("amqp.annotation.x-opt-offset = '5'", "operator '=' is not supported"),
        ("amqp.annotation.x-opt-offset '5'", "no operator is not supported"),
        ("amqp.annotation.x-opt-offset >", "no value after '>'"),
        (
            "amqp.annotation.x-opt-offset > 'abc'",
            "value 'abc' is not a whole number; give the offset as digits or '@latest'",
        ),
        ("amqp.annotation.x-opt-offset > '1.5'", "value '1.5' is not a whole number"),
        ("amqp.annotation.x-opt-offset > ''", "value '' is not a whole number"),
        (
            "amqp.annotation.x-opt-sequence-number > '@latest'",
            "value '@latest' is not a whole number; give the sequence number as digits",
        ),
        (
            "amqp.annotation.x-opt-enqueued-time > '2024-05-01'",
            "give the enqueued time in epoch ms as digits",
        ),
        (
            "amqp.annotation.x-opt-offset > '-2'",
            "offset -2 is out of range; use -1 (from the start) or a value >= 0",
        ),
        ("amqp.annotation.x-opt-sequence-number > '-5'", "sequence number -5 is out of range"),
        ("amqp.annotation.x-opt-sequence-number > '9223372036854775808'", "is out of range"),
        (
            "amqp.annotation.x-opt-enqueued-time > '99999999999999999999'",
            "enqueued time 99999999999999999999 ms is out",
        ),
        ("amqp.annotation.x-opt-offset > '1" + "0" * 30 + "'", "is not a whole number"),
    ],
)
def test_refused(expr: str, expected: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_selector(expr)
    message = str(info.value)
    assert expected in message
    assert message.startswith(f"selector filter {expr!r}")


def test_refused_names_bytes_expression() -> None:
    with pytest.raises(SelectorError, match="selector filter 'garbage' is not a start-position comparison"):
        parse_selector(b"garbage")


def test_refused_not_utf8() -> None:
    with pytest.raises(SelectorError, match=r"selector filter b'\\xff\\xfe' is not UTF-8 text"):
        parse_selector(b"\xff\xfe")


def test_long_expression_is_shortened_in_message() -> None:
    with pytest.raises(SelectorError) as info:
        parse_selector("x" * 5000)
    assert len(str(info.value)) < 600
    assert "'" + "x" * 200 + "...'" in str(info.value)


def test_selector_error_is_value_error() -> None:
    assert issubclass(SelectorError, ValueError)
