"""What the parity test compares, computed the same way on Spark 3.5 (the connector) and Spark 4 (our
source): the tutorial's readable columns, and each event's partition key and properties beside them."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.transforms import readable


def parity_frame(events: DataFrame) -> DataFrame:
    """`events` in the connector's schema (a batch DataFrame) as readable columns, key and properties."""
    extra = events.select(
        F.col("partition").alias("Partition"),
        F.col("sequenceNumber").alias("SequenceNumber"),
        "partitionKey",
        "properties",
    )
    return (
        readable(events).join(extra, ["Partition", "SequenceNumber"]).orderBy("Partition", "SequenceNumber")
    )
