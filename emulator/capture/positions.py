"""What Capture has written, per partition: kept in memory, or beside the events in `--data-dir`.

A position is saved only after its window's file is delivered, so a crash in between writes that window
again, under the same name and with the same events: a file is replaced, never doubled.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger("emulator.capture")

# Under the data directory; hub names start with a letter or digit, so no hub's folder can be this one.
POSITIONS_DIR = ".capture"


@dataclass(frozen=True)
class Position:
    """One partition's Capture state."""

    next_sequence: int  # the first event not yet in a delivered file
    next_offset: int  # that event's offset (the log's next offset when it is not stored yet)
    window_start_ms: int | None  # the open window's start (whole seconds); None after a stop
    last_start_ms: int | None = None  # the newest delivered window's start: names have whole seconds


class Positions(Protocol):
    def load(self, hub: str, partition_id: str) -> Position | None: ...

    def save(self, hub: str, partition_id: str, position: Position) -> None: ...

    def keep_only(self, hubs: set[str]) -> None:
        """Forget the hubs not in `hubs`: re-enabling Capture later captures only what arrives after."""
        ...


class MemoryPositions:
    def __init__(self) -> None:
        self._positions: dict[tuple[str, str], Position] = {}

    def load(self, hub: str, partition_id: str) -> Position | None:
        return self._positions.get((hub, partition_id))

    def save(self, hub: str, partition_id: str, position: Position) -> None:
        self._positions[(hub, partition_id)] = position

    def keep_only(self, hubs: set[str]) -> None:
        for key in [k for k in self._positions if k[0] not in hubs]:
            del self._positions[key]


class DiskPositions:
    """`<data_dir>/.capture/<hub>/<partition id>.json`, replaced atomically and fsynced."""

    def __init__(self, data_dir: Path) -> None:
        self._dir = Path(data_dir) / POSITIONS_DIR

    def _path(self, hub: str, partition_id: str) -> Path:
        return self._dir / hub / f"{partition_id}.json"

    def load(self, hub: str, partition_id: str) -> Position | None:
        path = self._path(hub, partition_id)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return Position(**raw)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            # Written by rename, so only a damaged disk gets here: start afresh rather than refuse to serve.
            log.warning("%s: unreadable Capture position (%s); capturing from the newest event on", path, exc)
            return None

    def save(self, hub: str, partition_id: str, position: Position) -> None:
        path = self._path(hub, partition_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(asdict(position), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def keep_only(self, hubs: set[str]) -> None:
        if not self._dir.is_dir():
            return
        for folder in self._dir.iterdir():
            if folder.name not in hubs:
                shutil.rmtree(folder, ignore_errors=True)
