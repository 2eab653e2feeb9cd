"""Progress while receiving: a bar on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import logging
import time
from typing import TextIO

from tqdm import tqdm

log = logging.getLogger("consumers.progress")


class ReceiveBar:
    def __init__(self, total: int | None, stream: TextIO) -> None:
        self._bar = tqdm(total=total, unit=" events", unit_scale=True, file=stream, dynamic_ncols=True)

    def update(self, events: int) -> None:
        self._bar.update(events)

    def close(self) -> None:
        self._bar.close()


class ReceiveLog:
    def __init__(self, total: int | None, every_s: float = 5.0) -> None:
        self.total = total
        self.every_s = every_s
        self.events = 0
        self.started = self._last = time.monotonic()

    def update(self, events: int) -> None:
        self.events += events
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            of = f" of {self.total:,}" if self.total else ""
            log.info("received %s%s events, %.0f events/s", f"{self.events:,}", of,
                     self.events / (now - self.started))  # fmt: skip

    def close(self) -> None:
        pass


def receive_progress(total: int | None, stream: TextIO) -> ReceiveBar | ReceiveLog:
    return ReceiveBar(total, stream) if stream.isatty() else ReceiveLog(total)
