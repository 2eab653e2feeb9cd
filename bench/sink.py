"""Sink: hubstream's own sender against the SDK producer, and the Spark sink writing a million rows.

In one run, each client sends `count` ~200-byte events in full batches:
(a) into the ack-only baseline endpoint (bench.baseline_endpoint: the client's own ceiling), then
(b) into the emulator with events in memory,
for the SDK's sync producer (the bare loop of bench.ingest: one batch at a time, each waited for) and for
`hubclient.sender.EventSender` (several batches in flight); then `python -m producers` with each engine
into the emulator, and finally `df.write.format("hubstream-eventhubs")` of `sink_rows` rows from
`spark.range` (2 tasks on local[2]) into the emulator. Connections are set up before each clock starts.
Client and server CPU are measured apart (the servers are child processes); CPU % is of one core.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from azure.eventhub import EventHubProducerClient

from emulator.process import EmulatorProcess
from eventhubs.connection_string import parse_connection_string
from hubclient.connection import Endpoint
from hubclient.sender import EventSender

from . import EVENT_SIZE, HUB, Figure, cpu_seconds, event_body, progress
from .baseline_endpoint import BaselineProcess
from .ingest import send_events
from .tables import cpu_cells, table

TARGET_RATIO = 3.0  # our sender / the SDK producer, into the emulator
_SUMMARY = re.compile(r"sent ([\d,]+) events .* ([\d,]+) events/s")


@dataclass(frozen=True)
class Run:
    client: str
    server: str
    events: int
    wall_s: float
    client_cpu_s: float | None  # None: the client ran in its own process (the CLI, Spark's workers)
    server_cpu_s: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s


def _timed(label: str, server: str, server_pid: int, count: int, send: Callable[[], None]) -> Run:
    progress(f"{label} -> {server}: sending {count:,} events")
    client0, server0, wall0 = cpu_seconds(), cpu_seconds(server_pid), time.perf_counter()
    send()
    wall = time.perf_counter() - wall0
    run = Run(label, server, count, wall, cpu_seconds() - client0, cpu_seconds(server_pid) - server0)
    progress(f"{label} -> {server}: {run.events_per_s:,.0f} events/s")
    return run


def sdk_producer(server: str, pid: int, cs: str, count: int) -> Run:
    producer = EventHubProducerClient.from_connection_string(cs, eventhub_name=HUB)
    try:
        send_events(producer, 1)  # connect, CBS, $management, attach

        def send() -> None:
            send_events(producer, count)

        return _timed("SDK producer", server, pid, count, send)
    finally:
        producer.close()


def our_sender(server: str, pid: int, cs: str, count: int) -> Run:
    endpoint = Endpoint.connect_to(parse_connection_string(cs), None, HUB)
    body = event_body()
    with EventSender(endpoint) as sender:
        sender.send(body)
        sender.flush()

        def send() -> None:
            add = sender.send
            for _ in range(count):
                add(body)
            confirmed = sender.flush().events - 1
            if confirmed != count:
                raise RuntimeError(f"the service confirmed {confirmed:,} events, not {count:,}")

        return _timed("hubstream EventSender", server, pid, count, send)


def cli(engine: str, emulator: EmulatorProcess, count: int) -> Run:
    """`python -m producers --engine ENGINE`; its own summary gives events/s (connecting included)."""
    command = [
        sys.executable, "-m", "producers", "--connection-string", emulator.connection_string,
        "--source", "test", "--message", event_body().decode(), "--count", str(count), "--quiet",
        "--log-level", "warning", "--engine", engine,
    ]  # fmt: skip
    progress(f"python -m producers --engine {engine}: {count:,} events")
    server0, wall0 = cpu_seconds(emulator.pid), time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - wall0
    match = _SUMMARY.search(result.stderr)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"the producer CLI failed ({result.returncode}):\n{result.stderr[-2000:]}")
    sent, rate = int(match.group(1).replace(",", "")), float(match.group(2).replace(",", ""))
    if sent != count:
        raise RuntimeError(f"the producer CLI sent {sent:,} events, not {count:,}")
    # The CLI's figure is over its own sending time; the server's CPU share is over the whole process.
    run = Run(f"python -m producers --engine {engine}", "emulator", count, count / rate, None,
              (cpu_seconds(emulator.pid) - server0) * (count / rate) / wall)  # fmt: skip
    progress(f"python -m producers --engine {engine}: {rate:,.0f} events/s")
    return run


def spark_sink(emulator: EmulatorProcess, rows: int) -> Run:
    """`df.write` of `rows` 200-byte bodies from spark.range in 2 tasks, after an untimed warm-up write."""
    from jobs.datasource import register
    from jobs.local_spark import local_session

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = local_session("hubstream-bench-sink")
    fmt = register(spark)
    body = (
        "concat('{\"id\":', lpad(cast(id as string), 19, '0'), ',\"text\":\"', "
        f"repeat('x', {EVENT_SIZE - 36}), '\"}}')"
    )

    def write(count: int, hub: str) -> None:
        (
            spark.range(count, numPartitions=2).selectExpr(f"{body} as body")
            .write.format(fmt).mode("append")
            .option("eventhubs.connectionString", emulator.connection_string).option("eventhubs.name", hub)
            .save()
        )  # fmt: skip

    try:
        progress("spark sink: warm-up write of 50,000 rows")
        write(50_000, "telemetry")
        progress(f"spark sink: writing {rows:,} rows")
        server0, wall0 = cpu_seconds(emulator.pid), time.perf_counter()
        write(rows, HUB)
        wall = time.perf_counter() - wall0
        run = Run("Spark sink (df.write, 2 tasks)", "emulator", rows, wall, None,
                  cpu_seconds(emulator.pid) - server0)  # fmt: skip
    finally:
        spark.stop()
    progress(f"spark sink: {run.events_per_s:,.0f} events/s")
    return run


def run(count: int, sink_rows: int) -> list[Figure]:
    print(
        f"\n== sink: {count:,} events of {EVENT_SIZE} bytes per client run, full batches; "
        f"then the Spark sink writing {sink_rows:,} rows"
    )
    # Each client runs twice, alternating with the other, and its best run counts: on a machine shared
    # with other work, a run that happened to share its cores says little about the client.
    runs: list[Run] = []
    with BaselineProcess() as baseline:
        for _ in (1, 2):
            runs.append(sdk_producer("baseline (acks only)", baseline.pid, baseline.connection_string, count))
            runs.append(our_sender("baseline (acks only)", baseline.pid, baseline.connection_string, count))
    with EmulatorProcess() as emulator:
        for _ in (1, 2):
            runs.append(sdk_producer("emulator", emulator.pid, emulator.connection_string, count))
            runs.append(our_sender("emulator", emulator.pid, emulator.connection_string, count))
        for _ in (1, 2):
            runs.append(cli("sdk", emulator, count))
            runs.append(cli("hubstream", emulator, count))
    with EmulatorProcess() as emulator:
        runs.append(spark_sink(emulator, sink_rows))

    def best(client: str, server: str) -> Run:
        return max(
            (r for r in runs if r.client == client and r.server == server), key=lambda r: r.events_per_s
        )

    header = ("client", "server", "events/s", "wall s", "client CPU s", "client CPU %", "server CPU s",
              "server CPU %")  # fmt: skip
    rows = []
    for r in runs:
        client_s = r.client_cpu_s if r.client_cpu_s is not None else 0.0
        cells = list(cpu_cells(client_s, r.server_cpu_s, r.wall_s))
        if r.client_cpu_s is None:
            cells[0] = cells[1] = "-"
        rows.append((r.client, r.server, f"{r.events_per_s:,.0f}", f"{r.wall_s:.2f}", *cells))
    print(table(rows, header))
    print("(CPU %: share of one core over the wall time; '-': the client ran in other processes)")

    base, ours, sdk = "baseline (acks only)", "hubstream EventSender", "SDK producer"
    sdk_base, ours_base = best(sdk, base), best(ours, base)
    sdk_em, ours_em = best(sdk, "emulator"), best(ours, "emulator")
    cli_sdk = best("python -m producers --engine sdk", "emulator")
    cli_ours = best("python -m producers --engine hubstream", "emulator")
    sink = runs[-1]
    print("(ratios and the summary take each client's best run)")
    ratio = ours_em.events_per_s / sdk_em.events_per_s

    def over(a: Run, b: Run) -> float:
        return a.events_per_s / b.events_per_s

    ratios = [
        ("hubstream sender / SDK producer, into the emulator", ratio),
        ("hubstream sender / SDK producer, into the ack-only endpoint", over(ours_base, sdk_base)),
        ("hubstream sender into the emulator / into the ack-only endpoint", over(ours_em, ours_base)),
        ("SDK producer into the emulator / into the ack-only endpoint", over(sdk_em, sdk_base)),
        ("python -m producers: --engine hubstream / --engine sdk", over(cli_ours, cli_sdk)),
        ("Spark sink / SDK producer, into the emulator", over(sink, sdk_em)),
    ]
    for name, value in ratios:
        print(f"{name}: x{value:.2f}")
    busy = 100 * ours_em.server_cpu_s / ours_em.wall_s
    ours_us = 1e6 * (ours_em.client_cpu_s or 0.0) / ours_em.events
    emulator_us = 1e6 * ours_em.server_cpu_s / ours_em.events
    limit = (
        "the sender waits on the emulator's ingest, which sets this figure"
        if emulator_us > ours_us
        else "the emulator is not the limit"
    )
    print(
        f"emulator CPU while our sender ran: {busy:.0f}% of a core, {emulator_us:.1f} us per event against "
        f"{ours_us:.1f} us of our sender's ({limit}; our sender alone reaches "
        f"{ours_base.events_per_s:,.0f} events/s against the ack-only endpoint); during the Spark sink: "
        f"{100 * sink.server_cpu_s / sink.wall_s:.0f}%"
    )
    return [
        Figure("sink", "SDK producer -> ack-only: events/s", sdk_base.events_per_s, "ev/s"),
        Figure("sink", "hubstream sender -> ack-only: events/s", ours_base.events_per_s, "ev/s"),
        Figure("sink", "SDK producer -> emulator: events/s", sdk_em.events_per_s, "ev/s"),
        Figure("sink", "hubstream sender -> emulator: events/s", ours_em.events_per_s, "ev/s"),
        Figure(
            "sink",
            "hubstream sender / SDK producer (emulator)",
            ratio,
            "",
            f">= {TARGET_RATIO:g}",
            ratio >= TARGET_RATIO,
        ),
        Figure("sink", "emulator CPU % during our sender's run", busy, "%"),
        Figure("sink", "emulator / our sender, CPU per event", emulator_us / ours_us if ours_us else 0.0, ""),
        Figure("sink", "producers CLI --engine sdk: events/s", cli_sdk.events_per_s, "ev/s"),
        Figure("sink", "producers CLI --engine hubstream: events/s", cli_ours.events_per_s, "ev/s"),
        Figure("sink", f"Spark sink, {sink.events:,} rows: events/s", sink.events_per_s, "ev/s"),
        Figure("sink", "emulator CPU % during the Spark sink", 100 * sink.server_cpu_s / sink.wall_s, "%"),
    ]
