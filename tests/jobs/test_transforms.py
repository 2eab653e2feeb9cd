"""jobs.transforms on small explicit DataFrames, batch and streaming, on Spark 4 and on Spark 3.5.

The transforms also run on Spark 3 clusters (the Scala connector's), so this file runs without
tests/conftest.py, whose imports need the rest of the project, e.g. in a venv with only pyspark 3.5,
chispa, pytest, pyarrow and pandas, from the repository root:

    PYTHONPATH=. /tmp/spark35/bin/pytest --noconftest -p no:cacheprovider tests/jobs/test_transforms.py
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BinaryType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from jobs.local_spark import local_session
from jobs.transforms import FILE_SINK_NAMES, for_file_sink, hashtag_counts, parse_tweets, readable
from tests.streams import run_to_end


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """The suite's session when one is running (tests/conftest.py's), else this module's own, alike.

    Stopped at the end only when this module started it.
    """
    running = SparkSession.getActiveSession()
    if running is not None:
        yield running
        return
    session = local_session("hubstream-transforms-tests")
    try:
        yield session
    finally:
        session.stop()


EVENTHUB_SCHEMA = StructType(
    [
        StructField("body", BinaryType()),
        StructField("partition", StringType()),
        StructField("offset", StringType()),
        StructField("sequenceNumber", LongType()),
        StructField("enqueuedTime", TimestampType()),
        StructField("publisher", StringType()),
        StructField("partitionKey", StringType()),
        StructField("properties", MapType(StringType(), StringType())),
        StructField("systemProperties", MapType(StringType(), StringType())),
    ]
)

READABLE_SCHEMA = StructType(
    [
        StructField("Offset", LongType()),
        StructField("Time (readable)", TimestampType()),
        StructField("Timestamp", LongType()),
        StructField("Body", StringType()),
        StructField("Partition", StringType()),
        StructField("SequenceNumber", LongType()),
        StructField("Offset (string)", StringType()),
    ]
)

# The tutorial's first two enqueued times, and their epoch seconds as its output prints them.
T0 = datetime(2018, 3, 9, 5, 49, 8, 860000, tzinfo=UTC)
T1 = datetime(2018, 3, 9, 5, 49, 24, 752000, tzinfo=UTC)
T2 = datetime(2018, 3, 9, 5, 49, 30, tzinfo=UTC)


def events(spark: SparkSession, rows: list[tuple[bytes | None, str, str, int, datetime]]) -> DataFrame:
    """Connector-shaped events from (body, partition, offset, sequenceNumber, enqueuedTime)."""
    full: list[tuple[object, ...]] = [
        (bytearray(body) if body is not None else None, part, off, seq, t, None, None, {}, {})
        for body, part, off, seq, t in rows
    ]
    return spark.createDataFrame(full, EVENTHUB_SCHEMA)


def sample_events(spark: SparkSession) -> DataFrame:
    return events(
        spark,
        [
            (b"Azure is the greatest!", "0", "0", 0, T0),
            # A valid "é", then a byte that is never valid UTF-8.
            (b"caf\xc3\xa9 \xff bad", "1", "168", 1, T1),
            # Geo-replicated namespaces hand out offsets like this one.
            (b"geo", "2", "g1:3:176", 2, T2),
        ],
    )


SAMPLE_READABLE = [
    (0, T0, 1520574548, "Azure is the greatest!", "0", 0, "0"),
    (168, T1, 1520574564, "café \ufffd bad", "1", 1, "168"),
    (None, T2, 1520574570, "geo", "2", 2, "g1:3:176"),
]


@pytest.fixture(params=["true", "false"], ids=["ansi", "no-ansi"])
def ansi(spark: SparkSession, request: pytest.FixtureRequest) -> Iterator[str]:
    """spark.sql.ansi.enabled both ways (Spark 4's default is on, Spark 3.5's off), restored afterwards."""
    before = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", request.param)
    try:
        yield request.param
    finally:
        if before is None:
            spark.conf.unset("spark.sql.ansi.enabled")
        else:
            spark.conf.set("spark.sql.ansi.enabled", before)


def test_readable_columns_types_and_values(spark: SparkSession, ansi: str) -> None:
    expected = spark.createDataFrame(SAMPLE_READABLE, READABLE_SCHEMA)
    assert_df_equality(readable(sample_events(spark)), expected, ignore_row_order=True)


# Invalid UTF-8 of every kind. Where Java's decoder (Spark 3's decode) and make_valid_utf8 (Spark 4)
# agree, they agree with Python's: one U+FFFD per maximal invalid subpart (Unicode's recommendation).
INVALID_UTF8 = [
    b"\xff",  # never valid
    b"a\xe2\x82b",  # truncated 3-byte sequence
    b"\xf0\x9f\x98",  # truncated 4-byte sequence at the end
    b"\xc0\xaf",  # overlong "/"
    b"\x80\x80",  # stray continuation bytes
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"ok \xe2\x98\x81",  # valid: "ok ☁"
]
# An encoded surrogate (CESU-8): Java makes it one U+FFFD, make_valid_utf8 three, as Python does.
SURROGATE = b"\xed\xa0\x80"


@pytest.mark.parametrize("as_string", [False, True], ids=["binary-body", "string-body"])
def test_invalid_utf8_becomes_replacement_characters(spark: SparkSession, as_string: bool) -> None:
    df = events(spark, [(raw, "0", str(i), i, T0) for i, raw in enumerate([*INVALID_UTF8, SURROGATE, None])])
    if as_string:  # a body already cast to string keeps its bytes, invalid ones included
        df = df.withColumn("body", F.col("body").cast("string"))
    # The string's bytes as Spark holds them: collect() alone would hide invalid UTF-8, since turning
    # a Spark string into a Python one replaces invalid bytes on the way.
    stored = F.hex(F.col("Body").cast("binary")).alias("stored")
    got = {r.SequenceNumber: r.stored for r in readable(df).select("SequenceNumber", stored).collect()}
    text = {seq: None if h is None else bytes.fromhex(h).decode("utf-8") for seq, h in got.items()}  # strict
    for i, raw in enumerate(INVALID_UTF8):
        assert text[i] == raw.decode("utf-8", errors="replace"), (raw, got[i])
    surrogate = text[len(INVALID_UTF8)]
    assert surrogate and set(surrogate) == {"\ufffd"}, got[len(INVALID_UTF8)]
    assert text[len(INVALID_UTF8) + 1] is None  # no body stays null


def test_for_file_sink_renames_and_writes_parquet(spark: SparkSession, tmp_path: Path) -> None:
    sink_schema = StructType([StructField(FILE_SINK_NAMES[f.name], f.dataType) for f in READABLE_SCHEMA])
    expected = spark.createDataFrame(SAMPLE_READABLE, sink_schema)
    actual = for_file_sink(sample_events(spark))
    assert actual.columns == [
        "offset",
        "time_readable",
        "timestamp",
        "body",
        "partition",
        "sequence_number",
        "offset_string",
    ]
    assert_df_equality(actual, expected, ignore_row_order=True)

    actual.write.parquet(str(tmp_path / "sink"))
    assert_df_equality(spark.read.parquet(str(tmp_path / "sink")), expected, ignore_row_order=True)


def test_readable_names_survive_parquet(spark: SparkSession, tmp_path: Path) -> None:
    # Spark 3.3 dropped Parquet's check on " ,;{}()\n\t=" in names (SPARK-27442): the readable names
    # are not refused here, so for_file_sink exists for Delta, Avro and SQL rather than for Parquet.
    readable(sample_events(spark)).write.parquet(str(tmp_path / "readable"))
    assert spark.read.parquet(str(tmp_path / "readable")).columns == READABLE_SCHEMA.names


TWEETS_SCHEMA = StructType(
    [
        StructField("tweet_id", StringType()),
        StructField("text", StringType()),
        StructField("author_id", StringType()),
        StructField("created_at", TimestampType()),
        StructField("lang", StringType()),
        StructField("enqueuedTime", TimestampType()),
    ]
)


def tweet_body(tweet_id: str, text: str, created_at: str) -> bytes:
    tweet = {"id": tweet_id, "text": text, "author_id": "42", "created_at": created_at, "lang": "en"}
    return json.dumps(tweet, ensure_ascii=False).encode()


def test_parse_tweets_nulls_for_other_bodies(spark: SparkSession) -> None:
    df = events(
        spark,
        [
            (
                tweet_body("1790000000000000001", "Hello #Azure ☁", "2024-05-01T12:34:56.789Z"),
                "0",
                "0",
                0,
                T0,
            ),
            (b'{"id": "2", "text": ', "0", "1", 1, T1),  # truncated JSON
            (b'{"id": "dev-1", "uv": 3, "temperature": 21.5}', "0", "2", 2, T2),  # telemetry, not a tweet
            (b"Azure is the greatest!", "0", "3", 3, T2),
        ],
    )
    expected = spark.createDataFrame(
        [
            (
                "1790000000000000001",
                "Hello #Azure ☁",
                "42",
                datetime(2024, 5, 1, 12, 34, 56, 789000, tzinfo=UTC),
                "en",
                T0,
            ),
            (None, None, None, None, None, T1),
            (None, None, None, None, None, T2),
            (None, None, None, None, None, T2),
        ],
        TWEETS_SCHEMA,
    )
    assert_df_equality(parse_tweets(df), expected, ignore_row_order=True)


TAG_INPUT_SCHEMA = StructType([StructField("text", StringType()), StructField("created_at", TimestampType())])
COUNTS_SCHEMA = StructType(
    [
        StructField("window_start", TimestampType()),
        StructField("window_end", TimestampType()),
        StructField("hashtag", StringType()),
        StructField("count", LongType(), nullable=False),
    ]
)


def at(minute: int, second: int) -> datetime:
    return datetime(2024, 5, 1, 10, minute, second, tzinfo=UTC)


def test_hashtag_counts_batch_two_windows_mixed_case(spark: SparkSession) -> None:
    tweets = spark.createDataFrame(
        [
            ("#Azure rocks #Spark", at(0, 5)),
            ("again #azure and #AZURE", at(0, 40)),  # one tweet, one count
            ("#SPARK meets #Azure_Databricks", at(1, 10)),
            ("no tags at all", at(1, 20)),
            ("#orphan", None),  # no event time: no window
        ],
        TAG_INPUT_SCHEMA,
    )
    expected = spark.createDataFrame(
        [
            (at(0, 0), at(1, 0), "#azure", 2),
            (at(0, 0), at(1, 0), "#spark", 1),
            (at(1, 0), at(2, 0), "#spark", 1),
            (at(1, 0), at(2, 0), "#azure_databricks", 1),
        ],
        COUNTS_SCHEMA,
    )
    assert_df_equality(hashtag_counts(tweets), expected, ignore_row_order=True)


def test_hashtag_counts_streaming_append_emits_closed_windows(spark: SparkSession, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()

    def write(name: str, rows: list[tuple[str, str]]) -> None:
        lines = [json.dumps({"text": text, "created_at": created_at}) for text, created_at in rows]
        (source / name).write_text("\n".join(lines) + "\n")

    write(
        "1.json",
        [
            ("#Azure rocks #Spark", "2024-05-01T10:00:05Z"),
            ("again #azure", "2024-05-01T10:00:40Z"),
            ("#AZURE #spark", "2024-05-01T10:01:10Z"),
        ],
    )
    # Read in a second micro-batch; it moves the watermark to 10:05 - 2 min = 10:03, closing the 10:00
    # and 10:01 windows but not its own. (Spark only promises not to drop data within the watermark, not
    # to drop data behind it, so no late event is asserted on here.)
    write("2.json", [("#later", "2024-05-01T10:05:00Z")])

    stream = spark.readStream.schema(TAG_INPUT_SCHEMA).option("maxFilesPerTrigger", 1).json(str(source))
    query = (
        hashtag_counts(stream)
        .writeStream.format("memory")
        .queryName("hashtag_counts_stream")
        # Append: each window is written once, final, after the watermark passes its end.
        .outputMode("append")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    run_to_end(query, timeout=60)
    progress = query.lastProgress
    assert progress is not None
    # A dict on Spark 3.5; on Spark 4 a StreamingQueryProgress, which is a dict too.
    assert progress["eventTime"]["watermark"] == "2024-05-01T10:03:00.000Z"

    expected = spark.createDataFrame(
        [
            (at(0, 0), at(1, 0), "#azure", 2),
            (at(0, 0), at(1, 0), "#spark", 1),
            (at(1, 0), at(2, 0), "#azure", 1),
            (at(1, 0), at(2, 0), "#spark", 1),
        ],
        COUNTS_SCHEMA,
    )
    # The memory sink's table declares every column nullable, count included.
    assert_df_equality(
        spark.table("hashtag_counts_stream"), expected, ignore_row_order=True, ignore_nullable=True
    )
