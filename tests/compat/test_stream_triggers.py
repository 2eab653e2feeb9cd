"""The source in real streaming queries, on whichever Spark runs the tests (4.0, 4.1, 4.2+).

Spark 4.2+ hands the source its read limit; 4.0 and 4.1 do not, and the source caps itself
(`EventHubsStreamReader.latestOffset`). Either way every micro-batch holds at most maxEventsPerTrigger
events, spread over the partitions by backlog, and a restarted query reads each event once. What differs
is Trigger.AvailableNow: on 4.0/4.1 Spark wraps the source, takes its first latestOffset() as the run's
target and reads it in one batch, so a run reads one capped batch and stops; repeated runs drain the hub.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from emulator.process import EmulatorProcess
from jobs.datasource import SOURCE_NAME, register
from jobs.datasource.read_limits import ADMISSION_CONTROL
from jobs.datasource.reader import spread
from tests.sdk_events import round_robin, send_to_partitions

HUB = "tweets"
PIDS = ("0", "1", "2", "3")


def send(cs: str, first: int, count: int) -> None:
    """Events with bodies first..first+count-1, body i to partition i % 4."""
    send_to_partitions(cs, round_robin(first, count), hub=HUB)


class Batches:
    """What foreachBatch saw: each non-empty micro-batch's (partition, sequence number, body) rows."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, int, int]]] = []

    def __call__(self, batch: DataFrame, _batch_id: int) -> None:
        got = [(r.partition, r.sequenceNumber, int(r.body)) for r in batch.collect()]
        if got:
            self.batches.append(got)

    @property
    def sizes(self) -> list[int]:
        return [len(b) for b in self.batches]

    def bodies(self) -> list[int]:
        return sorted(body for b in self.batches for _, _, body in b)


def start(spark: SparkSession, cs: str, checkpoint: Path, sink: Batches, trigger: dict[str, Any]) -> Any:
    return (
        spark.readStream.format(SOURCE_NAME)
        .options(**{"eventhubs.connectionString": cs, "eventhubs.name": HUB, "maxEventsPerTrigger": "30"})
        .load()
        .selectExpr("partition", "sequenceNumber", "CAST(body AS STRING) AS body")
        .writeStream.foreachBatch(sink)
        .option("checkpointLocation", str(checkpoint))
        .trigger(**trigger)
        .start()
    )


def run_until(spark: SparkSession, cs: str, checkpoint: Path, events: int) -> Batches:
    """A processing-time query, stopped once its progress (written after each commit) counts `events`."""
    sink = Batches()
    query = start(spark, cs, checkpoint, sink, {"processingTime": "0 seconds"})
    try:
        deadline = time.monotonic() + 180
        while sum(p["numInputRows"] for p in query.recentProgress) < events:
            assert query.exception() is None, query.exception()
            assert time.monotonic() < deadline, f"{sink.sizes} after 180 s, expected {events} events"
            time.sleep(0.2)
    finally:
        query.stop()
    assert query.exception() is None
    return sink


def available_now(spark: SparkSession, cs: str, checkpoint: Path) -> Batches:
    sink = Batches()
    query = start(spark, cs, checkpoint, sink, {"availableNow": True})
    try:
        assert query.awaitTermination(180)
    finally:
        query.stop()
    assert query.exception() is None
    progress = [p["numInputRows"] for p in query.recentProgress if p["numInputRows"]]
    assert progress == sink.sizes
    return sink


@pytest.fixture
def cs(spark: SparkSession, emulator: EmulatorProcess) -> str:
    """The emulator's connection string, with the source registered in `spark`."""
    register(spark)
    return emulator.connection_string


def check_spread(batches: Batches, before: dict[str, int], ends: dict[str, int]) -> None:
    """Each batch takes maxEventsPerTrigger spread over the backlogs as `spread` does, in order."""
    at = dict(before)
    for batch in batches.batches:
        backlog = {pid: ends[pid] - at[pid] for pid in PIDS}
        take = spread(backlog, 30)
        got = Counter(pid for pid, _, _ in batch)
        assert {pid: got.get(pid, 0) for pid in PIDS} == take
        for pid in PIDS:  # exactly the next sequence numbers of each partition
            assert sorted(seq for p, seq, _ in batch if p == pid) == list(range(at[pid], at[pid] + take[pid]))
            at[pid] += take[pid]


def test_processing_time_caps_each_batch_and_restarts_exactly_once(
    spark: SparkSession, cs: str, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint"
    send(cs, 0, 100)
    first = run_until(spark, cs, checkpoint, 100)
    assert first.sizes == [30, 30, 30, 10]
    assert first.bodies() == list(range(100))
    check_spread(first, dict.fromkeys(PIDS, 0), dict.fromkeys(PIDS, 25))

    send(cs, 100, 40)
    second = run_until(spark, cs, checkpoint, 40)
    assert second.sizes == [30, 10]
    assert second.bodies() == list(range(100, 140))
    check_spread(second, dict.fromkeys(PIDS, 25), dict.fromkeys(PIDS, 35))


def test_available_now_runs_drain_the_hub_exactly_once(spark: SparkSession, cs: str, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint"
    send(cs, 0, 100)
    runs = [available_now(spark, cs, checkpoint)]
    while runs[-1].sizes and len(runs) < 10:
        runs.append(available_now(spark, cs, checkpoint))
    sizes = [run.sizes for run in runs]
    if ADMISSION_CONTROL:  # Spark 4.2+: one run reads everything, in capped batches
        assert sizes == [[30, 30, 30, 10], []]
    else:  # Spark 4.0/4.1: one capped batch per run
        assert sizes == [[30], [30], [30], [10], []]
    all_batches = Batches()
    all_batches.batches = [b for run in runs for b in run.batches]
    assert all_batches.bodies() == list(range(100))
    check_spread(all_batches, dict.fromkeys(PIDS, 0), dict.fromkeys(PIDS, 25))
