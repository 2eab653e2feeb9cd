"""Where a partition's Capture window ends: its time window or its size window, whichever comes first.

Pure decisions over a partition log, so that they are the same when taken again after a restart:

- A window holds the events not yet captured that were enqueued before its end (start + time window),
  or, once they reach the size window (counted in stored bytes, as the offsets count them), the fewest of
  them that do. Its file is named for its start.
- The next window starts where the last one ended; after a size window, or when a whole window has gone
  by unseen (the emulator was stopped, or the destination was down), at the current second instead. Names
  have whole seconds, so a window never starts in the second of the one before.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.capture.positions import Position
from emulator.storage import PartitionLog


@dataclass(frozen=True)
class Cut:
    """A window to write: events [first_sequence, end_sequence), named for `start_ms`."""

    start_ms: int
    first_sequence: int
    end_sequence: int
    next_start_ms: int | None  # None: the emulator is stopping
    reason: str  # "time", "size" or "stop"

    @property
    def empty(self) -> bool:
        return self.end_sequence <= self.first_sequence


def whole_second(ms: int) -> int:
    return ms - ms % 1000


def opening(position: Position | None, log: PartitionLog, now_ms: int) -> Position:
    """The position to run from: a new window now, after whatever was captured (nothing older, if new)."""
    if position is None:
        # Only events that arrive after Capture is enabled are captured, as on the service.
        return Position(log.next_sequence_number, log.next_offset, whole_second(now_ms))
    if position.window_start_ms is not None:
        return position
    start = whole_second(now_ms)
    if position.last_start_ms is not None:
        start = max(start, position.last_start_ms + 1000)
    return Position(position.next_sequence, position.next_offset, start, position.last_start_ms)


def due(position: Position, log: PartitionLog, window_ms: int, size_bytes: int, now_ms: int) -> Cut | None:
    """The window to write now, if its time or size is reached."""
    start = position.window_start_ms
    assert start is not None
    end_ms = start + window_ms
    end = log.next_sequence_number
    time_cut = log.first_sequence_at_time(end_ms, inclusive=True)
    threshold = position.next_offset + size_bytes
    size_cut: int | None = log.first_sequence_at_offset(threshold, inclusive=True)
    if size_cut is not None and size_cut >= end:
        size_cut = end if log.next_offset >= threshold and end > position.next_sequence else None
    if size_cut is not None and size_cut <= time_cut and size_cut > position.next_sequence:
        next_start = max(start + 1000, whole_second(now_ms))
        return Cut(start, position.next_sequence, size_cut, next_start, "size")
    if now_ms < end_ms:
        return None
    next_start = end_ms if now_ms < end_ms + window_ms else whole_second(now_ms)
    return Cut(start, position.next_sequence, max(time_cut, position.next_sequence), next_start, "time")


def at_stop(position: Position, log: PartitionLog) -> Cut:
    """The open window, cut short: every event not yet captured."""
    assert position.window_start_ms is not None
    end = max(log.next_sequence_number, position.next_sequence)
    return Cut(position.window_start_ms, position.next_sequence, end, None, "stop")


def after(cut: Cut, position: Position, next_offset: int) -> Position:
    """The position once `cut` is delivered (or skipped, empty); `next_offset` is that of end_sequence."""
    return Position(cut.end_sequence, next_offset, cut.next_start_ms, cut.start_ms)
