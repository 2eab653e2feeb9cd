"""`[hubs.capture]`: the service's defaults and ranges, the local-testing keys, errors naming their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.__main__ import main
from emulator.config import (
    DEFAULT_KEY,
    DEFAULT_KEY_NAME,
    CaptureConfig,
    ConfigError,
    load_config,
    one_hub_config_text,
)
from eventhubs import capture

HEAD = '[keys]\nRootManageSharedAccessKey = "SAS_KEY_VALUE"\n[[hubs]]\nname = "tweets"\n'


def load(tmp_path: Path, capture_table: str) -> CaptureConfig:
    path = tmp_path / "namespace.toml"
    path.write_text(HEAD + "[hubs.capture]\n" + capture_table)
    return load_config(path).hubs["tweets"].capture


def error(tmp_path: Path, capture_table: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, capture_table)
    return str(info.value)


def test_off_unless_enabled_with_the_services_defaults(tmp_path: Path):
    path = tmp_path / "namespace.toml"
    path.write_text(HEAD)
    settings = load_config(path).hubs["tweets"].capture
    assert settings == CaptureConfig()
    assert not settings.enabled
    assert settings.time_window_seconds == 300
    assert settings.size_window_bytes == 300 * 1024 * 1024
    assert settings.skip_empty_archives is False
    assert settings.archive_name_format == capture.DEFAULT_ARCHIVE_NAME_FORMAT
    assert (settings.encoding, settings.codec) == ("Avro", "null")


def test_a_full_table(tmp_path: Path):
    settings = load(
        tmp_path,
        'enabled = true\nfolder = "out/capture"\ntime_window_seconds = 60\nsize_window_mib = 500\n'
        'skip_empty_archives = true\nencoding = "AvroDeflate"\n'
        'archive_name_format = "x/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}/'
        '{Namespace}/{EventHub}/{PartitionId}"\n',
    )
    assert settings.folder == tmp_path / "out" / "capture"  # relative to the config file
    assert (settings.time_window_seconds, settings.size_window_bytes) == (60, 500 * 1024 * 1024)
    assert settings.skip_empty_archives and settings.codec == "deflate" and not settings.local_testing
    blob = load(tmp_path, 'enabled = true\nblob_container = "capture-1"\n')
    assert (blob.blob_container, blob.connection_string_env) == (
        "capture-1",
        "AZURE_STORAGE_CONNECTION_STRING",
    )


def test_shorter_windows_only_through_the_local_testing_keys(tmp_path: Path):
    message = error(tmp_path, 'enabled = true\nfolder = "o"\ntime_window_seconds = 2\n')
    assert "tweets': capture.time_window_seconds = 2 is out of range; use 60..900" in message
    assert "local_testing_time_window_seconds" in message
    message = error(tmp_path, 'enabled = true\nfolder = "o"\nsize_window_mib = 501\n')
    assert "capture.size_window_mib = 501 is out of range; use 10..500" in message
    assert "local_testing_size_window_bytes" in message
    settings = load(
        tmp_path,
        'enabled = true\nfolder = "o"\nlocal_testing_time_window_seconds = 2\n'
        "local_testing_size_window_bytes = 64\n",
    )
    assert (settings.time_window_seconds, settings.size_window_bytes, settings.local_testing) == (2, 64, True)
    message = error(tmp_path, 'enabled = true\nfolder = "o"\nlocal_testing_time_window_seconds = 0\n')
    assert "capture.local_testing_time_window_seconds = 0 is out of range; use 1..900" in message


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('enabled = "yes"\n', "capture.enabled = 'yes' must be true or false"),
        ("enabled = true\n", "give exactly one destination"),
        ('enabled = true\nfolder = "a"\nblob_container = "capture"\n', "give exactly one destination"),
        ('enabled = true\nblob_container = "Capture_1"\n', "'Capture_1' is not a valid container name"),
        (
            'enabled = true\nblob_container = "capture"\n'
            'connection_string_env = "UseDevelopmentStorage=true"\n',
            "must be the NAME of an environment variable",
        ),
        (
            'enabled = true\nfolder = "a"\nencoding = "Parquet"\n',
            "encoding = 'Parquet' is unknown; use 'Avro' or",
        ),
        (
            'enabled = true\nfolder = "a"\narchive_name_format = "{Namespace}/{EventHub}"\n',
            r"lacks {PartitionId}",
        ),
        (
            'enabled = true\nfolder = "a"\narchive_name_format = "../{Namespace}/{EventHub}/{PartitionId}/'
            '{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}"\n',
            "'..'",
        ),
        ('enabled = true\nfolder = "a"\ntime_windw_seconds = 60\n', "did you mean 'time_window_seconds'?"),
    ],
)
def test_errors_name_the_key_and_the_fix(tmp_path: Path, table: str, expected: str):
    message = error(tmp_path, table)
    assert expected in message
    assert message.startswith(f"{tmp_path / 'namespace.toml'}: hubs[0] 'tweets': capture")


def test_a_missing_connection_string_variable_stops_the_start(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("CAPTURE_TEST_UNSET", raising=False)
    path = tmp_path / "namespace.toml"
    path.write_text(
        HEAD + '[hubs.capture]\nenabled = true\nblob_container = "capture"\n'
        'connection_string_env = "CAPTURE_TEST_UNSET"\n'
    )
    assert main(["--config", str(path), "--port", "0", "--no-tls", "--health-port", "-1"]) == 2
    assert (
        "environment variable CAPTURE_TEST_UNSET (connection_string_env) is not set"
        in capsys.readouterr().err
    )


def test_a_connection_string_that_is_not_one_stops_the_start(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("CAPTURE_TEST_GARBAGE", "not a connection string")
    path = tmp_path / "namespace.toml"
    path.write_text(
        HEAD + '[hubs.capture]\nenabled = true\nblob_container = "capture"\n'
        'connection_string_env = "CAPTURE_TEST_GARBAGE"\n'
    )
    assert main(["--config", str(path), "--port", "0", "--no-tls", "--health-port", "-1"]) == 2
    err = capsys.readouterr().err
    assert "the connection string in CAPTURE_TEST_GARBAGE is not a storage connection string" in err
    assert "not a connection string" not in err  # the variable's value is never printed


def test_one_hub_config_text_is_a_file_the_emulator_reads_back(tmp_path: Path):
    path = tmp_path / "namespace.toml"
    path.write_text(one_hub_config_text("telemetry", 3))
    config = load_config(path)
    assert config.keys == {DEFAULT_KEY_NAME: DEFAULT_KEY}
    assert list(config.hubs) == ["telemetry"] and config.hubs["telemetry"].partition_count == 3
    assert not config.hubs["telemetry"].capture.enabled

    settings: dict[str, str | int | bool] = {"blob_container": "logs", "skip_empty_archives": True}
    settings["local_testing_time_window_seconds"] = 2
    path.write_text(one_hub_config_text("telemetry", 3, settings))
    captured = load_config(path).hubs["telemetry"].capture
    assert captured.enabled and captured.blob_container == "logs" and captured.skip_empty_archives
    assert (captured.time_window_seconds, captured.local_testing) == (2, True)
