"""Connector: the peer we replace, the Scala connector on Spark 3.5, beside our source on Spark 4.

One run, one emulator (`--data-dir`, `--fsync interval`), the same stored events for both sides:

1. The SDK producer fills the 4 partitions of `tweets` with `events` ~200-byte events (as `bench.job`), and
   `telemetry` with a warm-up share. The emulator serves TLS on 5671 of a loopback address of its own:
   the connector's Java client (azure-eventhubs 3.3.0) dials 5671 whatever the endpoint says.
2. Throughput. The connector (`com.microsoft.azure:azure-eventhubs-spark_2.12:2.3.22`, fetched by Ivy)
   reads them on Spark 3.5 in a child process of the pyspark 3.5 virtualenv (`bench.connector_peer`);
   then our source reads them on Spark 4 in this process. Each side: an untimed warm-up query over
   `telemetry`, then from the first event with `maxEventsPerTrigger` = all of them,
   `Trigger.AvailableNow` into `noop`, `local[2]`; events/s = events / wall time from start() to
   termination. Both read over TLS with an Azure-style connection string, each in its own consumer group
   (the connector's receivers are epoch receivers, which shut out other readers of their group).
3. Latency. Each side in turn runs a `processingTime=0` query into `foreachBatch` from the end of the
   partitions while a producer sends LATENCY_EVENTS events one at a time at LATENCY_RATE (the sender of
   `bench.job`), each body holding its send time; latency = arrival in `foreachBatch` - send time. Our
   side runs four times: with its receivers kept open between micro-batches (`keepReceivers=true`),
   with `keepReceivers=false` (the default: a receiver opened per partition per micro-batch) twice,
   kept again; it prints
   each way's pooled figures and kept / reopened;
   then one task's own time, its receiver opened or kept (`bench.kept_receivers`).

Printed: events/s per side, ours / the connector, and latency p50/p99. Nothing is asserted.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from azure.eventhub import EventHubProducerClient

from emulator.process import EmulatorProcess, free_loopback_host
from emulator.tls import LocalCA
from emulator.trust import java_options, java_truststore_with_jdk_cas
from eventhubs.links import AMQPS_PORT
from jobs.datasource.connector import CONNECTOR_PACKAGE

from . import EVENT_SIZE, HUB, Figure, kept_receivers, progress
from .connector_peer import (
    FROM_START,
    Latencies,
    Throughput,
    collect_latencies,
    positions_json,
    quantile,
    timed_noop_query,
)
from .job import (
    LATENCY_EVENTS,
    LATENCY_RATE,
    PARTITIONS,
    WARM_UP_EVENTS,
    WARM_UP_HUB,
    _fill,
    _send_paced,
    _session,
)
from .tables import SPEED_HEADER, speed_cells, table

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 2.0  # ours / the connector
USERS_REPORT = 2_000  # events/s users report from the connector on a cluster
DRAIN_S = 30.0
CONFIG = "\n".join(
    ["[keys]", 'RootManageSharedAccessKey = "SAS_KEY_VALUE"']
    + [
        f'[[hubs]]\nname = "{hub}"\npartitions = {PARTITIONS}\nconsumer_groups = ["connector", "ours"]'
        for hub in (HUB, WARM_UP_HUB)
    ]
)


def spark3_python() -> Path:
    """The pyspark 3.5 virtualenv's interpreter (`make bench` builds .venv-spark3 with hubstream in it)."""
    return Path(os.environ.get("HUBSTREAM_SPARK3_PYTHON", ROOT / ".venv-spark3" / "bin" / "python"))


class Peer:
    """`bench.connector_peer` in the Spark 3.5 virtualenv: settings and commands on its stdin, JSON
    results on its stdout; its progress (and Ivy's download lines) pass through on stderr."""

    def __init__(self, python: Path, settings: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            # A script, not `-m bench.connector_peer`: bench/__init__ needs psutil, which that venv lacks.
            [str(python), str(Path(__file__).with_name("connector_peer.py"))],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYSPARK_PYTHON": str(python)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.tell(json.dumps(settings))

    def tell(self, line: str) -> None:
        stdin: IO[str] | None = self.process.stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()

    def expect(self, key: str) -> Any:
        """The next JSON object on its stdout holding `key`; other lines (the JVM's) go to stderr."""
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        for line in stdout:
            if line.startswith("{"):
                payload = json.loads(line)
                if key in payload:
                    return payload[key]
            print(line, end="", file=sys.stderr)
        code = self.process.wait()
        raise RuntimeError(f"the Spark 3.5 side (bench.connector_peer) exited ({code}) before giving {key!r}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _partition_ends(emulator: EmulatorProcess) -> dict[str, int]:
    with EventHubProducerClient.from_connection_string(
        emulator.connection_string, eventhub_name=HUB
    ) as client:
        return {
            pid: client.get_partition_properties(pid)["last_enqueued_sequence_number"] + 1
            for pid in client.get_partition_ids()
        }


def _latency_positions(emulator: EmulatorProcess) -> str:
    """From the current end of each partition."""
    return positions_json(HUB, _partition_ends(emulator))


def _paced_sender(emulator: EmulatorProcess) -> None:
    """`bench.job`'s paced sender, in a process of its own: the SDK's pure-Python producer would otherwise
    share this interpreter's GIL with our side's foreachBatch (the connector's runs in its own process)."""
    progress(f"latency: sending {LATENCY_EVENTS:,} events at {LATENCY_RATE:.0f} events/s")
    sender = multiprocessing.get_context("fork").Process(
        target=_send_paced, args=(emulator, LATENCY_EVENTS, LATENCY_RATE, threading.Event())
    )
    sender.start()
    sender.join()
    if sender.exitcode != 0:
        raise RuntimeError(f"the latency sender failed (exit code {sender.exitcode})")


def run(events: int) -> list[Figure]:
    print(
        f"\n== connector: the Scala connector on Spark 3.5 beside our source on Spark 4 (local[2] each), "
        f"{events:,} stored events of {EVENT_SIZE} bytes in {PARTITIONS} partitions of {HUB}, over TLS"
    )
    python = spark3_python()
    if not python.exists():
        print(
            f"skipped: {python} does not exist. `make bench` builds it (make .venv-spark3/.hubstream); or "
            "point HUBSTREAM_SPARK3_PYTHON at a Python with pyspark 3.5 and hubstream installed"
        )
        return []
    with tempfile.TemporaryDirectory(prefix="hubstream-bench-connector-") as tmp:
        root = Path(tmp)
        (root / "emulator.toml").write_text(CONFIG)
        ca = LocalCA.load_or_create(root / "ca")
        host = free_loopback_host(AMQPS_PORT, prefer_localhost=False)
        emulator = EmulatorProcess(
            data_dir=root / "data",
            config=root / "emulator.toml",
            ca_dir=ca.directory,
            tls_port=AMQPS_PORT,
            extra_args=["--host", host, "--fsync", "interval", "--no-websocket", "--health-port", "-1"],
        )
        peer: Peer | None = None
        spark = None
        try:
            emulator.start()
            shares, fill_s = _fill(emulator, events)
            print(
                f"filled with the SDK producer ({', '.join(f'{s:,}' for s in shares)} per partition): "
                f"{events / fill_s:,.0f} events/s"
            )
            warm_up = min(WARM_UP_EVENTS, events)
            _fill(emulator, warm_up, hub=WARM_UP_HUB)
            azure_connection_string = emulator.azure_connection_string(host)
            peer = Peer(
                python,
                {
                    "package": CONNECTOR_PACKAGE,
                    "ivy_dir": str(Path(os.environ.get("HUBSTREAM_IVY_DIR", ROOT / ".ivy2"))),
                    "java_options": java_options(java_truststore_with_jdk_cas(ca)),
                    "connection_string": azure_connection_string,
                    "consumer_group": "connector",
                    "hub": HUB,
                    "events": events,
                    "warm_up_hub": WARM_UP_HUB,
                    "warm_up_events": warm_up,
                    "work_dir": str(root / "connector"),
                    "latency_events": LATENCY_EVENTS,
                    "drain_s": DRAIN_S,
                },
            )
            connector = Throughput(**peer.expect("throughput"))

            # Our source over TLS too, trusting the run's CA through Python's default context.
            os.environ["SSL_CERT_FILE"] = str(ca.cert_file)
            progress("starting Spark 4 (local[2]) for our source")
            spark = _session()
            from jobs.datasource import register

            fmt = register(spark)

            def ours(hub: str, **options: str) -> Any:
                reader = spark.readStream.format(fmt).option(
                    "eventhubs.connectionString", azure_connection_string
                )
                reader = reader.option("eventhubs.name", hub).option("eventhubs.consumerGroup", "ours")
                return reader.options(**options).load()

            def from_start(hub: str, count: int) -> Any:
                return ours(
                    hub, **{"eventhubs.startingPosition": FROM_START, "maxEventsPerTrigger": str(count)}
                )

            timed_noop_query(
                from_start(WARM_UP_HUB, warm_up), root / "checkpoint-warm-up-ours", warm_up,
                "warm-up, our source", progress,
            )  # fmt: skip
            mine = timed_noop_query(
                from_start(HUB, events), root / "checkpoint-ours", events, "our source", progress
            )

            peer.tell(f"latency {_latency_positions(emulator)}")
            peer.expect("ready")
            _paced_sender(emulator)
            peer.tell("sent")
            connector_latency = Latencies(**peer.expect("latency"))
            peer.process.wait(60)

            def our_latencies(keep: bool, run: int) -> Latencies:
                progress(f"latency, our source, receivers {'kept' if keep else 'reopened per batch'}")
                return collect_latencies(
                    ours(
                        HUB, **{"eventhubs.startingPositions": _latency_positions(emulator)},
                        keepReceivers=str(keep).lower(),
                    ),
                    root / f"checkpoint-latency-ours-{run}",
                    LATENCY_EVENTS,
                    lambda: _paced_sender(emulator),
                    DRAIN_S,
                )  # fmt: skip

            # Kept, reopened, reopened, kept: a machine growing busier or quieter meanwhile weighs on
            # both ways alike.
            runs = [(keep, our_latencies(keep, run)) for run, keep in enumerate((True, False, False, True))]
            our_latency, reopened_latency = (
                _pooled([found for keep, found in runs if keep is way]) for way in (True, False)
            )
            progress("one task's time, its receiver opened or kept")
            task_s = kept_receivers.task_times(
                host, azure_connection_string, HUB, "ours", _partition_ends(emulator)
            )
        finally:
            if peer is not None:
                peer.close()
            if spark is not None:
                for query in spark.streams.active:
                    query.stop()
                spark.stop()
            emulator.stop()
    return _report(connector, mine, connector_latency, our_latency, reopened_latency, task_s)


def _pooled(runs: list[Latencies]) -> Latencies:
    return Latencies(
        sum(r.expected for r in runs), [s for r in runs for s in r.latencies_s], sum(r.batches for r in runs)
    )


def _report(
    connector: Throughput,
    mine: Throughput,
    connector_latency: Latencies,
    our_latency: Latencies,
    reopened_latency: Latencies,
    task_s: dict[str, tuple[float, float]],
) -> list[Figure]:
    header = ("reader", *SPEED_HEADER, "numInputRows", "micro-batches")
    rows = [
        (
            label,
            *speed_cells(r.events, r.wall_s),
            f"{r.input_rows:,}" + ("" if r.input_rows == r.events else f" (expected {r.events:,})"),
            str(r.batches),
        )
        for label, r in (("the Scala connector, Spark 3.5", connector), ("our source, Spark 4", mine))
    ]
    print("Trigger.AvailableNow into noop, wall time from start() to termination:")
    print(table(rows, header))
    ratio = mine.events_per_s / connector.events_per_s
    print(
        f"ours / the connector: x{ratio:.2f}; target >= x{TARGET_RATIO:g} (printed, not asserted); users "
        f"report about {USERS_REPORT:,} events/s from the connector on a cluster"
    )

    def latency_row(label: str, found: Latencies) -> tuple[str, ...]:
        values = found.latencies_s
        return (
            label,
            f"{quantile(values, 0.5):.3f}",
            f"{quantile(values, 0.99):.3f}",
            f"{max(values, default=float('nan')):.3f}",
            f"{len(values):,} of {found.expected:,}",
            str(found.batches),
        )

    print(
        f"\nlatency: {LATENCY_EVENTS:,} events sent one per send_batch at {LATENCY_RATE:.0f} events/s, "
        "processingTime=0 trigger, foreachBatch collect()"
    )
    print(
        table(
            [
                latency_row("the Scala connector", connector_latency),
                latency_row("our source, receivers kept", our_latency),
                latency_row("our source, keepReceivers=false", reopened_latency),
            ],
            ("send -> foreachBatch", "p50 s", "p99 s", "max s", "arrived", "micro-batches"),
        )
    )
    kept_p50, kept_p99 = quantile(our_latency.latencies_s, 0.5), quantile(our_latency.latencies_s, 0.99)
    reopened_p50 = quantile(reopened_latency.latencies_s, 0.5)
    reopened_p99 = quantile(reopened_latency.latencies_s, 0.99)
    p50_ratio, p99_ratio = kept_p50 / reopened_p50, kept_p99 / reopened_p99
    print(f"ours, receivers kept / reopened per batch: p50 x{p50_ratio:.2f}, p99 x{p99_ratio:.2f}")
    print(
        f"\none task reading {kept_receivers.TASK_EVENTS} events over TLS, median of up to "
        f"{kept_receivers.TASKS} each way:"
    )
    print(
        table(
            [
                (path, f"{opened * 1000:.1f}", f"{kept * 1000:.1f}", f"x{kept / opened:.3f}")
                for path, (opened, kept) in task_s.items()
            ],
            ("to the emulator", "receiver opened, ms", "kept, ms", "kept / opened"),
        )
    )
    return [
        Figure("connector", "the connector (Spark 3.5) into noop: events/s", connector.events_per_s, "ev/s"),
        Figure("connector", "our source (Spark 4), same events: events/s", mine.events_per_s, "ev/s"),
        Figure("connector", "ours / the connector", ratio, "", f">= {TARGET_RATIO:g}", ratio >= TARGET_RATIO),
        Figure("connector", "latency p50, connector", quantile(connector_latency.latencies_s, 0.5), "s"),
        Figure("connector", "latency p50, ours (default: receivers reopened)", reopened_p50, "s"),
        Figure("connector", "latency p50, ours, receivers kept", kept_p50, "s"),
        Figure("connector", "latency p99, connector", quantile(connector_latency.latencies_s, 0.99), "s"),
        Figure("connector", "latency p99, ours (default: receivers reopened)", reopened_p99, "s"),
        Figure("connector", "latency p99, ours, receivers kept", kept_p99, "s"),
        Figure("connector", "latency p50, ours kept / reopened", p50_ratio, ""),
        Figure("connector", "latency p99, ours kept / reopened", p99_ratio, ""),
        *(
            Figure("connector", f"one task, receiver {way}, {path}", seconds * 1000, "ms")
            for path, times in task_s.items()
            for way, seconds in zip(("opened", "kept"), times, strict=True)
        ),
    ]  # fmt: skip
