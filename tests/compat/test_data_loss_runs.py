"""failOnDataLoss on any Spark: tests/jobs/test_data_loss.py's checks, with each read drained by repeated
available-now runs (on Spark 4.0/4.1 a run reads one capped micro-batch; on 4.2+ the first run reads all).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from tests.jobs.test_data_loss import (
    END,
    PARTITIONS,
    PER_TRIGGER,
    bounds,
    by_partition,
    existing,
    lose_unread_events,
    retained_cs,
    retaining_emulator,
    run,
    send,
    start_before_retention,
)

__all__ = ["retained_cs", "retaining_emulator"]  # the fixtures, imported for the tests below


def committed(checkpoint: Path) -> dict[str, int]:
    """The source's offsets of the last micro-batch the checkpoint has committed ({} before any)."""
    done = [int(f.name) for f in (checkpoint / "commits").glob("*") if f.name.isdigit()]
    if not done:
        return {}
    lines = (checkpoint / "offsets" / str(max(done))).read_text().splitlines()
    return {pid: int(seq) for pid, seq in json.loads(lines[-1]).items()}


def drain(spark: SparkSession, cs: str, checkpoint: Path, **kwargs: Any) -> list[Any]:
    """Available-now runs until the checkpoint is at the hub's end; every row they delivered.

    A run may deliver nothing and still move on (a micro-batch whose events retention removed, skipped),
    so the checkpoint, not the rows, says when the hub is drained.
    """
    rows: list[Any] = []
    for _ in range(10):
        rows += run(spark, cs, checkpoint, **kwargs)
        if committed(checkpoint) == {pid: end for pid, (_, end) in bounds(cs).items()}:
            return rows
    raise AssertionError(f"10 available-now runs did not drain the hub: at {committed(checkpoint)}")


def test_retention_past_the_checkpoint_fails_the_query_or_skips_the_gap(
    spark: SparkSession, retained_cs: str, tmp_path: Path
) -> None:
    cs = retained_cs
    checkpoint = tmp_path / "checkpoint"
    send(cs, 0, 10)
    assert by_partition(drain(spark, cs, checkpoint, fail_on_data_loss=None)) == existing(
        dict.fromkeys(PARTITIONS, 0), 10
    )
    begins = lose_unread_events(spark, cs, checkpoint)

    rows = drain(spark, cs, checkpoint, fail_on_data_loss=False, options=PER_TRIGGER)
    assert by_partition(rows) == existing(begins)
    assert bounds(cs) == {pid: (begins[pid], END) for pid in PARTITIONS}


def test_starting_sequence_number_older_than_retention(
    spark: SparkSession, retained_cs: str, tmp_path: Path
) -> None:
    begins, options = start_before_retention(spark, retained_cs, tmp_path / "strict")
    rows = drain(spark, retained_cs, tmp_path / "lenient", fail_on_data_loss=False, options=options)
    assert by_partition(rows) == existing(begins)
