"""Egress: a million ~200-byte events read back from one partition on disk, by the SDK consumer and by
the Spark source's own receiver.

`filled_emulator` starts the emulator with `--data-dir` on a temporary directory and fills partition 0 of
`tweets` with the SDK producer (full batches to `create_batch(partition_id="0")`); `bench.memory` measures
the same emulator. `run` then reads every event from `-1` with `EventHubConsumerClient`, once with
`receive_batch` and once with `receive` (on_event), both with a large prefetch, and reports the faster.
The SDK runs with its own defaults otherwise, session window included: a million events cross its
65,536-transfer window fifteen times, so the run also shows the emulator resuming delivery each time.
A third run reads the same events with `hubclient.receiver` into Arrow batches, as the Spark
source's tasks do: the same emulator with a client that costs less per event.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.eventhub import EventData, EventHubConsumerClient

from emulator.process import EmulatorProcess

from . import EVENT_SIZE, HUB, Figure, cpu_seconds, progress
from .ingest import IngestRun, measure
from .tables import CPU_HEADER, SPEED_HEADER, cpu_cells, speed_cells, table

TARGET_EVENTS_PER_S = 50_000
PARTITION = "0"
PREFETCH = 3000
MAX_BATCH_SIZE = 3000
STALL_S = 15.0


@dataclass
class Filled:
    emulator: EmulatorProcess
    events: int
    fill: IngestRun
    data_dir: Path


@contextmanager
def filled_emulator(count: int) -> Iterator[Filled]:
    """An emulator on a temporary data dir with `count` events in partition 0 of `tweets`; stopped after."""
    with tempfile.TemporaryDirectory(prefix="hubstream-bench-") as tmp:
        data_dir = Path(tmp)
        emulator = EmulatorProcess(data_dir=data_dir, extra_args=["--fsync", "interval"])
        try:
            emulator.start()
            label = "filling partition 0 on disk"
            fill = measure(label, emulator.pid, emulator.connection_string, count - 1, PARTITION)
            # measure() sent one warm-up event before the count-1 timed ones.
            yield Filled(emulator, count, fill, data_dir)
        finally:
            emulator.stop()


def describe_fill(filled: Filled) -> Figure:
    """Print how the stored events got there; the fill rate is an ingest figure for one partition on disk."""
    f = filled.fill
    print(f"\n== stored events: {filled.events:,} of {EVENT_SIZE} bytes in partition 0 of {HUB}, --data-dir")
    print(
        f"filled with the SDK producer (create_batch(partition_id='0'), full batches): "
        f"{f.events_per_s:,.0f} events/s, wall {f.wall_s:.1f} s, client CPU {f.client_cpu_s:.1f} s, "
        f"emulator CPU {f.server_cpu_s:.1f} s"
    )
    return Figure("fill", "producer into 1 partition on disk: events/s", f.events_per_s, "ev/s")


class Stalled(Exception):
    pass


@dataclass(frozen=True)
class EgressRun:
    mode: str
    events: int
    wall_s: float
    first_event_s: float  # from the receive call to the first event: connection, CBS, attach
    client_cpu_s: float
    server_cpu_s: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s


def read_all(emulator: EmulatorProcess, count: int, mode: str) -> EgressRun:
    """Read the first `count` events of partition 0 from `-1` with `receive_batch` or `receive`."""
    consumer = EventHubConsumerClient.from_connection_string(
        emulator.connection_string, consumer_group="$Default", eventhub_name=HUB
    )
    received = 0
    first_at = 0.0
    done_at = 0.0
    last: EventData | None = None
    done = threading.Event()

    def on_events(_context: Any, events: list[EventData]) -> None:
        nonlocal received, first_at, done_at, last
        if not events:
            return
        if not received:
            first_at = time.perf_counter()
        received += len(events)
        if received >= count and not done.is_set():
            done_at = time.perf_counter()
            last = events[-1]
            done.set()

    def on_event(context: Any, event: EventData | None) -> None:
        if event is not None:
            on_events(context, [event])

    common: dict[str, Any] = {"partition_id": PARTITION, "starting_position": "-1", "prefetch": PREFETCH}
    target: Callable[..., None]
    if mode == "receive_batch":
        target, kwargs = (
            consumer.receive_batch,
            {"on_event_batch": on_events, "max_batch_size": MAX_BATCH_SIZE},
        )
    else:
        target, kwargs = consumer.receive, {"on_event": on_event}
    thread = threading.Thread(target=target, kwargs={**common, **kwargs}, daemon=True)
    progress(f"egress with {mode}: reading {count:,} events")
    client0, server0, started = cpu_seconds(), cpu_seconds(emulator.pid), time.perf_counter()
    thread.start()
    try:
        seen, seen_at = -1, time.monotonic()
        while not done.wait(5.0):
            if received != seen:
                seen, seen_at = received, time.monotonic()
            elif time.monotonic() - seen_at > STALL_S:
                raise Stalled(
                    f"{mode} stalled at {received:,} of {count:,} events (no event for {STALL_S:.0f} s)"
                )
            progress(f"egress with {mode}: {received:,} of {count:,} events")
        run = EgressRun(
            mode,
            received,
            done_at - started,
            first_at - started,
            cpu_seconds() - client0,
            cpu_seconds(emulator.pid) - server0,
        )
    finally:
        consumer.close()
        thread.join(30)
    assert last is not None and (last.sequence_number or 0) >= count - 1, "events are missing or out of order"
    progress(f"egress with {mode}: {run.events_per_s:,.0f} events/s")
    return run


def read_with_receiver(emulator: EmulatorProcess, count: int) -> EgressRun:
    """Read the first `count` events of partition 0 as a task of the Spark source does: `read_partition`,
    Arrow batches out. Its "to first event" is to the first batch."""
    from eventhubs.connection_string import parse_connection_string
    from jobs.datasource.reader import ROWS_PER_BATCH, EventHubsPartition, EventHubsReadError, read_partition

    mode = f"hubstream receiver (prefetch {PREFETCH}, Arrow batches of {ROWS_PER_BATCH:,})"
    partition = EventHubsPartition(
        connection_string=parse_connection_string(emulator.connection_string),
        fully_qualified_namespace=None,
        hub=HUB,
        consumer_group="$Default",
        partition_id=PARTITION,
        start=0,
        end=count,
        receiver_timeout_s=STALL_S,
        operation_timeout_s=STALL_S,
        fail_on_data_loss=True,
    )
    progress(f"egress with the hubstream receiver: reading {count:,} events")
    received, last, first_at = 0, -1, 0.0
    client0, server0, started = cpu_seconds(), cpu_seconds(emulator.pid), time.perf_counter()
    try:
        for batch in read_partition(partition):
            if not received:
                first_at = time.perf_counter()
            received += batch.num_rows
            last = batch.column("sequenceNumber")[-1].as_py()
    except EventHubsReadError as exc:  # no event for STALL_S, among others
        raise Stalled(f"the hubstream receiver stopped at {received:,} of {count:,} events: {exc}") from None
    run = EgressRun(
        mode,
        received,
        time.perf_counter() - started,
        first_at - started,
        cpu_seconds() - client0,
        cpu_seconds(emulator.pid) - server0,
    )
    assert received == count and last == count - 1, "events are missing or out of order"
    progress(f"egress with the hubstream receiver: {run.events_per_s:,.0f} events/s")
    return run


def run(filled: Filled) -> list[Figure]:
    count = filled.events
    print(
        f"\n== egress: {count:,} events of {EVENT_SIZE} bytes from one partition on disk, SDK consumer and "
        "the Spark source's receiver"
    )
    runs: list[EgressRun] = []
    for mode in ("receive_batch", "receive", "receiver"):
        try:
            if mode == "receiver":
                runs.append(read_with_receiver(filled.emulator, count))
            else:
                runs.append(read_all(filled.emulator, count, mode))
        except Stalled as exc:
            print(f"STALLED: {exc}")
    if not runs:
        return [Figure("egress", "events/s", 0, "ev/s", f">= {TARGET_EVENTS_PER_S:,}", False)]
    header = ("mode", *SPEED_HEADER, "to first event s", *CPU_HEADER)
    rows = [
        (
            r.mode
            if r.mode.startswith("hubstream")
            else f"SDK {r.mode} (prefetch {PREFETCH}"
            + (f", max_batch_size {MAX_BATCH_SIZE})" if r.mode == "receive_batch" else ")"),
            *speed_cells(r.events, r.wall_s),
            f"{r.first_event_s:.2f}",
            *cpu_cells(r.client_cpu_s, r.server_cpu_s, r.wall_s),
        )
        for r in runs
    ]
    print(table(rows, header))
    best = max(runs, key=lambda r: r.events_per_s)
    print(f"faster: {best.mode}; target >= {TARGET_EVENTS_PER_S:,} events/s (printed, not asserted)")
    return [
        *(Figure("egress", f"{r.mode}: events/s", r.events_per_s, "ev/s") for r in runs if r is not best),
        Figure(
            "egress", f"{best.mode} (faster): events/s", best.events_per_s, "ev/s",
            f">= {TARGET_EVENTS_PER_S:,}", best.events_per_s >= TARGET_EVENTS_PER_S,
        ),
        Figure("egress", f"{best.mode}: server CPU / client CPU", best.server_cpu_s / best.client_cpu_s, ""),
    ]  # fmt: skip
