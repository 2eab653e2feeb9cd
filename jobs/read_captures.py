"""Read Event Hubs Capture files with Spark, batch or streaming: extract -> transform -> load.

    python -m jobs.read_captures capture/                           # every file, readable columns, console
    python -m jobs.read_captures capture/ --stream --sink parquet --path out/events --checkpoint out/cp
    python -m jobs.read_captures wasbs://capture@ACCOUNT.blob.core.windows.net/ --stream   (Databricks)

Extract with Spark's Avro file format (`format("avro")` where spark-avro is deployed, as on Databricks;
the pip pyspark has no spark-avro package, but Spark 4's spark-sql carries the same reader as
`org.apache.spark.sql.avro.AvroFileFormat`: `avro_format` picks the one that works), files named by the
hub's archive name format under a root; transform with `jobs.transforms.from_capture` then `readable`
(`for_file_sink` for files), the columns the Event Hubs job gives; load with jobs/read_events.py's sinks.
A stream picks up each new capture file as it appears (Spark's file source lists the glob every batch).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if not __package__:
    # Run as a file (spark-submit jobs/read_captures.py): make `eventhubs` and `jobs` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventhubs import capture as capture_format
from eventhubs.capture import DEFAULT_ARCHIVE_NAME_FORMAT
from jobs.read_events import SINKS, start_query, transform
from jobs.transforms import CAPTURE_FILE_COLUMN, from_capture
from jobs.trigger import parse_trigger

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

__all__ = [
    "AVRO_CLASS_FORMAT",
    "avro_format",
    "capture_events",
    "capture_path",
    "capture_spark_schema",
    "main",
    "read_capture_batch",
    "read_capture_stream",
]

AVRO_SHORT_FORMAT = "avro"
AVRO_CLASS_FORMAT = "org.apache.spark.sql.avro.AvroFileFormat"
# What Spark says when spark-avro is not deployed (the condition in Spark 4, the message in Spark 3).
_AVRO_MISSING = ("AVRO_DATA_SOURCE_NOT_ENABLED", "Failed to find data source: avro")

_PRIMITIVES = {
    "null": "NullType",
    "boolean": "BooleanType",
    "int": "IntegerType",
    "long": "LongType",
    "float": "FloatType",
    "double": "DoubleType",
    "bytes": "BinaryType",
    "string": "StringType",
}


def _spark_type(avro: Any) -> tuple[DataType, bool]:
    """An Avro type as Spark's Avro reader reads it, and whether it is nullable."""
    from pyspark.sql import types as T

    if isinstance(avro, str):
        return getattr(T, _PRIMITIVES[avro])(), avro == "null"
    if isinstance(avro, list):  # a union: [null, X] is a nullable X; others a struct member0..memberN
        branches = [b for b in avro if b != "null"]
        if len(branches) == 1:
            return _spark_type(branches[0])[0], True
        members = [T.StructField(f"member{i}", _spark_type(b)[0], True) for i, b in enumerate(branches)]
        return T.StructType(members), "null" in avro
    if avro["type"] == "record":
        return _struct(avro), False
    if avro["type"] == "map":
        values, nullable = _spark_type(avro["values"])
        return T.MapType(T.StringType(), values, nullable), False
    if avro["type"] == "array":
        items, nullable = _spark_type(avro["items"])
        return T.ArrayType(items, nullable), False
    raise ValueError(f"Avro type {avro!r} has no Spark type here")


def _struct(record: dict[str, Any]) -> StructType:
    from pyspark.sql.types import StructField, StructType

    fields = []
    for field in record["fields"]:
        spark_type, _ = _spark_type(field["type"])
        # Spark's Avro reader makes every top-level column nullable.
        fields.append(StructField(field["name"], spark_type, True))
    return StructType(fields)


def capture_spark_schema() -> StructType:
    """Capture's Avro schema (eventhubs.capture.CAPTURE_SCHEMA) as Spark's Avro reader reads it.

    A stream needs its schema up front (there may be no file yet to read it from).
    """
    return _struct(capture_format.CAPTURE_SCHEMA)


def avro_format(spark: SparkSession) -> str:
    """`avro` where spark-avro is deployed (Databricks), else the class Spark 4's spark-sql carries."""
    try:
        # Spark looks the format up before it looks at the path, so a path that is not there will do;
        # Spark Connect analyses (and so looks up) only when asked for the schema.
        probe = spark.read.format(AVRO_SHORT_FORMAT).schema(capture_spark_schema())
        _ = probe.load("/nonexistent-hubstream-probe").schema
    except Exception as e:
        if any(marker in str(e) for marker in _AVRO_MISSING):
            return AVRO_CLASS_FORMAT
    return AVRO_SHORT_FORMAT


def capture_path(root: str, name_format: str = DEFAULT_ARCHIVE_NAME_FORMAT) -> str:
    """The glob of every capture file under `root` (a folder or a wasbs:// / abfss:// URL)."""
    return root.rstrip("/") + "/" + capture_format.archive_glob(name_format)


def capture_events(df: DataFrame, name_format: str = DEFAULT_ARCHIVE_NAME_FORMAT) -> DataFrame:
    """Capture records (with `capture_file`) in the connector's schema: `from_capture` for this format."""
    group = capture_format.archive_name_tokens(name_format).index("PartitionId") + 1
    return from_capture(df, capture_format.archive_name_pattern(name_format), group)


def _with_file(df: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return df.select("*", F.col("_metadata.file_path").alias(CAPTURE_FILE_COLUMN))


def read_capture_batch(
    spark: SparkSession, root: str, name_format: str = DEFAULT_ARCHIVE_NAME_FORMAT
) -> DataFrame:
    """Extract and transform: every capture file under `root`, in the connector's schema."""
    reader = spark.read.format(avro_format(spark)).schema(capture_spark_schema())
    return capture_events(_with_file(reader.load(capture_path(root, name_format))), name_format)


def read_capture_stream(
    spark: SparkSession,
    root: str,
    name_format: str = DEFAULT_ARCHIVE_NAME_FORMAT,
    *,
    max_files_per_trigger: int | None = None,
) -> DataFrame:
    """Extract and transform, streaming: each capture file under `root` once, as it appears."""
    reader = spark.readStream.format(avro_format(spark)).schema(capture_spark_schema())
    if max_files_per_trigger is not None:
        reader = reader.option("maxFilesPerTrigger", max_files_per_trigger)
    return capture_events(_with_file(reader.load(capture_path(root, name_format))), name_format)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.read_captures",
        description="Read Event Hubs Capture files (Avro) with Spark into the Event Hubs job's readable "
        "columns: once (batch), or as a stream that picks up new files.",
    )
    parser.add_argument("root", help="the folder or container URL the hub captures into")
    parser.add_argument(
        "--archive-name-format",
        default=DEFAULT_ARCHIVE_NAME_FORMAT,
        metavar="FORMAT",
        help="the hub's Capture file name format (default: %(default)s)",
    )
    parser.add_argument("--stream", action="store_true", help="a streaming query: new files as they come")
    parser.add_argument("--sink", choices=SINKS, default="console", help="where rows go (%(default)s)")
    parser.add_argument("--path", help="the output folder of a parquet, json or csv sink")
    parser.add_argument("--checkpoint", help="the stream's checkpoint folder (default: a temporary one)")
    parser.add_argument(
        "--trigger",
        default="available-now",
        help="the stream's trigger: available-now or processing-time:<interval> (%(default)s)",
    )
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="stop a stream after this long")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        trigger = parse_trigger(args.trigger)
        capture_format.archive_name_tokens(args.archive_name_format)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.sink in ("parquet", "json", "csv") and not args.path:
        print(f"error: the {args.sink} sink needs a path: give --path DIR", file=sys.stderr)
        return 2
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("hubstream-read-captures").getOrCreate()
    if not args.stream:
        events = transform(read_capture_batch(spark, args.root, args.archive_name_format), args.sink)
        if args.sink == "console":
            events.show(1000, truncate=False)
        elif args.sink == "memory":
            events.createOrReplaceTempView("captures")
        else:
            events.write.mode("append").format(args.sink).save(args.path)
        return 0
    events = read_capture_stream(spark, args.root, args.archive_name_format)
    with tempfile.TemporaryDirectory(prefix="hubstream-checkpoint-") as scratch:
        query = start_query(
            transform(events, args.sink), args.sink, args.path, args.checkpoint or scratch, trigger
        )
        try:
            if args.timeout is None:
                query.awaitTermination()
            else:
                query.awaitTermination(args.timeout)
        except KeyboardInterrupt:
            print("interrupted: stopping the query", file=sys.stderr)
        finally:
            query.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
