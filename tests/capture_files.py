"""Capture files in the tests: read back with fastavro (the emulator's Capture), and written (the reader's
and the Spark job's inputs: the tutorial's telemetry, in windows).

Written records are built as the service writes them (eventhubs.capture: EnqueuedTimeUtc in its format,
the millisecond time and the partition key in SystemProperties) with the emulator's writer
(`encode_archive`) or fastavro's own, in either codec.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro

from eventhubs.capture import CAPTURE_SCHEMA, archive_name, encode_archive, format_enqueued_time_utc
from producers.sources.telemetry import telemetry

Files = dict[str, list[dict[str, Any]]]


def read_folder(folder: Path) -> Files:
    """Each capture file's records, by its name relative to `folder` ('/'-separated), in name order."""
    found: Files = {}
    for path in sorted(folder.rglob("*.avro")):
        with path.open("rb") as f:
            records = [r for r in fastavro.reader(f) if isinstance(r, dict)]
        found[path.relative_to(folder).as_posix()] = records
    return found


def read_bytes(data: bytes) -> tuple[str, list[dict[str, Any]]]:
    """A capture file's codec and records."""
    reader = fastavro.reader(io.BytesIO(data))
    return str(reader.metadata.get("avro.codec", "null")), [r for r in reader if isinstance(r, dict)]


def wait_for(found: Callable[[], Files], done: Callable[[Files], bool], timeout: float = 20.0) -> Files:
    """Poll `found()` until `done` holds for it; AssertionError with what was found on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        files = found()
        if done(files):
            return files
        if time.monotonic() > deadline:
            summary = {name: len(records) for name, records in files.items()}
            raise AssertionError(f"capture files not as awaited after {timeout} s: {summary}")
        time.sleep(0.1)


def sequence_numbers(files: Files) -> list[int]:
    return [r["SequenceNumber"] for records in files.values() for r in records]


# ---- written: the reader's and the Spark job's inputs ------------------------------------------

NAMESPACE = "emulator"
HUB = "telemetry"
PARTITIONS = 2
START = datetime(2026, 12, 2, 1, 0, 50, tzinfo=UTC)
# Second first: the files' names do not sort in time order, so the order must come from the records.
SECONDS_FIRST_FORMAT = "{Namespace}/{EventHub}/{PartitionId}/{Second}-{Minute}-{Hour}-{Day}-{Month}-{Year}"


@dataclass(frozen=True)
class Captured:
    """What was 'sent' (bodies in order, per device) and where the files are."""

    readings: dict[str, list[dict[str, Any]]]  # device -> its readings, in the order sent
    files: list[str]  # every file written, relative to the root
    events: int


def record(body: bytes | None, sequence_number: int, when: datetime, key: str | None) -> dict[str, Any]:
    millis = int(when.timestamp() * 1000)
    system: dict[str, Any] = {"x-opt-enqueued-time": millis}
    if key is not None:
        system["x-opt-partition-key"] = key
    return {
        "SequenceNumber": sequence_number,
        "Offset": str(sequence_number * 512),
        "EnqueuedTimeUtc": format_enqueued_time_utc(millis),
        "SystemProperties": system,
        "Properties": {"source": "test"},
        "Body": body,
    }


def fastavro_file(records: list[dict[str, Any]], codec: str) -> bytes:
    """A capture file written by fastavro's own writer (its header differs from the service's)."""
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(CAPTURE_SCHEMA), records, codec=codec)
    return out.getvalue()


def capture_telemetry(
    root: Path,
    *,
    devices: int = 10,
    rounds: int = 20,
    name_format: str = SECONDS_FIRST_FORMAT,
) -> Captured:
    """The tutorial's devices x rounds readings, captured into files under `root`.

    A device's readings go to partition (device index % PARTITIONS). Each partition's events are split
    into two windows of 10 s: the first in the null codec (the emulator's writer), the second in
    deflate (fastavro's writer); partition 0 also gets an empty third window, as Capture writes.
    """
    bodies = telemetry(devices, seed=7, clock=lambda: START)
    device_order: list[str] = []
    readings: dict[str, list[dict[str, Any]]] = {}
    per_partition: list[list[dict[str, Any]]] = [[] for _ in range(PARTITIONS)]
    for _ in range(devices * rounds):
        event = next(bodies)
        body = event.body if isinstance(event.body, bytes) else event.body.encode()
        reading = json.loads(body)
        device = reading["id"]
        if device not in readings:
            device_order.append(device)
            readings[device] = []
        readings[device].append(reading)
        partition = device_order.index(device) % PARTITIONS
        events = per_partition[partition]
        # 5 events a second in each partition: several share EnqueuedTimeUtc's whole second.
        when = START + timedelta(milliseconds=200 * len(events))
        events.append(record(body, len(events), when, device))
    files: list[str] = []

    def put(partition: int, window: datetime, data: bytes) -> None:
        name = archive_name(name_format, NAMESPACE, HUB, str(partition), window)
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        files.append(name)

    for partition, events in enumerate(per_partition):
        half = len(events) // 2
        put(partition, START, encode_archive(events[:half], "null"))
        put(partition, START + timedelta(seconds=10), fastavro_file(events[half:], "deflate"))
    put(0, START + timedelta(seconds=20), encode_archive([], "null"))
    return Captured(readings, files, devices * rounds)
