"""failOnDataLoss end to end: the emulator's retention really removes events a checkpoint still points at.

The emulator keeps events in memory (there retention drops single events; the disk store drops whole
64 MiB segments), at most MAX_RETENTION_BYTES per partition, and checks retention every 0.2 s. Ten small
events fit; thirty large ones do not, so retention removes every event from 10 up to some `begin`
between 10 and 40, which the tests read back from the hub rather than assume.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from emulator.config import default_config, load_config
from emulator.namespace import Namespace
from emulator.process import EmulatorProcess
from emulator.server import EmulatorServer
from emulator.storage import MemoryStore
from jobs.datasource import SOURCE_NAME, EventHubsOptions, EventHubsStreamReader, register
from jobs.datasource import reader as reader_module
from tests.sdk_events import partition_bounds, send_to_partitions
from tests.streams import Collected, collect_to_end

HUB = "retained"
PARTITIONS = ("0", "1")
MAX_RETENTION_BYTES = 4096
RETENTION_CONFIG = f"""
namespace = "emulator"
retention_check_seconds = 0.2
[keys]
RootManageSharedAccessKey = "SAS_KEY_VALUE"
[[hubs]]
name = "{HUB}"
partitions = {len(PARTITIONS)}
max_retention_bytes = {MAX_RETENTION_BYTES}
"""
SMALL, LARGE = 16, 400  # body sizes
END = 40  # events 0..9 small, 10..39 large, in every partition
# 10 events per partition and micro-batch: the first batch after the checkpoint at 10 plans [10, 20),
# a range retention has removed entirely (the service then starts at an event past its end).
PER_TRIGGER = {"maxEventsPerTrigger": str(10 * len(PARTITIONS))}


@pytest.fixture
def retaining_emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    config = tmp_path / "retention.toml"
    config.write_text(RETENTION_CONFIG)
    process = EmulatorProcess(config=config, log_file=tmp_path / "emulator.log")  # no data_dir: in memory
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def retained_cs(spark: SparkSession, retaining_emulator: EmulatorProcess) -> str:
    """The retaining emulator's connection string, with the source registered in `spark`."""
    register(spark)
    return retaining_emulator.connection_string


def body(pid: str, seq: int) -> str:
    return f"{pid}:{seq}:".ljust(SMALL if seq < 10 else LARGE, ".")


def send(cs: str, first: int, end: int) -> None:
    """Events first..end-1 of every partition, one batch (so one append) per partition."""
    send_to_partitions(
        cs, {pid: [body(pid, seq) for seq in range(first, end)] for pid in PARTITIONS}, hub=HUB
    )


def bounds(cs: str) -> dict[str, tuple[int, int]]:
    """Per partition: (first retained sequence number, last enqueued one + 1), as the hub reports them."""
    return partition_bounds(cs, HUB)


def wait_for_retention(cs: str, past: int, timeout: float = 15.0) -> dict[str, int]:
    """Wait until retention removed every partition's events up to `past`; each one's first kept event."""
    deadline = time.monotonic() + timeout
    while True:
        found = bounds(cs)
        if all(begin > past for begin, _ in found.values()):
            begins = {pid: begin for pid, (begin, _) in found.items()}
            # Some events of the last append remain, and every later one: the gap ends inside it.
            assert found == {pid: (begins[pid], END) for pid in PARTITIONS} and max(begins.values()) < END
            return begins
        if time.monotonic() > deadline:
            raise AssertionError(f"retention did not remove events up to {past} in {timeout} s: {found}")
        time.sleep(0.2)


def run(
    spark: SparkSession,
    cs: str,
    checkpoint: Path,
    fail_on_data_loss: bool | None,
    options: dict[str, str] | None = None,
    rows: list[Any] | None = None,
) -> list[Any]:
    """One availableNow run of the source into foreachBatch; the rows it delivered (raises if it fails).

    Rows are appended to `rows` as each micro-batch arrives, so a caller can see them after a failure.
    """
    rows = [] if rows is None else rows
    options = dict(options or {})

    if fail_on_data_loss is not None:  # None: the default, which must be true
        options["failOnDataLoss"] = str(fail_on_data_loss).lower()
    events = (
        spark.readStream.format(SOURCE_NAME)
        .options(**{"eventhubs.connectionString": cs, "eventhubs.name": HUB}, **options)
        .load()
    )
    selected = events.select("partition", "sequenceNumber", F.col("body").cast("string"))
    collect_to_end(selected, checkpoint, into=Collected(rows=rows))
    return rows


def committed(checkpoint: Path) -> dict[str, int]:
    """The source's offsets of the last micro-batch the checkpoint has committed ({} before any)."""
    done = [int(f.name) for f in (checkpoint / "commits").glob("*") if f.name.isdigit()]
    if not done:
        return {}
    lines = (checkpoint / "offsets" / str(max(done))).read_text().splitlines()
    return {pid: int(seq) for pid, seq in json.loads(lines[-1]).items()}


def drain(
    spark: SparkSession,
    cs: str,
    checkpoint: Path,
    fail_on_data_loss: bool | None,
    options: dict[str, str] | None = None,
) -> list[Any]:
    """Available-now runs until the checkpoint is at the hub's end; every row they delivered.

    On Spark 4.0/4.1 a run reads one capped micro-batch, on 4.2+ the first run reads all (`make test-compat`
    runs these tests on 4.0 and 4.1). A run may deliver nothing and still move on (a micro-batch whose
    events retention removed, skipped), so the checkpoint, not the rows, says when the hub is drained.
    """
    rows: list[Any] = []
    for _ in range(10):
        rows += run(spark, cs, checkpoint, fail_on_data_loss, options)
        if committed(checkpoint) == {pid: end for pid, (_, end) in bounds(cs).items()}:
            return rows
    raise AssertionError(f"10 available-now runs did not drain the hub: at {committed(checkpoint)}")


def by_partition(rows: list[Any]) -> dict[str, list[tuple[int, str]]]:
    """Sorted (sequence number, body) per partition; duplicates kept, so they fail comparisons."""
    found: dict[str, list[tuple[int, str]]] = {pid: [] for pid in PARTITIONS}
    for row in rows:
        found[row.partition].append((row.sequenceNumber, row.body))
    return {pid: sorted(events) for pid, events in found.items()}


def existing(begins: dict[str, int], end: int = END) -> dict[str, list[tuple[int, str]]]:
    """What a reader may deliver: every partition's events from its first retained one to `end`."""
    return {pid: [(seq, body(pid, seq)) for seq in range(begins[pid], end)] for pid in PARTITIONS}


def gaps(text: str, start: int, end: int, begins: dict[str, int]) -> list[str]:
    """The partitions whose gap in [start, end) `text` names exactly: from `start` to the last event gone.

    The last one is begin - 1, or end - 1 when the whole range is gone (the message may clamp to it).
    """
    named = []
    for pid in PARTITIONS:
        pattern = (
            rf"events {start}\.\.(\d+) are gone \(retention\) from event hub '{HUB}', "
            rf"[^\n]*?partition {pid}, sequence numbers \[{start}, {end}\)"
        )
        for match in re.finditer(pattern, text):
            if int(match.group(1)) in (begins[pid] - 1, min(begins[pid], end) - 1):
                named.append(pid)
    return named


def assert_data_loss_error(error: BaseException, start: int, end: int, begins: dict[str, int]) -> None:
    """The query's error names data loss, one partition with its exact gap, and the option that skips it."""
    message = str(error)
    assert "data loss" in message, message
    assert "Set failOnDataLoss=false to skip" in message, message  # the fix
    assert gaps(message, start, end, begins), f"no gap from {start} (begins {begins}) named in: {message}"
    assert "SAS_KEY_VALUE" not in message


def lose_unread_events(spark: SparkSession, cs: str, checkpoint: Path) -> dict[str, int]:
    """With the query stopped and its checkpoint at 10 in every partition, retention removes events it has
    not read: 10 to begin - 1, so [10, 20) entirely. failOnDataLoss defaults to true: the restarted query
    fails at its first micro-batch, [10, 20), delivering nothing, and says which events of which partition
    are gone and how to skip them. Each partition's first retained sequence number."""
    send(cs, 10, END)
    begins = wait_for_retention(cs, past=10)
    assert min(begins.values()) >= 20, begins  # so [10, 20) is gone entirely
    delivered: list[Any] = []
    with pytest.raises(Exception, match="data loss") as raised:
        run(spark, cs, checkpoint, fail_on_data_loss=None, options=PER_TRIGGER, rows=delivered)
    assert delivered == []
    assert_data_loss_error(raised.value, 10, 20, begins)
    return begins


def start_before_retention(
    spark: SparkSession, cs: str, checkpoint: Path
) -> tuple[dict[str, int], dict[str, str]]:
    """All END events sent and retention past [5, 15): a new query starting at seqNo 5 with
    failOnDataLoss=true fails in its first micro-batch, [5, 15). Each partition's first retained sequence
    number, and the query's options."""
    send(cs, 0, 10)
    send(cs, 10, END)
    begins = wait_for_retention(cs, past=10)
    assert min(begins.values()) >= 15, begins  # so [5, 15) is gone entirely
    options = {"eventhubs.startingPosition": json.dumps({"seqNo": 5}), **PER_TRIGGER}
    with pytest.raises(Exception, match="data loss") as raised:
        run(spark, cs, checkpoint, fail_on_data_loss=True, options=options)
    assert_data_loss_error(raised.value, 5, 15, begins)  # in the first micro-batch, [5, 15)
    return begins, options


def test_retention_past_the_checkpoint_fails_the_query_or_skips_the_gap(
    spark: SparkSession, retained_cs: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cs = retained_cs
    checkpoint = tmp_path / "checkpoint"

    send(cs, 0, 10)
    assert bounds(cs) == {pid: (0, 10) for pid in PARTITIONS}  # within the size limit: all kept
    rows = drain(spark, cs, checkpoint, fail_on_data_loss=None)
    assert by_partition(rows) == existing({pid: 0 for pid in PARTITIONS}, 10)

    # (a) Retention removes unread events; the restarted query fails at its first micro-batch.
    begins = lose_unread_events(spark, cs, checkpoint)

    # (b) The same checkpoint with failOnDataLoss=false: the query completes (re-running that planned
    # micro-batch, then [20, 30) and [30, 40)) with exactly the events that still exist, each once.
    rows = drain(spark, cs, checkpoint, fail_on_data_loss=False, options=PER_TRIGGER)
    assert by_partition(rows) == existing(begins)

    # The warnings it logs: Python workers' logs reach neither caplog nor, for data source reads,
    # Spark's python_worker_logs(), so read the same ranges with the source's own reader here.
    options = {"eventhubs.connectionString": cs, "eventhubs.name": HUB, "failOnDataLoss": "false"}
    reader = EventHubsStreamReader(EventHubsOptions.parse(options))
    read: list[dict[str, Any]] = []
    try:
        with caplog.at_level(logging.WARNING, logger=reader_module.__name__):
            for start, end in ((10, 20), (20, END)):
                for p in reader.partitions(dict.fromkeys(PARTITIONS, start), dict.fromkeys(PARTITIONS, end)):
                    read += [row for batch in reader.read(p) for row in batch.to_pylist()]
    finally:
        reader.stop()
    assert sorted((r["partition"], r["sequenceNumber"]) for r in read) == [
        (pid, seq) for pid in PARTITIONS for seq in range(begins[pid], END)
    ]
    warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "failOnDataLoss=false" in warnings
    assert sorted(gaps(warnings, 10, 20, begins)) == list(PARTITIONS), warnings  # whole range gone
    assert sorted(gaps(warnings, 20, END, begins)) == list(PARTITIONS), warnings  # range partly gone

    # The checkpoint is past the gap now: the next event is read once, with the default again.
    send(cs, END, END + 1)
    rows = drain(spark, cs, checkpoint, fail_on_data_loss=None)
    assert by_partition(rows) == {pid: [(END, body(pid, END))] for pid in PARTITIONS}


def test_starting_sequence_number_older_than_retention(
    spark: SparkSession, retained_cs: str, tmp_path: Path
) -> None:
    begins, options = start_before_retention(spark, retained_cs, tmp_path / "strict")
    rows = drain(spark, retained_cs, tmp_path / "lenient", fail_on_data_loss=False, options=options)
    assert by_partition(rows) == existing(begins)


def test_retention_check_interval_is_configurable(tmp_path: Path) -> None:
    # The emulator hook the tests above need; the default stays the emulator's once-a-minute check.
    path = tmp_path / "namespace.toml"
    path.write_text(RETENTION_CONFIG)
    assert load_config(path).retention_check_seconds == 0.2
    path.write_text(RETENTION_CONFIG.replace("retention_check_seconds = 0.2\n", ""))
    assert load_config(path).retention_check_seconds == 60.0
    for bad in ("0", "-1", "true", '"1"', "86401", "nan"):
        path.write_text(RETENTION_CONFIG.replace("= 0.2", f"= {bad}"))
        with pytest.raises(ValueError, match=r"retention_check_seconds = \S+ must be a number of seconds"):
            load_config(path)
    server = EmulatorServer(Namespace(default_config(), MemoryStore()))
    assert server.retention_interval_s == 60.0
    with pytest.raises(ValueError, match="retention_interval_s must be positive"):
        EmulatorServer(Namespace(default_config(), MemoryStore()), retention_interval_s=0)
