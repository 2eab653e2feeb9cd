"""hubstream's Event Hubs source for Spark Structured Streaming (Python Data Source API, Spark 4.0+)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .options import EventHubsOptionError, EventHubsOptions, EventPosition
from .reader import SOURCE_NAME, EventHubsDataSource, EventHubsReadError, EventHubsStreamReader

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "SOURCE_NAME",
    "EventHubsDataSource",
    "EventHubsOptionError",
    "EventHubsOptions",
    "EventHubsReadError",
    "EventHubsStreamReader",
    "EventPosition",
    "register",
]


def register(spark: SparkSession) -> str:
    """Register the source with `spark`; returns the name to pass to `readStream.format(...)`."""
    spark.dataSource.register(EventHubsDataSource)
    return SOURCE_NAME
