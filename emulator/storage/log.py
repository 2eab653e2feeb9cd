"""Types shared by the storage backends: events, retention, fsync policy and the log protocols."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event as stored in a partition; the payload is opaque to storage."""

    sequence_number: int  # per partition, from 0, contiguous
    offset: int  # logical byte position: offset(n + 1) == offset(n) + len(payload(n)), first event 0
    enqueued_time_ms: int  # epoch milliseconds, non-decreasing within a partition
    payload: bytes


class FsyncPolicy(enum.Enum):
    """When appended events reach stable storage; the values are the CLI spellings."""

    NEVER = "never"  # write() to the OS before append returns: survives kill -9, not an OS crash
    INTERVAL = "interval"  # as NEVER, plus fsync at most once an interval (append, apply_retention), on close
    ALWAYS = "always"  # fsync before append returns: survives power loss


@dataclass(frozen=True, slots=True)
class Retention:
    """Per-hub retention limits; None means unlimited."""

    max_age_ms: int | None = None  # drop events whose enqueued_time_ms is older than now - max_age_ms
    max_bytes: int | None = None  # drop the oldest events while retained payload bytes exceed this


class PartitionLog(Protocol):
    """The append-only event log of one partition."""

    @property
    def begin_sequence_number(self) -> int:
        """First retained sequence number; equals next_sequence_number when empty."""
        ...

    @property
    def next_sequence_number(self) -> int: ...

    @property
    def next_offset(self) -> int:
        """Offset the next appended event must have."""
        ...

    @property
    def last_event(self) -> StoredEvent | None:
        """The newest event, None when no event is retained."""
        ...

    def append(self, events: Sequence[StoredEvent]) -> None:
        """Store `events` all-or-nothing; ValueError if not contiguous or time goes backwards."""
        ...

    def read(self, from_sequence: int, max_count: int, max_bytes: int | None = None) -> list[StoredEvent]:
        """Up to max_count events from max(from_sequence, begin), at least one if any, within max_bytes."""
        ...

    def first_sequence_at_offset(self, offset: int, inclusive: bool) -> int:
        """Smallest retained sequence with offset >= (or >) `offset`, else next_sequence_number."""
        ...

    def first_sequence_at_time(self, time_ms: int, inclusive: bool) -> int:
        """Smallest retained sequence enqueued at >= (or >) `time_ms`, else next_sequence_number."""
        ...

    def apply_retention(self, now_ms: int) -> int:
        """Remove expired events; returns how many were removed."""
        ...

    def close(self) -> None: ...


class Store(Protocol):
    """The partitions of one namespace."""

    def partition(self, hub: str, partition_id: str) -> PartitionLog:
        """The partition's log, created on first use."""
        ...

    def apply_retention(self, now_ms: int) -> int:
        """Apply each hub's retention to its partitions; returns how many events were removed."""
        ...

    def created_at(self, hub: str, now_ms: int) -> int:
        """When the hub was first stored (epoch ms): `now_ms` the first time, the same value ever after."""
        ...

    def close(self) -> None: ...


_NAME = re.compile(r"[A-Za-z0-9._-]+")


def check_name(kind: str, value: str) -> None:
    """Raise ValueError unless `value` is safe as a single path component."""
    # Names become directories on disk; both stores check so that a name works with either backend.
    if not _NAME.fullmatch(value) or set(value) == {"."}:
        raise ValueError(f"invalid {kind} {value!r}: use letters, digits, '.', '-' and '_' only")


def check_append(
    events: Sequence[StoredEvent], next_sequence: int, next_offset: int, last_time_ms: int | None
) -> None:
    """Raise unless `events` continue a log at the given position, in order."""
    for event in events:
        if not isinstance(event.payload, bytes):
            raise TypeError(f"payload of event {event.sequence_number} is {type(event.payload).__name__}")
        if event.sequence_number != next_sequence:
            raise ValueError(f"expected sequence number {next_sequence}, got {event.sequence_number}")
        if event.offset != next_offset:
            raise ValueError(f"event {next_sequence}: expected offset {next_offset}, got {event.offset}")
        if last_time_ms is not None and event.enqueued_time_ms < last_time_ms:
            raise ValueError(
                f"event {next_sequence}: enqueued time {event.enqueued_time_ms} is before {last_time_ms}"
            )
        next_sequence += 1
        next_offset += len(event.payload)
        last_time_ms = event.enqueued_time_ms


def expiry_cutoff(retention: Retention, now_ms: int) -> int | None:
    """Events enqueued before the returned time are expired by age; None when age is unlimited."""
    return None if retention.max_age_ms is None else now_ms - retention.max_age_ms


AnyLog = TypeVar("AnyLog", bound=PartitionLog)


class PartitionsByHub(Generic[AnyLog]):
    """What both stores share: partitions by (hub, partition id), retention looked up per hub name."""

    def __init__(self, retention: Callable[[str], Retention] | None) -> None:
        self._retention = retention
        self._partitions: dict[tuple[str, str], AnyLog] = {}
        self._created_at: dict[str, int] = {}

    def created_at(self, hub: str, now_ms: int) -> int:
        check_name("hub name", hub)
        return self._created_at.setdefault(hub, now_ms)

    def _retention_of(self, hub: str) -> Retention:
        return Retention() if self._retention is None else self._retention(hub)

    def apply_retention(self, now_ms: int) -> int:
        return sum(log.apply_retention(now_ms) for log in self._partitions.values())

    def _close_partitions(self) -> None:
        for log in self._partitions.values():
            log.close()
