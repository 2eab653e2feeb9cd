"""The tutorial's test strings, looped, or one message repeated: a source that needs nothing."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from ..events import Event

TUTORIAL_MESSAGES = ("Azure is the greatest!", "Azure isn't working :(", "Azure is okay.")


def test_messages(message: str | None = None) -> Iterator[Event]:
    """Endless: the sender's --count or --duration ends it."""
    for text in itertools.cycle([message] if message is not None else TUTORIAL_MESSAGES):
        yield Event(text)


test_messages.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite its name
