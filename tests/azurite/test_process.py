"""Azurite as a child process: it serves Blob Storage to azure-storage-blob, and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.storage.blob import BlobServiceClient

from azurite import AZURITE_BIN_ENV, AzuriteNotInstalled, AzuriteProcess


def test_blob_round_trip_and_restart_on_the_same_port(tmp_path: Path) -> None:
    data = tmp_path / "azurite-data"
    with AzuriteProcess(data_dir=data, log_file=tmp_path / "azurite.log") as azurite:
        port = azurite.blob_port
        assert port > 0
        assert azurite.blob_endpoint == f"http://127.0.0.1:{port}/devstoreaccount1"
        assert f"BlobEndpoint={azurite.blob_endpoint};" in azurite.connection_string
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        container = service.create_container("checkpoints")
        container.upload_blob("a/b/0", b"hello azurite", metadata={"offset": "42"})
        blob = container.get_blob_client("a/b/0")
        assert blob.download_blob().readall() == b"hello azurite"
        assert blob.get_blob_properties().metadata == {"offset": "42"}
        service.close()
    assert azurite.process is not None and azurite.process.returncode is not None
    assert "PUT /devstoreaccount1/checkpoints" in (tmp_path / "azurite.log").read_text()

    # Its data stays in data_dir: started again on the same port, the blob is still there.
    with AzuriteProcess(data_dir=data) as again:
        again.stop()
        again.start(port=port)
        assert again.blob_port == port
        with BlobServiceClient.from_connection_string(again.connection_string) as service:
            blob = service.get_blob_client("checkpoints", "a/b/0")
            assert blob.download_blob().readall() == b"hello azurite"


def test_temporary_data_folder_is_removed_on_stop() -> None:
    azurite = AzuriteProcess().start()
    assert azurite._temp_dir is not None
    folder = Path(azurite._temp_dir.name)
    assert folder.is_dir()
    # 0, or -SIGINT when the signal lands before Azurite has installed its handler.
    assert azurite.stop() in (0, -signal.SIGINT)
    assert azurite.process is not None and azurite.process.poll() is not None
    assert not folder.exists()


def test_ctrl_c_while_it_starts_stops_it_and_removes_its_folder() -> None:
    azurite = AzuriteProcess()
    # Azurite takes about a second to listen; Ctrl-C lands while start() waits for it.
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        azurite.start()
    assert azurite.process is not None and azurite.process.poll() is not None
    assert azurite._temp_dir is None


def test_missing_binary_names_the_make_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(AZURITE_BIN_ENV, str(tmp_path / "no-such-azurite-blob"))
    with pytest.raises(AzuriteNotInstalled, match=r"make azurite-install"):
        AzuriteProcess().start()


def test_command_line_help_and_missing_binary(tmp_path: Path) -> None:
    helped = subprocess.run([sys.executable, "-m", "azurite", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--location" in helped.stdout and "--port" in helped.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "azurite", "--port", "0"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", AZURITE_BIN_ENV: str(tmp_path / "absent")},
    )
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "make azurite-install" in missing.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_command_line_stops_azurite_on_sigterm_and_ctrl_c(tmp_path: Path, stop_signal: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "azurite", "--port", "0", "--location", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]
    assert lines[-1] == "Ctrl-C stops it.\n", lines
    connection_string = lines[1].removeprefix("Connection string: ").strip()
    with BlobServiceClient.from_connection_string(connection_string) as service:
        service.create_container("proof")
    process.send_signal(stop_signal)
    try:
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    # Azurite itself is gone too: its port refuses connections.
    with BlobServiceClient.from_connection_string(connection_string, retry_total=0) as service:
        with pytest.raises(ServiceRequestError):
            service.get_service_properties()
