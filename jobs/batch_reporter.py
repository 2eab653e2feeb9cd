"""One line per finished micro-batch of a running query, and what a whole run read (RunSummary)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql.streaming import StreamingQuery

__all__ = ["BatchReporter", "RunSummary", "print_line"]


@dataclass
class RunSummary:
    """What one run read: (batch id, events) per non-empty batch."""

    batches: list[tuple[int, int]] = field(default_factory=list)
    timed_out: bool = False

    @property
    def events(self) -> int:
        return sum(n for _, n in self.batches)


class BatchReporter:
    """Prints one line per finished micro-batch (its size), in batch order, from the query's progress."""

    def __init__(self, query: StreamingQuery, say: Callable[[str], None]) -> None:
        self.query = query
        self.say = say
        self.summary = RunSummary()
        self._seen: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Polling recentProgress, not a StreamingQueryListener: no py4j callback server to keep alive.
        self._thread = threading.Thread(target=self._poll, name="batch-reporter", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            self.report()

    def report(self) -> None:
        try:
            progress = self.query.recentProgress
        except Exception:
            return  # the query is going away; finish() reports what is left
        with self._lock:
            for p in progress:
                batch, rows = int(p["batchId"]), int(p["numInputRows"])
                if batch in self._seen:
                    continue
                self._seen.add(batch)
                if rows:
                    self.summary.batches.append((batch, rows))
                    self.say(f"Batch {batch}: {rows} event{'s' if rows != 1 else ''}")

    def finish(self) -> RunSummary:
        self._stop.set()
        self._thread.join()
        self.report()
        return self.summary


def print_line(line: str) -> None:
    print(line, flush=True)
