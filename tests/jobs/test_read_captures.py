"""jobs/read_captures.py: capture files read back by Spark into the Event Hubs job's columns.

Files are written as the service writes them (the emulator's writer, null codec) and by fastavro
(deflate), and read with the Avro format this Spark has (`avro_format`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from eventhubs.capture import DEFAULT_ARCHIVE_NAME_FORMAT, archive_name, encode_archive
from jobs.read_captures import (
    AVRO_CLASS_FORMAT,
    avro_format,
    capture_spark_schema,
    read_capture_batch,
    read_capture_stream,
)
from jobs.transforms import readable
from tests.capture_files import SECONDS_FIRST_FORMAT, capture_telemetry, fastavro_file, record
from tests.jobs.test_transforms import EVENTHUB_SCHEMA, READABLE_SCHEMA
from tests.streams import collect_to_end

T0 = datetime(2026, 12, 2, 13, 4, 5, 678000, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def write(root: Path, partition: str, window: datetime, data: bytes) -> None:
    path = root / archive_name(DEFAULT_ARCHIVE_NAME_FORMAT, "ns", "hub", partition, window)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_avro_format_is_the_one_this_spark_has(spark: SparkSession) -> None:
    # The pip pyspark has no spark-avro: format("avro") fails, spark-sql's class works.
    assert avro_format(spark) == AVRO_CLASS_FORMAT
    assert spark.read.format(AVRO_CLASS_FORMAT).schema(capture_spark_schema()) is not None


def test_capture_files_read_into_the_connector_schema(spark: SparkSession, tmp_path: Path) -> None:
    with_ms = record(b'{"id":"a"}', 7, T0, "a")
    with_ms["Properties"] = {"n": 1, "x": 2.5, "s": "text", "b": b"raw"}
    # Without x-opt-enqueued-time the time is EnqueuedTimeUtc's, in whole seconds; a null body stays null.
    seconds_only = record(None, 8, T0, None)
    seconds_only["SystemProperties"] = {"x-opt-publisher": "dev-7"}
    write(tmp_path, "3", T0, encode_archive([with_ms, seconds_only], "null"))
    write(tmp_path, "0", T0, fastavro_file([record(b"plain", 0, T0, None)], "deflate"))
    write(tmp_path, "0", datetime(2026, 12, 2, 13, 9, 5, tzinfo=UTC), encode_archive([]))  # an empty window

    got = read_capture_batch(spark, str(tmp_path)).orderBy("partition", "sequenceNumber")

    t0_seconds = T0.replace(microsecond=0, tzinfo=None)
    expected = spark.createDataFrame(
        [
            (b"plain", "0", "0", 0, T0.replace(tzinfo=None), None, None, {"source": "test"},
             {"x-opt-enqueued-time": str(T0_MS)}),
            (b'{"id":"a"}', "3", "3584", 7, T0.replace(tzinfo=None), None, "a",
             {"n": "1", "x": "2.5", "s": "text", "b": "raw"},
             {"x-opt-enqueued-time": str(T0_MS), "x-opt-partition-key": "a"}),
            (None, "3", "4096", 8, t0_seconds, "dev-7", None, {"source": "test"},
             {"x-opt-publisher": "dev-7"}),
        ],
        EVENTHUB_SCHEMA,
    )  # fmt: skip
    assert_df_equality(got, expected, ignore_nullable=True)

    readable_expected = spark.createDataFrame(
        [
            (0, T0.replace(tzinfo=None), int(T0.timestamp()), "plain", "0", 0, "0"),
            (3584, T0.replace(tzinfo=None), int(T0.timestamp()), '{"id":"a"}', "3", 7, "3584"),
            (4096, t0_seconds, int(T0.timestamp()), None, "3", 8, "4096"),
        ],
        READABLE_SCHEMA,
    )
    assert_df_equality(readable(got), readable_expected, ignore_nullable=True)


def test_telemetry_capture_read_back_into_the_readable_columns(spark: SparkSession, tmp_path: Path) -> None:
    captured = capture_telemetry(tmp_path)
    events = readable(read_capture_batch(spark, str(tmp_path), SECONDS_FIRST_FORMAT))

    rows = events.select("Partition", "SequenceNumber", "Offset", "Body").collect()
    assert len(rows) == captured.events == 200
    assert len({(r.Partition, r.SequenceNumber) for r in rows}) == 200
    assert {r.Partition for r in rows} == {"0", "1"}
    assert all(r.Offset == 512 * r.SequenceNumber for r in rows)
    sent = sorted(json.dumps(r, sort_keys=True) for rs in captured.readings.values() for r in rs)
    assert sorted(json.dumps(json.loads(r.Body), sort_keys=True) for r in rows) == sent


def test_stream_picks_up_new_files(spark: SparkSession, tmp_path: Path) -> None:
    root, checkpoint = tmp_path / "capture", tmp_path / "checkpoint"
    write(root, "0", T0, encode_archive([record(b"first", 0, T0, None)]))
    stream = readable(read_capture_stream(spark, str(root)))

    first = collect_to_end(stream, checkpoint)
    assert [(r.Body, r.Partition, r.SequenceNumber) for r in first.rows] == [("first", "0", 0)]

    # A new window's file (in a new folder) and one more partition's: only they are read next time.
    later = datetime(2026, 12, 2, 13, 9, 5, tzinfo=UTC)
    write(root, "0", later, encode_archive([record(b"second", 1, later, None)]))
    write(root, "1", later, fastavro_file([record(b"third", 0, later, None)], "deflate"))
    second = collect_to_end(stream, checkpoint)
    assert sorted((r.Body, r.Partition, r.SequenceNumber) for r in second.rows) == [
        ("second", "0", 1),
        ("third", "1", 0),
    ]


def test_a_custom_archive_name_format(spark: SparkSession, tmp_path: Path) -> None:
    name_format = "{Namespace}/{EventHub}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}/p{PartitionId}"
    path = tmp_path / archive_name(name_format, "ns", "hub", "5", T0)
    path.parent.mkdir(parents=True)
    path.write_bytes(encode_archive([record(b"x", 0, T0, None)]))
    assert [r.partition for r in read_capture_batch(spark, str(tmp_path), name_format).collect()] == ["5"]
    with pytest.raises(ValueError, match="lacks"):
        read_capture_batch(spark, str(tmp_path), "{Namespace}/{EventHub}")
