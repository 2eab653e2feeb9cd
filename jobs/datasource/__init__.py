"""hubstream's Event Hubs source for Spark Structured Streaming (Python Data Source API, Spark 4.0+).

The reader is imported on first use, so `jobs.datasource.connector` and `.options` (what the Scala
connector's path needs) import on Spark 3.5 too, which has no `pyspark.sql.datasource`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .options import EventHubsOptionError, EventHubsOptions, EventPosition

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from .reader import SOURCE_NAME, EventHubsDataSource, EventHubsReadError, EventHubsStreamReader

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

_FROM_READER = frozenset(
    {"SOURCE_NAME", "EventHubsDataSource", "EventHubsReadError", "EventHubsStreamReader"}
)


def __getattr__(name: str) -> Any:
    if name in _FROM_READER:
        from . import reader

        return getattr(reader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register(spark: SparkSession) -> str:
    """Register the source with `spark`; returns the name to pass to `readStream.format(...)`."""
    from .reader import SOURCE_NAME, EventHubsDataSource

    spark.dataSource.register(EventHubsDataSource)
    return SOURCE_NAME
