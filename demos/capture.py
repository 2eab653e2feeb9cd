"""`make run-capture`: the Capture tutorial on a laptop, checked end to end.

Start Azurite and the emulator with Capture on hub `telemetry` into Azurite's container `capture` (a
2-second local-testing window instead of the service's 60 s minimum), send the tutorial's 10 devices x
20 readings with our telemetry producer, wait until every event is in a capture file, run the capture
reader, and compare its CSVs with what was sent: each reading once, in the order sent.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from azure.storage.blob import ContainerClient

from azurite import AzuriteProcess
from conf import load_settings
from consumers.capture import ContainerSource, container_source, read_captures, read_events
from emulator.config import one_hub_config_text
from emulator.process import EmulatorProcess
from producers import send_events
from producers.events import Event
from producers.sources.telemetry import telemetry

from . import verdict

DEVICES, ROUNDS = 10, 20
HUB, CONTAINER = "telemetry", "capture"
WINDOW_S = 2
STORAGE_ENV = "HUBSTREAM_DEMO_CAPTURE_STORAGE"
CONFIG = one_hub_config_text(
    HUB,
    4,
    capture={
        "blob_container": CONTAINER,
        "connection_string_env": STORAGE_ENV,
        "local_testing_time_window_seconds": WINDOW_S,
        "skip_empty_archives": True,
    },
)
FIELDS = ("id", "timestamp", "uv", "temperature", "humidity")


def wait_for_capture(source: ContainerSource, events: int, timeout_s: float) -> None:
    """Until the capture files hold `events` events (or `timeout_s`), saying how many so far."""
    deadline = time.monotonic() + timeout_s
    seen = -1
    while time.monotonic() < deadline:
        captured = len(read_events(source)[0])
        if captured != seen:
            print(f"captured so far: {captured} of {events} events", flush=True)
            seen = captured
        if captured >= events:
            return
        time.sleep(WINDOW_S / 2)


def compare(sent: list[dict[str, object]], csv_dir: Path) -> tuple[int, int, int, int, list[str]]:
    """Devices, rows, missing and duplicated readings of the CSVs against `sent`, and order problems."""
    rows: list[tuple[str, ...]] = []
    out_of_order: list[str] = []
    by_device: dict[str, list[tuple[str, ...]]] = {}
    for reading in sent:
        by_device.setdefault(str(reading["id"]), []).append(tuple(str(reading[f]) for f in FIELDS))
    csv_files = sorted(csv_dir.glob("*.csv"))
    for path in csv_files:
        with path.open(newline="", encoding="utf-8") as f:
            device_rows = [tuple(row) for row in csv.reader(f)][1:]
        rows += device_rows
        expected = by_device.get(path.stem, [])
        # In order: the readings found (each at its first row) come as they were sent.
        if [r for r in dict.fromkeys(device_rows) if r in expected] != [
            r for r in expected if r in device_rows
        ]:
            out_of_order.append(path.stem)
    wanted, got = Counter(r for rs in by_device.values() for r in rs), Counter(rows)
    missing = sum((wanted - got).values())
    duplicated = sum(n - 1 for n in got.values() if n > 1)
    return len(csv_files), len(rows), missing, duplicated, out_of_order


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demos.capture", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="keep the CSVs here (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for Capture (60)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hubstream-capture-demo-") as scratch:
        work = Path(scratch)
        csv_dir = args.out or work / "csv"
        print("starting Azurite (Blob Storage) ...", flush=True)
        with AzuriteProcess(data_dir=work / "azurite", log_file=work / "azurite.log") as azurite:
            os.environ[STORAGE_ENV] = azurite.connection_string
            # The tutorial's step 4: a container named "capture" in the storage account.
            with ContainerClient.from_connection_string(azurite.connection_string, CONTAINER) as container:
                container.create_container()
            source = container_source(CONTAINER, connection_string=azurite.connection_string)
            config = work / "emulator.toml"
            config.write_text(CONFIG)
            print(f"starting the emulator: Capture of hub {HUB!r} into container {CONTAINER!r}, "
                  f"{WINDOW_S} s windows ...", flush=True)  # fmt: skip
            with EmulatorProcess(config=config, log_file=work / "emulator.log") as emulator:
                settings = load_settings(
                    "local",
                    connection_string=emulator.connection_string,
                    environ={**os.environ, "EVENTHUB_NAME": HUB},
                )
                sent: list[dict[str, object]] = []

                def readings() -> list[Event]:
                    events = telemetry(DEVICES)
                    batch = [next(events) for _ in range(DEVICES * ROUNDS)]
                    sent.extend(json.loads(e.body) for e in batch)
                    return batch

                stats = send_events(settings, readings(), count=DEVICES * ROUNDS)
                print(stats.summary(), flush=True)
                wait_for_capture(source, stats.events, args.timeout)
            # The emulator has stopped: any window still open was written at stop.
            print(f"reading the capture files into {csv_dir} ...", flush=True)
            report = read_captures(source, csv_dir)
            print(report.summary(), flush=True)
            for skipped in report.skipped:
                print(f"skipped {skipped}", flush=True)
            devices, rows, missing, duplicated, out_of_order = compare(sent, csv_dir)
    if out_of_order:
        print(f"FAILED: readings out of order for {', '.join(out_of_order)}")
    ok = not out_of_order and missing == 0 and duplicated == 0 and report.events == stats.events
    print(f"({time.monotonic() - started:.0f} s)", flush=True)
    return verdict(
        ok,
        f"{report.events} events captured in {report.files} Avro files; "
        f"CSV: {devices} devices, {rows} rows, {missing} missing, {duplicated} duplicated",
    )


if __name__ == "__main__":
    sys.exit(main())
