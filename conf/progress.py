"""Progress of a long send or receive: a bar on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from tqdm import tqdm

log = logging.getLogger("conf.progress")


class BarProgress:
    def __init__(self, total: int | None, stream: TextIO) -> None:
        self._bar = tqdm(total=total, unit=" events", unit_scale=True, file=stream, dynamic_ncols=True)

    def update(self, events: int, nbytes: int = 0) -> None:
        self._bar.update(events)

    def close(self) -> None:
        self._bar.close()


class LogProgress:
    """`verb` says what happened to the events ("sent", "received"); bytes are shown when counted."""

    def __init__(self, total: int | None, verb: str, every_s: float = 5.0) -> None:
        self.total = total
        self.verb = verb
        self.every_s = every_s
        self.events = 0
        self.nbytes = 0
        self.started = self._last = time.monotonic()

    def update(self, events: int, nbytes: int = 0) -> None:
        self.events += events
        self.nbytes += nbytes
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            of = f" of {self.total:,}" if self.total else ""
            size = f" ({self.nbytes / 1e6:.1f} MB)" if self.nbytes else ""
            rate = self.events / (now - self.started)
            log.info("%s %s%s events%s, %s events/s", self.verb, f"{self.events:,}", of, size, f"{rate:,.0f}")

    def close(self) -> None:
        pass


def make_progress(total: int | None, verb: str, stream: TextIO | None = None) -> BarProgress | LogProgress:
    out = stream or sys.stderr
    return BarProgress(total, out) if out.isatty() else LogProgress(total, verb)
