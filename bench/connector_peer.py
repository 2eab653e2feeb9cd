"""The Spark 3.5 side of `bench.connector`: the Scala connector's queries, and what both sides share.

`python bench/connector_peer.py` runs in the pyspark 3.5 virtualenv (`.venv-spark3`, hubstream installed
editable), as a child of `bench.connector`. It reads one JSON line of settings on stdin, starts Spark 3.5
(`local[2]`) with `com.microsoft.azure:azure-eventhubs-spark_2.12:2.3.22` through Ivy, then:

1. an untimed warm-up query over the warm-up hub, and the timed query over the stored events: from the
   first event, `maxEventsPerTrigger` = all of them, `Trigger.AvailableNow` into `noop`; it prints
   `{"throughput": {...}}`;
2. on the line `latency <starting positions JSON>` from stdin, a `processingTime=0` query into
   `foreachBatch` from those positions; it prints `{"ready": true}` once started, collects each row's
   latency (arrival in `foreachBatch` - the send time in its body) and, after the line `sent`, waits for
   the rest, then prints `{"latency": {...}}`.

Figures are computed here with the same functions the parent uses for our source (`timed_noop_query`,
`collect_latencies`), so the two sides are measured alike. Only pyspark and the standard library are
needed at import time: the parent imports this module under Spark 4.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

QUERY_TIMEOUT_S = 900.0


def say(message: str) -> None:
    print(f"[bench connector, Spark 3.5] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Throughput:
    events: int  # what the query should read
    input_rows: int  # sum of numInputRows over its progress reports
    batches: int
    wall_s: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s


def timed_noop_query(
    df: DataFrame, checkpoint: Path, events: int, label: str, report: Callable[[str], None]
) -> Throughput:
    """`df` into `noop` with Trigger.AvailableNow; wall time from start() to termination."""
    report(f"{label}: reading {events:,} events")
    writer = df.writeStream.format("noop").trigger(availableNow=True)
    started = time.perf_counter()
    query = writer.option("checkpointLocation", str(checkpoint)).start()
    try:
        deadline = time.monotonic() + QUERY_TIMEOUT_S
        while not query.awaitTermination(5):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: not done after {QUERY_TIMEOUT_S:.0f} s")
            rows = sum(int(p.get("numInputRows", 0)) for p in query.recentProgress)
            report(f"{label}: running, {rows:,} of {events:,} rows in finished micro-batches")
        wall = time.perf_counter() - started
        if query.exception() is not None:
            raise RuntimeError(f"{label} failed: {query.exception()}")
    finally:
        query.stop()
    reports = query.recentProgress
    run = Throughput(
        events,
        sum(int(p.get("numInputRows", 0)) for p in reports),
        sum(1 for p in reports if int(p.get("numInputRows", 0)) > 0),
        wall,
    )
    report(f"{label}: {run.events_per_s:,.0f} events/s ({run.input_rows:,} rows, {run.wall_s:.1f} s)")
    return run


@dataclass
class Latencies:
    expected: int
    latencies_s: list[float] = field(default_factory=list)  # arrival in foreachBatch - send time
    batches: int = 0


def collect_latencies(
    df: DataFrame, checkpoint: Path, expected: int, send: Callable[[], None], drain_s: float
) -> Latencies:
    """Run `df` (events whose JSON bodies hold their send time in "sent") with a processingTime=0 trigger
    into foreachBatch; call `send()` once the query is up; wait up to `drain_s` after it returns.

    A body that is not JSON is the sender's warm-up event, which it sends before its clock starts: left
    out. (Positions past it cannot be given beforehand: the connector moves a start beyond a partition's
    end back to the end.)"""
    found = Latencies(expected)
    got_all = threading.Event()

    def on_batch(batch: DataFrame, _batch_id: int) -> None:
        rows = batch.select("body").collect()
        now = time.time()
        if not rows:
            return
        found.batches += 1
        for row in rows:
            body = bytes(row["body"])
            if body.startswith(b"{"):  # not the sender's warm-up event
                found.latencies_s.append(now - float(json.loads(body)["sent"]))
        if len(found.latencies_s) >= expected:
            got_all.set()

    writer = df.writeStream.foreachBatch(on_batch).trigger(processingTime="0 seconds")
    query = writer.option("checkpointLocation", str(checkpoint)).start()
    try:
        send()
        got_all.wait(drain_s)
        if query.exception() is not None:
            raise RuntimeError(f"latency query failed: {query.exception()}")
    finally:
        query.stop()
    return found


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def positions_json(hub: str, seq_nos: dict[str, int]) -> str:
    """Per-partition starting positions as the connector takes them (our source takes the same)."""
    return json.dumps(
        {
            json.dumps({"ehName": hub, "partitionId": int(pid)}): {
                "offset": None,
                "seqNo": seq_no,
                "enqueuedTime": None,
                "isInclusive": True,
            }
            for pid, seq_no in seq_nos.items()
        }
    )


FROM_START = json.dumps({"offset": "-1", "seqNo": -1, "enqueuedTime": None, "isInclusive": True})


def _session(settings: dict[str, Any]) -> SparkSession:
    from jobs.datasource.connector import connector_packages_conf
    from jobs.local_spark import local_session

    packages = connector_packages_conf(settings["ivy_dir"], settings["java_options"])
    return local_session("hubstream-bench-connector", packages, log_level="ERROR")


def _emit(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)


def main(lines: Iterator[str]) -> int:
    settings = json.loads(next(lines))
    say(f"starting Spark 3.5 with {settings['package']} (Ivy: {settings['ivy_dir']})")
    spark = _session(settings)
    from jobs.datasource.connector import jvm_encrypt, with_entity_path

    encrypt = jvm_encrypt(spark)

    def connector(hub: str, **options: str) -> DataFrame:
        encrypted = encrypt(with_entity_path(settings["connection_string"], hub))
        return (
            spark.readStream.format("eventhubs")
            .option("eventhubs.connectionString", encrypted)
            .option("eventhubs.consumerGroup", settings["consumer_group"])
            .options(**options)
            .load()
        )

    root = Path(settings["work_dir"])
    try:
        warm_up = settings["warm_up_events"]
        timed_noop_query(
            connector(settings["warm_up_hub"], **{"eventhubs.startingPosition": FROM_START,
                                                  "maxEventsPerTrigger": str(warm_up)}),
            root / "checkpoint-warm-up-connector", warm_up, "warm-up, the connector", say,
        )  # fmt: skip
        events = settings["events"]
        run = timed_noop_query(
            connector(settings["hub"], **{"eventhubs.startingPosition": FROM_START,
                                          "maxEventsPerTrigger": str(events)}),
            root / "checkpoint-connector", events, "the connector", say,
        )  # fmt: skip
        _emit({"throughput": asdict(run)})

        command, _, positions = next(lines).partition(" ")
        if command != "latency":
            raise ValueError(f"expected 'latency <positions>' on stdin, got {command!r}")

        def wait_for_sender() -> None:
            _emit({"ready": True})
            if next(lines).strip() != "sent":
                raise ValueError("expected 'sent' on stdin")

        found = collect_latencies(
            connector(settings["hub"], **{"eventhubs.startingPositions": positions}),
            root / "checkpoint-latency-connector",
            settings["latency_events"],
            wait_for_sender,
            settings["drain_s"],
        )
        _emit({"latency": asdict(found)})
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(iter(sys.stdin)))
