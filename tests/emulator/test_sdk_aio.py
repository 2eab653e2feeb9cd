"""The SDK's asyncio clients against a real emulator process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from azure.eventhub import EventData
from azure.eventhub.aio import EventHubConsumerClient, EventHubProducerClient
from azure.eventhub.exceptions import AuthenticationError

from emulator.process import EmulatorProcess


def test_aio_producer_and_consumer_round_trip(emulator: EmulatorProcess) -> None:
    async def scenario() -> tuple[list[str], list[Any], dict[str, Any]]:
        producer = EventHubProducerClient.from_connection_string(
            emulator.connection_string, eventhub_name="tweets"
        )
        async with producer:
            batch = await producer.create_batch(partition_key="same-key")
            for i in range(20):
                batch.add(EventData(f"aio {i}"))
            await producer.send_batch(batch)
            await producer.send_event(EventData("one more"), partition_key="same-key")
            ids = await producer.get_partition_ids()
            sizes = {pid: (await producer.get_partition_properties(pid))["last_enqueued_sequence_number"] + 1
                     for pid in ids}  # fmt: skip
        (partition_id,) = [pid for pid, size in sizes.items() if size]
        received: list[str] = []
        keys: list[Any] = []
        done = asyncio.Event()

        async def on_event(_context: Any, event: Any) -> None:
            received.append(event.body_as_str())
            keys.append(event.partition_key)
            if len(received) == 21:
                done.set()

        consumer = EventHubConsumerClient.from_connection_string(
            emulator.connection_string, consumer_group="$Default", eventhub_name="tweets"
        )
        async with consumer:
            task = asyncio.create_task(
                consumer.receive(on_event, partition_id=partition_id, starting_position="-1")
            )
            await asyncio.wait_for(done.wait(), 20)
            await consumer.close()
            # After close() the SDK's receive task still sleeps out its load-balancing interval (30 s).
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return received, keys, sizes

    received, keys, sizes = asyncio.run(scenario())
    assert received == [f"aio {i}" for i in range(20)] + ["one more"]
    assert set(keys) == {b"same-key"}
    assert sorted(sizes.values()) == [0, 0, 0, 21]


def test_aio_wrong_key_is_an_authentication_error(emulator: EmulatorProcess) -> None:
    async def scenario() -> None:
        bad = emulator.connection_string.replace("SAS_KEY_VALUE", "not-the-key")
        producer = EventHubProducerClient.from_connection_string(bad, eventhub_name="tweets", retry_total=0)
        async with producer:
            await producer.get_eventhub_properties()

    with pytest.raises(AuthenticationError):
        asyncio.run(scenario())
