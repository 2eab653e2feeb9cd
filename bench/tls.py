"""TLS and WebSockets against plain AMQP, in one run on one emulator: what encryption costs.

One emulator (`--data-dir`, as the egress bench) serves plain AMQP, AMQP over TLS and AMQP over
WebSockets with TLS. The same client then runs once per transport, turn by turn (plain, TLS, wss, and
again) so that a neighbour's load on the shared machine hits all of them alike; the better of two turns
is kept. At most 100,000 events are sent and 300,000 read per run. Ingest: the SDK producer, full
batches into partition 1. Egress: partition 0, filled first over plain AMQP, read back whole with the
SDK's `receive_batch` and with hubstream's receiver (what the Spark source's tasks run). The clients are
configured as for Azure: an Azure-style connection string, the port in `custom_endpoint_address`, the
local CA in `connection_verify` (our receiver: `Endpoint.ca_file`). Printed: events/s per transport and
the ratio to plain AMQP.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient, TransportType

from emulator.process import EmulatorProcess

from . import EVENT_SIZE, HUB, Figure, cpu_seconds, progress
from .ingest import send_events
from .tables import cpu_cells, table

TRANSPORTS = ("plain", "tls", "websocket")
TURNS = 2
# Each transport runs TURNS times for each of three measurements: smaller sizes than the other benches
# keep this one near three minutes; a ratio needs no million events.
MAX_INGEST = 100_000
MAX_STORED = 300_000
PREFETCH = 3000
STALL_S = 15.0
KEY = "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE"


@dataclass(frozen=True)
class Run:
    transport: str
    events: int
    wall_s: float
    client_cpu_s: float
    server_cpu_s: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s


def sdk_options(emulator: EmulatorProcess, transport: str) -> tuple[str, dict[str, Any]]:
    """(connection string, client keyword arguments) for one transport."""
    if transport == "plain":
        return emulator.connection_string, {}
    port = emulator.tls_port if transport == "tls" else emulator.ws_port
    return f"Endpoint=sb://localhost/;{KEY}", {
        "transport_type": TransportType.Amqp if transport == "tls" else TransportType.AmqpOverWebsocket,
        "custom_endpoint_address": f"sb://localhost:{port}",
        "connection_verify": str(emulator.ca_file),
    }


def timed(emulator: EmulatorProcess, transport: str, count: int, work: Callable[[], int]) -> Run:
    client0, server0, started = cpu_seconds(), cpu_seconds(emulator.pid), time.perf_counter()
    events = work()
    wall = time.perf_counter() - started
    if events < count:
        raise RuntimeError(f"{transport}: {events:,} of {count:,} events")
    return Run(transport, events, wall, cpu_seconds() - client0, cpu_seconds(emulator.pid) - server0)


def ingest(emulator: EmulatorProcess, transport: str, count: int) -> Run:
    cs, options = sdk_options(emulator, transport)
    producer = EventHubProducerClient.from_connection_string(cs, eventhub_name=HUB, **options)
    try:
        send_events(producer, 1, partition_id="1")  # connect, TLS, CBS, attach before the clock starts
        progress(f"ingest over {transport}: sending {count:,} events")

        def work() -> int:
            send_events(producer, count, partition_id="1")
            return count

        return timed(emulator, transport, count, work)
    finally:
        producer.close()


def sdk_egress(emulator: EmulatorProcess, transport: str, count: int) -> Run:
    cs, options = sdk_options(emulator, transport)
    consumer = EventHubConsumerClient.from_connection_string(
        cs, consumer_group="$Default", eventhub_name=HUB, **options
    )
    received = 0
    done = threading.Event()

    def on_events(_context: Any, events: list[EventData]) -> None:
        nonlocal received
        received += len(events)
        if received >= count:
            done.set()

    def work() -> int:
        thread = threading.Thread(
            target=consumer.receive_batch,
            kwargs={"on_event_batch": on_events, "partition_id": "0", "starting_position": "-1",
                    "prefetch": PREFETCH, "max_batch_size": PREFETCH},
            daemon=True,
        )  # fmt: skip
        thread.start()
        seen, seen_at = -1, time.monotonic()
        while not done.wait(1.0):
            if received != seen:
                seen, seen_at = received, time.monotonic()
            elif time.monotonic() - seen_at > STALL_S:
                break
        return received

    progress(f"egress over {transport} (SDK receive_batch): reading {count:,} events")
    try:
        return timed(emulator, transport, count, work)
    finally:
        consumer.close()


def receiver_egress(emulator: EmulatorProcess, transport: str, count: int) -> Run:
    from eventhubs.connection_string import parse_connection_string
    from hubclient.connection import Endpoint
    from hubclient.receiver import PartitionReceiver
    from jobs.datasource.columns import EventColumns

    cs = parse_connection_string(emulator.connection_string)
    if transport == "plain":
        endpoint = Endpoint.connect_to(cs, None, HUB)
    else:
        port = emulator.tls_port if transport == "tls" else emulator.ws_port
        azure = parse_connection_string(f"Endpoint=sb://localhost:{port}/;{KEY}")
        endpoint = Endpoint.connect_to(
            azure, None, HUB, websocket=transport == "websocket", ca_file=str(emulator.ca_file)
        )

    def work() -> int:
        columns = EventColumns("0")
        read = 0
        with PartitionReceiver(endpoint, "$Default", "0", 0, prefetch=PREFETCH, timeout_s=STALL_S) as r:
            while read + len(columns) < count:
                r.read_into(columns, idle_timeout_s=STALL_S)
                if len(columns) >= 10_000:  # Arrow batches of 10,000 rows, as the source's tasks make
                    read += columns.take_batch().num_rows
        return read + len(columns)

    progress(f"egress over {transport} (hubstream receiver): reading {count:,} events")
    return timed(emulator, transport, count, work)


def best_of_turns(measure: Callable[[str], Run]) -> dict[str, Run]:
    best: dict[str, Run] = {}
    for _turn in range(TURNS):
        for transport in TRANSPORTS:
            run = measure(transport)
            progress(f"{transport}: {run.events_per_s:,.0f} events/s")
            if transport not in best or run.events_per_s > best[transport].events_per_s:
                best[transport] = run
    return best


def report(title: str, runs: dict[str, Run]) -> list[Figure]:
    plain = runs["plain"]
    header = ("transport", "events/s", "MB/s", "vs plain", "wall s", "client CPU s", "client CPU %",
              "server CPU s", "server CPU %")  # fmt: skip
    rows = [
        (
            t,
            f"{r.events_per_s:,.0f}",
            f"{r.events * EVENT_SIZE / 1e6 / r.wall_s:.1f}",
            f"{r.events_per_s / plain.events_per_s:.2f}",
            f"{r.wall_s:.2f}",
            *cpu_cells(r.client_cpu_s, r.server_cpu_s, r.wall_s),
        )
        for t, r in runs.items()
    ]
    print(f"\n-- {title}")
    print(table(rows, header))
    return [
        Figure("tls", f"{title}: {t} / plain events/s", r.events_per_s / plain.events_per_s, "")
        for t, r in runs.items()
        if t != "plain"
    ]


def run(ingest_events: int, stored_events: int) -> list[Figure]:
    ingest_events, stored_events = min(ingest_events, MAX_INGEST), min(stored_events, MAX_STORED)
    print(
        f"\n== TLS and WebSockets beside plain AMQP: one emulator, {EVENT_SIZE}-byte events, best of "
        f"{TURNS} turns each, taken in turn"
    )
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="hubstream-bench-tls-") as tmp:
        emulator = EmulatorProcess(
            data_dir=Path(tmp) / "data", extra_args=["--fsync", "interval"], ca_dir=Path(tmp) / "ca"
        )
        try:
            emulator.start()
            figures += report(
                f"ingest, SDK producer, {ingest_events:,} events",
                best_of_turns(lambda t: ingest(emulator, t, ingest_events)),
            )
            producer = EventHubProducerClient.from_connection_string(
                emulator.connection_string, eventhub_name=HUB
            )
            with producer:
                progress(f"filling partition 0 with {stored_events:,} events")
                send_events(producer, stored_events, partition_id="0", label="fill")
            figures += report(
                f"egress, SDK receive_batch, {stored_events:,} events",
                best_of_turns(lambda t: sdk_egress(emulator, t, stored_events)),
            )
            figures += report(
                f"egress, hubstream receiver, {stored_events:,} events",
                best_of_turns(lambda t: receiver_egress(emulator, t, stored_events)),
            )
        finally:
            emulator.stop()
    print("(vs plain: events/s over TLS or wss divided by events/s over plain AMQP in the same run)")
    return figures
