"""Shared fixtures: a real emulator process on a free port, and SDK helpers to read from it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.eventhub import EventData, EventHubConsumerClient

from emulator.process import EmulatorProcess

TEST_CONFIG = """
namespace = "emulator"
[keys]
RootManageSharedAccessKey = "SAS_KEY_VALUE"
[[hubs]]
name = "tweets"
partitions = 4
consumer_groups = ["spark", "audit"]
[[hubs]]
name = "telemetry"
partitions = 2
"""


@pytest.fixture
def emulator_config(tmp_path: Path) -> Path:
    path = tmp_path / "emulator.toml"
    path.write_text(TEST_CONFIG)
    return path


@pytest.fixture
def emulator(tmp_path: Path, emulator_config: Path) -> Iterator[EmulatorProcess]:
    """An emulator keeping its events on disk under tmp_path, so a test can restart it."""
    process = EmulatorProcess(
        data_dir=tmp_path / "data", config=emulator_config, log_file=tmp_path / "emulator.log"
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


Receive = Callable[..., list[EventData]]


def receive_events(
    connection_string: str,
    *,
    count: int,
    hub: str = "tweets",
    partition_id: str = "0",
    consumer_group: str = "$Default",
    timeout: float = 20.0,
    **receive_kwargs: Any,
) -> list[EventData]:
    """Read with the real SDK consumer until `count` events arrived (or `timeout`); return them in order."""
    client = EventHubConsumerClient.from_connection_string(
        connection_string, consumer_group=consumer_group, eventhub_name=hub
    )
    received: list[EventData] = []
    done = threading.Event()

    def on_event(_context: Any, event: EventData | None) -> None:
        if event is not None:
            received.append(event)
        if len(received) >= count:
            done.set()

    worker = threading.Thread(
        target=client.receive,
        kwargs={"on_event": on_event, "partition_id": partition_id, **receive_kwargs},
        daemon=True,
    )
    worker.start()
    if count == 0:
        time.sleep(2)  # long enough for anything wrongly delivered to show up
    else:
        done.wait(timeout)
    client.close()
    worker.join(10)
    return received


@pytest.fixture
def receive() -> Receive:
    return receive_events
