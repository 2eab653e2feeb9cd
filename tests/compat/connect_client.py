"""A Spark Connect client, run by test_connect.py in a process of its own.

A Python process that has held a Connect session cannot make a classic one afterwards (PySpark switches
the process to Connect mode), and the rest of the suite needs classic sessions. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from jobs.datasource import SOURCE_NAME, register
from tests.sdk_events import round_robin, send_to_partitions

HUB = "tweets"
PIDS = ("0", "1", "2", "3")


def send(cs: str, first: int, count: int) -> None:
    """Events with bodies first..first+count-1, body i to partition i % 4."""
    send_to_partitions(cs, round_robin(first, count), hub=HUB)


def run_until(remote: SparkSession, cs: str, out: Path, checkpoint: Path, events: int) -> list[int]:
    """A processing-time query into parquet files, stopped once progress counts `events`; batch sizes."""
    query = (
        remote.readStream.format(SOURCE_NAME)
        .options(**{"eventhubs.connectionString": cs, "eventhubs.name": HUB, "maxEventsPerTrigger": "30"})
        .load()
        .selectExpr("partition", "sequenceNumber", "CAST(body AS STRING) AS body")
        .writeStream.format("parquet")
        .option("path", str(out))
        .option("checkpointLocation", str(checkpoint))
        .trigger(processingTime="0 seconds")
        .start()
    )
    try:
        deadline = time.monotonic() + 180
        while sum(sizes := [p.numInputRows for p in query.recentProgress]) < events:
            assert query.exception() is None, query.exception()
            assert time.monotonic() < deadline, (
                f"{sizes} after 180 s, expected {events}: {query.lastProgress}"
            )
            time.sleep(0.5)
    finally:
        query.stop()
    assert query.exception() is None
    return [n for n in sizes if n]


def batch_read(remote: SparkSession, cs: str) -> list[Any]:
    rows = (
        remote.read.format(SOURCE_NAME)
        .options(
            **{
                "eventhubs.connectionString": cs,
                "eventhubs.name": HUB,
                "eventhubs.startingPosition": '{"seqNo": 1}',
                "eventhubs.endingPosition": '{"seqNo": 3}',
            }
        )
        .load()
        .selectExpr("partition", "sequenceNumber", "CAST(body AS STRING) AS body")
        .collect()
    )
    return sorted([r.partition, r.sequenceNumber, r.body] for r in rows)


def main(url: str, cs: str, work: Path) -> dict[str, Any]:
    remote = SparkSession.builder.remote(url).getOrCreate()
    try:
        found: dict[str, Any] = {"session": type(remote).__module__, "source": register(remote)}
        out, checkpoint = work / "out", work / "checkpoint"
        send(cs, 0, 100)
        found["first"] = run_until(remote, cs, out, checkpoint, 100)
        found["batch"] = batch_read(remote, cs)
        send(cs, 100, 40)
        found["second"] = run_until(remote, cs, out, checkpoint, 40)
        rows = remote.read.parquet(str(out)).collect()
        found["rows"] = sorted([r.partition, r.sequenceNumber, int(r.body)] for r in rows)
        return found
    finally:
        remote.stop()


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))))
