"""A failed query as one readable line: the Python error inside the Java one, never a key or a stack trace."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from eventhubs.connection_string import Secret, redact

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["quiet_query_errors", "readable_error"]

# The last "SomeError: message" line of a Python traceback carried inside a Java exception's text.
_PYTHON_ERROR = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$", re.MULTILINE)


def readable_error(exc: BaseException, *secrets: Secret) -> str:
    """One line for a failed query: the Python error inside the Java one, never a key or a stack trace."""
    text = str(getattr(exc, "desc", None) or getattr(exc, "message", None) or exc)
    found = list(_PYTHON_ERROR.finditer(text))
    if found:
        # The error's own message may span lines; Spark appends its SQLSTATE and the Java frames.
        tail = text[found[-1].start(1) :]
        tail = re.split(r"\sSQLSTATE:|\n\s*at |\nJVM stacktrace", tail)[0]
        lines: list[str] = []
        for part in tail.splitlines():
            if part.strip() and part.strip() not in lines:
                lines.append(part.strip())
        line = " ".join(lines)
    else:
        line = next((part.strip() for part in text.splitlines() if part.strip()), type(exc).__name__)
    return redact(line, *secrets)


def quiet_query_errors(spark: SparkSession) -> None:
    """Silence the query's own ERROR log: the caller prints readable_error(), without the Java stack trace."""
    try:
        jvm = spark._jvm
        assert jvm is not None
        level = jvm.org.apache.logging.log4j.Level.OFF
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
            "org.apache.spark.sql.execution.streaming", level
        )
    except Exception:
        pass  # only the log's verbosity depends on this
