"""Capture across restarts (`--data-dir`), after it is enabled, and into a destination that is down a while.

One emulator for the module, restarted by the tests; events are sent with the azure-eventhub SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.eventhub import EventData

from emulator.process import EmulatorProcess
from tests.capture_files import read_folder, sequence_numbers, wait_for
from tests.sdk_events import send

HUBS = """
[keys]
RootManageSharedAccessKey = "SAS_KEY_VALUE"

[[hubs]]
name = "restarting"
partitions = 1
[hubs.capture]
enabled = true
folder = "restarting-out"
time_window_seconds = 600

[[hubs]]
name = "blocked"
partitions = 1
[hubs.capture]
enabled = true
folder = "blocked-out"
local_testing_time_window_seconds = 1
skip_empty_archives = true
"""

LATE = """
[[hubs]]
name = "late"
partitions = 1
[hubs.capture]
enabled = {enabled}
folder = "late-out"
local_testing_size_window_bytes = 1  # a file per event: no need to wait for a window
skip_empty_archives = true
"""


def configure(folder: Path, *, late_enabled: bool) -> Path:
    config = folder / "emulator.toml"
    config.write_text(HUBS + LATE.format(enabled="true" if late_enabled else "false"))
    return config


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("capture-restart")
    (path / "blocked-out").write_text("a file where the capture folder should be")
    return path


@pytest.fixture(scope="module")
def emulator(folder: Path) -> Iterator[EmulatorProcess]:
    config = configure(folder, late_enabled=False)
    process = EmulatorProcess(config=config, data_dir=folder / "data", log_file=folder / "emulator.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def bodies(n: int, m: int) -> list[EventData]:
    return [EventData(f"event {k}") for k in range(n, m)]


def test_a_stop_writes_the_open_window_and_no_event_is_doubled_or_lost(
    emulator: EmulatorProcess, folder: Path
):
    out = folder / "restarting-out"
    send(emulator.connection_string, bodies(0, 5), hub="restarting", partition_id="0")
    assert read_folder(out) == {}  # a 600 s window: still open
    emulator.restart()  # Ctrl-C: the window is written cut short
    assert sequence_numbers(read_folder(out)) == [0, 1, 2, 3, 4]

    send(emulator.connection_string, bodies(5, 10), hub="restarting", partition_id="0")
    emulator.kill()  # no chance to write: the open window's start and position are on disk
    emulator.start(port=emulator.port)
    send(emulator.connection_string, bodies(10, 12), hub="restarting", partition_id="0")
    emulator.restart()

    files = read_folder(out)
    assert sequence_numbers(files) == list(range(12))
    assert [len(records) for records in files.values()] == [5, 7]
    assert [r["Body"] for records in files.values() for r in records] == [
        f"event {k}".encode() for k in range(12)
    ]


def test_only_events_after_capture_is_enabled_are_captured(emulator: EmulatorProcess, folder: Path):
    out = folder / "late-out"
    send(emulator.connection_string, bodies(0, 3), hub="late", partition_id="0")
    configure(folder, late_enabled=True)
    emulator.restart()
    assert "Capture: hub late -> folder" in "".join(emulator.output)
    send(emulator.connection_string, bodies(3, 5), hub="late", partition_id="0")
    files = wait_for(lambda: read_folder(out), lambda f: len(sequence_numbers(f)) >= 2)
    assert sequence_numbers(files) == [3, 4]

    configure(folder, late_enabled=False)  # turned off, and on again: what came in between is not captured
    emulator.restart()
    send(emulator.connection_string, bodies(5, 7), hub="late", partition_id="0")
    configure(folder, late_enabled=True)
    emulator.restart()
    send(emulator.connection_string, bodies(7, 8), hub="late", partition_id="0")
    files = wait_for(lambda: read_folder(out), lambda f: len(sequence_numbers(f)) >= 3)
    assert sequence_numbers(files) == [3, 4, 7]


def test_an_unreachable_destination_is_retried_then_delivered(emulator: EmulatorProcess, folder: Path):
    out = folder / "blocked-out"
    send(emulator.connection_string, bodies(0, 3), hub="blocked", partition_id="0")
    wait_for(lambda: {"log": []} if "cannot write" in "".join(emulator.output) else {}, bool)
    assert "retrying in" in "".join(emulator.output)
    send(emulator.connection_string, bodies(3, 4), hub="blocked", partition_id="0")
    out.unlink()  # the folder can be made now
    files = wait_for(lambda: read_folder(out), lambda f: len(sequence_numbers(f)) >= 4)
    assert sequence_numbers(files) == [0, 1, 2, 3]
    assert "delivered after" in "".join(emulator.output)
