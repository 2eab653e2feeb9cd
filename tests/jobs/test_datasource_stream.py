"""The Event Hubs source in a real Spark streaming query against a real emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from emulator.process import EmulatorProcess
from jobs.datasource import SOURCE_NAME, register
from tests.sdk_events import round_robin, send_to_partitions
from tests.streams import collect_to_end

HUB = "tweets"


def run(
    spark: SparkSession, cs: str, checkpoint: Path, max_events: int
) -> tuple[list[int], list[Any], list[int]]:
    """One availableNow run; returns the batch sizes, the rows and progress' numInputRows."""
    events = (
        spark.readStream.format(SOURCE_NAME)
        .options(
            **{
                "eventhubs.connectionString": cs,
                "eventhubs.name": HUB,
                "maxEventsPerTrigger": str(max_events),
            }
        )
        .load()
    )
    got = collect_to_end(
        events.select("body", "partition", "sequenceNumber", "offset", "enqueuedTime"),
        checkpoint,
        timeout=240,
    )
    return got.batch_sizes, got.rows, got.input_rows


def test_exactly_once_across_restarts(spark: SparkSession, emulator: EmulatorProcess, tmp_path: Path) -> None:
    assert register(spark) == SOURCE_NAME
    cs = emulator.connection_string
    send_to_partitions(cs, round_robin(0, 100))
    checkpoint = tmp_path / "checkpoint"
    sizes, rows, progress = run(spark, cs, checkpoint, max_events=30)
    assert sizes == progress and sum(sizes) == 100 and max(sizes) <= 30 and len(sizes) == 4
    assert sorted(int(r.body) for r in rows) == list(range(100))
    for pid in "0123":
        assert sorted(r.sequenceNumber for r in rows if r.partition == pid) == list(range(25))
    assert all(isinstance(r.offset, str) and r.enqueuedTime is not None for r in rows)

    send_to_partitions(cs, round_robin(100, 40))
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
