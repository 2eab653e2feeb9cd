"""Stand-ins for `pyspark.sql.streaming.datasource`'s read limits on Spark 4.0 and 4.1 (same fields)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


class ReadLimit(ABC):  # noqa: B024 (a marker, as in Spark)
    """How much a micro-batch may read."""


@dataclass
class ReadAllAvailable(ReadLimit):
    pass


@dataclass
class ReadMinRows(ReadLimit):
    min_rows: int


@dataclass
class ReadMaxRows(ReadLimit):
    max_rows: int


class SupportsTriggerAvailableNow(ABC):
    @abstractmethod
    def prepareForTriggerAvailableNow(self) -> None: ...
