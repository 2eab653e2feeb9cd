"""Send and read events with the azure-eventhub SDK, the client the tests check hubstream against."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from azure.eventhub import EventData, EventHubProducerClient

from emulator.roundtrip import read_events

__all__ = [
    "HUB",
    "event_with",
    "partition_bounds",
    "partition_sizes",
    "producer",
    "read_events",
    "round_robin",
    "send",
    "send_to_partitions",
]

HUB = "tweets"  # the hub tests/conftest.py's emulator and the local profile name
Event = str | bytes | EventData


def producer(connection_string: str, hub: str = HUB, **kwargs: Any) -> EventHubProducerClient:
    return EventHubProducerClient.from_connection_string(connection_string, eventhub_name=hub, **kwargs)


def event_with(body: str | bytes, **properties: Any) -> EventData:
    """An event with application properties."""
    data = EventData(body)
    data.properties = {key: value for key, value in properties.items()}
    return data


def send(connection_string: str, events: Iterable[Event], *, hub: str = HUB, **batch_args: Any) -> None:
    """`events` as one batch (one append); `batch_args` are create_batch's: partition_id or partition_key."""
    with producer(connection_string, hub) as client:
        _send_batch(client, events, **batch_args)


def send_to_partitions(
    connection_string: str, partitions: Mapping[str, Iterable[Event]], *, hub: str = HUB
) -> None:
    """Each partition's events as one batch (one append), over one connection; an empty one sends nothing."""
    with producer(connection_string, hub) as client:
        for pid, events in partitions.items():
            _send_batch(client, events, partition_id=pid)


def _send_batch(client: EventHubProducerClient, events: Iterable[Event], **batch_args: Any) -> None:
    batch = client.create_batch(**batch_args)
    for item in events:
        batch.add(item if isinstance(item, EventData) else EventData(item))
    client.send_batch(batch)  # the SDK sends nothing for an empty batch


def round_robin(first: int, count: int, partitions: str = "0123") -> dict[str, list[str]]:
    """Bodies str(first) .. str(first + count - 1), body i in partition partitions[i % len(partitions)]."""
    return {
        pid: [str(i) for i in range(first, first + count) if i % len(partitions) == index]
        for index, pid in enumerate(partitions)
    }


def partition_bounds(connection_string: str, hub: str = HUB) -> dict[str, tuple[int, int]]:
    """Per partition, as the hub reports it: (first retained sequence number, last enqueued one + 1)."""
    with producer(connection_string, hub) as client:
        found = {}
        for pid in client.get_partition_ids():
            props = client.get_partition_properties(pid)
            found[pid] = (props["beginning_sequence_number"], props["last_enqueued_sequence_number"] + 1)
        return found


def partition_sizes(connection_string: str, hub: str = HUB) -> dict[str, int]:
    """Per partition: how many events it has had (the last enqueued sequence number + 1)."""
    return {pid: end for pid, (_, end) in partition_bounds(connection_string, hub).items()}
