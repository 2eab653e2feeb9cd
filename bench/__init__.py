"""Benchmarks of the emulator with the unmodified azure-eventhub SDK: `python -m bench` (or `make bench`).

They print figures and compare them with targets; nothing here asserts on timing. Each measurement runs the
server as a child process (the emulator via `EmulatorProcess`, the do-nothing baseline via
`bench.baseline_endpoint`) so that client and server CPU time are measured apart, with psutil.

- `bench.ingest`: SDK producer, full batches, into the baseline, the emulator in memory and on disk.
- `bench.egress`: SDK consumer reading a partition of a million events back from disk.
- `bench.memory`: the emulator's resident memory with those events on disk, before and after a restart.
- `bench.producer`: the `python -m producers` CLI against a bare SDK loop sending the same events.
- `bench.sink`: hubstream's own sender against the SDK producer (ack-only endpoint and emulator), the
  producers' two engines, and the Spark sink writing a million rows (`python -m bench --only sink`).

This module holds what they share: progress lines, CPU clocks, the event body and the summary rows;
`bench.tables` lays the results out.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped, unused-ignore]

HUB = "tweets"
EVENT_SIZE = 200
_STARTED = time.monotonic()


def event_body(size: int = EVENT_SIZE) -> bytes:
    """A tweet-like JSON document of exactly `size` bytes."""
    text = '{"id":1790000000000000000,"user":"bench","lang":"en","text":"'
    tail = '"}'
    return (text + "x" * max(0, size - len(text) - len(tail)) + tail).encode()[:size]


def progress(message: str) -> None:
    """A progress line on stderr, so that stdout keeps only the figures."""
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (all its threads); this process when `pid` is None."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1e6


@dataclass(frozen=True)
class Figure:
    """One line of the summary: a measured value and, if it has one, the target it is compared with."""

    bench: str
    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None

    def row(self) -> tuple[str, str, str, str, str]:
        if self.value >= 1000:
            shown = f"{self.value:,.0f}"
        elif self.value >= 10:
            shown = f"{self.value:.1f}"
        else:
            shown = f"{self.value:.2f}"
        verdict = "" if self.met is None else ("met" if self.met else "MISSED")
        return self.bench, self.name, f"{shown} {self.unit}", self.target, verdict
