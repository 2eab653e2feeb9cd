"""Partition logs in append-only segment files (Unix only: os.pread, fcntl.flock).

Layout: ``<data_dir>/<hub>/<partition_id>/<first sequence number, 20 digits>.log``. A segment starts
with a header (base sequence, base offset, enqueued-time floor, crc32) followed by records: crc32,
payload length, sequence number, offset, enqueued time, payload. Sealed segments, and the active one
on close, get a ``.idx`` sidecar of record positions, offsets and times so reopening need not rescan.
Only those three ``array('q')`` columns are held in memory (24 bytes per event), never payloads.

What survives what, by FsyncPolicy (every policy write()s an append to the OS before it returns):

- clean stop (close): everything, under every policy.
- kill -9 of the emulator: every acknowledged append, under every policy (the OS has the bytes).
- OS crash or power loss: ALWAYS loses nothing acknowledged. INTERVAL loses the appends since the
  last fsync, which runs in append and apply_retention once ``fsync_interval_s`` has passed since the
  previous one, and on close: under load at most that interval's appends, but after appends stop, the
  last ones stay unsynced until the owner's next apply_retention. NEVER may lose whatever the kernel
  had not yet written back.

On open, a torn or corrupt tail of the last segment (a crash mid-write) is truncated with a warning;
damage anywhere else raises CorruptLogError naming the file, as does a corrupt record met by a read.

Retention deletes whole segments, oldest first, as Kafka does, using the memory store's per-event
rules: a segment goes once every event in it is due, that is once its newest event is older than
max_age_ms, or that event and the ones after it hold more than max_bytes of payload. A disk log thus
keeps every event a memory log would and at most one segment more. (Kafka keeps a little
more: a segment stays unless the segments after it alone hold retention.bytes.)

Neither class is thread-safe: call each from one thread.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import sys
import time
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from emulator.storage.log import (
    FsyncPolicy,
    PartitionLog,
    PartitionsByHub,
    Retention,
    StoredEvent,
    check_append,
    check_name,
    expiry_cutoff,
)

logger = logging.getLogger(__name__)

_SEGMENT_MAGIC = b"HSG1"
_SEGMENT_HEAD = struct.Struct("<4sqqq")  # magic, base sequence, base offset, enqueued-time floor
_CRC = struct.Struct("<I")
_SEGMENT_HEADER_SIZE = _SEGMENT_HEAD.size + _CRC.size
_RECORD = struct.Struct("<IIqqq")  # crc32 of the rest + payload, payload length, sequence, offset, time
_RECORD_REST = struct.Struct("<Iqqq")
_INDEX_MAGIC = b"HIX1"
_INDEX_HEAD = struct.Struct("<4sqqqI")  # magic, record count, indexed file size, end offset, crc32 of body
_NO_TIME = -(2**63)  # time floor of a log that never had an event
_SCAN_CHUNK = 1 << 20
CREATED_AT_FILE = "created_at"  # per hub: epoch ms of its first start, as the service keeps it
_READ_FDS = 4  # read handles cached per partition for sealed segments


class CorruptLogError(ValueError):
    """A segment is damaged somewhere a crash cannot explain."""


@dataclass(slots=True, eq=False)
class _Segment:
    path: Path
    base_sequence: int
    base_offset: int
    size: int  # bytes in the file, header included


@dataclass(slots=True)
class _Index:
    positions: array[int]
    offsets: array[int]
    times: array[int]
    end: int  # file position after the last indexed record
    end_offset: int  # offset after the last indexed record


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _segment_header(base_sequence: int, base_offset: int, time_floor: int) -> bytes:
    head = _SEGMENT_HEAD.pack(_SEGMENT_MAGIC, base_sequence, base_offset, time_floor)
    return head + _CRC.pack(zlib.crc32(head))


def _parse_segment_header(path: Path, data: bytes) -> tuple[int, int, int]:
    if len(data) == _SEGMENT_HEADER_SIZE:
        magic, base_sequence, base_offset, time_floor = _SEGMENT_HEAD.unpack_from(data)
        (crc,) = _CRC.unpack_from(data, _SEGMENT_HEAD.size)
        if magic == _SEGMENT_MAGIC and crc == zlib.crc32(data[: _SEGMENT_HEAD.size]):
            if base_sequence == _base_of(path):
                return base_sequence, base_offset, time_floor
    raise CorruptLogError(f"{path}: bad segment header")


def _base_of(segment: Path) -> int:
    """The base sequence number a segment's file name gives."""
    return int(segment.stem)


def _index_path(segment: Path) -> Path:
    return segment.with_suffix(".idx")


def _column_bytes(column: array[int]) -> bytes:
    if sys.byteorder == "little":
        return column.tobytes()
    swapped = array("q", column)
    swapped.byteswap()
    return swapped.tobytes()


def _write_index(segment: Path, index: _Index) -> None:
    body = b"".join(_column_bytes(c) for c in (index.positions, index.offsets, index.times))
    head = _INDEX_HEAD.pack(_INDEX_MAGIC, len(index.positions), index.end, index.end_offset, zlib.crc32(body))
    # The sidecar is only a cache, checked on load, so it is written atomically but never fsynced.
    tmp = segment.with_name(segment.name + ".idx.tmp")
    try:
        tmp.write_bytes(head + body)
        os.replace(tmp, _index_path(segment))
    except BaseException:
        tmp.unlink(missing_ok=True)  # a part-written sidecar only takes space
        raise


def _read_index(segment: Path, base_offset: int, size: int) -> _Index | None:
    """The sidecar's index of the file's first bytes, or None (and the sidecar deleted) if unusable."""
    path = _index_path(segment)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    index = _decode_index(data, base_offset, size)
    if index is None:
        # A stale sidecar must not outlive a rescan: the file might later regrow to the size it records.
        logger.info("%s: ignoring unusable index sidecar", path)
        path.unlink()
    return index


def _decode_index(data: bytes, base_offset: int, size: int) -> _Index | None:
    if len(data) < _INDEX_HEAD.size:
        return None
    magic, count, end, end_offset, crc = _INDEX_HEAD.unpack_from(data)
    body = memoryview(data)[_INDEX_HEAD.size :]
    if magic != _INDEX_MAGIC or len(body) != 24 * count or zlib.crc32(body) != crc or end > size:
        return None
    columns = []
    for k in range(3):
        column = array("q")
        column.frombytes(body[8 * count * k : 8 * count * (k + 1)])
        if sys.byteorder != "little":
            column.byteswap()
        columns.append(column)
    positions, offsets, times = columns
    if count == 0:
        valid = end == _SEGMENT_HEADER_SIZE and end_offset == base_offset
    else:
        last_length = end_offset - offsets[-1]
        valid = (
            positions[0] == _SEGMENT_HEADER_SIZE
            and offsets[0] == base_offset
            and positions[-1] + _RECORD.size + last_length == end
        )
    return _Index(positions, offsets, times, end, end_offset) if valid else None


def _scan(fd: int, index: _Index, size: int, sequence: int, last_time: int) -> str | None:
    """Extend `index` with the valid records from index.end up to `size`; returns why it stopped early."""
    chunk, chunk_pos = b"", index.end
    pos, offset = index.end, index.end_offset
    while pos < size:
        if pos + _RECORD.size > size:
            return "truncated record header"
        rel = pos - chunk_pos
        if rel + _RECORD.size > len(chunk):
            chunk, chunk_pos, rel = chunk[rel:] + os.pread(fd, _SCAN_CHUNK, chunk_pos + len(chunk)), pos, 0
        crc, length, seq, record_offset, enqueued = _RECORD.unpack_from(chunk, rel)
        end = pos + _RECORD.size + length
        if end > size:
            return "truncated record"
        if end - chunk_pos > len(chunk):
            more = os.pread(fd, max(_SCAN_CHUNK, end - pos), chunk_pos + len(chunk))
            chunk, chunk_pos, rel = chunk[rel:] + more, pos, 0
        if zlib.crc32(memoryview(chunk)[rel + _CRC.size : rel + _RECORD.size + length]) != crc:
            return "checksum mismatch"
        if seq != sequence or record_offset != offset or enqueued < last_time:
            return f"record {seq} out of order"
        index.positions.append(pos)
        index.offsets.append(offset)
        index.times.append(enqueued)
        sequence, offset, last_time, pos = sequence + 1, offset + length, enqueued, end
        index.end, index.end_offset = end, offset
    return None


class DiskPartitionLog:
    """One partition's segment files in `directory`; see the module docstring."""

    def __init__(
        self,
        directory: Path,
        *,
        retention: Callable[[], Retention] = Retention,
        fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
        fsync_interval_s: float = 1.0,
        segment_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._dir = directory
        self._retention = retention
        self._fsync = fsync
        self._fsync_interval_s = fsync_interval_s
        self._segment_bytes = segment_bytes
        self._segments: list[_Segment] = []
        self._bases: list[int] = []  # base sequence per segment, for bisect
        # Columns indexed by sequence - _begin, covering every retained event.
        self._positions = array("q")
        self._offsets = array("q")
        self._times = array("q")
        self._begin = 0
        self._next_offset = 0
        self._last_time = _NO_TIME
        self._last_event: StoredEvent | None = None
        self._fd = -1  # the active (last) segment, opened O_APPEND
        self._read_fds: OrderedDict[int, int] = OrderedDict()  # base sequence -> fd, sealed segments
        self._dirty = False
        self._last_sync = time.monotonic()
        self._closed = False
        directory.mkdir(parents=True, exist_ok=True)
        try:
            self._load()
        except BaseException:
            self._close_fds()
            raise

    @property
    def begin_sequence_number(self) -> int:
        return self._begin

    @property
    def next_sequence_number(self) -> int:
        return self._begin + len(self._offsets)

    @property
    def next_offset(self) -> int:
        return self._next_offset

    @property
    def last_event(self) -> StoredEvent | None:
        return self._last_event

    # -- opening

    def _load(self) -> None:
        for tmp in self._dir.glob("*.tmp"):
            tmp.unlink()
        paths = sorted(p for p in self._dir.glob("*.log") if len(p.stem) == 20 and p.stem.isdigit())
        for number, path in enumerate(paths):
            self._load_segment(path, last=number == len(paths) - 1)
        if not self._segments:
            self._create_segment()
        elif self._fd < 0:  # the last segment was dropped for a bad header
            self._fd = os.open(self._segments[-1].path, os.O_RDWR | os.O_APPEND)
        if self._offsets:
            self._last_event = self.read(self.next_sequence_number - 1, 1)[0]

    def _load_segment(self, path: Path, last: bool) -> None:
        fd = os.open(path, os.O_RDWR | os.O_APPEND if last else os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            try:
                base_sequence, base_offset, time_floor = _parse_segment_header(
                    path, os.pread(fd, _SEGMENT_HEADER_SIZE, 0)
                )
            except CorruptLogError:
                # Segments are created by rename, so only an OS crash can leave a bad header, and only on
                # a segment that never received an event; drop it if the numbering is known without it.
                if not (last and (self._segments or _base_of(path) == 0)):
                    raise
                logger.warning("%s: removing new segment with a torn header", path)
                path.unlink()
                os.close(fd)
                return
            expected = (self.next_sequence_number, self._next_offset)
            if self._segments and (base_sequence, base_offset) != expected:
                raise CorruptLogError(
                    f"{path}: starts at sequence {base_sequence}, offset {base_offset}, but the previous "
                    f"segment ends at sequence {self.next_sequence_number}, offset {self._next_offset}"
                )
            if not self._segments:
                self._begin, self._next_offset = base_sequence, base_offset
            self._last_time = max(self._last_time, time_floor)
            index = _read_index(path, base_offset, size)
            trusted = index is not None and index.end == size
            if index is None:
                index = _Index(array("q"), array("q"), array("q"), _SEGMENT_HEADER_SIZE, base_offset)
            first_unindexed = base_sequence + len(index.positions)
            last_time = index.times[-1] if index.times else self._last_time
            problem = _scan(fd, index, size, first_unindexed, last_time)
            if problem is not None:
                if not last:
                    raise CorruptLogError(f"{path}: {problem} at byte {index.end}")
                logger.warning(
                    "%s: %s at byte %d; truncating %d bytes (a crash during a write)",
                    path,
                    problem,
                    index.end,
                    size - index.end,
                )
                os.ftruncate(fd, index.end)
            if not last and not trusted:
                _write_index(path, index)
        except BaseException:
            os.close(fd)
            raise
        self._segments.append(_Segment(path, base_sequence, base_offset, index.end))
        self._bases.append(base_sequence)
        self._positions.extend(index.positions)
        self._offsets.extend(index.offsets)
        self._times.extend(index.times)
        self._next_offset = index.end_offset
        if index.times:
            self._last_time = index.times[-1]
        if last:
            self._fd = fd
        else:
            os.close(fd)

    # -- appending

    def append(self, events: Sequence[StoredEvent]) -> None:
        try:
            self._append(events)
        except OSError as exc:
            if exc.filename is None:  # os.write names no file: say where the bytes could not go
                exc.filename = str(self._dir)
            raise

    def _append(self, events: Sequence[StoredEvent]) -> None:
        self._check_open()
        last_time = None if self._last_time == _NO_TIME else self._last_time
        check_append(events, self.next_sequence_number, self._next_offset, last_time)
        if not events:
            return
        active = self._segments[-1]
        total = _RECORD.size * len(events) + events[-1].offset + len(events[-1].payload) - events[0].offset
        if active.size > _SEGMENT_HEADER_SIZE and active.size + total > self._segment_bytes:
            self._roll()
            active = self._segments[-1]
        buffer = bytearray()
        positions = array("q")
        for event in events:
            positions.append(active.size + len(buffer))
            rest = _RECORD_REST.pack(
                len(event.payload), event.sequence_number, event.offset, event.enqueued_time_ms
            )
            buffer += _CRC.pack(zlib.crc32(event.payload, zlib.crc32(rest)))
            buffer += rest
            buffer += event.payload
        try:
            _write_all(self._fd, buffer)
        except BaseException:
            # All-or-nothing: drop whatever part of the batch reached the file.
            os.ftruncate(self._fd, active.size)
            raise
        active.size += len(buffer)
        self._positions.extend(positions)
        self._offsets.extend(event.offset for event in events)
        self._times.extend(event.enqueued_time_ms for event in events)
        self._next_offset = events[-1].offset + len(events[-1].payload)
        self._last_time = events[-1].enqueued_time_ms
        self._last_event = events[-1]
        self._dirty = True
        if self._fsync is FsyncPolicy.ALWAYS:
            self._sync()
        else:
            self._maybe_sync()

    def _maybe_sync(self) -> None:
        if (
            self._fsync is FsyncPolicy.INTERVAL
            and time.monotonic() - self._last_sync >= self._fsync_interval_s
        ):
            self._sync()

    def _sync(self) -> None:
        if self._dirty:
            os.fsync(self._fd)
            self._dirty = False
        self._last_sync = time.monotonic()

    def _roll(self) -> None:
        """Seal the active segment and start a new, empty one at the next sequence number.

        The new segment exists before the old one is let go: if it cannot be made (the disk is full),
        the old one stays the active segment, so the log is appendable again once space returns.
        """
        if self._fsync is not FsyncPolicy.NEVER:
            # A sealed segment is durable before the next one exists, so only the last can be torn.
            self._sync()
        sealed = len(self._segments) - 1
        old_fd = self._fd
        self._create_segment()
        try:
            _write_index(self._segments[sealed].path, self._segment_index(sealed))
        except OSError as exc:
            # The sidecar is only a cache: without it, reopening rescans this segment.
            logger.warning("%s: could not write its index sidecar (%s); it will be rebuilt", self._dir, exc)
        finally:
            os.close(old_fd)

    def _create_segment(self) -> None:
        base_sequence = self.next_sequence_number
        path = self._dir / f"{base_sequence:020d}.log"
        tmp = path.with_name(path.name + ".tmp")
        durable = self._fsync is not FsyncPolicy.NEVER
        _index_path(path).unlink(missing_ok=True)  # a leftover sidecar would describe other bytes
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            _write_all(fd, _segment_header(base_sequence, self._next_offset, self._last_time))
            if durable:
                os.fsync(fd)
            # Renaming a complete header into place means a crash never leaves a half-made segment.
            os.rename(tmp, path)
            if durable:
                _fsync_dir(self._dir)
        except BaseException:
            os.close(fd)
            # Nothing refers to it yet; gone, it takes no space and a reopen finds nothing half-made.
            for leftover in (tmp, path):
                leftover.unlink(missing_ok=True)
            raise
        self._fd = fd
        self._dirty = False
        self._segments.append(_Segment(path, base_sequence, self._next_offset, _SEGMENT_HEADER_SIZE))
        self._bases.append(base_sequence)

    def _segment_index(self, number: int) -> _Index:
        start, stop = self._segment_range(number)
        segment = self._segments[number]
        return _Index(
            self._positions[start:stop],
            self._offsets[start:stop],
            self._times[start:stop],
            segment.size,
            self._end_offset(stop - 1) if stop > start else segment.base_offset,
        )

    def _segment_range(self, number: int) -> tuple[int, int]:
        """The column indexes of the segment's events."""
        start = self._bases[number] - self._begin
        stop = self._bases[number + 1] - self._begin if number + 1 < len(self._bases) else len(self._offsets)
        return start, stop

    def _end_offset(self, index: int) -> int:
        return self._offsets[index + 1] if index + 1 < len(self._offsets) else self._next_offset

    # -- reading

    def read(self, from_sequence: int, max_count: int, max_bytes: int | None = None) -> list[StoredEvent]:
        self._check_open()
        start = max(from_sequence, self._begin) - self._begin
        stop = min(len(self._offsets), start + max(max_count, 0))
        if start >= stop:
            return []
        if max_bytes is not None:
            limit = self._offsets[start] + max_bytes
            fit = start + 1
            while fit < stop and self._end_offset(fit) <= limit:
                fit += 1
            stop = fit
        events: list[StoredEvent] = []
        while start < stop:
            number = bisect_right(self._bases, self._begin + start) - 1
            run_stop = min(stop, self._segment_range(number)[1])
            events += self._read_run(number, start, run_stop)
            start = run_stop
        return events

    def _read_run(self, number: int, start: int, stop: int) -> list[StoredEvent]:
        """Events at column indexes [start, stop), all in segment `number`, with one pread."""
        segment = self._segments[number]
        first = self._positions[start]
        end = self._positions[stop - 1] + _RECORD.size + self._end_offset(stop - 1) - self._offsets[stop - 1]
        data = os.pread(self._segment_fd(number), end - first, first)
        view = memoryview(data)
        events = []
        for column in range(start, stop):
            rel = self._positions[column] - first
            if rel + _RECORD.size <= len(data):
                crc, length, sequence, offset, enqueued = _RECORD.unpack_from(data, rel)
                payload_at = rel + _RECORD.size
                if (
                    sequence == self._begin + column
                    and offset == self._offsets[column]
                    and payload_at + length <= len(data)
                    and zlib.crc32(view[rel + _CRC.size : payload_at + length]) == crc
                ):
                    payload = data[payload_at : payload_at + length]
                    events.append(StoredEvent(sequence, offset, enqueued, payload))
                    continue
            raise CorruptLogError(
                f"{segment.path}: record {self._begin + column} at byte {self._positions[column]} is corrupt"
            )
        return events

    def _segment_fd(self, number: int) -> int:
        if number == len(self._segments) - 1:
            return self._fd
        base = self._bases[number]
        fd = self._read_fds.get(base)
        if fd is None:
            fd = self._read_fds[base] = os.open(self._segments[number].path, os.O_RDONLY)
            if len(self._read_fds) > _READ_FDS:
                os.close(self._read_fds.popitem(last=False)[1])
        else:
            self._read_fds.move_to_end(base)
        return fd

    def first_sequence_at_offset(self, offset: int, inclusive: bool) -> int:
        find = bisect_left if inclusive else bisect_right
        return self._begin + find(self._offsets, offset)

    def first_sequence_at_time(self, time_ms: int, inclusive: bool) -> int:
        find = bisect_left if inclusive else bisect_right
        return self._begin + find(self._times, time_ms)

    # -- retention and closing

    def apply_retention(self, now_ms: int) -> int:
        self._check_open()
        self._maybe_sync()  # the owner calls this periodically: it bounds how long idle appends stay unsynced
        retention = self._retention()
        cutoff = expiry_cutoff(retention, now_ms)
        drop = 0
        while drop < len(self._segments):
            newest = self._segment_range(drop)[1] - 1
            if newest < self._bases[drop] - self._begin:  # only the active segment can be empty
                break
            # Memory's per-event rules, applied to the segment's newest event: if it goes, all go.
            too_old = cutoff is not None and self._times[newest] < cutoff
            too_big = (
                retention.max_bytes is not None
                and self._next_offset - self._offsets[newest] > retention.max_bytes
            )
            if not (too_old or too_big):
                break
            drop += 1
        if drop == 0:
            return 0
        if drop == len(self._segments):
            self._roll()  # the log keeps a segment, empty, to carry the numbering on
        new_begin = self._bases[drop]
        for segment in self._segments[:drop]:
            fd = self._read_fds.pop(segment.base_sequence, None)
            if fd is not None:
                os.close(fd)
            # Oldest first, sidecar before segment: a crash part-way leaves a contiguous, loadable log.
            _index_path(segment.path).unlink(missing_ok=True)
            segment.path.unlink()
        del self._segments[:drop], self._bases[:drop]
        removed = new_begin - self._begin
        del self._positions[:removed], self._offsets[:removed], self._times[:removed]
        self._begin = new_begin
        if not self._offsets:
            self._last_event = None
        return removed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._fsync is not FsyncPolicy.NEVER:
                self._sync()
            # With the active segment indexed too, a clean reopen reads sidecars only.
            _write_index(self._segments[-1].path, self._segment_index(len(self._segments) - 1))
        finally:
            self._close_fds()

    def _close_fds(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        while self._read_fds:
            os.close(self._read_fds.popitem()[1])

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"partition log {self._dir} is closed")


class DiskStore(PartitionsByHub[DiskPartitionLog]):
    """Partitions under `data_dir`, which this process locks.

    A partition is opened (and its files checked) on its first partition() call, and only opened
    partitions are subject to apply_retention, so `retention` is only asked about hubs in use.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        retention: Callable[[str], Retention] | None = None,
        fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
        fsync_interval_s: float = 1.0,
        segment_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if segment_bytes <= 0:
            raise ValueError(f"segment_bytes must be positive, got {segment_bytes}")
        if fsync_interval_s < 0:
            raise ValueError(f"fsync_interval_s must not be negative, got {fsync_interval_s}")
        super().__init__(retention)
        self._dir = Path(data_dir)
        self._fsync = fsync
        self._fsync_interval_s = fsync_interval_s
        self._segment_bytes = segment_bytes
        self._dir.mkdir(parents=True, exist_ok=True)
        # Two processes appending to the same files would interleave records, so claim the directory.
        self._lock_fd = os.open(self._dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise OSError(f"data directory {self._dir} is in use by another emulator") from None

    def partition(self, hub: str, partition_id: str) -> PartitionLog:
        key = (hub, partition_id)
        log = self._partitions.get(key)
        if log is None:
            if self._lock_fd < 0:
                raise ValueError(f"store {self._dir} is closed")
            check_name("hub name", hub)
            check_name("partition id", partition_id)
            directory = self._dir / hub / partition_id
            created = not directory.is_dir()
            log = DiskPartitionLog(
                directory,
                retention=lambda: self._retention_of(hub),
                fsync=self._fsync,
                fsync_interval_s=self._fsync_interval_s,
                segment_bytes=self._segment_bytes,
            )
            if created and self._fsync is not FsyncPolicy.NEVER:
                _fsync_dir(directory.parent)
                _fsync_dir(self._dir)
            self._partitions[key] = log
        return log

    def created_at(self, hub: str, now_ms: int) -> int:
        """Kept in `<hub>/created_at` beside the partitions, so `created_at` survives restarts."""
        known = self._created_at.get(hub)
        if known is not None:
            return known
        check_name("hub name", hub)
        path = self._dir / hub / CREATED_AT_FILE
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            text = ""
        if text.isdigit():
            value = int(text)
        else:  # new hub, or an unreadable file: from now on, this moment
            value = now_ms
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(CREATED_AT_FILE + ".tmp")
            tmp.write_text(f"{value}\n", encoding="ascii")
            if self._fsync is not FsyncPolicy.NEVER:
                with tmp.open("rb") as f:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
            if self._fsync is not FsyncPolicy.NEVER:
                _fsync_dir(path.parent)
        self._created_at[hub] = value
        return value

    def close(self) -> None:
        try:
            self._close_partitions()
        finally:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1
