"""Simulated devices emitting JSON readings, as the Event Hubs Capture tutorial's sender does.

Each reading is `{"id", "timestamp", "uv", "temperature", "humidity"}`; the device id is the partition
key, so one device's readings stay in order on one partition.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from ..events import Event


def device_ids(count: int, seed: int | None = None) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


def telemetry(
    devices: int = 10,
    *,
    interval_s: float = 0.0,
    seed: int | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[Event]:
    """Endless rounds of one reading per device, `interval_s` apart (0: as fast as the sender takes them)."""
    if devices < 1:
        raise ValueError(f"devices must be at least 1, got {devices}")
    rng = random.Random(seed)
    ids = device_ids(devices, seed)
    waiter = stop or threading.Event()
    while not waiter.is_set():
        for device in ids:
            reading = {
                "id": device,
                "timestamp": clock().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "uv": rng.random(),
                "temperature": rng.randint(70, 100),
                "humidity": rng.randint(70, 100),
            }
            yield Event(json.dumps(reading, separators=(",", ":")), partition_key=device)
        if interval_s:
            waiter.wait(interval_s)
