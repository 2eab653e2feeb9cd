"""Capture files as the tests find them: every `.avro` under a folder, read back with fastavro."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro

Files = dict[str, list[dict[str, Any]]]


def read_folder(folder: Path) -> Files:
    """Each capture file's records, by its name relative to `folder` ('/'-separated), in name order."""
    found: Files = {}
    for path in sorted(folder.rglob("*.avro")):
        with path.open("rb") as f:
            records = [r for r in fastavro.reader(f) if isinstance(r, dict)]
        found[path.relative_to(folder).as_posix()] = records
    return found


def read_bytes(data: bytes) -> tuple[str, list[dict[str, Any]]]:
    """A capture file's codec and records."""
    reader = fastavro.reader(io.BytesIO(data))
    return str(reader.metadata.get("avro.codec", "null")), [r for r in reader if isinstance(r, dict)]


def wait_for(found: Callable[[], Files], done: Callable[[Files], bool], timeout: float = 20.0) -> Files:
    """Poll `found()` until `done` holds for it; AssertionError with what was found on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        files = found()
        if done(files):
            return files
        if time.monotonic() > deadline:
            summary = {name: len(records) for name, records in files.items()}
            raise AssertionError(f"capture files not as awaited after {timeout} s: {summary}")
        time.sleep(0.1)


def sequence_numbers(files: Files) -> list[int]:
    return [r["SequenceNumber"] for records in files.values() for r in records]
