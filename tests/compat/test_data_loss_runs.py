"""failOnDataLoss on any Spark: tests/jobs/test_data_loss.py's checks, with each read drained by repeated
available-now runs (on Spark 4.0/4.1 a run reads one capped micro-batch; on 4.2+ the first run reads all).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from emulator.process import EmulatorProcess
from jobs.datasource import register
from tests.jobs.test_data_loss import (
    END,
    PARTITIONS,
    PER_TRIGGER,
    assert_data_loss_error,
    bounds,
    by_partition,
    existing,
    retaining_emulator,
    run,
    send,
    wait_for_retention,
)

__all__ = ["retaining_emulator"]  # the fixture, imported for the tests below


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
    spark: SparkSession, retaining_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    register(spark)
    cs = retaining_emulator.connection_string
    checkpoint = tmp_path / "checkpoint"
    send(cs, 0, 10)
    assert by_partition(drain(spark, cs, checkpoint, fail_on_data_loss=None)) == existing(
        dict.fromkeys(PARTITIONS, 0), 10
    )
    send(cs, 10, END)
    begins = wait_for_retention(cs, past=10)
    assert min(begins.values()) >= 20, begins

    delivered: list[Any] = []
    with pytest.raises(Exception, match="data loss") as raised:
        run(spark, cs, checkpoint, fail_on_data_loss=None, options=PER_TRIGGER, rows=delivered)
    assert delivered == []
    assert_data_loss_error(raised.value, 10, 20, begins)

    rows = drain(spark, cs, checkpoint, fail_on_data_loss=False, options=PER_TRIGGER)
    assert by_partition(rows) == existing(begins)
    assert bounds(cs) == {pid: (begins[pid], END) for pid in PARTITIONS}


def test_starting_sequence_number_older_than_retention(
    spark: SparkSession, retaining_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    register(spark)
    cs = retaining_emulator.connection_string
    send(cs, 0, 10)
    send(cs, 10, END)
    begins = wait_for_retention(cs, past=10)
    assert min(begins.values()) >= 15, begins
    options = {"eventhubs.startingPosition": json.dumps({"seqNo": 5}), **PER_TRIGGER}
    with pytest.raises(Exception, match="data loss") as raised:
        run(spark, cs, tmp_path / "strict", fail_on_data_loss=True, options=options)
    assert_data_loss_error(raised.value, 5, 15, begins)
    rows = drain(spark, cs, tmp_path / "lenient", fail_on_data_loss=False, options=options)
    assert by_partition(rows) == existing(begins)
