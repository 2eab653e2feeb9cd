"""The sender and every source against a real emulator, read back with the real SDK consumer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.process import EmulatorProcess
from producers import LoopOptions, Sender
from producers.sources.file import replay
from producers.sources.telemetry import telemetry
from producers.sources.test import TUTORIAL_MESSAGES, test_messages
from tests.sdk_events import partition_sizes, producer, read_events


def read_hub(emulator: EmulatorProcess, hub: str = "tweets") -> dict[str, list]:
    return {
        pid: read_events(
            emulator.connection_string, count=size, hub=hub, partition_id=pid, starting_position="-1"
        )
        for pid, size in partition_sizes(emulator.connection_string, hub).items()
        if size
    }


def test_test_source_sends_count_events_in_order(emulator: EmulatorProcess) -> None:
    with producer(emulator.connection_string) as c:
        stats = Sender(c, LoopOptions(partition_id="0")).send(test_messages(), count=100)
    assert (stats.events, stats.oversize_skipped, stats.interrupted) == (100, 0, False)
    events = read_events(emulator.connection_string, count=100, partition_id="0", starting_position="-1")
    assert [e.body_as_str() for e in events] == [TUTORIAL_MESSAGES[i % 3] for i in range(100)]
    assert events[0].properties == {}


def test_telemetry_keys_each_device_to_one_partition_in_order(emulator: EmulatorProcess) -> None:
    with producer(emulator.connection_string, "telemetry") as c:
        stats = Sender(c).send(telemetry(devices=6, seed=1), count=600)
    assert stats.events == 600
    seen: dict[str, set[str]] = {}
    for pid, events in read_hub(emulator, "telemetry").items():
        last_time: dict[str, str] = {}
        for event in events:
            reading = json.loads(event.body_as_str())
            assert event.partition_key == reading["id"].encode()
            assert set(reading) == {"id", "timestamp", "uv", "temperature", "humidity"}
            assert reading["timestamp"] >= last_time.get(reading["id"], "")  # in order within a device
            last_time[reading["id"]] = reading["timestamp"]
            seen.setdefault(reading["id"], set()).add(pid)
    assert len(seen) == 6
    assert all(len(pids) == 1 for pids in seen.values())
    assert sum(partition_sizes(emulator.connection_string, "telemetry").values()) == 600


def test_file_replay_sends_every_line(emulator: EmulatorProcess, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps({"user": f"u{i % 3}", "n": i}) for i in range(50)]
    path.write_text("\n".join(lines) + "\n\n")
    with producer(emulator.connection_string) as c:
        stats = Sender(c).send(replay(path, key_field="user"))
    assert stats.events == 50
    received = [e for events in read_hub(emulator).values() for e in events]
    assert sorted(e.body_as_str() for e in received) == sorted(lines)
    assert {e.partition_key for e in received} == {b"u0", b"u1", b"u2"}


def test_rate_limits_roughly(emulator: EmulatorProcess) -> None:
    with producer(emulator.connection_string) as c:
        stats = Sender(c, LoopOptions(rate=200)).send(test_messages(), count=300)
    # 300 events at 200/s cannot take less than ~1.5 s; generous on the other side, this is no timing test.
    assert stats.elapsed_s >= 1.4
    assert stats.events == 300


def test_a_send_failure_surfaces_with_the_sdk_error(emulator: EmulatorProcess) -> None:
    from azure.eventhub.exceptions import EventHubError

    bad = producer(emulator.connection_string, "no-such-hub", retry_total=0)
    with bad, pytest.raises(EventHubError, match="could not be found"):
        Sender(bad, LoopOptions(partition_id="0")).send(test_messages(), count=10)
