"""Batch reads (`spark.read.format(...)`) between starting and ending positions, against a real emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from emulator.process import EmulatorProcess
from jobs.datasource import SOURCE_NAME, register
from jobs.datasource.columns import SCHEMA_DDL
from tests.sdk_events import send_to_partitions

HUB = "tweets"
COUNTS = {"0": 10, "1": 30, "2": 0, "3": 60}
COLUMNS = "partition string, sequenceNumber bigint, body string"


def send(cs: str, counts: dict[str, int], tag: str = "e") -> None:
    send_to_partitions(cs, {pid: [f"{tag}-{pid}-{i}" for i in range(n)] for pid, n in counts.items()})


@pytest.fixture
def cs(spark: SparkSession, emulator: EmulatorProcess) -> Iterator[str]:
    register(spark)
    send(emulator.connection_string, COUNTS)
    yield emulator.connection_string


def read(spark: SparkSession, cs: str, **options: str) -> DataFrame:
    return (
        spark.read.format(SOURCE_NAME)
        .options(**{"eventhubs.connectionString": cs, "eventhubs.name": HUB, **options})
        .load()
        .selectExpr("partition", "sequenceNumber", "CAST(body AS STRING) AS body")
    )


def expected(spark: SparkSession, ranges: dict[str, range], tag: str = "e") -> DataFrame:
    rows = [(pid, seq, f"{tag}-{pid}-{seq}") for pid, seqs in ranges.items() for seq in seqs]
    return spark.createDataFrame(rows, COLUMNS)


def check(got: DataFrame, want: DataFrame) -> None:
    assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)


def test_default_reads_everything_there_once(spark: SparkSession, cs: str) -> None:
    full = (
        spark.read.format(SOURCE_NAME)
        .options(**{"eventhubs.connectionString": cs, "eventhubs.name": HUB})
        .load()
    )
    assert full.schema.simpleString() == spark.createDataFrame([], SCHEMA_DDL).schema.simpleString()
    check(read(spark, cs), expected(spark, {pid: range(n) for pid, n in COUNTS.items()}))


def test_each_partition_from_its_start_to_its_end(spark: SparkSession, cs: str) -> None:
    starts = {
        json.dumps({"ehName": HUB, "partitionId": 0}): {"seqNo": 2},
        "1": {"seqNo": 5, "isInclusive": False},  # from 6
        "3": {"offset": "@latest"},  # nothing
    }
    ends = {
        "0": {"seqNo": 7},  # up to 7 included
        "1": {"seqNo": 20, "isInclusive": False},  # up to 19
        "2": {"seqNo": 3},  # an empty partition: nothing, no wait
    }
    got = read(
        spark,
        cs,
        **{
            "eventhubs.startingPositions": json.dumps(starts),
            "eventhubs.endingPositions": json.dumps(ends),
        },
    )
    check(got, expected(spark, {"0": range(2, 8), "1": range(6, 20)}))


def test_one_ending_position_for_all_and_ends_past_the_last_event(spark: SparkSession, cs: str) -> None:
    # seqNo 25 inclusive: partition 0 has only 10 (all read, no wait for more), 3 has 60 (0..25)
    got = read(spark, cs, **{"eventhubs.endingPosition": json.dumps({"seqNo": 25})})
    check(got, expected(spark, {"0": range(10), "1": range(26), "3": range(26)}))
    nothing = read(spark, cs, **{"eventhubs.endingPosition": json.dumps({"offset": "-1"})})
    assert nothing.collect() == []


def test_ending_at_an_offset_or_a_time(spark: SparkSession, cs: str) -> None:
    [third] = read(spark, cs).where("partition = '0' AND sequenceNumber = 3").collect()
    [offset] = [
        r.offset
        for r in spark.read.format(SOURCE_NAME)
        .options(**{"eventhubs.connectionString": cs, "eventhubs.name": HUB})
        .load()
        .where("partition = '0' AND sequenceNumber = 3")
        .collect()
    ]
    assert third.body == "e-0-3"
    cut = datetime.now(UTC)
    send(cs, {"1": 3}, tag="late")
    ends = {
        "0": {"offset": offset, "isInclusive": False},  # 0..2
        "1": {"enqueuedTime": cut.isoformat()},  # none of the late ones
        "3": {"enqueuedTime": cut.isoformat()},
    }
    got = read(spark, cs, **{"eventhubs.endingPositions": json.dumps(ends)})
    check(got, expected(spark, {"0": range(3), "1": range(30), "3": range(60)}))
    inclusive = read(spark, cs, **{"eventhubs.endingPositions": json.dumps({"0": {"offset": offset}})})
    check(inclusive.where("partition = '0'"), expected(spark, {"0": range(4)}))
    late = read(spark, cs, **{"eventhubs.startingPosition": json.dumps({"enqueuedTime": cut.isoformat()})})
    want = spark.createDataFrame([("1", 30 + i, f"late-1-{i}") for i in range(3)], COLUMNS)
    check(late, want)


def test_a_stream_refuses_ending_positions(spark: SparkSession, cs: str) -> None:
    with pytest.raises(Exception, match=r"endingPosition and eventhubs\.endingPositions are for batch reads"):
        (
            spark.readStream.format(SOURCE_NAME)
            .options(
                **{
                    "eventhubs.connectionString": cs,
                    "eventhubs.name": HUB,
                    "eventhubs.endingPosition": '{"seqNo": 3}',
                }
            )
            .load()
            .writeStream.format("noop")
            .start()
            .awaitTermination(60)
        )
