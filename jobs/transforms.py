"""Pure DataFrame transforms for Event Hubs events: readable columns, file-sink names, tweets, hashtags.

Every function takes and returns a DataFrame (batch or streaming) and does no I/O. The input of
`readable` and `parse_tweets` has the Event Hubs connector's schema: `body binary, partition string,
offset string, sequenceNumber long, enqueuedTime timestamp, publisher string, partitionKey string,
properties map<string,string>, systemProperties map<string,string>`.

One code path for Spark 3.5 (the Scala connector's clusters) and Spark 4: only functions both have, and
where they differ (repairing invalid UTF-8) the expression is chosen by what the running Spark has.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, DataType, LongType, StringType, StructField, StructType

__all__ = [
    "CAPTURE_FILE_COLUMN",
    "CAPTURE_TIME_FORMAT",
    "FILE_SINK_NAMES",
    "TWEET_JSON_SCHEMA",
    "for_file_sink",
    "from_capture",
    "hashtag_counts",
    "parse_tweets",
    "readable",
]

# readable()'s columns, in order, and the snake_case name each gets in for_file_sink().
FILE_SINK_NAMES: dict[str, str] = {
    "Offset": "offset",
    "Time (readable)": "time_readable",
    "Timestamp": "timestamp",
    "Body": "body",
    "Partition": "partition",
    "SequenceNumber": "sequence_number",
    "Offset (string)": "offset_string",
}

# Every field is read as a string: ids stay strings (tweet ids overflow doubles in JSON tooling), and
# created_at is converted afterwards so one bad date nulls only that column, not the whole tweet.
TWEET_JSON_SCHEMA = StructType(
    [
        StructField("id", StringType()),
        StructField("text", StringType()),
        StructField("author_id", StringType()),
        StructField("created_at", StringType()),
        StructField("lang", StringType()),
    ]
)


def _utf8_decoder(spark: SparkSession) -> Callable[[Column], Column]:
    """Binary to string on the running Spark, every invalid UTF-8 sequence replaced with U+FFFD.

    cast() copies the bytes unchecked on every version (invalid UTF-8 survives into the string). Spark 4's
    decode() raises MALFORMED_CHARACTER_CODING whatever spark.sql.ansi.enabled says, but it has
    make_valid_utf8; Spark 3's decode() replaces (it is java.lang.String's decoder), and it has no
    make_valid_utf8. Asking the catalog rather than parsing the version also follows runtimes (such
    as Databricks') that backport functions. Both give one U+FFFD per maximal invalid subpart, except
    for an encoded surrogate (ED A0 80): one U+FFFD on Spark 3, three on Spark 4.
    """
    if spark.catalog.functionExists("make_valid_utf8"):
        return lambda data: F.call_function("make_valid_utf8", data.cast("string"))
    return lambda data: F.decode(data, "UTF-8")


def _body_text(df: DataFrame) -> Column:
    """`df`'s body (binary or string) as a string, every invalid UTF-8 sequence replaced with U+FFFD."""
    body, body_type = F.col("body"), df.schema["body"].dataType
    if not isinstance(body_type, BinaryType | StringType):
        raise TypeError(f"body must be binary or string, not {body_type}")
    # A string body may hold invalid UTF-8 too (cast from binary upstream): its bytes are repaired alike.
    data = body if isinstance(body_type, BinaryType) else body.cast("binary")
    return _utf8_decoder(df.sparkSession)(data)


def _try_cast(column: str, to: DataType) -> Column:
    """`column` cast to `to`, null where it does not fit, whatever spark.sql.ansi.enabled says.

    The try_cast SQL function is in Spark 3.2+; Column.try_cast only in Spark 4.
    """
    return F.expr(f"try_cast(`{column}` AS {to.simpleString()})")


def readable(df: DataFrame) -> DataFrame:
    """The tutorial's readable columns, plus partition, sequence number and the raw offset.

    `Offset` is the offset as a long, null when it is not a base-10 integer that fits one (geo-replicated
    namespaces use non-numeric offsets); `Offset (string)` always keeps the original, so nothing is lost.
    `Timestamp` is `enqueuedTime` in whole epoch seconds; `Body` is the body as UTF-8 text with invalid
    sequences replaced by U+FFFD.
    """
    return df.select(
        # try_cast: with ANSI mode on (Spark 4's default) cast() fails the query on a non-numeric offset.
        _try_cast("offset", LongType()).alias("Offset"),
        F.col("enqueuedTime").alias("Time (readable)"),
        F.unix_seconds(F.col("enqueuedTime")).alias("Timestamp"),
        _body_text(df).alias("Body"),
        F.col("partition").alias("Partition"),
        F.col("sequenceNumber").alias("SequenceNumber"),
        F.col("offset").alias("Offset (string)"),
    )


def for_file_sink(df: DataFrame) -> DataFrame:
    """`readable(df)` with snake_case names (`offset`, `time_readable`, ...) for file and table sinks.

    Spark's own Parquet writer (3.3+) accepts spaces and parentheses, but Delta tables without column
    mapping, Avro, and SQL written by hand do not take them well.
    """
    return readable(df).withColumnsRenamed(FILE_SINK_NAMES)


def parse_tweets(df: DataFrame) -> DataFrame:
    """The producer's tweet JSON bodies as `tweet_id, text, author_id, created_at, lang, enqueuedTime`.

    A body that is not a JSON object with a non-null `id` and `text` (malformed JSON, telemetry, a test
    string) is not an error: its row is kept with every tweet column null. `created_at` is ISO-8601 (`Z`
    or an offset; without one it is read in the session time zone) and is null when unparseable.
    """
    tweet = F.from_json(_body_text(df), TWEET_JSON_SCHEMA)
    # Any JSON object parses against the schema, so require the fields every tweet has.
    is_tweet = tweet["id"].isNotNull() & tweet["text"].isNotNull()

    def field(value: Column, name: str) -> Column:
        return F.when(is_tweet, value).alias(name)

    return df.select(
        field(tweet["id"], "tweet_id"),
        field(tweet["text"], "text"),
        field(tweet["author_id"], "author_id"),
        # try_to_timestamp without a format parses like a cast: ISO-8601, fractions and zones included.
        field(F.try_to_timestamp(tweet["created_at"]), "created_at"),
        field(tweet["lang"], "lang"),
        F.col("enqueuedTime"),
    )


def hashtag_counts(tweets_df: DataFrame, window: str = "1 minute", watermark: str = "2 minutes") -> DataFrame:
    """Tweets per lower-cased hashtag per tumbling `window` of `created_at`, late data bounded by `watermark`.

    Columns `window_start, window_end, hashtag, count`. A hashtag is `#` and word characters (Unicode
    ones too, so `#Café` is one tag); a tweet repeating a tag in any case counts once. Only
    streaming-compatible operations, so it works on a streaming DataFrame (in append mode a window is
    emitted once the watermark passes its end) as well as on a batch one (the watermark is then a no-op).
    """
    tags = (
        tweets_df.withWatermark("created_at", watermark)
        .where(F.col("created_at").isNotNull())
        .select(
            "created_at",
            F.explode(
                # Lower-case first so #Azure and #AZURE are one tag; (?U) makes \w match beyond ASCII.
                F.array_distinct(F.regexp_extract_all(F.lower("text"), F.lit(r"(?U)#\w+"), F.lit(0)))
            ).alias("hashtag"),
        )
    )
    counts = tags.groupBy(F.window("created_at", window).alias("window"), "hashtag").count()
    return counts.select(
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        "hashtag",
        "count",
    )


# from_capture's input: Capture's Avro record as Spark reads it, plus the file's path in this column.
CAPTURE_FILE_COLUMN = "capture_file"
# EnqueuedTimeUtc as the service writes it ("12/2/2021 2:58:24 PM"), in Spark's datetime pattern.
CAPTURE_TIME_FORMAT = "M/d/yyyy h:mm:ss a"


def _capture_value_text(value: Column) -> Column:
    """A Capture property value (the union [long, double, string, bytes], which Spark reads as a struct
    member0..member3) as the connector's text: strings as they are, numbers and bytes cast."""
    return F.coalesce(
        value["member2"],
        value["member0"].cast("string"),
        value["member1"].cast("string"),
        value["member3"].cast("string"),
    )


def from_capture(df: DataFrame, partition_pattern: str, partition_group: int) -> DataFrame:
    """Event Hubs Capture records in the connector's schema, so `readable` and the rest apply to them.

    `df` has Capture's Avro fields (SequenceNumber, Offset, EnqueuedTimeUtc, SystemProperties,
    Properties, Body) and `capture_file`, the file's path; the partition is group `partition_group` of
    the regex `partition_pattern` in that path (eventhubs.capture makes both from the archive
    name format), null when the path does not match. The enqueued time is SystemProperties'
    x-opt-enqueued-time (milliseconds) when present, else EnqueuedTimeUtc (whole seconds).
    """
    system = F.col("SystemProperties")
    partition = F.regexp_extract(F.col(CAPTURE_FILE_COLUMN), partition_pattern, partition_group)
    return df.select(
        F.col("Body").alias("body"),
        F.when(partition != "", partition).alias("partition"),
        F.col("Offset").alias("offset"),
        F.col("SequenceNumber").alias("sequenceNumber"),
        F.coalesce(
            F.timestamp_millis(system["x-opt-enqueued-time"]["member0"]),
            F.try_to_timestamp(F.col("EnqueuedTimeUtc"), F.lit(CAPTURE_TIME_FORMAT)),
        ).alias("enqueuedTime"),
        _capture_value_text(system["x-opt-publisher"]).alias("publisher"),
        _capture_value_text(system["x-opt-partition-key"]).alias("partitionKey"),
        F.transform_values("Properties", lambda _, v: _capture_value_text(v)).alias("properties"),
        F.transform_values("SystemProperties", lambda _, v: _capture_value_text(v)).alias("systemProperties"),
    )
