"""A log that a flood of one kind of message cannot fill: the first at once, then a count."""

from __future__ import annotations

import logging
import time

# Repeated messages of one kind are logged at most once per this many seconds, with a count.
LOG_EVERY_S = 10.0


class RateLimitedLog:
    """Logs the first of a kind of repeated message at once, then at most one line per `every` seconds
    saying how many more there were."""

    def __init__(self, logger: logging.Logger, every: float = LOG_EVERY_S) -> None:
        self.logger = logger
        self.every = every
        self._last: dict[str, float] = {}
        self._since: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.every:
            self._since[kind] = self._since.get(kind, 0) + 1
            return
        more = self._since.pop(kind, 0)
        self._last[kind] = now
        suffix = f" ({more} more like it in the last {now - last:.0f} s)" if more and last is not None else ""
        self.logger.warning(message + suffix, *args, exc_info=exc_info)

    def pending(self, kind: str) -> int:
        """How many of `kind` arrived since the last line about it, then forgets them and the window:
        for a closing line when the trouble is over."""
        self._last.pop(kind, None)
        return self._since.pop(kind, 0)
