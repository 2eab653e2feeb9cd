"""Run a streaming query with trigger(availableNow=True) until it has read everything there is."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery

__all__ = ["Collected", "collect_to_end", "run_to_end"]


def run_to_end(query: StreamingQuery, timeout: float = 120) -> list[int]:
    """Wait for an available-now `query` to finish, then stop it; fail if it failed or took over `timeout` s.

    Returns numInputRows of each non-empty micro-batch, from the query's progress.
    """
    try:
        # pyspark takes float seconds despite its "int" annotation.
        assert query.awaitTermination(timeout), f"the query did not finish in {timeout} s"  # type: ignore[arg-type]
    finally:
        query.stop()
    assert query.exception() is None
    return [p["numInputRows"] for p in query.recentProgress if p["numInputRows"]]


@dataclass
class Collected:
    """What collect_to_end read."""

    rows: list[Any] = field(default_factory=list)  # every row, batch after batch
    batch_sizes: list[int] = field(default_factory=list)  # the rows of each non-empty micro-batch
    input_rows: list[int] = field(default_factory=list)  # numInputRows of each, from the progress


def collect_to_end(
    df: DataFrame, checkpoint: Path, *, timeout: float = 120, into: Collected | None = None
) -> Collected:
    """Run the streaming `df` into foreachBatch with availableNow until it has read everything.

    Rows are added to `into` as each micro-batch arrives, so a caller still has them when the query fails.
    """
    got = Collected() if into is None else into

    def collect(batch: DataFrame, _batch_id: int) -> None:
        rows = batch.collect()
        if rows:
            got.batch_sizes.append(len(rows))
            got.rows.extend(rows)

    query = (
        df.writeStream.foreachBatch(collect)
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    got.input_rows.extend(run_to_end(query, timeout))
    return got
