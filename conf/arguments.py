"""Argument types the command lines share: numbers that must be positive, with messages that say so."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
Number = TypeVar("Number", int, float)


def argument_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse `type` from a parser that raises ValueError: its message becomes the flag's error."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return convert


def positive_int(text: str) -> int:
    return _positive(int, text, "a whole number, e.g. 5")


def positive_float(text: str) -> float:
    return _positive(float, text, "a number, e.g. 30 or 0.5")


def _positive(number: Callable[[str], Number], text: str, kind: str) -> Number:
    try:
        value = number(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value
