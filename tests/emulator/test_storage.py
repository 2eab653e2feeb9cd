"""Tests for emulator.storage: behaviour shared by both stores, disk recovery, and a model comparison."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.storage import (
    CorruptLogError,
    DiskStore,
    FsyncPolicy,
    MemoryStore,
    PartitionLog,
    Retention,
    Store,
    StoredEvent,
)
from tests.emulator.full_disk import tmpfs_prefix, unshare_can_mount

REPO = Path(__file__).resolve().parents[2]

StoreFactory = Callable[..., Store]


def add(log: PartitionLog, payloads: Sequence[bytes], times: Sequence[int] | int = 0) -> list[StoredEvent]:
    """Append events carrying `payloads` in one call, continuing the log's numbering."""
    if isinstance(times, int):
        times = [times] * len(payloads)
    sequence, offset = log.next_sequence_number, log.next_offset
    batch = []
    for payload, time_ms in zip(payloads, times, strict=True):
        batch.append(StoredEvent(sequence, offset, time_ms, payload))
        sequence, offset = sequence + 1, offset + len(payload)
    log.append(batch)
    return batch


def add_each(log: PartitionLog, payloads: Sequence[bytes], times: Sequence[int]) -> list[StoredEvent]:
    """Append one event per call (on disk with 1-byte segments, one segment per event)."""
    return [event for payload, t in zip(payloads, times, strict=True) for event in add(log, [payload], t)]


@pytest.fixture
def make_disk(tmp_path: Path) -> Iterator[Callable[..., DiskStore]]:
    stores: list[DiskStore] = []

    def make(**kwargs: object) -> DiskStore:
        kwargs.setdefault("fsync", FsyncPolicy.NEVER)
        store = DiskStore(tmp_path / "data", **kwargs)  # type: ignore[arg-type]
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


# "disk-1" rolls a segment per append call, so its whole-segment retention equals memory's per-event one.
@pytest.fixture(params=["memory", "disk", "disk-1"])
def make_store(request: pytest.FixtureRequest, make_disk: Callable[..., DiskStore]) -> StoreFactory:
    if request.param == "memory":
        return MemoryStore
    segment_bytes = 1 if request.param == "disk-1" else 64 * 1024 * 1024
    return lambda **kwargs: make_disk(segment_bytes=segment_bytes, **kwargs)


@pytest.fixture(params=["memory", "disk-1"])
def make_per_event_store(request: pytest.FixtureRequest, make_disk: Callable[..., DiskStore]) -> StoreFactory:
    if request.param == "memory":
        return MemoryStore
    return lambda **kwargs: make_disk(segment_bytes=1, **kwargs)


# -- behaviour shared by both stores


def test_empty_partition(make_store: StoreFactory) -> None:
    log = make_store().partition("hub", "0")
    assert (log.begin_sequence_number, log.next_sequence_number, log.next_offset) == (0, 0, 0)
    assert log.last_event is None
    assert log.read(0, 10) == []
    assert log.first_sequence_at_offset(0, inclusive=True) == 0
    assert log.first_sequence_at_time(0, inclusive=False) == 0
    log.append([])
    assert log.next_sequence_number == 0


def test_append_and_read(make_store: StoreFactory) -> None:
    log = make_store().partition("hub", "0")
    first = add(log, [b"a", b"", b"ccc"], [5, 5, 6])
    second = add(log, [b"dddd" * 100], 9)
    everything = first + second
    assert [(e.sequence_number, e.offset) for e in everything] == [(0, 0), (1, 1), (2, 1), (3, 4)]
    assert log.read(0, 100) == everything
    assert log.read(-5, 100) == everything
    assert log.read(2, 100) == everything[2:]
    assert log.read(4, 100) == []
    assert log.read(50, 100) == []
    assert log.last_event == second[0]
    assert (log.begin_sequence_number, log.next_sequence_number, log.next_offset) == (0, 4, 404)


def test_partitions_are_independent(make_store: StoreFactory) -> None:
    store = make_store()
    add(store.partition("hub", "0"), [b"x", b"y"])
    add(store.partition("other", "0"), [b"z"])
    assert store.partition("hub", "0").next_sequence_number == 2
    assert store.partition("hub", "1").next_sequence_number == 0
    assert [e.payload for e in store.partition("other", "0").read(0, 10)] == [b"z"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sequence_number": 3}, "expected sequence number 2, got 3"),
        ({"sequence_number": 1}, "expected sequence number 2, got 1"),
        ({"offset": 5}, "expected offset 4, got 5"),
        ({"enqueued_time_ms": 9}, "enqueued time 9 is before 10"),
    ],
)
def test_append_rejects_discontinuity(make_store: StoreFactory, change: dict[str, int], message: str) -> None:
    log = make_store().partition("hub", "0")
    add(log, [b"ab", b"cd"], 10)
    good = {"sequence_number": 2, "offset": 4, "enqueued_time_ms": 10, "payload": b"e"}
    with pytest.raises(ValueError, match=message):
        log.append([StoredEvent(**{**good, **change})])  # type: ignore[arg-type]
    # All-or-nothing: a batch whose second event is wrong stores neither.
    with pytest.raises(ValueError):
        log.append([StoredEvent(2, 4, 10, b"e"), StoredEvent(3, 4, 10, b"f")])
    assert (log.next_sequence_number, log.next_offset) == (2, 4)
    assert len(log.read(0, 10)) == 2
    with pytest.raises(TypeError):
        log.append([StoredEvent(2, 4, 10, bytearray(b"e"))])  # type: ignore[arg-type]
    add(log, [b"e"], 10)
    assert [e.payload for e in log.read(0, 10)] == [b"ab", b"cd", b"e"]


def test_read_limits(make_store: StoreFactory) -> None:
    log = make_store().partition("hub", "0")
    events = add(log, [b"1" * 10, b"2" * 10, b"3" * 30, b"4" * 5])
    assert log.read(0, 2) == events[:2]
    assert log.read(0, 0) == []
    assert log.read(0, -1) == []
    assert log.read(0, 10, max_bytes=20) == events[:2]
    assert log.read(0, 10, max_bytes=49) == events[:2]
    assert log.read(0, 10, max_bytes=50) == events[:3]
    assert log.read(0, 2, max_bytes=1000) == events[:2]
    # The first event is returned even when it alone exceeds max_bytes.
    assert log.read(2, 10, max_bytes=1) == events[2:3]
    assert log.read(0, 10, max_bytes=0) == events[:1]
    assert log.read(1, 10, max_bytes=45) == events[1:4]


@pytest.mark.parametrize(
    ("offset", "inclusive", "expected"),
    [
        (-5, True, 0),
        (0, True, 0),
        (0, False, 1),
        (2, True, 1),  # inside event 0: the next event
        (3, True, 1),  # events 1 and 2 share offset 3 (event 1 is empty)
        (3, False, 3),
        (8, True, 3),
        (8, False, 4),
        (100, True, 4),
    ],
)
def test_first_sequence_at_offset(
    make_store: StoreFactory, offset: int, inclusive: bool, expected: int
) -> None:
    log = make_store().partition("hub", "0")
    add(log, [b"aaa", b"", b"bbbbb", b"cc"])  # offsets 0, 3, 3, 8
    assert log.first_sequence_at_offset(offset, inclusive) == expected


@pytest.mark.parametrize(
    ("time_ms", "inclusive", "expected"),
    [
        (0, True, 0),
        (10, True, 0),
        (10, False, 2),
        (15, True, 2),
        (20, False, 3),
        (30, True, 3),
        (30, False, 4),
        (31, True, 4),
    ],
)
def test_first_sequence_at_time(
    make_store: StoreFactory, time_ms: int, inclusive: bool, expected: int
) -> None:
    log = make_store().partition("hub", "0")
    add(log, [b"a", b"b", b"c", b"d"], [10, 10, 20, 30])
    assert log.first_sequence_at_time(time_ms, inclusive) == expected


def test_invalid_names_are_rejected(make_store: StoreFactory) -> None:
    store = make_store()
    for hub in ["", ".", "..", "a/b", "../etc", "a b", "ha\x00"]:
        with pytest.raises(ValueError, match="invalid hub name"):
            store.partition(hub, "0")
    with pytest.raises(ValueError, match=r"invalid partition id '0/1'"):
        store.partition("hub", "0/1")
    store.partition("My.hub-1_x", "31")


def test_retention_by_age(make_per_event_store: StoreFactory) -> None:
    store = make_per_event_store(retention=lambda hub: Retention(max_age_ms=5))
    log = store.partition("hub", "0")
    events = add_each(log, [bytes([i]) * 4 for i in range(10)], list(range(10)))
    assert store.apply_retention(now_ms=10) == 5  # enqueued before 10 - 5 = 5
    assert store.apply_retention(now_ms=10) == 0
    assert log.begin_sequence_number == 5
    assert log.read(0, 100) == events[5:]
    assert log.first_sequence_at_offset(0, inclusive=True) == 5
    assert log.first_sequence_at_time(0, inclusive=True) == 5
    assert log.last_event == events[-1]
    assert store.apply_retention(now_ms=100) == 5
    assert (log.begin_sequence_number, log.next_sequence_number, log.next_offset) == (10, 10, 40)
    assert log.last_event is None
    assert log.read(0, 100) == []
    assert log.first_sequence_at_time(0, inclusive=True) == 10
    with pytest.raises(ValueError, match="before 9"):
        log.append([StoredEvent(10, 40, 8, b"late")])
    (new,) = add(log, [b"new"], 100)
    assert (new.sequence_number, new.offset) == (10, 40)
    assert log.read(0, 100) == [new]
    assert log.last_event == new


def test_retention_by_size(make_per_event_store: StoreFactory) -> None:
    store = make_per_event_store(retention=lambda hub: Retention(max_bytes=35))
    log = store.partition("hub", "0")
    events = add_each(log, [bytes([i]) * 10 for i in range(10)], [0] * 10)
    assert store.apply_retention(now_ms=0) == 7  # three events, 30 bytes, fit in 35
    assert log.begin_sequence_number == 7
    assert log.read(3, 100) == events[7:]
    add_each(log, [b"x" * 10], [0])
    assert store.apply_retention(now_ms=0) == 1
    assert [e.sequence_number for e in log.read(0, 100)] == [8, 9, 10]


def test_retention_is_per_hub(make_per_event_store: StoreFactory) -> None:
    limits = {"short": Retention(max_age_ms=1), "long": Retention(max_age_ms=1000)}
    store = make_per_event_store(retention=limits.__getitem__)
    for hub in limits:
        add_each(store.partition(hub, "0"), [b"a", b"b"], [0, 0])
    assert store.apply_retention(now_ms=10) == 2
    assert store.partition("short", "0").begin_sequence_number == 2
    assert store.partition("long", "0").begin_sequence_number == 0


# -- disk only


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.log"))


def test_reopen_keeps_everything(make_disk: Callable[..., DiskStore], tmp_path: Path) -> None:
    store = make_disk(segment_bytes=300)
    log = store.partition("hub", "0")
    written = []
    for batch in range(20):
        written += add(log, [bytes([batch]) * n for n in (0, 7, 40)], 1000 + batch)
    add(store.partition("hub", "1"), [b"other"], 5)
    store.close()

    store = make_disk(segment_bytes=300)
    log = store.partition("hub", "0")
    assert log.read(0, 1000) == written
    assert log.last_event == written[-1]
    assert (log.next_sequence_number, log.next_offset) == (60, 20 * 47)
    assert log.first_sequence_at_time(1010, inclusive=True) == 30
    assert [e.payload for e in store.partition("hub", "1").read(0, 10)] == [b"other"]
    written += add(log, [b"more"], 2000)
    assert written[-1].sequence_number == 60
    store.close()

    store = make_disk(segment_bytes=300)
    assert store.partition("hub", "0").read(0, 1000) == written


def test_reopen_rebuilds_missing_indexes(make_disk: Callable[..., DiskStore], tmp_path: Path) -> None:
    store = make_disk(segment_bytes=3 << 20)
    log = store.partition("hub", "0")
    # Payloads larger than the 1 MiB scan chunk, and many small ones, all rescanned on reopen.
    written = add(log, [os.urandom(n) for n in (5, 2_500_000, 0, 1_200_000)], 1)
    written += add(log, [os.urandom(n % 300) for n in range(2000)], 2)
    store.close()
    directory = tmp_path / "data" / "hub" / "0"
    assert len(segment_files(directory)) == 2
    for index in directory.glob("*.idx"):
        index.unlink()
    store = make_disk(segment_bytes=3 << 20)
    assert store.partition("hub", "0").read(0, 10_000) == written
    assert len(list(directory.glob("*.idx"))) == 1  # the sealed segment's, rebuilt


@pytest.mark.parametrize("earlier_segments", [True, False])
def test_segment_with_torn_header_is_dropped(
    make_disk: Callable[..., DiskStore], tmp_path: Path, earlier_segments: bool
) -> None:
    store = make_disk()
    log = store.partition("hub", "0")
    written = add(log, [b"a", b"bc"]) if earlier_segments else []
    store.close()
    directory = tmp_path / "data" / "hub" / "0"
    if earlier_segments:  # as if an OS crash hit just after a roll
        (directory / f"{2:020d}.log").write_bytes(b"\0" * 10)
    else:  # as if an OS crash hit just after the partition was created
        (directory / f"{0:020d}.log").write_bytes(b"")
    store = make_disk()
    log = store.partition("hub", "0")
    assert log.read(0, 10) == written
    written += add(log, [b"d"])
    store.close()
    assert make_disk().partition("hub", "0").read(0, 10) == written


def test_reopen_after_everything_expired_keeps_numbering(make_disk: Callable[..., DiskStore]) -> None:
    store = make_disk(retention=lambda hub: Retention(max_age_ms=10), segment_bytes=100)
    log = store.partition("hub", "0")
    add_each(log, [b"a" * 30] * 5, [1, 2, 3, 4, 5])
    assert store.apply_retention(now_ms=1000) == 5
    store.close()
    store = make_disk(retention=lambda hub: Retention(max_age_ms=10), segment_bytes=100)
    log = store.partition("hub", "0")
    assert (log.begin_sequence_number, log.next_sequence_number, log.next_offset) == (5, 5, 150)
    assert log.last_event is None
    with pytest.raises(ValueError, match="before 5"):
        log.append([StoredEvent(5, 150, 4, b"late")])
    add(log, [b"b"], 6)
    assert [e.sequence_number for e in log.read(0, 10)] == [5]


def test_segments_roll_and_are_named_by_first_sequence(
    make_disk: Callable[..., DiskStore], tmp_path: Path
) -> None:
    store = make_disk(segment_bytes=200)
    log = store.partition("hub", "0")
    for _ in range(10):
        add(log, [b"p" * 50])  # 32-byte header + 50 bytes: two records fit a 200-byte segment
    add(log, [b"big" * 200])  # larger than a segment: gets one to itself
    directory = tmp_path / "data" / "hub" / "0"
    assert [p.name for p in segment_files(directory)] == [f"{n:020d}.log" for n in (0, 2, 4, 6, 8, 10)]
    assert all(p.stat().st_size <= 200 for p in segment_files(directory)[:-1])
    assert sorted(p.stem for p in directory.glob("*.idx")) == [f"{n:020d}" for n in (0, 2, 4, 6, 8)]
    assert [e.sequence_number for e in log.read(0, 100)] == list(range(11))
    assert [e.sequence_number for e in log.read(3, 4)] == [3, 4, 5, 6]


def test_disk_retention_removes_whole_segments(make_disk: Callable[..., DiskStore], tmp_path: Path) -> None:
    limits = {"age": Retention(max_age_ms=100), "size": Retention(max_bytes=250)}
    store = make_disk(retention=limits.__getitem__, segment_bytes=430)
    for hub in limits:
        for t in range(12):  # 32-byte segment header, 132-byte records: three records per segment
            add(store.partition(hub, "0"), [b"x" * 100], t * 10)
    # At 125 events 0, 1 and 2 (times 0..20) are expired, and so is segment 0; event 3 (time 30) is not.
    assert store.partition("age", "0").apply_retention(now_ms=125) == 3
    assert store.partition("age", "0").begin_sequence_number == 3
    # Segment 2 goes: its newest event (8) and those after it hold 400 > 250 bytes; segment 3 (100) stays.
    assert store.partition("size", "0").apply_retention(now_ms=0) == 9
    assert [e.sequence_number for e in store.partition("size", "0").read(0, 100)] == [9, 10, 11]
    assert [p.name for p in segment_files(tmp_path / "data" / "size" / "0")] == [f"{9:020d}.log"]
    assert list((tmp_path / "data" / "size" / "0").glob("*.idx")) == []


def test_retention_covers_opened_partitions_only(make_disk: Callable[..., DiskStore]) -> None:
    store = make_disk()
    add(store.partition("gone", "0"), [b"a"], 0)
    add(store.partition("hub", "3"), [b"a", b"b"], 0)
    store.close()
    # The retention lookup is not asked about "gone", a hub (say) no longer configured.
    store = make_disk(retention={"hub": Retention(max_age_ms=1)}.__getitem__)
    assert store.apply_retention(now_ms=100) == 0
    log = store.partition("hub", "3")
    assert store.apply_retention(now_ms=100) == 2
    assert log.begin_sequence_number == 2


def test_truncated_tail_is_cut_at_the_last_whole_record(
    make_disk: Callable[..., DiskStore], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_disk(segment_bytes=1000)
    log = store.partition("hub", "0")
    written = [e for i in range(30) for e in add(log, [bytes([i]) * 60], i)]
    store.close()
    last = segment_files(tmp_path / "data" / "hub" / "0")[-1]
    os.truncate(last, last.stat().st_size - 7)

    store = make_disk(segment_bytes=1000)
    with caplog.at_level(logging.WARNING, logger="emulator.storage.disk"):
        log = store.partition("hub", "0")
    assert str(last) in caplog.text and "truncating" in caplog.text
    assert log.read(0, 100) == written[:-1]
    assert log.last_event == written[-2]
    assert (log.next_sequence_number, log.next_offset) == (29, 29 * 60)
    again = add(log, [b"again"], 50)
    store.close()
    store = make_disk(segment_bytes=1000)
    assert store.partition("hub", "0").read(0, 100) == written[:-1] + again


@pytest.mark.parametrize("junk", [b"\x00" * 100, b"\xff" * 31, os.urandom(500)])
def test_garbage_tail_is_removed(make_disk: Callable[..., DiskStore], tmp_path: Path, junk: bytes) -> None:
    store = make_disk()
    written = add(store.partition("hub", "0"), [b"one", b"two"])
    store.close()
    (last,) = segment_files(tmp_path / "data" / "hub" / "0")
    size = last.stat().st_size
    with last.open("ab") as f:
        f.write(junk)
    store = make_disk()
    assert store.partition("hub", "0").read(0, 10) == written
    assert last.stat().st_size == size


def test_corrupt_sealed_segment_is_an_error(make_disk: Callable[..., DiskStore], tmp_path: Path) -> None:
    store = make_disk(segment_bytes=200)
    log = store.partition("hub", "0")
    for _ in range(6):
        add(log, [b"p" * 50])
    store.close()
    first = segment_files(tmp_path / "data" / "hub" / "0")[0]
    data = bytearray(first.read_bytes())
    data[-3] ^= 0xFF  # a payload byte of the segment's last record
    first.write_bytes(data)

    # The sidecar index spares reopening a scan, so the damage shows when the record is read.
    store = make_disk(segment_bytes=200)
    log = store.partition("hub", "0")
    assert len(log.read(2, 10)) == 4
    with pytest.raises(CorruptLogError, match=str(first)):
        log.read(0, 10)
    store.close()

    first.with_suffix(".idx").unlink()
    store = make_disk(segment_bytes=200)
    with pytest.raises(CorruptLogError, match=str(first)):
        store.partition("hub", "0")


def test_data_directory_is_locked(make_disk: Callable[..., DiskStore]) -> None:
    store = make_disk()
    with pytest.raises(OSError, match="in use"):
        make_disk()
    store.close()
    make_disk()


@pytest.mark.parametrize("policy", [FsyncPolicy.ALWAYS, FsyncPolicy.INTERVAL])
def test_fsync_policies_store_the_same(make_disk: Callable[..., DiskStore], policy: FsyncPolicy) -> None:
    store = make_disk(fsync=policy, fsync_interval_s=0.0, segment_bytes=100)
    written = [e for i in range(5) for e in add(store.partition("hub", "0"), [bytes([i]) * 40], i)]
    store.close()
    assert make_disk(fsync=policy).partition("hub", "0").read(0, 10) == written


CHILD = """
import sys
from pathlib import Path
from emulator.storage import DiskStore, FsyncPolicy, StoredEvent

store = DiskStore(Path(sys.argv[1]), fsync=FsyncPolicy.NEVER, segment_bytes=64 * 1024)
log = store.partition("hub", "0")
sequence, offset = log.next_sequence_number, log.next_offset
while True:
    payload = b"%d;" % sequence * 40
    log.append([StoredEvent(sequence, offset, sequence, payload)])
    print("acked", sequence, flush=True)
    sequence, offset = sequence + 1, offset + len(payload)
"""


def test_kill_9_loses_no_acknowledged_event(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "data")], stdout=subprocess.PIPE, env=env, cwd=REPO
    )
    assert child.stdout is not None
    acked = -1
    try:
        for line in child.stdout:
            acked = int(line.split()[1])
            if acked >= 3000:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest = child.stdout.read()  # acks printed before the kill count too
        child.wait()
    # print() writes its pieces separately, so the kill can cut the last line short: skip it.
    for line in rest.splitlines(keepends=True):
        if line.endswith(b"\n"):
            acked = int(line.split()[1])
    assert acked >= 3000, "the child stopped early"

    store = DiskStore(tmp_path / "data")
    try:
        log = store.partition("hub", "0")
        assert log.next_sequence_number > acked
        events = log.read(0, log.next_sequence_number)
        assert [e.sequence_number for e in events] == list(range(log.next_sequence_number))
        assert all(e.payload == b"%d;" % e.sequence_number * 40 for e in events)
    finally:
        store.close()


# -- memory and disk against a model


def reference_read(
    history: list[StoredEvent], begin: int, from_sequence: int, max_count: int, max_bytes: int | None
) -> list[StoredEvent]:
    chosen: list[StoredEvent] = []
    for event in history[max(from_sequence, begin) :]:
        if len(chosen) == max_count:
            break
        size = sum(len(e.payload) for e in [*chosen, event])
        if chosen and max_bytes is not None and size > max_bytes:
            break
        chosen.append(event)
    return chosen


def reference_begin(history: list[StoredEvent], begin: int, retention: Retention, now_ms: int) -> int:
    """Memory's per-event rule, spelled out."""
    end_offset = history[-1].offset + len(history[-1].payload) if history else 0
    while begin < len(history):
        event = history[begin]
        too_old = retention.max_age_ms is not None and event.enqueued_time_ms < now_ms - retention.max_age_ms
        too_big = retention.max_bytes is not None and end_offset - event.offset > retention.max_bytes
        if not (too_old or too_big):
            break
        begin += 1
    return begin


appends = st.tuples(
    st.just("append"), st.lists(st.tuples(st.integers(0, 40), st.integers(0, 5)), min_size=1, max_size=4)
)
operations = st.one_of(
    appends,
    st.tuples(st.just("retain"), st.integers(0, 20)),
    st.tuples(
        st.just("read"), st.integers(-2, 40), st.integers(0, 6), st.one_of(st.none(), st.integers(0, 100))
    ),
    st.tuples(st.just("offset"), st.integers(-5, 600), st.booleans()),
    st.tuples(st.just("time"), st.integers(-5, 120), st.booleans()),
    st.tuples(st.just("reopen")),
)


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(operations, max_size=30),
    segment_bytes=st.integers(1, 400),
    retention=st.builds(
        Retention, st.one_of(st.none(), st.integers(0, 20)), st.one_of(st.none(), st.integers(0, 150))
    ),
)
def test_memory_and_disk_agree(ops: list[tuple[Any, ...]], segment_bytes: int, retention: Retention) -> None:
    history: list[StoredEvent] = []
    memory = MemoryStore(retention=lambda hub: retention).partition("hub", "0")
    mem_begin, now = 0, 0
    with tempfile.TemporaryDirectory() as data_dir:

        def open_disk() -> tuple[DiskStore, PartitionLog]:
            store = DiskStore(
                Path(data_dir),
                retention=lambda hub: retention,
                fsync=FsyncPolicy.NEVER,
                segment_bytes=segment_bytes,
            )
            return store, store.partition("hub", "0")

        store, disk = open_disk()
        try:
            for op in ops:
                if op[0] == "append":
                    batch = []
                    for size, step in op[1]:
                        now += step
                        offset = history[-1].offset + len(history[-1].payload) if history else 0
                        batch.append(StoredEvent(len(history), offset, now, os.urandom(size)))
                        history.append(batch[-1])
                    memory.append(batch)
                    disk.append(batch)
                elif op[0] == "retain":
                    now += op[1]
                    memory.apply_retention(now)
                    disk.apply_retention(now)
                    mem_begin = reference_begin(history, mem_begin, retention, now)
                elif op[0] == "read":
                    _, start, count, max_bytes = op
                    assert memory.read(start, count, max_bytes) == reference_read(
                        history, mem_begin, start, count, max_bytes
                    )
                    assert disk.read(start, count, max_bytes) == reference_read(
                        history, disk.begin_sequence_number, start, count, max_bytes
                    )
                elif op[0] in ("offset", "time"):
                    _, value, inclusive = op
                    for log, begin in ((memory, mem_begin), (disk, disk.begin_sequence_number)):
                        retained = history[begin:]
                        if op[0] == "offset":
                            found = log.first_sequence_at_offset(value, inclusive)
                            matches = [
                                e for e in retained if e.offset > value or (inclusive and e.offset == value)
                            ]
                        else:
                            found = log.first_sequence_at_time(value, inclusive)
                            matches = [
                                e
                                for e in retained
                                if e.enqueued_time_ms > value or (inclusive and e.enqueued_time_ms == value)
                            ]
                        assert found == (matches[0].sequence_number if matches else len(history))
                else:
                    store.close()
                    store, disk = open_disk()

                assert memory.begin_sequence_number == mem_begin
                # Whole-segment retention keeps all that memory keeps, and perhaps a little more.
                assert disk.begin_sequence_number <= mem_begin
                for log in (memory, disk):
                    assert log.next_sequence_number == len(history)
                    assert log.next_offset == (
                        history[-1].offset + len(history[-1].payload) if history else 0
                    )
                    empty = log.begin_sequence_number == len(history)
                    assert log.last_event == (None if empty else history[-1])
                assert disk.read(0, len(history) + 1) == history[disk.begin_sequence_number :]
        finally:
            store.close()


def test_a_hubs_created_at_is_kept_until_the_store_is_gone(make_store: StoreFactory) -> None:
    store = make_store()
    assert store.created_at("tweets", 1_000) == 1_000
    assert store.created_at("tweets", 2_000) == 1_000
    assert store.created_at("telemetry", 3_000) == 3_000
    with pytest.raises(ValueError, match="hub name"):
        store.created_at("../x", 1)


def test_a_hubs_created_at_survives_reopening_the_data_dir(make_disk: Callable[..., DiskStore]) -> None:
    store = make_disk(fsync=FsyncPolicy.ALWAYS)
    store.created_at("tweets", 1_700_000_000_123)
    store.close()
    again = make_disk()
    assert again.created_at("tweets", 1_800_000_000_000) == 1_700_000_000_123
    assert again.created_at("telemetry", 1_800_000_000_000) == 1_800_000_000_000


# -- a full disk exactly when a segment rolls (issue 11, case 6), on a real full filesystem

DISK_FULL_CHILD = """
import errno, json, os, resource, sys
from pathlib import Path
from emulator.storage import DiskStore, FsyncPolicy, StoredEvent

root, how, free_pages = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
PAGE, EVENT = 4096, b"e" * 1000  # 1,032 bytes a record: 63 fill a 64 KiB segment, the 64th rolls it
store = DiskStore(root / "data", fsync=FsyncPolicy.ALWAYS, segment_bytes=64 * 1024)
log = store.partition("hub", "0")
acked, refused = [], []

def append():
    event = StoredEvent(log.next_sequence_number, log.next_offset, 0, EVENT)
    try:
        log.append([event])
    except OSError as exc:
        refused.append(errno.errorcode.get(exc.errno, str(exc.errno)))
        return False
    acked.append(event)
    return True

for _ in range(63):
    assert append()
if how == "tmpfs":  # fill the filesystem, then leave `free_pages` pages free
    fd = os.open(root / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\\0" * PAGE):
            pass
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    os.ftruncate(fd, os.fstat(fd).st_size // PAGE * PAGE - free_pages * PAGE)
    os.close(fd)
else:  # no file may grow past 16 bytes: a new segment's 36-byte header cannot be written
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16, limit[1]))
while len(refused) < 3 and len(acked) < 200:  # the roll, then appends until three are refused
    append()
full = list(refused)
if how == "tmpfs":
    os.unlink(root / "filler")
else:
    resource.setrlimit(resource.RLIMIT_FSIZE, limit)
after = [append() for _ in range(100)]  # space is back: two rolls' worth
read = log.read(0, 1000)
store.close()
reopened = DiskStore(root / "data").partition("hub", "0").read(0, 1000)
print(json.dumps({
    "full": full, "after": after, "refused": refused,
    "acked": [(e.sequence_number, e.offset) for e in acked],
    "read": [(e.sequence_number, e.offset) for e in read if e.payload == EVENT],
    "reopened": [(e.sequence_number, e.offset) for e in reopened if e.payload == EVENT],
}))
"""


@pytest.mark.parametrize(
    ("how", "free_pages"),
    [("tmpfs", 0), ("tmpfs", 1), ("tmpfs", 2), ("fsize", 0)],
    ids=["tmpfs-full", "tmpfs-room-for-the-sidecar-only", "tmpfs-room-for-one-segment", "rlimit-fsize"],
)
def test_a_disk_full_at_a_segment_roll_refuses_then_appends_once_space_returns(
    tmp_path: Path, how: str, free_pages: int
) -> None:
    """On a 1 MiB tmpfs filled to the last `free_pages` pages (in a user and mount namespace: no root
    needed), or with RLIMIT_FSIZE too small for a new segment: appends past the roll are refused with
    the OS's own error, never a closed descriptor, and once space returns they succeed, nothing
    acknowledged lost, before and after reopening."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", DISK_FULL_CHILD, str(tmp_path), how, str(free_pages)]
    if how == "tmpfs":
        if not unshare_can_mount(tmp_path):
            pytest.skip("this kernel or sandbox allows no user namespaces: the rlimit-fsize case stands in")
        command = [*tmpfs_prefix(tmp_path, "1m"), *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    expected_error = "ENOSPC" if how == "tmpfs" else "EFBIG"
    assert result["full"] and set(result["full"]) == {expected_error}, result["full"]
    assert all(result["after"]), f"appends still refused after space returned: {result['refused']}"
    acked = [tuple(e) for e in result["acked"]]
    assert [tuple(e) for e in result["read"]] == acked
    assert [tuple(e) for e in result["reopened"]] == acked
    assert [s for s, _ in acked] == list(range(len(acked)))
