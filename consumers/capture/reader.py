"""Capture files to one CSV per device: list, read each file, order by enqueued time, write, report.

The tutorial's capturereader.py without its flaws: a device's first reading is kept (the CSVs are the
SDK consumers' `DeviceCsvOutput`, every reading a row), paths are built with pathlib, an empty file is
one the Avro reader finds no events in (not one of size 0), nothing is deleted unless asked (and then
only the files read, once the CSVs are written), and a file that cannot be read is reported by name and
skipped while the others are still read.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eventhubs.capture import DEFAULT_ARCHIVE_NAME_FORMAT

from ..outputs import DeviceCsvOutput
from ..receiver import Received
from .events import UnreadableFile, read_capture_file
from .sources import CaptureSource

__all__ = ["NOT_TELEMETRY_FILE", "Progress", "ReadReport", "read_captures", "read_events"]

# DeviceCsvOutput's file for events that are not readings.
NOT_TELEMETRY_FILE = "not-telemetry.jsonl"

# progress(files done, files in all, events so far)
Progress = Callable[[int, int, int], None]


@dataclass
class ReadReport:
    files: int = 0
    empty_files: int = 0
    skipped: list[UnreadableFile] = field(default_factory=list)
    events: int = 0
    # Counted in what was written: rows per CSV (named by the device id, made safe for a file name),
    # and events that were not readings.
    rows_by_device: dict[str, int] = field(default_factory=dict)
    not_readings: int = 0
    deleted: int = 0

    @property
    def rows(self) -> int:
        return sum(self.rows_by_device.values())

    def summary(self) -> str:
        parts = [
            f"{self.events} events in {self.files} capture files ({self.empty_files} empty)",
            f"{self.rows} readings of {len(self.rows_by_device)} devices written",
        ]
        if self.not_readings:
            parts.append(f"{self.not_readings} events that are not readings in {NOT_TELEMETRY_FILE}")
        if self.skipped:
            parts.append(f"{len(self.skipped)} unreadable files skipped")
        if self.deleted:
            parts.append(f"{self.deleted} files deleted")
        return "; ".join(parts)


def read_events(
    source: CaptureSource,
    report: ReadReport | None = None,
    *,
    name_format: str = DEFAULT_ARCHIVE_NAME_FORMAT,
    progress: Progress | None = None,
) -> tuple[list[Received], list[str]]:
    """Every event of every readable file in `source` in enqueued order, and the names of the files read.

    Enqueued order: by enqueued time, then sequence number (a partition's order within one instant).
    Unreadable files go to `report.skipped`.
    """
    report = report if report is not None else ReadReport()
    listed = list(source.files())
    events: list[Received] = []
    read: list[str] = []
    for done, stored in enumerate(listed, start=1):
        try:
            with source.open(stored.name) as stream:
                file_events = read_capture_file(stream, stored.name, name_format)
        except UnreadableFile as e:
            report.skipped.append(e)
        else:
            events.extend(file_events)
            read.append(stored.name)
            report.empty_files += not file_events
        if progress:
            progress(done, len(listed), len(events))
    events.sort(key=lambda e: (e.enqueued_time, e.sequence_number))
    report.files = len(listed)
    report.events = len(events)
    return events, read


def read_captures(
    source: CaptureSource,
    out_dir: str | Path,
    *,
    name_format: str = DEFAULT_ARCHIVE_NAME_FORMAT,
    delete_after_read: bool = False,
    progress: Progress | None = None,
) -> ReadReport:
    """Write one CSV per device into `out_dir` from every capture file in `source`.

    Without `delete_after_read` each run rewrites the CSVs it has readings for from all the files, so a
    second run gives the same files. With it the rows are appended to existing CSVs (the deleted files'
    readings live only there), and the files read are deleted once every CSV is written; unreadable
    files are kept. The CSVs are first written in a folder beside them and then moved in, so an
    interrupted run leaves the previous files whole.
    """
    report = ReadReport()
    events, read = read_events(source, report, name_format=name_format, progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".capture-", dir=out) as scratch:
        staged = Path(scratch)
        output = DeviceCsvOutput(staged)
        try:
            for event in events:
                output.write(event)
        finally:
            output.close()
        for path in sorted(staged.iterdir()):
            lines = _count_lines(path)
            if path.name == NOT_TELEMETRY_FILE:
                report.not_readings = lines
            else:
                report.rows_by_device[path.stem] = lines - 1  # the header
            _move(path, out / path.name, append=delete_after_read)
    if delete_after_read:
        for name in read:
            source.delete(name)
            report.deleted += 1
    return report


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def _move(staged: Path, target: Path, *, append: bool) -> None:
    """Replace `target` with `staged`, or with `append` add `staged`'s rows (not its CSV header) to it."""
    if not (append and target.exists() and target.stat().st_size > 0):
        os.replace(staged, target)
        return
    with staged.open("rb") as src, target.open("ab") as dst:
        if target.suffix == ".csv":
            src.readline()
        shutil.copyfileobj(src, dst)
