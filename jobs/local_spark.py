"""A Spark session on this machine for the tests, the demos and the benchmarks: one place for its settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from pyspark.sql import SparkSession


def local_session(
    app_name: str, conf: Mapping[str, str] | None = None, *, log_level: str = "WARN"
) -> SparkSession:
    """2 cores, few shuffle partitions, no UI and no progress bars (they would garble console batches),
    UTC; Python workers run this interpreter (the venv's); `conf` adds settings (e.g. the Scala
    connector's packages)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master("local[2]").appName(app_name)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    session = (
        builder.config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel(log_level)
    return session
