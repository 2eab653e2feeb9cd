"""Capture into a Blob container on Azurite, which is down when the first window closes.

One emulator and one Azurite for the module; events are sent with the azure-eventhub SDK.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.eventhub import EventData
from azure.storage.blob import BlobServiceClient

from azurite import AzuriteProcess
from emulator.process import EmulatorProcess
from tests.capture_files import Files, read_bytes, sequence_numbers, wait_for
from tests.conftest import running_emulator
from tests.sdk_events import send

VARIABLE = "HUBSTREAM_TEST_CAPTURE_STORAGE"
CONFIG = f"""
[keys]
RootManageSharedAccessKey = "SAS_KEY_VALUE"

[[hubs]]
name = "telemetry"
partitions = 2
[hubs.capture]
enabled = true
blob_container = "capture"
connection_string_env = "{VARIABLE}"
local_testing_time_window_seconds = 1
skip_empty_archives = true
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("capture-blob")


@pytest.fixture(scope="module")
def azurite(folder: Path) -> Iterator[AzuriteProcess]:
    """Azurite's port, known, but nothing listening there until a test starts it."""
    process = AzuriteProcess(data_dir=folder / "azurite", log_file=folder / "azurite.log")
    process.start()
    process.stop()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def emulator(folder: Path, azurite: AzuriteProcess) -> Iterator[EmulatorProcess]:
    os.environ[VARIABLE] = azurite.connection_string
    try:
        with running_emulator(folder, CONFIG) as process:
            yield process
    finally:
        del os.environ[VARIABLE]


def blobs(azurite: AzuriteProcess) -> Files:
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        container = service.get_container_client("capture")
        if not container.exists():
            return {}
        return {
            blob.name: read_bytes(container.download_blob(blob.name).readall())[1]
            for blob in container.list_blobs()
        }


def test_a_storage_account_down_is_retried_then_written(emulator: EmulatorProcess, azurite: AzuriteProcess):
    send(
        emulator.connection_string,
        [EventData(f"reading {n}") for n in range(3)],
        hub="telemetry",
        partition_id="0",
    )
    wait_for(lambda: {"log": []} if "retrying in" in "".join(emulator.output) else {}, bool)
    assert "AccountKey" not in "".join(emulator.output)  # the connection string's key is never logged
    azurite.start(port=azurite.blob_port)
    files = wait_for(lambda: blobs(azurite), lambda f: len(sequence_numbers(f)) >= 3)
    assert sequence_numbers(files) == [0, 1, 2]
    assert "delivered after" in "".join(emulator.output)


def test_blobs_are_named_and_written_as_the_service_does(emulator: EmulatorProcess, azurite: AzuriteProcess):
    if azurite.process is None or azurite.process.poll() is not None:
        azurite.start(port=azurite.blob_port)
    send(emulator.connection_string, [EventData(b"{}")] * 4, hub="telemetry", partition_id="1")
    files = wait_for(
        lambda: blobs(azurite), lambda f: any(name.startswith("emulator/telemetry/1/") for name in f)
    )
    ones = {name: records for name, records in files.items() if name.startswith("emulator/telemetry/1/")}
    for name in ones:
        assert re.fullmatch(r"emulator/telemetry/1/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}/\d{2}\.avro", name), name
    assert sequence_numbers(ones) == [0, 1, 2, 3]
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        data = service.get_blob_client("capture", next(iter(ones))).download_blob().readall()
    assert read_bytes(data)[0] == "null"
