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

import threading
import time
from typing import TYPE_CHECKING

from .client import consumer_client
from .outputs import ConsoleOutput, DeviceCsvOutput, JsonLinesOutput, Output
from .receiver import Checkpointer, CheckpointPolicy, Progress, Received, ReceiveStats, starting_position
from .store import CheckpointStoreError, async_checkpoint_store, checkpoint_store, prepare_container

if TYPE_CHECKING:
    from conf import CheckpointStoreSettings, Settings


def receive_events(
    settings: Settings,
    store: CheckpointStoreSettings,
    output: Output,
    *,
    consumer_group: str | None = None,
    start: str = "start",
    policy: CheckpointPolicy | None = None,
    count: int | None = None,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    load_balancing_interval_s: float = 10.0,
    ownership_expiry_s: float = 60.0,
    max_wait_s: float = 1.0,
) -> ReceiveStats:
    """Receive until `count` events, `duration_s` seconds or `stop`, then checkpoint what was handed to
    `output` and close. `start` (see receiver.starting_position) applies to partitions with no checkpoint."""
    position, inclusive = starting_position(start)
    prepare_container(store)  # fails in one line on a wrong key or an unreachable account
    done = threading.Event()
    checkpointer = Checkpointer(
        output, policy or CheckpointPolicy(), count=count, progress=progress, done=done
    )
    client = consumer_client(
        settings.eventhub,
        checkpoint_store(store),
        consumer_group=consumer_group,
        load_balancing_interval_s=load_balancing_interval_s,
        ownership_expiry_s=ownership_expiry_s,
    )
    started = time.monotonic()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            client.receive(
                on_event=checkpointer.on_event,
                on_partition_initialize=checkpointer.on_partition_initialize,
                on_partition_close=checkpointer.on_partition_close,
                on_error=checkpointer.on_error,
                starting_position=position,
                starting_position_inclusive=inclusive,
                max_wait_time=max_wait_s,
            )
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)
        finally:
            done.set()

    receiver = threading.Thread(target=run, name="consumers.receive", daemon=True)
    receiver.start()
    deadline = None if duration_s is None else started + duration_s
    try:
        while not done.is_set() and not (stop is not None and stop.is_set()):
            if deadline is not None and time.monotonic() >= deadline:
                break
            done.wait(0.1)
    except KeyboardInterrupt:
        checkpointer.stats.interrupted = True
    finally:
        if stop is not None and stop.is_set():
            checkpointer.stats.interrupted = True
        checkpointer.finish()
        client.close()
        receiver.join(30)
        output.close()
        if progress is not None:
            progress.close()
    checkpointer.stats.elapsed_s = time.monotonic() - started
    if failure:
        raise failure[0]
    return checkpointer.stats


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
]
