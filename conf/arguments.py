"""What the SDK command lines share: a parser whose help ends with examples, argument types whose messages
say what is wrong (numbers that must be positive), and the --log-level flag with the logging it sets up."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
Number = TypeVar("Number", int, float)


def command_parser(*, prog: str, description: str, examples: str) -> argparse.ArgumentParser:
    """A command's parser whose --help ends with `examples`, their lines kept as written."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


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


def add_log_level_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def start_logging(level: str) -> None:
    """Log to stderr at `level` (a --log-level choice); the azure SDK only from warnings up unless at debug:
    at info it logs every link state change, noise next to a command's own lines."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "debug":
        logging.getLogger("azure").setLevel(logging.WARNING)
