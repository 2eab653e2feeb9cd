"""Where received events go: the console as the tutorial prints them, JSON lines, or a CSV per device."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import IO, Any, TextIO

from .receiver import Received

# The telemetry producer's readings (producers/sources/telemetry.py), as the Capture tutorial writes them.
TELEMETRY_FIELDS = ("id", "timestamp", "uv", "temperature", "humidity")
# A device id becomes a file name: nothing that could leave the folder or trouble a file system.
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def device_file_name(device: str) -> str:
    """`<device id>.csv`. An id a file name can't hold as it is (`a/b`, `..`, empty) has those characters
    replaced and a hash of the id added, so two ids (`a/b`, `a_b`) never share a file."""
    safe = _SAFE_NAME.sub("_", device)
    if safe != device or safe.strip(".") == "":
        safe = f"{safe}~{hashlib.sha256(device.encode()).hexdigest()[:12]}"
    return f"{safe}.csv"


class ConsoleOutput:
    """The tutorial's line per event: Received the event: "..." from the partition with ID: "0"."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def write(self, event: Received) -> None:
        self.stream.write(
            f'Received the event: "{event.body}" from the partition with ID: "{event.partition_id}"\n'
        )

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.flush()


def event_record(event: Received) -> dict[str, Any]:
    """An event as a JSON object; a body that is JSON stays an object, any other body is text."""
    try:
        body: Any = json.loads(event.body)
    except ValueError:
        body = event.body
    return {
        "partition_id": event.partition_id,
        "sequence_number": event.sequence_number,
        "offset": event.offset,
        "enqueued_time": event.enqueued_time.isoformat() if event.enqueued_time else None,
        "partition_key": event.partition_key,
        "body": body,
    }


class JsonLinesOutput:
    """One JSON object per line, to a file (appended) or a stream."""

    def __init__(self, target: Path | TextIO) -> None:
        self._owned = isinstance(target, Path)
        self.stream: IO[str] = target.open("a", encoding="utf-8") if isinstance(target, Path) else target

    def write(self, event: Received) -> None:
        self.stream.write(json.dumps(event_record(event), separators=(",", ":")) + "\n")

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.flush()
        if self._owned:
            self.stream.close()


class DeviceCsvOutput:
    """Telemetry readings into `<folder>/<device id>.csv`, one row per reading, every reading kept.

    Each file starts with the header (id,timestamp,uv,temperature,humidity); a file that already exists is
    appended to, so a restarted consumer continues the same files. An event that is not a reading goes to
    `<folder>/not-telemetry.jsonl` rather than being dropped.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, tuple[IO[str], Any]] = {}
        self._rejects: IO[str] | None = None

    def write(self, event: Received) -> None:
        try:
            reading = json.loads(event.body)
            device = str(reading["id"])
        except (ValueError, TypeError, KeyError):
            if self._rejects is None:
                self._rejects = (self.folder / "not-telemetry.jsonl").open("a", encoding="utf-8")
            self._rejects.write(json.dumps(event_record(event)) + "\n")
            return
        self._writer(device).writerow([reading.get(name, "") for name in TELEMETRY_FIELDS])

    def _writer(self, device: str) -> Any:
        if device not in self._files:
            path = self.folder / device_file_name(device)
            new = not path.exists() or path.stat().st_size == 0
            handle = path.open("a", encoding="utf-8", newline="")
            writer = csv.writer(handle)
            if new:
                writer.writerow(TELEMETRY_FIELDS)
            self._files[device] = (handle, writer)
        return self._files[device][1]

    def flush(self) -> None:
        for handle, _ in self._files.values():
            handle.flush()
        if self._rejects is not None:
            self._rejects.flush()

    def close(self) -> None:
        for handle, _ in self._files.values():
            handle.close()
        self._files.clear()
        if self._rejects is not None:
            self._rejects.close()
            self._rejects = None
