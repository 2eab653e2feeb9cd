"""Receivers kept open between micro-batches (`jobs/datasource/receivers.py`) against a real emulator:
every event exactly once, fewer attaches, replays and a lost connection still exact, idle ones closed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from emulator.process import EmulatorProcess
from eventhubs.connection_string import parse_connection_string
from jobs.datasource import SOURCE_NAME, register
from jobs.datasource.reader import EventHubsPartition, read_partition
from jobs.datasource.receivers import RECEIVERS
from tests.conftest import TEST_CONFIG, default_emulator, running_emulator
from tests.sdk_events import round_robin, send, send_to_partitions
from tests.streams import collect_to_end

HUB = "tweets"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    folder = tmp_path_factory.mktemp("receivers")
    with running_emulator(folder, TEST_CONFIG) as process:
        yield process


@pytest.fixture(autouse=True)
def no_kept_receivers() -> Iterator[None]:
    RECEIVERS.close_all()
    yield
    RECEIVERS.close_all()


def attaches(emulator: EmulatorProcess, partition: str, hub: str = HUB) -> int:
    """Receivers the emulator attached on `partition` so far, from its log."""
    where = f" {hub}/ConsumerGroups/$Default/Partitions/{partition} from".lower()
    return sum("consumer attached" in line and where in line.lower() for line in emulator.output)


def piece(cs: str, partition: str, start: int, end: int, keep_s: float = 30.0) -> EventHubsPartition:
    return EventHubsPartition(
        connection_string=parse_connection_string(cs), fully_qualified_namespace=None, hub=HUB,
        consumer_group="$Default", partition_id=partition, start=start, end=end, receiver_timeout_s=10,
        operation_timeout_s=10, fail_on_data_loss=True, keep_receiver_s=keep_s,
    )  # fmt: skip


def bodies(p: EventHubsPartition) -> list[str]:
    rows: list[dict[str, Any]] = [r for batch in read_partition(p) for r in batch.to_pylist()]
    assert [r["sequenceNumber"] for r in rows] == list(range(p.start, p.end))
    return [r["body"].decode() for r in rows]


def test_kept_receiver_reads_on_exactly_and_replays(hub: EmulatorProcess) -> None:
    cs, pid = hub.connection_string, "0"
    send(cs, [f"e{i}" for i in range(30)], partition_id=pid)
    before = attaches(hub, pid)
    assert bodies(piece(cs, pid, 0, 10)) == [f"e{i}" for i in range(10)]
    # The rest of the partition arrived with the first range's prefetch: kept for the next ranges.
    assert bodies(piece(cs, pid, 10, 25)) == [f"e{i}" for i in range(10, 25)]
    send(cs, [f"e{i}" for i in range(30, 50)], partition_id=pid)
    assert bodies(piece(cs, pid, 25, 50)) == [f"e{i}" for i in range(25, 50)]
    assert attaches(hub, pid) == before + 1 and len(RECEIVERS) == 1
    # A replay from an earlier offset (a restart from the checkpoint) gets a fresh receiver there.
    assert bodies(piece(cs, pid, 5, 20)) == [f"e{i}" for i in range(5, 20)]
    assert attaches(hub, pid) == before + 2
    # A receiver a range behind (another worker read [20, 25)) skips to the task's start.
    assert bodies(piece(cs, pid, 25, 30)) == [f"e{i}" for i in range(25, 30)]
    assert attaches(hub, pid) == before + 2


def test_a_recreated_hub_is_not_read_from_a_kept_receiver(tmp_path: Path) -> None:
    with default_emulator(tmp_path) as memory_only:
        cs, pid = memory_only.connection_string, "3"
        send(cs, [f"old{i}" for i in range(10)], partition_id=pid)
        assert bodies(piece(cs, pid, 0, 2)) == ["old0", "old1"]  # old2.. wait with the kept receiver
        memory_only.restart()  # same port and key, no events: the hub as if deleted and created again
        send(cs, [f"new{i}" for i in range(10)], partition_id=pid)
        assert bodies(piece(cs, pid, 2, 5)) == ["new2", "new3", "new4"]


def test_idle_receivers_are_closed(hub: EmulatorProcess) -> None:
    cs, pid = hub.connection_string, "1"
    send(cs, ["a", "b"], partition_id=pid)
    assert bodies(piece(cs, pid, 0, 1, keep_s=0.2)) == ["a"]
    kept = RECEIVERS.take(piece_key := _key(cs, pid), 1)
    assert kept is not None and kept.receiver.is_open and kept.early  # "b" waits with it
    RECEIVERS.keep(piece_key, kept)
    deadline = time.monotonic() + 10
    while len(RECEIVERS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(RECEIVERS) == 0 and not kept.receiver.is_open
    assert bodies(piece(cs, pid, 1, 2, keep_s=0.2)) == ["b"]  # from a fresh receiver


def test_without_keeping_every_range_opens_its_own(
    hub: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    cs, pid = hub.connection_string, "2"
    send(cs, ["x", "y", "z"], partition_id=pid)
    before = attaches(hub, pid)
    assert bodies(piece(cs, pid, 0, 1, keep_s=0)) + bodies(piece(cs, pid, 1, 2, keep_s=0)) == ["x", "y"]
    assert attaches(hub, pid) == before + 2 and len(RECEIVERS) == 0
    # A Spark Python worker that ends with its task (spark.python.worker.reuse=false) keeps nothing.
    monkeypatch.setenv("PYTHON_WORKER_FACTORY_SECRET", "any")
    monkeypatch.delenv("SPARK_REUSE_WORKER", raising=False)
    assert bodies(piece(cs, pid, 2, 3)) == ["z"]
    assert attaches(hub, pid) == before + 3 and len(RECEIVERS) == 0


def test_stream_reuses_receivers_in_spark_workers(
    spark: SparkSession, hub: EmulatorProcess, tmp_path: Path
) -> None:
    register(spark)
    cs = hub.connection_string
    events = (
        spark.readStream.format(SOURCE_NAME)
        .options(
            **{
                "eventhubs.connectionString": cs,
                "eventhubs.name": "telemetry",
                "maxEventsPerTrigger": "20",
                "keepReceivers": "true",
            }
        )
        .load()
    )
    send_to_partitions(cs, round_robin(0, 60, "01"), hub="telemetry")
    got = collect_to_end(events.select("body", "partition", "sequenceNumber"), tmp_path / "checkpoint")
    assert len(got.batch_sizes) == 3
    assert sorted(int(r.body) for r in got.rows) == list(range(60))
    # Spark gives a partition's task to whichever worker is free: each worker opens a receiver on each
    # partition once (2 x 2 here) and keeps them; reopened per task, it would be 6.
    tasks = 2 * len(got.batch_sizes)
    opened = sum(attaches(hub, pid, "telemetry") for pid in "01")
    assert opened < tasks, f"{opened} receivers attached for {tasks} tasks"


def _key(cs: str, pid: str) -> Any:
    from jobs.datasource.reader import _stream_key

    return _stream_key(piece(cs, pid, 0, 1))
