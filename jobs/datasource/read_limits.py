"""Spark's read limits for Python streaming sources, or stand-ins where this Spark has none (4.0, 4.1).

Spark 4.2 added streaming admission control to the Python Data Source API: it calls
`latestOffset(start, limit)` with one of these limits, and `prepareForTriggerAvailableNow()` on readers
that are `SupportsTriggerAvailableNow`. Spark 4.0 and 4.1 call `latestOffset()` with no arguments and have
neither class; there the reader applies its own default limit (`EventHubsStreamReader.latestOffset`), and
the stand-ins below let it do so with the same code.
"""

from __future__ import annotations

import inspect

from pyspark.sql.datasource import DataSourceStreamReader

try:
    from pyspark.sql.streaming.datasource import (
        ReadAllAvailable,
        ReadLimit,
        ReadMaxRows,
        ReadMinRows,
        SupportsTriggerAvailableNow,
    )
except ImportError:  # Spark 4.0 and 4.1
    from ._read_limits_fallback import (  # type: ignore[assignment]
        ReadAllAvailable,
        ReadLimit,
        ReadMaxRows,
        ReadMinRows,
        SupportsTriggerAvailableNow,
    )

__all__ = [
    "ADMISSION_CONTROL",
    "ReadAllAvailable",
    "ReadLimit",
    "ReadMaxRows",
    "ReadMinRows",
    "SupportsTriggerAvailableNow",
]

# Whether this Spark passes start and read limit to latestOffset: the base class's signature says so.
ADMISSION_CONTROL = len(inspect.signature(DataSourceStreamReader.latestOffset).parameters) > 1
