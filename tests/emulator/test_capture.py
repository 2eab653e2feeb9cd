"""Capture into a folder: windows by time and by size, empty windows, names, files read back by fastavro.

One emulator for the module, with a hub per setting; events are sent with the azure-eventhub SDK.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.eventhub import EventData

from emulator.process import EmulatorProcess
from eventhubs import capture
from tests.capture_files import read_bytes, read_folder, sequence_numbers, wait_for
from tests.conftest import running_emulator
from tests.sdk_events import event_with, send

CONFIG = """
namespace = "capturens"
[keys]
RootManageSharedAccessKey = "SAS_KEY_VALUE"

[[hubs]]
name = "timed"
partitions = 2
[hubs.capture]
enabled = true
folder = "timed-out"
local_testing_time_window_seconds = 1

[[hubs]]
name = "skipping"
partitions = 1
[hubs.capture]
enabled = true
folder = "skipping-out"
local_testing_time_window_seconds = 1
skip_empty_archives = true
archive_name_format = "archive/{EventHub}-{PartitionId}/{Year}{Month}{Day}/{Hour}{Minute}{Second}-{Namespace}"

[[hubs]]
name = "sized"
partitions = 1
[hubs.capture]
enabled = true
folder = "sized-out"
time_window_seconds = 900
local_testing_size_window_bytes = 3000
encoding = "AvroDeflate"

[[hubs]]
name = "plain"
partitions = 1
"""

DEFAULT_NAME = re.compile(r"capturens/timed/(\d)/(\d{4})/(\d{2})/(\d{2})/(\d{2})/(\d{2})/(\d{2})\.avro")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("capture")


@pytest.fixture(scope="module")
def emulator(folder: Path) -> Iterator[EmulatorProcess]:
    with running_emulator(folder, CONFIG) as process:
        yield process


def window_of(name: str) -> datetime:
    match = DEFAULT_NAME.fullmatch(name)
    assert match, name
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[1:])
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_time_windows_hold_every_event_once_in_the_window_named(emulator: EmulatorProcess, folder: Path):
    events = [event_with(f'{{"reading": {n}}}', device=f"d-{n % 3}", n=n, ratio=n / 4) for n in range(20)]
    send(emulator.connection_string, events[:10], hub="timed", partition_id="0")
    time.sleep(1.2)  # the next ten in a later window
    send(emulator.connection_string, events[10:], hub="timed", partition_id="0")

    out = folder / "timed-out"
    files = wait_for(lambda: read_folder(out), lambda f: len(sequence_numbers(_partition(f, "0"))) >= 20)
    zero = _partition(files, "0")
    assert sequence_numbers(zero) == list(range(20))  # once each, in order, across files in name order
    assert len([name for name, records in zero.items() if records]) >= 2
    for name, records in zero.items():
        start = window_of(name)
        for record in records:
            enqueued = capture.parse_enqueued_time_utc(record["EnqueuedTimeUtc"])
            assert start <= enqueued < start + timedelta(seconds=1), (name, record["EnqueuedTimeUtc"])
    first = next(r for records in zero.values() for r in records)
    assert first["Body"] == b'{"reading": 0}'
    assert first["Properties"] == {"device": "d-0", "n": 0, "ratio": 0.0}
    assert first["Offset"] == "0"
    assert set(first["SystemProperties"]) == {"x-opt-enqueued-time"}

    # Partition 1 had no events: its empty windows are files too, a second or more apart.
    one = _partition(files, "1")
    assert len(one) >= 2 and all(records == [] for records in one.values())
    starts = [window_of(name) for name in one]
    assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(starts))


def test_files_are_in_the_services_format(emulator: EmulatorProcess, folder: Path):
    path = next((folder / "timed-out").rglob("*.avro"))
    data = path.read_bytes()
    codec, _records = read_bytes(data)
    assert codec == "null"
    # The header the service writes: codec first, then its schema text (eventhubs/capture.py).
    assert data.startswith(b"Obj\x01\x04\x14avro.codec\x08null\x16avro.schema\xde\x06")
    assert capture.CAPTURE_SCHEMA_JSON.encode() in data[:500]


def test_empty_windows_are_skipped_when_asked(emulator: EmulatorProcess, folder: Path):
    out = folder / "skipping-out"
    time.sleep(2.5)  # two empty windows at least
    assert read_folder(out) == {}
    send(emulator.connection_string, [EventData(b"lonely")], hub="skipping", partition_id="0")
    files = wait_for(lambda: read_folder(out), lambda f: len(f) == 1)
    (name, records), *_ = files.items()
    assert re.fullmatch(r"archive/skipping-0/\d{8}/\d{6}-capturens\.avro", name), name
    assert [r["Body"] for r in records] == [b"lonely"]
    time.sleep(1.5)
    assert len(read_folder(out)) == 1  # no empty file after it either


def test_size_window_closes_before_the_time_window(emulator: EmulatorProcess, folder: Path):
    # Stored events are about 1060 bytes each: three reach the 3000-byte window, two do not.
    send(
        emulator.connection_string,
        [EventData(bytes([n]) * 1000) for n in range(10)],
        hub="sized",
        partition_id="0",
    )
    out = folder / "sized-out"
    files = wait_for(lambda: read_folder(out), lambda f: len(f) == 3, timeout=10)
    assert [[r["SequenceNumber"] for r in records] for records in files.values()] == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8],
    ]
    assert len(set(files)) == 3  # three names: windows closed in the same second still get their own
    codec, records = read_bytes(min(out.rglob("*.avro")).read_bytes())  # the first window
    assert codec == "deflate"
    assert records[0]["Body"] == b"\x00" * 1000


def test_hubs_without_capture_write_nothing(emulator: EmulatorProcess, folder: Path):
    send(emulator.connection_string, [EventData(b"not captured")], hub="plain", partition_id="0")
    assert not any("plain" in path.as_posix() for path in folder.rglob("*.avro"))
    assert "Capture: hub plain" not in "".join(emulator.output)
    assert "Capture: hub timed -> folder" in "".join(emulator.output)


def _partition(files: dict[str, list[dict]], partition_id: str) -> dict[str, list[dict]]:
    return {name: records for name, records in files.items() if name.split("/")[2] == partition_id}
