"""Producer: the `python -m producers` CLI against a bare SDK loop sending the same events, same emulator.

Both send `count` copies of the same ~200-byte body round-robin to `tweets` on one in-memory emulator,
alternating twice so neither always runs on a warmer machine. Both times include connecting (CBS,
management, attach) and exclude interpreter start-up: the CLI's own summary line gives its figure.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from azure.eventhub import EventHubProducerClient

from emulator.process import EmulatorProcess

from . import HUB, Figure, event_body, progress
from .ingest import send_events
from .tables import table

TARGET_RATIO = 0.9
_SUMMARY = re.compile(r"sent ([\d,]+) events .* ([\d,]+) events/s")


def bare_loop(connection_string: str, count: int) -> float:
    started = time.perf_counter()
    with EventHubProducerClient.from_connection_string(connection_string, eventhub_name=HUB) as producer:
        send_events(producer, count)
    return count / (time.perf_counter() - started)


def cli(connection_string: str, count: int) -> float:
    body = event_body().decode()
    command = [
        sys.executable, "-m", "producers", "--connection-string", connection_string, "--source", "test",
        "--message", body, "--count", str(count), "--quiet", "--log-level", "warning",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    match = _SUMMARY.search(result.stderr)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"the producer CLI failed ({result.returncode}):\n{result.stderr[-2000:]}")
    sent = int(match.group(1).replace(",", ""))
    if sent != count:
        raise RuntimeError(f"the producer CLI sent {sent:,} events, not {count:,}")
    return float(match.group(2).replace(",", ""))


def run(count: int) -> list[Figure]:
    print(f"\n== producer: {count:,} events of 200 bytes, CLI vs a bare SDK loop, emulator in memory")
    rows = []
    bare: list[float] = []
    ours: list[float] = []
    with EmulatorProcess() as emulator:
        for attempt in (1, 2):
            progress(f"producer: bare SDK loop, run {attempt}")
            bare.append(bare_loop(emulator.connection_string, count))
            progress(f"producer: python -m producers, run {attempt}")
            ours.append(cli(emulator.connection_string, count))
            rows.append((str(attempt), f"{bare[-1]:,.0f}", f"{ours[-1]:,.0f}", f"{ours[-1] / bare[-1]:.2f}"))
    print(table(rows, ("run", "bare loop events/s", "CLI events/s", "CLI / bare")))
    ratio = max(ours) / max(bare)
    return [
        Figure("producer", "bare SDK loop: events/s (best)", max(bare), "ev/s"),
        Figure("producer", "python -m producers: events/s (best)", max(ours), "ev/s"),
        Figure("producer", "CLI / bare loop", ratio, "", f">= {TARGET_RATIO}", ratio >= TARGET_RATIO),
    ]
