"""Capture: does writing Avro files slow the send path? One producer run into two emulators, side by side.

(a) `--data-dir`, no Capture; (b) `--data-dir` with Capture of the hub into a temporary folder, 1 s windows
(local testing; the service's shortest is 60 s, so this is Capture at its busiest). Then how long after the
last acknowledged send every event is in a file.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import fastavro

from emulator.config import one_hub_config_text
from emulator.process import EmulatorProcess

from . import HUB, Figure, progress
from .ingest import IngestRun, measure
from .tables import CPU_HEADER, SPEED_HEADER, cpu_cells, speed_cells, table

CAPTURE: dict[str, str | int | bool] = {"folder": "capture", "local_testing_time_window_seconds": 1}


def captured_events(folder: Path) -> int:
    count = 0
    for path in folder.rglob("*.avro"):
        with path.open("rb") as f:
            count += sum(1 for _ in fastavro.reader(f))
    return count


def one_run(folder: Path, count: int, capture: bool) -> tuple[IngestRun, float | None]:
    folder.mkdir(parents=True)
    config = folder / "emulator.toml"
    config.write_text(one_hub_config_text(HUB, 4, CAPTURE if capture else None))
    emulator = EmulatorProcess(config=config, data_dir=folder / "data")
    label = "emulator, --data-dir, Capture 1 s windows" if capture else "emulator, --data-dir"
    try:
        emulator.start()
        run = measure(label, emulator.pid, emulator.connection_string, count)
        lag = None
        if capture:
            sent_at = time.perf_counter()
            while captured_events(folder / "capture") < count + 1:  # + the connecting event
                time.sleep(0.2)
            lag = time.perf_counter() - sent_at
            progress(f"{label}: every event in a file {lag:.1f} s after the last send")
    finally:
        emulator.stop()
    return run, lag


def run(count: int) -> list[Figure]:
    print(f"\n== capture: {count:,} events, sync EventHubProducerClient, with and without Capture")
    with tempfile.TemporaryDirectory(prefix="hubstream-bench-") as tmp:
        plain, _ = one_run(Path(tmp) / "plain", count, capture=False)
        captured, lag = one_run(Path(tmp) / "captured", count, capture=True)
    header = ("server", *SPEED_HEADER, *CPU_HEADER)
    rows = [
        (r.server, *speed_cells(r.events, r.wall_s), *cpu_cells(r.client_cpu_s, r.server_cpu_s, r.wall_s))
        for r in (plain, captured)
    ]
    print(table(rows, header))
    ratio = captured.events_per_s / plain.events_per_s
    print(f"with Capture / without: throughput x{ratio:.2f}; all captured {lag:.1f} s after the last send")
    return [
        Figure("capture", "send throughput with / without Capture", ratio, "", ">= 0.9", ratio >= 0.9),
        Figure("capture", "last send to last event in a file (1 s windows)", lag or 0.0, "s"),
    ]
