"""The real azure-eventhub SDK (sync clients, pure-Python AMQP) against a real emulator process."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.eventhub import CheckpointStore, EventData, EventHubConsumerClient
from azure.eventhub._buffered_producer._partition_resolver import PartitionResolver
from azure.eventhub.exceptions import AuthenticationError, ConnectError, EventHubError

from emulator.process import EmulatorProcess
from emulator.roundtrip import check, read_all, send_keyed
from tests.sdk_events import partition_sizes, producer, send


def test_properties_describe_the_configured_hub(emulator: EmulatorProcess) -> None:
    with producer(emulator.connection_string) as client:
        hub = client.get_eventhub_properties()
        assert hub["eventhub_name"] == "tweets"
        assert hub["partition_ids"] == ["0", "1", "2", "3"]
        assert client.get_partition_ids() == ["0", "1", "2", "3"]
        empty = client.get_partition_properties("2")
        assert empty["is_empty"] is True
        assert empty["last_enqueued_sequence_number"] == -1

        batch = client.create_batch(partition_id="2")
        for i in range(3):
            batch.add(EventData(f"e{i}"))
        client.send_batch(batch)
        props = client.get_partition_properties("2")
    assert props["is_empty"] is False
    assert props["beginning_sequence_number"] == 0
    assert props["last_enqueued_sequence_number"] == 2
    assert int(props["last_enqueued_offset"]) > 0
    assert abs(props["last_enqueued_time_utc"] - datetime.now(UTC)) < timedelta(seconds=30)


def test_single_events_and_batches_come_back_with_their_metadata(emulator: EmulatorProcess, receive) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    with producer(emulator.connection_string) as client:
        client.send_event(EventData("single"), partition_id="1")
        batch = client.create_batch(partition_id="1")
        for i in range(4):
            event = EventData(f"batched {i}")
            event.properties = {"n": i, "kind": "test"}
            batch.add(event)
        client.send_batch(batch)

    events = receive(emulator.connection_string, count=5, partition_id="1", starting_position="-1")
    assert [e.body_as_str() for e in events] == ["single"] + [f"batched {i}" for i in range(4)]
    assert [e.sequence_number for e in events] == [0, 1, 2, 3, 4]
    offsets = [e.offset for e in events]
    assert all(isinstance(o, str) for o in offsets)
    assert [int(o) for o in offsets] == sorted(int(o) for o in offsets)
    assert offsets[0] == "0"
    assert all(before <= e.enqueued_time <= datetime.now(UTC) for e in events)
    assert events[2].properties == {b"n": 1, b"kind": b"test"}


def test_a_partition_key_always_lands_on_one_partition(emulator: EmulatorProcess, receive) -> None:
    keys = [f"device-{i}" for i in range(12)]
    with producer(emulator.connection_string) as client:
        for _ in range(2):  # twice, so each key is routed more than once
            for key in keys:
                batch = client.create_batch(partition_key=key)
                batch.add(EventData(key))
                client.send_batch(batch)
    sizes = partition_sizes(emulator.connection_string)
    assert sum(sizes.values()) == 24
    assert sum(1 for n in sizes.values() if n) > 1, "12 keys should spread over several partitions"

    partition_of: dict[str, set[str]] = {}
    for pid, size in sizes.items():
        for event in receive(
            emulator.connection_string, count=size, partition_id=pid, starting_position="-1"
        ):
            assert event.partition_key == event.body_as_str().encode()
            partition_of.setdefault(event.body_as_str(), set()).add(pid)
    assert sorted(partition_of) == sorted(keys)
    assert all(len(pids) == 1 for pids in partition_of.values()), partition_of
    # ... and it is the partition the service's function picks, as the SDK's buffered producer computes it.
    resolver = PartitionResolver(["0", "1", "2", "3"])
    assert {key: pids.pop() for key, pids in partition_of.items()} == {
        key: resolver.get_partition_id_by_partition_key(key) for key in keys
    }


def test_explicit_partition_ids_are_honoured(emulator: EmulatorProcess, receive) -> None:
    for pid in ("0", "3"):
        send(emulator.connection_string, [f"to {pid}"], partition_id=pid)
    assert [e.body_as_str() for e in receive(emulator.connection_string, count=1, partition_id="3",
                                               starting_position="-1")] == ["to 3"]  # fmt: skip
    assert receive(emulator.connection_string, count=0, partition_id="1", starting_position="-1") == []


@pytest.fixture
def ten_events(emulator: EmulatorProcess, receive) -> list[EventData]:
    """Ten events in partition 0, sent in two batches some milliseconds apart."""
    send(emulator.connection_string, [f"event {i}" for i in range(5)], partition_id="0")
    time.sleep(0.05)
    send(emulator.connection_string, [f"event {i}" for i in range(5, 10)], partition_id="0")
    return receive(emulator.connection_string, count=10, starting_position="-1")


@pytest.mark.parametrize(
    ("position", "inclusive", "first"),
    [
        ("offset", True, 4),
        ("offset", False, 5),
        ("sequence", True, 4),
        ("sequence", False, 5),
        ("time", True, 5),  # the second batch's enqueued time
        ("time", False, None),  # after the last enqueued time: nothing
    ],
)
def test_starting_positions(
    emulator: EmulatorProcess,
    receive,
    ten_events: list[EventData],
    position: str,
    inclusive: bool,
    first: int | None,
) -> None:
    anchor = ten_events[4] if position != "time" else ten_events[9 if not inclusive else 5]
    start: Any = {
        "offset": anchor.offset,
        "sequence": anchor.sequence_number,
        "time": anchor.enqueued_time,
    }[position]
    expected = [] if first is None else [f"event {i}" for i in range(first, 10)]
    events = receive(
        emulator.connection_string,
        count=len(expected),
        starting_position=start,
        starting_position_inclusive=inclusive,
    )
    assert [e.body_as_str() for e in events] == expected


def test_latest_sees_only_what_comes_after(
    emulator: EmulatorProcess, receive, ten_events: list[EventData]
) -> None:
    def send_later() -> None:
        time.sleep(2)
        send(emulator.connection_string, ["late"], partition_id="0")

    threading.Thread(target=send_later, daemon=True).start()
    events = receive(emulator.connection_string, count=1, starting_position="@latest")
    assert [e.body_as_str() for e in events] == ["late"]
    assert events[0].sequence_number == 10


def test_consumer_groups_read_independently(emulator: EmulatorProcess, receive) -> None:
    send(emulator.connection_string, ["a", "b", "c"], partition_id="0")
    for group in ("$Default", "spark", "audit"):
        events = receive(emulator.connection_string, count=3, consumer_group=group, starting_position="-1")
        assert [e.body_as_str() for e in events] == ["a", "b", "c"]


def test_last_enqueued_event_properties_are_tracked(emulator: EmulatorProcess) -> None:
    send(emulator.connection_string, [f"e{i}" for i in range(3)], partition_id="0")
    seen: list[dict[str, Any]] = []
    client = EventHubConsumerClient.from_connection_string(
        emulator.connection_string, consumer_group="$Default", eventhub_name="tweets"
    )

    def on_event(context: Any, _event: EventData) -> None:
        seen.append(dict(context.last_enqueued_event_properties))

    worker = threading.Thread(
        target=client.receive,
        kwargs={"on_event": on_event, "partition_id": "0", "starting_position": "-1",
                "track_last_enqueued_event_properties": True},
        daemon=True,
    )  # fmt: skip
    worker.start()
    deadline = time.monotonic() + 20
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    client.close()
    assert len(seen) == 3
    last = seen[-1]
    assert last["sequence_number"] == 2
    assert int(last["offset"]) > 0
    assert isinstance(last["enqueued_time"], datetime)
    assert isinstance(last["retrieval_time"], datetime)


def test_a_higher_epoch_steals_the_partition(emulator: EmulatorProcess) -> None:
    send(emulator.connection_string, ["before"], partition_id="0")
    got: dict[str, list[str]] = {"old": [], "new": []}
    errors: list[Exception] = []
    clients = []

    def start(name: str, owner_level: int) -> None:
        client = EventHubConsumerClient.from_connection_string(
            emulator.connection_string, consumer_group="$Default", eventhub_name="tweets"
        )
        clients.append(client)
        threading.Thread(
            target=client.receive,
            kwargs={
                "on_event": lambda _c, e: got[name].append(e.body_as_str()),
                "on_error": lambda _c, err: errors.append(err),
                "partition_id": "0",
                "starting_position": "-1",
                "owner_level": owner_level,
            },
            daemon=True,
        ).start()

    try:
        start("old", owner_level=1)
        _wait_for(lambda: got["old"] == ["before"])
        start("new", owner_level=2)
        _wait_for(lambda: got["new"] == ["before"])
        _wait_for(lambda: bool(errors))
        send(emulator.connection_string, ["after"], partition_id="0")
        _wait_for(lambda: got["new"] == ["before", "after"])
        time.sleep(1)
    finally:
        for client in clients:
            client.close()
    assert got["old"] == ["before"], "the stolen receiver must not see events sent after the theft"
    assert any("epoch" in str(err) for err in errors), errors


class MemoryCheckpointStore(CheckpointStore):
    """The smallest real CheckpointStore: what the SDK's processor reads and writes, kept in dicts."""

    def __init__(self) -> None:
        self.ownerships: dict[tuple[str, str], dict[str, Any]] = {}
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def list_ownership(self, fully_qualified_namespace: str, eventhub_name: str, consumer_group: str,
                       **kwargs: Any) -> list[dict[str, Any]]:  # fmt: skip
        with self.lock:
            return [dict(o) for o in self.ownerships.values()]

    def claim_ownership(self, ownership_list: Any, **kwargs: Any) -> list[dict[str, Any]]:
        with self.lock:
            claimed = []
            for ownership in ownership_list:
                ownership = dict(ownership, last_modified_time=time.time(), etag=str(time.time_ns()))
                self.ownerships[(ownership["consumer_group"], ownership["partition_id"])] = ownership
                claimed.append(ownership)
            return claimed

    def update_checkpoint(self, checkpoint: dict[str, Any], **kwargs: Any) -> None:
        with self.lock:
            self.checkpoints[checkpoint["partition_id"]] = dict(checkpoint)

    def list_checkpoints(self, fully_qualified_namespace: str, eventhub_name: str, consumer_group: str,
                         **kwargs: Any) -> list[dict[str, Any]]:  # fmt: skip
        with self.lock:
            return [dict(c) for c in self.checkpoints.values()]


def test_a_checkpointed_consumer_resumes_after_an_emulator_restart(emulator: EmulatorProcess) -> None:
    store = MemoryCheckpointStore()

    def consume(expected: int) -> list[str]:
        bodies: list[str] = []
        client = EventHubConsumerClient.from_connection_string(
            emulator.connection_string, consumer_group="$Default", eventhub_name="telemetry",
            checkpoint_store=store,
        )  # fmt: skip

        def on_event(context: Any, event: EventData) -> None:
            bodies.append(event.body_as_str())
            context.update_checkpoint(event)

        threading.Thread(
            target=client.receive, kwargs={"on_event": on_event, "starting_position": "-1"}, daemon=True
        ).start()
        _wait_for(lambda: len(bodies) >= expected)
        time.sleep(1)  # anything extra (a replay) would arrive now
        client.close()
        return sorted(bodies)

    send(emulator.connection_string, [f"first {i}" for i in range(5)], hub="telemetry", partition_key="k")
    assert consume(5) == [f"first {i}" for i in range(5)]
    assert len(store.checkpoints) == 1

    emulator.restart()
    # A new processor, as after the old one's ownership expired: only the checkpoints carry over.
    store.ownerships.clear()
    send(emulator.connection_string, [f"second {i}" for i in range(5)], hub="telemetry", partition_key="k")
    assert consume(5) == [f"second {i}" for i in range(5)]


def test_events_and_their_metadata_survive_a_restart(emulator: EmulatorProcess) -> None:
    """The issue's acceptance scenario: 1,000 keyed events, read back before and after a restart."""
    started = datetime.now(UTC)
    key_of = send_keyed(emulator.connection_string, "tweets", 1000, keys=7)
    before = read_all(emulator.connection_string, "tweets")
    assert len(before) == 1000
    assert check(before, key_of, started) == []
    emulator.restart()
    assert read_all(emulator.connection_string, "tweets") == before


def test_a_hub_keeps_its_created_at_across_restarts(emulator: EmulatorProcess) -> None:
    with producer(emulator.connection_string) as client:
        first = client.get_eventhub_properties()["created_at"]
    time.sleep(1.1)  # created_at travels in milliseconds: a new stamp would differ
    emulator.restart()
    with producer(emulator.connection_string) as client:
        assert client.get_eventhub_properties()["created_at"] == first
    assert abs(first - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_wrong_key_is_an_authentication_error(emulator: EmulatorProcess) -> None:
    bad = emulator.connection_string.replace("SharedAccessKey=SAS_KEY_VALUE", "SharedAccessKey=wrong")
    client = producer(bad, retry_total=0)
    with client, pytest.raises(AuthenticationError):
        client.get_eventhub_properties()


def test_an_unknown_hub_is_not_found(emulator: EmulatorProcess) -> None:
    client = producer(emulator.connection_string, hub="no-such-hub", retry_total=0)
    with client, pytest.raises(ConnectError, match="could not be found"):
        client.send_event(EventData("x"))


def test_a_2mb_event_is_refused_and_nothing_is_stored(emulator: EmulatorProcess) -> None:
    with producer(emulator.connection_string, retry_total=0) as client:
        with pytest.raises((ValueError, EventHubError), match=r"(?i)size|large"):
            client.send_event(EventData(b"x" * 2_000_000), partition_id="0")
        assert client.get_partition_properties("0")["is_empty"] is True


def _wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        time.sleep(0.05)


def test_a_consumer_resumes_when_its_session_window_reopens(
    emulator: EmulatorProcess, receive, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK announces a session window of 65,536 transfers and reopens it with a session-level flow
    # while its link keeps credit; a window of 50 shows the same with 120 events instead of 65,536.
    import azure.eventhub._pyamqp.client as pyamqp_client

    monkeypatch.setattr(pyamqp_client, "INCOMING_WINDOW", 50)
    send(emulator.connection_string, [f"event {n}" for n in range(120)], hub="telemetry", partition_id="0")
    events = receive(
        emulator.connection_string, count=120, hub="telemetry", starting_position="-1", timeout=10
    )
    assert [e.body_as_str() for e in events] == [f"event {n}" for n in range(120)]


def test_an_unknown_consumer_group_is_a_readable_error(emulator: EmulatorProcess) -> None:
    errors: list[Exception] = []
    client = EventHubConsumerClient.from_connection_string(
        emulator.connection_string, consumer_group="no-such-group", eventhub_name="tweets", retry_total=0
    )
    worker = threading.Thread(
        target=client.receive,
        kwargs={
            "on_event": lambda _c, _e: None,
            "on_error": lambda _c, err: errors.append(err),
            "partition_id": "0",
        },
        daemon=True,
    )
    worker.start()
    _wait_for(lambda: bool(errors))
    client.close()
    worker.join(10)
    assert "no-such-group" in str(errors[0]) and "could not be found" in str(errors[0])
