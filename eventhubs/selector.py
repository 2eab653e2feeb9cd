"""Receiver start positions in the `apache.org:selector-filter:string` source filter: written, and parsed.

The SDKs send one comparison (see azure-eventhub's `event_position_selector`)::

    amqp.annotation.x-opt-offset > '-1'                  from the first retained event
    amqp.annotation.x-opt-offset > '@latest'             only events enqueued from now on
    amqp.annotation.x-opt-offset >= '<offset>'           '>' excludes the event at that offset
    amqp.annotation.x-opt-sequence-number > '<n>'        or '>='
    amqp.annotation.x-opt-enqueued-time > '<epoch ms>'   or '>='

Both "from the start" ('-1') and '@latest' are normalised to `inclusive=False` whatever operator came
with them, so a consumer of `StartPosition` only has one form of each to handle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from amqp10.types import Described, Symbol

from .events import ENQUEUED_TIME, OFFSET, SEQUENCE_NUMBER

SELECTOR_FILTER = Symbol("apache.org:selector-filter:string")

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_PROPERTIES: dict[str, Literal["offset", "sequence", "time"]] = {
    OFFSET: "offset",
    SEQUENCE_NUMBER: "sequence",
    ENQUEUED_TIME: "time",
}
_EXPR_RE = re.compile(
    r"""\s*amqp\.annotation\.(?P<prop>[A-Za-z0-9_-]+)
        \s*(?P<op>>=|<=|<>|!=|=|>|<)?
        \s*(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<bare>[^\s'"]+))?
        \s*""",
    re.VERBOSE | re.IGNORECASE,
)
_INT_RE = re.compile(r"[+-]?[0-9]{1,20}")
_FORMS = (
    "expected e.g. amqp.annotation.x-opt-offset > '-1', "
    "amqp.annotation.x-opt-sequence-number >= '42' or amqp.annotation.x-opt-enqueued-time > '1700000000000'"
)


def selector(position: int | str | datetime, inclusive: bool) -> str:
    """The selector for a starting position, as the SDK writes it: a sequence number (int), an offset
    (str: "-1" for the start, "@latest") or an enqueued time."""
    op = ">=" if inclusive else ">"
    if isinstance(position, datetime):
        ms = int(position.timestamp() * 1000)
        return f"amqp.annotation.{ENQUEUED_TIME} {op} '{ms}'"
    if isinstance(position, int):
        return f"amqp.annotation.{SEQUENCE_NUMBER} {op} '{position}'"
    return f"amqp.annotation.{OFFSET} {op} '{position}'"


def selector_filter(position: int | str | datetime, inclusive: bool) -> dict[Any, Any]:
    """A receiver source's filter set that starts at `position`."""
    return {SELECTOR_FILTER: Described(SELECTOR_FILTER, selector(position, inclusive))}


class SelectorError(ValueError):
    """The selector filter is not one of the forms Event Hubs understands."""


@dataclass(frozen=True)
class StartPosition:
    """Where a receiver starts; `value` is an offset, sequence number or epoch ms (unused for latest)."""

    kind: Literal["offset", "sequence", "time", "latest"]
    value: int
    inclusive: bool


FROM_START = StartPosition(kind="offset", value=-1, inclusive=False)
LATEST = StartPosition(kind="latest", value=0, inclusive=False)


def parse_selector(expr: str | bytes) -> StartPosition:
    """Parse one selector expression; raise `SelectorError` naming the expression if it is not valid."""
    if isinstance(expr, bytes | bytearray):
        try:
            text = bytes(expr).decode("utf-8")
        except UnicodeDecodeError:
            raise SelectorError(
                f"selector filter {bytes(expr)[:200]!r} is not UTF-8 text; {_FORMS}"
            ) from None
    else:
        text = expr
    shown = text if len(text) <= 200 else text[:200] + "..."

    match = _EXPR_RE.fullmatch(text)
    if match is None:
        raise SelectorError(f"selector filter {shown!r} is not a start-position comparison; {_FORMS}")

    prop = match["prop"].lower()
    kind = _PROPERTIES.get(prop)
    if kind is None:
        raise SelectorError(
            f"selector filter {shown!r}: cannot start from annotation {match['prop']!r}; use one of "
            + ", ".join(f"amqp.annotation.{name}" for name in _PROPERTIES)
        )
    op = match["op"]
    if op not in (">", ">="):
        found = f"operator {op!r}" if op else "no operator"
        raise SelectorError(f"selector filter {shown!r}: {found} is not supported; use '>' or '>='")
    raw = next((v for v in (match["sq"], match["dq"], match["bare"]) if v is not None), None)
    if raw is None:
        raise SelectorError(f"selector filter {shown!r}: no value after {op!r}; {_FORMS}")
    value_text = raw.strip()
    inclusive = op == ">="

    if kind == "offset" and value_text.lower() == "@latest":
        return LATEST
    if not _INT_RE.fullmatch(value_text):
        latest_hint = " or '@latest'" if kind == "offset" else ""
        raise SelectorError(
            f"selector filter {shown!r}: value {raw!r} is not a whole number; "
            f"give the {_describe(kind)} as digits{latest_hint}"
        )
    value = int(value_text)

    if kind == "time":
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise SelectorError(f"selector filter {shown!r}: enqueued time {value} ms is out of range")
        return StartPosition(kind="time", value=value, inclusive=inclusive)
    if not -1 <= value <= _INT64_MAX:
        raise SelectorError(
            f"selector filter {shown!r}: {_describe(kind)} {value} is out of range; use -1 (from the start) "
            "or a value >= 0"
        )
    if kind == "offset" and value == -1:
        return FROM_START
    return StartPosition(kind=kind, value=value, inclusive=inclusive)


def _describe(kind: str) -> str:
    return {"offset": "offset", "sequence": "sequence number", "time": "enqueued time in epoch ms"}[kind]
