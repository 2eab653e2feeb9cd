"""Ingest: the SDK's sync producer sending ~200-byte events in full batches, into three servers in one run.

(a) the baseline endpoint, which acknowledges without storing (bench.baseline_endpoint): the cost of the
    SDK and of AMQP framing alone;
(b) the emulator with events in memory;
(c) the emulator with `--data-dir` on a temporary directory and `--fsync interval`.

Each batch is `create_batch()` filled until `add` raises ValueError (the link's 1 MiB max-message-size),
then `send_batch`. The sync producer waits for each batch's disposition before building the next, so
client and server work alternate rather than overlap: throughput is bounded by the sum of the two.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from azure.eventhub import EventData, EventHubProducerClient

from emulator.process import EmulatorProcess

from . import EVENT_SIZE, HUB, Figure, cpu_seconds, event_body, progress
from .baseline_endpoint import BaselineProcess
from .tables import CPU_HEADER, SPEED_HEADER, cpu_cells, speed_cells, table

TARGET_EVENTS_PER_S = 50_000
PROGRESS_EVERY_S = 5.0


@dataclass(frozen=True)
class IngestRun:
    """What one producer run measured; CPU times are user + system seconds over the timed part."""

    server: str
    events: int
    batches: int
    wall_s: float
    send_s: float  # of wall_s, the time spent inside send_batch (the rest builds batches)
    client_cpu_s: float
    server_cpu_s: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s


def send_events(
    producer: EventHubProducerClient, count: int, *, partition_id: str | None = None, label: str = ""
) -> tuple[int, float]:
    """Send `count` events in full batches; return (batches sent, seconds spent inside send_batch)."""
    body = event_body()
    sent = batches = 0
    send_s = 0.0
    next_report = time.monotonic() + PROGRESS_EVERY_S
    while sent < count:
        batch = producer.create_batch(partition_id=partition_id) if partition_id else producer.create_batch()
        try:
            while sent + len(batch) < count:
                batch.add(EventData(body))
        except ValueError:
            pass  # the batch is full
        started = time.perf_counter()
        producer.send_batch(batch)
        send_s += time.perf_counter() - started
        sent += len(batch)
        batches += 1
        if label and time.monotonic() >= next_report:
            progress(f"{label}: {sent:,} of {count:,} events sent")
            next_report = time.monotonic() + PROGRESS_EVERY_S
    return batches, send_s


def measure(
    server: str, server_pid: int, connection_string: str, count: int, partition_id: str | None = None
) -> IngestRun:
    """Time one producer sending `count` events; the connection is set up before the clock starts."""
    producer = EventHubProducerClient.from_connection_string(connection_string, eventhub_name=HUB)
    try:
        send_events(producer, 1, partition_id=partition_id)  # connect, CBS, $management, attach
        progress(f"{server}: sending {count:,} events")
        client0, server0, wall0 = cpu_seconds(), cpu_seconds(server_pid), time.perf_counter()
        batches, send_s = send_events(producer, count, partition_id=partition_id, label=server)
        wall = time.perf_counter() - wall0
        run = IngestRun(
            server, count, batches, wall, send_s, cpu_seconds() - client0, cpu_seconds(server_pid) - server0
        )
    finally:
        producer.close()
    progress(f"{server}: {run.events_per_s:,.0f} events/s")
    return run


def run(count: int) -> list[Figure]:
    """Measure all three servers and print the comparison; return the summary figures."""
    print(f"\n== ingest: {count:,} events of {EVENT_SIZE} bytes, sync EventHubProducerClient, full batches")
    runs = []
    with BaselineProcess() as baseline:
        runs.append(measure("baseline (acks only)", baseline.pid, baseline.connection_string, count))
    emulator = EmulatorProcess()
    try:
        emulator.start()
        runs.append(measure("emulator, in memory", emulator.pid, emulator.connection_string, count))
    finally:
        emulator.stop()
    with tempfile.TemporaryDirectory(prefix="hubstream-bench-") as tmp:
        emulator = EmulatorProcess(data_dir=Path(tmp), extra_args=["--fsync", "interval"])
        try:
            emulator.start()
            runs.append(measure("emulator, --data-dir", emulator.pid, emulator.connection_string, count))
        finally:
            emulator.stop()

    header = ("server", *SPEED_HEADER, "in send_batch s", "batches", *CPU_HEADER)
    rows = [
        (
            r.server,
            *speed_cells(r.events, r.wall_s),
            f"{r.send_s:.2f}",
            f"{r.batches} ({r.events / r.batches:,.0f} ev.)",
            *cpu_cells(r.client_cpu_s, r.server_cpu_s, r.wall_s),
        )
        for r in runs
    ]
    print(table(rows, header))
    print("(CPU %: share of one core over the wall time; MB/s counts event bodies only)")
    baseline_run = runs[0]
    b = baseline_run
    print(
        f"the baseline stores nothing: its {b.events_per_s:,.0f} events/s is this client's ceiling on this "
        f"machine (client CPU {100 * b.client_cpu_s / b.wall_s:.0f}% of a core, "
        f"{100 * (1 - b.send_s / b.wall_s):.0f}% of the wall time outside send_batch, building batches)"
    )
    figures = []
    for r in runs[1:]:
        speed = r.events_per_s / baseline_run.events_per_s
        cpu = r.server_cpu_s / baseline_run.server_cpu_s if baseline_run.server_cpu_s else float("inf")
        print(f"{r.server} / baseline: throughput x{speed:.2f}, server CPU x{cpu:.2f}")
        figures += [
            Figure(
                "ingest", f"{r.server}: events/s", r.events_per_s, "ev/s",
                f">= {TARGET_EVENTS_PER_S:,}", r.events_per_s >= TARGET_EVENTS_PER_S,
            ),
            Figure(
                "ingest", f"{r.server}: server CPU / client CPU", r.server_cpu_s / r.client_cpu_s, "",
                "< 1", r.server_cpu_s < r.client_cpu_s,
            ),
            Figure("ingest", f"{r.server}: throughput / baseline", speed, ""),
        ]  # fmt: skip
    figures.insert(0, Figure("ingest", "baseline (acks only): events/s", baseline_run.events_per_s, "ev/s"))
    print(
        f"targets: >= {TARGET_EVENTS_PER_S:,} events/s; emulator CPU < client CPU "
        "(both printed in the summary, not asserted)"
    )
    return figures
