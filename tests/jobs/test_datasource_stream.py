"""The Event Hubs source in a real Spark streaming query against a real emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from azure.eventhub import EventData, EventHubProducerClient
from pyspark.sql import DataFrame, SparkSession

from emulator.process import EmulatorProcess
from jobs.datasource import SOURCE_NAME, register

HUB = "tweets"


def send(cs: str, first: int, count: int) -> None:
    """Events with bodies first..first+count-1, round-robin over the partitions."""
    with EventHubProducerClient.from_connection_string(cs, eventhub_name=HUB) as producer:
        for pid in ("0", "1", "2", "3"):
            batch = producer.create_batch(partition_id=pid)
            for i in range(first, first + count):
                if i % 4 == int(pid):
                    batch.add(EventData(str(i)))
            producer.send_batch(batch)


def run(
    spark: SparkSession, cs: str, checkpoint: Path, max_events: int
) -> tuple[list[int], list[Any], list[int]]:
    """One availableNow run; returns the batch sizes, the rows and progress' numInputRows."""
    sizes: list[int] = []
    rows: list[Any] = []

    def collect(batch: DataFrame, _batch_id: int) -> None:
        got = batch.select("body", "partition", "sequenceNumber", "offset", "enqueuedTime").collect()
        if got:
            sizes.append(len(got))
            rows.extend(got)

    query = (
        spark.readStream.format(SOURCE_NAME)
        .options(
            **{
                "eventhubs.connectionString": cs,
                "eventhubs.name": HUB,
                "maxEventsPerTrigger": str(max_events),
            }
        )
        .load()
        .writeStream.foreachBatch(collect)
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    try:
        assert query.awaitTermination(240)
    finally:
        query.stop()
    assert query.exception() is None
    progress = [p["numInputRows"] for p in query.recentProgress if p["numInputRows"]]
    return sizes, rows, progress


def test_exactly_once_across_restarts(spark: SparkSession, emulator: EmulatorProcess, tmp_path: Path) -> None:
    assert register(spark) == SOURCE_NAME
    cs = emulator.connection_string
    send(cs, 0, 100)
    checkpoint = tmp_path / "checkpoint"
    sizes, rows, progress = run(spark, cs, checkpoint, max_events=30)
    assert sizes == progress and sum(sizes) == 100 and max(sizes) <= 30 and len(sizes) == 4
    assert sorted(int(r.body) for r in rows) == list(range(100))
    for pid in "0123":
        assert sorted(r.sequenceNumber for r in rows if r.partition == pid) == list(range(25))
    assert all(isinstance(r.offset, str) and r.enqueuedTime is not None for r in rows)

    send(cs, 100, 40)
    sizes, rows, progress = run(spark, cs, checkpoint, max_events=30)
    assert sorted(int(r.body) for r in rows) == list(range(100, 140))
    assert sizes == progress and max(sizes) <= 30
    for pid in "0123":
        assert sorted(r.sequenceNumber for r in rows if r.partition == pid) == list(range(25, 35))

    sizes, rows, _ = run(spark, cs, checkpoint, max_events=30)  # nothing new: nothing read
    assert rows == []


def test_unknown_hub_fails_readably(spark: SparkSession, emulator: EmulatorProcess, tmp_path: Path) -> None:
    register(spark)
    query = (
        spark.readStream.format(SOURCE_NAME)
        .options(**{"eventhubs.connectionString": emulator.connection_string, "eventhubs.name": "nohub"})
        .load()
        .writeStream.format("noop")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    with pytest.raises(Exception, match="nohub") as raised:
        query.awaitTermination(120)
    query.stop()
    assert "SAS_KEY_VALUE" not in str(raised.value)


def test_bad_option_fails_the_load(spark: SparkSession) -> None:
    register(spark)
    with pytest.raises(Exception, match="maxEventsPerTrigger"):
        spark.readStream.format(SOURCE_NAME).options(
            **{
                "eventhubs.connectionString": "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b",
                "eventhubs.name": "tweets",
                "maxEventsPerTrigger": "-1",
            }
        ).load()
