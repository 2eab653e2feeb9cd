"""hubstream's own sender against a real emulator process, read back with the azure-eventhub SDK."""

from __future__ import annotations

import pytest

from emulator.process import EmulatorProcess
from emulator.roundtrip import read_all, read_events, send_keyed
from eventhubs.connection_string import parse_connection_string
from eventhubs.errors import DecodeFailedError, NotFoundError
from eventhubs.events import encode_event
from hubclient.connection import Endpoint
from hubclient.sender import EventSender, EventTooLargeError

HUB = "tweets"


def endpoint(emulator: EmulatorProcess, hub: str = HUB) -> Endpoint:
    return Endpoint.connect_to(parse_connection_string(emulator.connection_string), None, hub)


def test_events_to_the_hub_arrive_once_each_with_their_properties(emulator: EmulatorProcess) -> None:
    count = 12_000  # several full batches (about 4,700 such events fill 1 MiB), several in flight
    with EventSender(endpoint(emulator), timeout_s=20, in_flight=3) as sender:
        assert sender.max_message_size() == 1 << 20  # what the emulator announces, as the service does
        for i in range(count):
            sender.send(f"{i:0200d}".encode(), {"n": str(i), "kind": "test"} if i % 2 else None)
        stats = sender.flush()
    assert stats.events == count and stats.batches >= 3
    rows = read_all(emulator.connection_string, HUB)
    assert sorted(int(r.body) for r in rows) == list(range(count))
    assert {r.partition_key for r in rows} == {None}
    some = read_events(emulator.connection_string, count=5, partition_id=rows[0].partition_id,
                       starting_position="-1")  # fmt: skip
    for event in some:
        n = int(event.body_as_str())
        expected = {b"n": str(n).encode(), b"kind": b"test"} if n % 2 else {}  # the SDK gives bytes
        assert event.properties == expected


def test_a_partition_id_sends_there(emulator: EmulatorProcess) -> None:
    with EventSender(endpoint(emulator), timeout_s=20) as sender:
        for i in range(50):
            sender.send(str(i).encode(), partition_id=str(i % 2 + 2))
        assert sender.flush().events == 50
    rows = read_all(emulator.connection_string, HUB)
    assert {r.partition_id for r in rows} == {"2", "3"}
    assert sorted(int(r.body) for r in rows if r.partition_id == "3") == list(range(1, 50, 2))


def test_keys_land_where_the_sdks_keyed_sends_land(emulator: EmulatorProcess) -> None:
    """The service hashes the key: the SDK's own keyed sends show where each key belongs."""
    key_of = send_keyed(emulator.connection_string, HUB, 64, keys=16)
    sdk_partition = {r.partition_key: r.partition_id for r in read_all(emulator.connection_string, HUB)}
    assert len(set(sdk_partition.values())) > 1
    with EventSender(endpoint(emulator), timeout_s=20) as sender:
        for i, key in key_of.items():
            sender.send(f"ours-{i}".encode(), partition_key=key)
        sender.flush()
    ours = [r for r in read_all(emulator.connection_string, HUB) if r.body.startswith("ours-")]
    assert len(ours) == len(key_of)
    for r in ours:
        assert r.partition_key == key_of[int(r.body[5:])]
        assert r.partition_id == sdk_partition[r.partition_key]


def test_an_unknown_hub_is_refused_at_open(emulator: EmulatorProcess) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        EventSender(endpoint(emulator, "nope"), timeout_s=10).open()


def test_an_event_larger_than_a_batch_is_refused_before_sending(emulator: EmulatorProcess) -> None:
    with EventSender(endpoint(emulator), timeout_s=20) as sender:
        sender.send(b"small")
        with pytest.raises(EventTooLargeError, match=r"1,048,584 bytes.*1,048,576 bytes per batch") as info:
            sender.send(b"x" * (1 << 20))
        assert info.value.limit == 1 << 20
        assert sender.flush().events == 1  # what was added before still goes out


def test_a_rejected_batch_raises_the_services_error(emulator: EmulatorProcess) -> None:
    with EventSender(endpoint(emulator), timeout_s=20) as sender:
        sender.send_encoded(encode_event(b"fine"), None, None)
        sender.send_encoded(b"\x00\x53\x99 not a message", None, None)  # in the same batch
        with pytest.raises(DecodeFailedError, match="rejected a batch of 2 events: amqp:decode-error"):
            sender.flush()


def test_several_batches_are_in_flight_but_never_more_than_asked(
    emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    transmit = EventSender._transmit

    def watched(self: EventSender, partition_id: str | None, batch: object) -> None:
        transmit(self, partition_id, batch)  # type: ignore[arg-type]
        seen.append(len(self._pending))

    monkeypatch.setattr(EventSender, "_transmit", watched)
    with EventSender(endpoint(emulator), timeout_s=20, in_flight=2) as sender:
        for _ in range(30):  # 250 kB events, 4 to a 1 MiB batch: 8 batches, settled as each is stored
            sender.send(b"x" * 250_000)
        assert sender.flush().events == 30
    assert max(seen) == 2


def test_a_released_batch_raises() -> None:
    """The service may release a delivery (not stored, no error): that is a failure too, never success."""
    from amqp10.connection import DeliveriesSettled
    from amqp10.performatives import Released
    from eventhubs.errors import EventHubsError

    sender = EventSender(Endpoint("localhost", 1, False, HUB), timeout_s=1)
    sender._pending[7] = (3, 1000)
    with pytest.raises(EventHubsError, match="did not store a batch of 3 events \\(Released\\)"):
        sender._settled(DeliveriesSettled(None, 7, 7, Released()))  # type: ignore[arg-type]
    assert sender.stats.events == 0
