"""In-memory partition logs: nothing survives the process; retention removes single events."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from operator import attrgetter

from emulator.storage import log
from emulator.storage.log import PartitionLog, PartitionsByHub, Retention, StoredEvent

_OFFSET = attrgetter("offset")
_TIME = attrgetter("enqueued_time_ms")


class MemoryPartitionLog:
    """A partition held in a list; not thread-safe (call it from one thread)."""

    def __init__(self, retention: Callable[[], Retention] = Retention) -> None:
        self._retention = retention
        # Events before _start are removed; the list is compacted lazily so removal stays amortised O(1).
        self._events: list[StoredEvent] = []
        self._start = 0
        self._next_sequence = 0
        self._next_offset = 0
        self._last_time_ms: int | None = None

    @property
    def begin_sequence_number(self) -> int:
        return self._next_sequence - (len(self._events) - self._start)

    @property
    def next_sequence_number(self) -> int:
        return self._next_sequence

    @property
    def next_offset(self) -> int:
        return self._next_offset

    @property
    def last_event(self) -> StoredEvent | None:
        return self._events[-1] if self._start < len(self._events) else None

    def append(self, events: Sequence[StoredEvent]) -> None:
        log.check_append(events, self._next_sequence, self._next_offset, self._last_time_ms)
        if not events:
            return
        self._events.extend(events)
        last = events[-1]
        self._next_sequence = last.sequence_number + 1
        self._next_offset = last.offset + len(last.payload)
        self._last_time_ms = last.enqueued_time_ms

    def read(self, from_sequence: int, max_count: int, max_bytes: int | None = None) -> list[StoredEvent]:
        begin = self.begin_sequence_number
        first = max(from_sequence, begin)
        if max_count <= 0 or first >= self._next_sequence:
            return []
        index = self._start + first - begin
        chosen = self._events[index : index + max_count]
        if max_bytes is not None:
            total = 0
            for count, event in enumerate(chosen):
                total += len(event.payload)
                if total > max_bytes and count > 0:
                    return chosen[:count]
        return chosen

    def first_sequence_at_offset(self, offset: int, inclusive: bool) -> int:
        find = bisect_left if inclusive else bisect_right
        return self._sequence_at(find(self._events, offset, lo=self._start, key=_OFFSET))

    def first_sequence_at_time(self, time_ms: int, inclusive: bool) -> int:
        find = bisect_left if inclusive else bisect_right
        return self._sequence_at(find(self._events, time_ms, lo=self._start, key=_TIME))

    def _sequence_at(self, index: int) -> int:
        return self._next_sequence - (len(self._events) - index)

    def apply_retention(self, now_ms: int) -> int:
        retention = self._retention()
        cutoff = log.expiry_cutoff(retention, now_ms)
        events, start = self._events, self._start
        if cutoff is not None:
            start = bisect_left(events, cutoff, lo=start, key=_TIME)
        if retention.max_bytes is not None:
            # Event k stays while next_offset - offset(k), the payload bytes from k on, fit in max_bytes.
            start = bisect_left(events, self._next_offset - retention.max_bytes, lo=start, key=_OFFSET)
        removed = start - self._start
        self._start = start
        if self._start > len(events) // 2:
            del events[: self._start]
            self._start = 0
        return removed

    def close(self) -> None:
        pass


class MemoryStore(PartitionsByHub[MemoryPartitionLog]):
    """Partitions kept in memory, created on first use; retention is looked up per hub name."""

    def __init__(self, retention: Callable[[str], Retention] | None = None) -> None:
        super().__init__(retention)

    def partition(self, hub: str, partition_id: str) -> PartitionLog:
        key = (hub, partition_id)
        partition = self._partitions.get(key)
        if partition is None:
            log.check_name("hub name", hub)
            log.check_name("partition id", partition_id)
            partition = self._partitions[key] = MemoryPartitionLog(lambda: self._retention_of(hub))
        return partition

    def close(self) -> None:
        self._close_partitions()
