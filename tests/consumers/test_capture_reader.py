"""The capture reader: every reading once and in order, the first included; bad files skipped; sources."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import ContainerClient

from azurite import AzuriteProcess
from consumers.capture import FolderSource, container_source, read_capture_file, read_captures, read_events
from consumers.capture.__main__ import main
from eventhubs.capture import DEFAULT_ARCHIVE_NAME_FORMAT, encode_archive
from tests.capture_files import (
    SECONDS_FIRST_FORMAT,
    START,
    Captured,
    capture_telemetry,
    fastavro_file,
    record,
)

FIELDS = ["id", "timestamp", "uv", "temperature", "humidity"]


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def expected_rows(readings: list[dict[str, Any]]) -> list[list[str]]:
    return [FIELDS] + [[str(reading[name]) for name in FIELDS] for reading in readings]


def assert_csvs_hold_every_reading(out: Path, captured: Captured) -> None:
    """One CSV per device, each: the header, then every reading sent, once, in the order sent."""
    assert sorted(p.stem for p in out.glob("*.csv")) == sorted(captured.readings)
    for device, readings in captured.readings.items():
        assert csv_rows(out / f"{device}.csv") == expected_rows(readings)


@pytest.fixture(scope="module")
def captured_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Captured]:
    root = tmp_path_factory.mktemp("capture")
    return root, capture_telemetry(root)


def test_every_reading_once_in_enqueued_order_first_included(
    captured_folder: tuple[Path, Captured], tmp_path: Path
) -> None:
    root, captured = captured_folder
    report = read_captures(FolderSource(root), tmp_path, name_format=SECONDS_FIRST_FORMAT)

    assert_csvs_hold_every_reading(tmp_path, captured)
    # The tutorial's reader lost each device's first reading: here it is the CSV's first row.
    first_device = next(iter(captured.readings))
    assert csv_rows(tmp_path / f"{first_device}.csv")[1][2] == str(captured.readings[first_device][0]["uv"])
    assert (report.files, report.empty_files, report.events, report.rows) == (5, 1, 200, 200)
    assert (len(report.rows_by_device), report.not_readings, report.skipped) == (10, 0, [])
    # Never deleted unless asked; a second run rewrites the same files (no row appended twice).
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.avro")) == sorted(captured.files)
    read_captures(FolderSource(root), tmp_path, name_format=SECONDS_FIRST_FORMAT)
    assert_csvs_hold_every_reading(tmp_path, captured)


def test_events_come_in_enqueued_order_with_their_partition(captured_folder: tuple[Path, Captured]) -> None:
    root, _ = captured_folder
    events, files = read_events(FolderSource(root), name_format=SECONDS_FIRST_FORMAT)
    assert len(files) == 5 and len(events) == 200
    times = [(e.enqueued_time, e.sequence_number) for e in events]
    assert times == sorted(times)
    assert {e.partition_id for e in events} == {"0", "1"}
    assert events[0].enqueued_time == START and events[0].partition_key == json.loads(events[0].body)["id"]


@pytest.mark.parametrize("writer", ["emulator", "fastavro"])
@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_null_and_deflate_codecs(writer: str, codec: str) -> None:
    records = [record(f'{{"id":"d","n":{n}}}'.encode(), n, START, "d") for n in range(3)]
    data = encode_archive(records, codec) if writer == "emulator" else fastavro_file(records, codec)
    events = read_capture_file(
        io.BytesIO(data), "ns/hub/7/2026/12/02/01/00/59.avro", DEFAULT_ARCHIVE_NAME_FORMAT
    )
    assert [json.loads(e.body)["n"] for e in events] == [0, 1, 2]
    assert {e.partition_id for e in events} == {"7"}


def test_an_empty_window_is_a_file_without_events_whatever_its_size(tmp_path: Path) -> None:
    data = encode_archive([], "null")
    assert len(data) > 0  # the tutorial's size test would call it non-empty and read it
    (tmp_path / "0.avro").write_bytes(data)
    report = read_captures(FolderSource(tmp_path), tmp_path / "out")
    assert (report.files, report.empty_files, report.events, report.skipped) == (1, 1, 0, [])


def test_unreadable_files_are_reported_by_name_and_skipped(
    captured_folder: tuple[Path, Captured], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, captured = captured_folder
    source = tmp_path / "capture"
    for name in captured.files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((root / name).read_bytes())
    whole = (root / captured.files[0]).read_bytes()
    (source / "truncated.avro").write_bytes(whole[: len(whole) // 2])
    (source / "not-avro.avro").write_bytes(b"id,timestamp\n1,2\n")
    (source / "other-schema.avro").write_bytes(_other_schema_file())

    code = main(["--folder", str(source), "--out", str(tmp_path / "out"), "--quiet",
                 "--archive-name-format", SECONDS_FIRST_FORMAT])  # fmt: skip

    err = capsys.readouterr().err
    assert code == 1
    for bad in ("truncated.avro", "not-avro.avro", "other-schema.avro"):
        assert f"skipped {bad}: " in err
    # The readable files were all read: nothing lost because of the bad ones.
    assert_csvs_hold_every_reading(tmp_path / "out", captured)


def _other_schema_file() -> bytes:
    import fastavro

    out = io.BytesIO()
    schema = {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "long"}]}
    fastavro.writer(out, fastavro.parse_schema(schema), [{"x": 1}])
    return out.getvalue()


def test_events_that_are_not_readings_are_kept_aside(tmp_path: Path) -> None:
    bodies: list[bytes | None] = [
        b'{"id":"a","uv":1}',
        b"not json",
        b'{"no":"id"}',
        None,
        b'{"id":"a","uv":2}',
    ]
    records = [record(body, n, START, None) for n, body in enumerate(bodies)]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "0.avro").write_bytes(encode_archive(records))
    report = read_captures(FolderSource(tmp_path / "in"), tmp_path / "out")
    assert (report.rows, report.not_readings) == (2, 3)
    assert [r[2] for r in csv_rows(tmp_path / "out" / "a.csv")] == ["uv", "1", "2"]
    assert len((tmp_path / "out" / "not-telemetry.jsonl").read_text().splitlines()) == 3


def test_device_ids_a_file_name_cannot_hold_as_they_are_never_share_a_csv(tmp_path: Path) -> None:
    devices = ["a/b", "a_b", "a:b", "..", "", "ok-1"]
    bodies = [json.dumps({"id": device, "uv": n}).encode() for n, device in enumerate(devices)]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "0.avro").write_bytes(
        encode_archive([record(body, n, START, None) for n, body in enumerate(bodies)])
    )
    report = read_captures(FolderSource(tmp_path / "in"), tmp_path / "out")
    assert report.rows == len(devices) and len(report.rows_by_device) == len(devices)
    files = sorted((tmp_path / "out").glob("*.csv"))
    assert len(files) == len(devices)
    assert sorted(csv_rows(path)[1][0] for path in files) == sorted(devices)
    assert {"a_b.csv", "ok-1.csv"} <= {path.name for path in files}  # ids a file can hold keep their name


def test_command_line_errors_name_the_bad_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--folder", str(tmp_path / "missing")]) == 2
    assert "missing' does not exist" in capsys.readouterr().err
    assert main(["--folder", str(tmp_path), "--archive-name-format", "{Namespace}/{Partition}"]) == 2
    assert "unknown token {Partition}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--delete-after-read" in capsys.readouterr().out


# ---- Blob Storage (Azurite) ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteProcess]:
    folder = tmp_path_factory.mktemp("azurite")
    with AzuriteProcess(data_dir=folder / "data", log_file=folder / "azurite.log") as process:
        yield process


def upload(azurite: AzuriteProcess, container: str, root: Path, names: list[str]) -> ContainerClient:
    client = ContainerClient.from_connection_string(azurite.connection_string, container)
    client.create_container()
    for name in names:
        client.upload_blob(name, (root / name).read_bytes())
    return client


def test_blob_container_never_deleted_unless_asked(
    azurite: AzuriteProcess, captured_folder: tuple[Path, Captured], tmp_path: Path
) -> None:
    root, captured = captured_folder
    client = upload(azurite, "capture", root, captured.files)
    source = container_source("capture", connection_string=azurite.connection_string)

    report = read_captures(source, tmp_path, name_format=SECONDS_FIRST_FORMAT)
    assert (report.files, report.events, report.deleted) == (5, 200, 0)
    assert_csvs_hold_every_reading(tmp_path, captured)
    assert sorted(b.name for b in client.list_blobs()) == sorted(captured.files)

    # Asked to delete: the rows go after the CSVs' rows (which the deleted blobs' readings live in).
    report = read_captures(
        source, tmp_path / "again", name_format=SECONDS_FIRST_FORMAT, delete_after_read=True
    )
    assert (report.deleted, list(client.list_blobs())) == (5, [])
    assert_csvs_hold_every_reading(tmp_path / "again", captured)


def test_blob_prefix_and_missing_container(
    azurite: AzuriteProcess, captured_folder: tuple[Path, Captured]
) -> None:
    root, captured = captured_folder
    upload(azurite, "prefixed", root, captured.files)
    source = container_source(
        "prefixed", connection_string=azurite.connection_string, prefix="emulator/telemetry/1/"
    )
    events, files = read_events(source, name_format=SECONDS_FIRST_FORMAT)
    assert len(files) == 2 and {e.partition_id for e in events} == {"1"}
    with pytest.raises(ValueError, match="container 'nope' does not exist"):
        container_source("nope", connection_string=azurite.connection_string)


def test_a_wrong_account_key_is_named_without_the_key(
    azurite: AzuriteProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = azurite.connection_string.replace("AccountKey=", "AccountKey=WRONG")
    assert main(["--container", "capture", "--connection-string", wrong]) == 2
    err = capsys.readouterr().err
    assert "cannot read container 'capture'" in err and "account key" in err
    assert "WRONG" not in err
