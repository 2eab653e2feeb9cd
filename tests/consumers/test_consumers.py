"""Checkpointing consumers on the emulator and Azurite: the real SDK and its Blob checkpoint stores.

One emulator and one Azurite for the module; each test reads its own hub (tests/consumers/servers.py).
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient, PartitionContext
from azure.storage.blob import ContainerClient

from consumers import (
    CheckpointPolicy,
    JsonLinesOutput,
    checkpoint_store,
    consumer_client,
    receive_events_async,
)
from consumers.__main__ import main
from consumers.outputs import TELEMETRY_FIELDS
from consumers.process import ConsumerProcess, read_event_ids
from producers import Event, send_events
from producers.sources.telemetry import telemetry

from .servers import GROUP, TIMED, Servers, servers

FAST: dict[str, Any] = {"load_balancing_interval_s": 1.0, "ownership_expiry_s": 3.0}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with servers(tmp_path_factory.mktemp("consumers")) as running:
        yield running


def send_numbered(servers: Servers, hub: str, first: int, count: int) -> None:
    """Events whose body is their number, spread round-robin over the 4 partitions."""
    with EventHubProducerClient.from_connection_string(
        servers.emulator.connection_string, eventhub_name=hub
    ) as producer:
        for partition in range(4):
            batch = producer.create_batch(partition_id=str(partition))
            for n in range(first + partition, first + count, 4):
                batch.add(EventData(str(n)))
            producer.send_batch(batch)


def blob_names(servers: Servers, container: str) -> dict[str, dict[str, str]]:
    with ContainerClient.from_connection_string(servers.azurite.connection_string, container) as client:
        return {blob.name: dict(blob.metadata or {}) for blob in client.list_blobs(include=["metadata"])}


def test_sync_client_resumes_from_blob_checkpoints_in_the_documented_layout(local: Servers) -> None:
    """The sync EventHubConsumerClient + BlobCheckpointStore: stop, restart, nothing lost or repeated."""
    hub = "Sync-Resume"
    settings, store = local.settings(hub)
    send_numbered(local, hub, 0, 40)

    def read(until: int, seen: list[int]) -> str:
        blob_store = checkpoint_store(store)
        client = consumer_client(settings.eventhub, blob_store, aio=False, consumer_group=GROUP, **FAST)
        assert isinstance(client, EventHubConsumerClient)
        namespace: list[str] = []

        def on_event(context: PartitionContext, event: EventData | None) -> None:
            assert event is not None  # no max_wait_time: never called without an event
            seen.append(int(event.body_as_str()))
            namespace[:] = [context.fully_qualified_namespace]
            context.update_checkpoint(event)
            if len(seen) >= until:
                threading.Thread(target=client.close).start()

        from consumers import prepare_container

        prepare_container(store)
        with client:
            client.receive(on_event=on_event, starting_position="-1")
        return namespace[0]

    first: list[int] = []
    namespace = read(25, first)
    second: list[int] = []
    send_numbered(local, hub, 40, 20)
    read(60 - len(first), second)
    assert sorted(first + second) == list(range(60)), "an event was lost or read twice"

    # azure-eventhub-checkpointstoreblob: {fully_qualified_namespace}/{eventhub}/{consumer_group}/checkpoint/
    # {partition_id}, lower-cased, the position in the metadata; ownership likewise.
    prefix = f"{namespace}/{hub}/{GROUP}".lower()
    blobs = blob_names(local, store.container)
    checkpoints = {name: meta for name, meta in blobs.items() if name.startswith(f"{prefix}/checkpoint/")}
    assert sorted(checkpoints) == [f"{prefix}/checkpoint/{p}" for p in range(4)]
    assert {meta["sequencenumber"] for meta in checkpoints.values()} == {"14"}  # 60 events, 15 a partition
    assert sorted(n for n in blobs if n.startswith(f"{prefix}/ownership/")) == [
        f"{prefix}/ownership/{p}" for p in range(4)
    ]
    assert namespace == f"localhost:{local.emulator.port}"


def test_aio_consumer_stops_cleanly_and_resumes_exactly(local: Servers, tmp_path: Path) -> None:
    """receive_events_async (aio client + aio BlobCheckpointStore), stopped by count, then restarted."""
    hub = "Aio-Resume"
    settings, store = local.settings(hub)
    send_numbered(local, hub, 0, 100)
    out = tmp_path / "events.jsonl"

    async def run(count: int) -> int:
        stats = await receive_events_async(
            settings, store, JsonLinesOutput(out), consumer_group=GROUP, count=count,
            policy=CheckpointPolicy(every_events=None, every_s=None), **FAST,
        )  # fmt: skip
        return stats.checkpoints

    # No checkpoint until the stop: the clean stop alone must make the restart exact.
    assert asyncio.run(run(37)) >= 1
    send_numbered(local, hub, 100, 40)
    asyncio.run(run(103))
    bodies = [json.loads(line)["body"] for line in out.read_text().splitlines()]
    assert Counter(bodies) == Counter(range(140)), "a clean stop and restart lost or repeated events"


def test_three_consumers_share_four_partitions_and_survive_kill_9(local: Servers, tmp_path: Path) -> None:
    hub = "Sharing"
    settings, _ = local.settings(hub)
    args = ["--consumer-group", GROUP, "--load-balancing-interval", "1", "--ownership-expiry", "3",
            "--checkpoint-every", "20", "--checkpoint-interval", "0.3"]  # fmt: skip
    processes = [ConsumerProcess(name, tmp_path, local.environ(hub), args) for name in "ABC"]
    try:
        for process in processes:
            process.start()

        def settled() -> bool:
            owned = [process.owned() for process in processes]
            return all(owned) and sum(map(len, owned)) == 4 and set().union(*owned) == {"0", "1", "2", "3"}

        processes[0].wait_until("the three sharing the four partitions", settled)
        owned = [process.owned() for process in processes]
        assert sorted(map(len, owned)) == [1, 1, 2], f"each partition owned exactly once: {owned}"
        assert sum(map(len, owned)) == len(set().union(*owned)) == 4

        sending = threading.Thread(
            target=send_events, args=(settings, telemetry(8, seed=3)), kwargs={"count": 2000}
        )
        sending.start()
        victim = max(processes, key=lambda process: len(process.owned()))
        victim.wait_until("receiving", lambda: len(victim.events()) >= 50)
        lost = victim.owned()
        victim.kill()
        survivors = [process for process in processes if process is not victim]
        survivors[0].wait_until(
            "taking the killed consumer's partitions",
            lambda: set().union(*(p.owned() for p in survivors)) >= lost,
        )
        sending.join()
        expected = {(str(p), n) for p in range(4) for n in range(_last_sequence(local, hub, str(p)) + 1)}
        survivors[0].wait_until(
            "reading every event", lambda: set().union(*(set(p.events()) for p in processes)) >= expected
        )
        for process in survivors:
            assert process.stop() == 130
        # Re-delivered: only what the killed one output after its partitions' last checkpoints.
        seen = Counter(event for process in processes for event in process.events())
        assert set(seen) == expected
        redelivered = [event for event, n in seen.items() if n > 1]
        assert all(event[0] in lost for event in redelivered)
    finally:
        for process in processes:
            process.kill()


def _last_sequence(local: Servers, hub: str, partition: str) -> int:
    with EventHubProducerClient.from_connection_string(
        local.emulator.connection_string, eventhub_name=hub
    ) as producer:
        return int(producer.get_partition_properties(partition)["last_enqueued_sequence_number"])


def readings() -> list[Event]:
    """60 readings from 6 devices, the same on every call (a fixed clock)."""
    ticks = itertools.count()
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=next(ticks))  # noqa: E731
    return list(itertools.islice(telemetry(6, seed=11, clock=clock), 60))


@pytest.fixture
def outputs_hub(local: Servers, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The Outputs hub holding readings(), and its environment set."""
    settings, _ = local.settings("Outputs")
    events = readings()
    if all(_last_sequence(local, "Outputs", str(p)) < 0 for p in range(4)):
        send_events(settings, events)
    for name, value in local.environ("Outputs").items():
        monkeypatch.setenv(name, value)
    return [json.loads(event.body) for event in events]


def cli(*args: str) -> int:
    return main(["--consumer-group", GROUP, "--count", "60", "--load-balancing-interval", "1", *args])


def test_per_device_csv_keeps_every_reading_with_a_header(
    outputs_hub: list[dict[str, Any]], tmp_path: Path
) -> None:
    assert cli("--output", "csv", "--path", str(tmp_path / "csv"), "--container", "csv-test") == 0
    files = sorted((tmp_path / "csv").glob("*.csv"))
    assert len(files) == 6
    for path in files:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        assert tuple(rows[0]) == TELEMETRY_FIELDS
        device = path.stem
        sent = [r for r in outputs_hub if r["id"] == device]
        # Every reading, the first one included, in the order the device sent them.
        assert [row[1] for row in rows[1:]] == [r["timestamp"] for r in sent]
        assert rows[1] == [str(sent[0][name]) for name in TELEMETRY_FIELDS]


def test_console_and_json_lines(
    outputs_hub: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("--output", "console", "--container", "console-test") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 60
    assert all(
        line.startswith('Received the event: "{') and '" from the partition with ID: "' in line
        for line in lines
    )
    assert cli("--output", "jsonl", "--path", str(tmp_path / "out.jsonl"), "--container", "jsonl-test") == 0
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(r["body"]["timestamp"] for r in records) == sorted(str(r["timestamp"]) for r in outputs_hub)
    assert {r["partition_key"] for r in records} == {r["id"] for r in outputs_hub}
    assert read_event_ids(tmp_path / "out.jsonl") == [
        (r["partition_id"], r["sequence_number"]) for r in records
    ]


def test_starting_position_for_partitions_without_a_checkpoint(local: Servers, tmp_path: Path) -> None:
    hub = "Positions"
    settings, store = local.settings(hub)
    send_numbered(local, hub, 0, 40)  # sequence numbers 0..9 on each partition
    out = tmp_path / "from-sequence.jsonl"
    stats = asyncio.run(
        receive_events_async(
            settings, store, JsonLinesOutput(out), consumer_group=GROUP, start="sequence:6", count=16, **FAST
        )
    )
    assert stats.events == 16
    assert {r["sequence_number"] for r in map(json.loads, out.read_text().splitlines())} == {6, 7, 8, 9}
    # The checkpoints now win over any starting position: nothing is left to read from "start".
    again = asyncio.run(
        receive_events_async(
            settings, store, JsonLinesOutput(out), consumer_group=GROUP, start="start", duration_s=4, **FAST
        )
    )
    assert again.events == 0

    # Another group, from a point in time: only what was enqueued after it.
    moment = datetime.now(UTC)
    time.sleep(0.05)
    send_numbered(local, hub, 40, 8)
    timed = tmp_path / "from-time.jsonl"
    stats = asyncio.run(
        receive_events_async(
            settings, store, JsonLinesOutput(timed), consumer_group=TIMED,
            start=f"time:{moment.isoformat()}", count=8, duration_s=30, **FAST,
        )
    )  # fmt: skip
    assert sorted(json.loads(line)["body"] for line in timed.read_text().splitlines()) == list(range(40, 48))


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1, err
    return err[0]


def test_bad_settings_each_give_one_clear_line(
    local: Servers, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in local.environ("Outputs").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CHECKPOINT_STORE_CONNECTION_STRING")
    assert main(["--profile", "azure", "--count", "1"]) == 2
    assert "no checkpoint store configured" in one_error_line(capsys)

    closed = local.azurite.connection_string.replace(f":{local.azurite.blob_port}/", ":9/")
    monkeypatch.setenv("CHECKPOINT_STORE_CONNECTION_STRING", closed)
    started = time.monotonic()
    assert main(["--count", "1"]) == 1
    line = one_error_line(capsys)
    assert "cannot reach the checkpoint store" in line and "make azurite" in line
    assert time.monotonic() - started < 15, "an unreachable store must fail fast, not retry for minutes"

    wrong = local.azurite.connection_string.replace("AccountKey=Eby8", "AccountKey=Xby8")
    monkeypatch.setenv("CHECKPOINT_STORE_CONNECTION_STRING", wrong)
    assert main(["--count", "1"]) == 1
    line = one_error_line(capsys)
    assert "refused the credentials" in line and "AccountKey" in line and "Xby8" not in line
