"""Consumers: receive with the SDK's EventHubConsumerClient, checkpoint in Blob Storage, share partitions.

From a notebook cell or a script::

    from conf import load_settings, load_checkpoint_store
    from consumers import receive_events
    from consumers.outputs import ConsoleOutput

    settings = load_settings("local")
    stats = receive_events(settings, load_checkpoint_store(settings), ConsoleOutput(), count=100)

At-least-once: see consumers/receiver.py.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from azure.eventhub.aio import EventHubConsumerClient as AsyncConsumerClient

from .client import consumer_client
from .outputs import ConsoleOutput, DeviceCsvOutput, JsonLinesOutput
from .receiver import (
    Checkpointer,
    CheckpointPolicy,
    Output,
    Progress,
    Received,
    ReceiveStats,
    starting_position,
)
from .store import CheckpointStoreError, async_checkpoint_store, checkpoint_store, prepare_container

if TYPE_CHECKING:
    from conf import CheckpointStoreSettings, Settings

log = logging.getLogger("consumers")


class Stop(Protocol):
    """A threading.Event or an asyncio.Event: polled, so either works from any thread."""

    def is_set(self) -> bool: ...


async def receive_events_async(
    settings: Settings,
    store: CheckpointStoreSettings,
    output: Output,
    *,
    consumer_group: str | None = None,
    start: str = "start",
    policy: CheckpointPolicy | None = None,
    count: int | None = None,
    duration_s: float | None = None,
    stop: Stop | None = None,
    progress: Progress | None = None,
    load_balancing_interval_s: float = 10.0,
    ownership_expiry_s: float = 60.0,
    max_batch_size: int = 300,
) -> ReceiveStats:
    """Receive until `count` events, `duration_s` seconds or `stop`, then checkpoint what was handed to
    `output` and close. `start` (see receiver.starting_position) applies to partitions with no checkpoint.

    The aio EventHubConsumerClient and BlobCheckpointStore, as in the tutorial.
    """
    position, inclusive = starting_position(start)
    # One clear line for a wrong key or an unreachable account (the store would retry for minutes).
    await asyncio.to_thread(prepare_container, store)
    checkpointer = Checkpointer(output, policy or CheckpointPolicy(), count=count, progress=progress)
    started = time.monotonic()
    deadline = None if duration_s is None else started + duration_s
    blob_store = async_checkpoint_store(store)
    client = consumer_client(
        settings.eventhub,
        blob_store,
        consumer_group=consumer_group,
        load_balancing_interval_s=load_balancing_interval_s,
        ownership_expiry_s=ownership_expiry_s,
    )
    assert isinstance(client, AsyncConsumerClient)
    try:
        # Fails with the service's error (after the client's retries) on a wrong address, key or hub name;
        # the load balancer itself would retry quietly forever.
        await client.get_partition_ids()
    except BaseException:
        await client.close()
        await blob_store.close()
        raise
    # Batches without max_wait_time: events are handed over as they arrive, idle partitions cost nothing.
    receiving = asyncio.create_task(
        client.receive_batch(
            on_event_batch=checkpointer.on_event_batch,
            on_partition_initialize=checkpointer.on_partition_initialize,
            on_partition_close=checkpointer.on_partition_close,
            on_error=checkpointer.on_error,
            starting_position=position,
            starting_position_inclusive=inclusive,
            max_batch_size=max_batch_size,
        )
    )
    try:
        while not (checkpointer.done.is_set() or receiving.done() or (stop is not None and stop.is_set())):
            if deadline is not None and time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.1)
            await checkpointer.tick()
    finally:
        checkpointer.stats.interrupted = stop is not None and stop.is_set()
        log.info("stopping: checkpointing what the output took, then leaving the partitions")
        await checkpointer.finish()
        await client.close()
        await blob_store.close()
        output.close()
        if progress is not None:
            progress.close()
    checkpointer.stats.elapsed_s = time.monotonic() - started
    if receiving.done() and not receiving.cancelled() and receiving.exception() is not None:
        raise receiving.exception()  # type: ignore[misc]
    return checkpointer.stats


def receive_events(
    settings: Settings,
    store: CheckpointStoreSettings,
    output: Output,
    *,
    stop: threading.Event | None = None,
    **options: Any,
) -> ReceiveStats:
    """receive_events_async for scripts and notebooks (whose own event loop may be running): on a thread
    of its own. Ctrl-C stops it as `stop` does: what the output took is checkpointed first."""
    halt = stop or threading.Event()
    outcome: list[ReceiveStats | BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(receive_events_async(settings, store, output, stop=halt, **options)))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=run, name="consumers.receive", daemon=True)
    worker.start()
    interrupted = False
    while worker.is_alive():
        try:
            worker.join(0.2)
        except KeyboardInterrupt:
            interrupted = True
            halt.set()
    if not outcome:
        raise RuntimeError("the receiving thread ended without a result")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    result.interrupted = result.interrupted or interrupted
    return result


__all__ = [
    "CheckpointPolicy",
    "CheckpointStoreError",
    "Checkpointer",
    "ConsoleOutput",
    "DeviceCsvOutput",
    "JsonLinesOutput",
    "Output",
    "ReceiveStats",
    "Received",
    "async_checkpoint_store",
    "checkpoint_store",
    "consumer_client",
    "prepare_container",
    "receive_events",
    "receive_events_async",
]
