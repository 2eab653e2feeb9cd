"""Where windows end, on a real in-memory partition log: time, size, whichever first, and restarts."""

from __future__ import annotations

from emulator.capture import windows
from emulator.capture.positions import Position
from emulator.storage import MemoryPartitionLog, StoredEvent

T0 = 1_700_000_000_000  # a whole second, epoch ms


def log_with(times_and_sizes: list[tuple[int, int]]) -> MemoryPartitionLog:
    log = MemoryPartitionLog()
    offset = 0
    for sequence, (time_ms, size) in enumerate(times_and_sizes):
        log.append([StoredEvent(sequence, offset, time_ms, b"x" * size)])
        offset += size
    return log


def test_a_new_capture_starts_after_the_events_already_stored():
    log = log_with([(T0, 10), (T0 + 5, 10)])
    position = windows.opening(None, log, T0 + 1234)
    assert position == Position(2, 20, T0 + 1000)


def test_time_window_takes_the_events_enqueued_before_its_end():
    log = log_with([(T0 + 100, 10), (T0 + 59_999, 10), (T0 + 60_000, 10)])
    position = Position(0, 0, T0)
    assert windows.due(position, log, 60_000, 10_000, T0 + 59_999) is None
    cut = windows.due(position, log, 60_000, 10_000, T0 + 60_050)
    assert cut == windows.Cut(T0, 0, 2, T0 + 60_000, "time")
    after = windows.after(cut, position, 20)
    assert after == Position(2, 20, T0 + 60_000, T0)


def test_an_empty_time_window_is_a_cut_too():
    cut = windows.due(Position(0, 0, T0), log_with([]), 60_000, 100, T0 + 60_000)
    assert cut is not None and cut.empty


def test_size_window_takes_the_fewest_events_that_reach_it_and_the_next_starts_a_second_later():
    log = log_with([(T0 + 1, 400), (T0 + 2, 400), (T0 + 3, 400), (T0 + 4, 400)])
    position = Position(0, 0, T0)
    cut = windows.due(position, log, 60_000, 1000, T0 + 10)
    assert cut == windows.Cut(T0, 0, 3, T0 + 1000, "size")  # 1200 bytes >= 1000; 800 would not do
    position = windows.after(cut, position, 1200)
    assert windows.due(position, log, 60_000, 1000, T0 + 10) is None  # 400 bytes left: not yet


def test_size_reached_exactly_by_the_newest_event():
    log = log_with([(T0 + 1, 500), (T0 + 2, 500)])
    cut = windows.due(Position(0, 0, T0), log, 60_000, 1000, T0 + 10)
    assert cut is not None and (cut.end_sequence, cut.reason) == (2, "size")


def test_after_a_long_gap_the_next_window_starts_now():
    log = log_with([(T0 + 1, 10)])
    cut = windows.due(Position(0, 0, T0), log, 60_000, 10_000, T0 + 600_500)
    assert cut is not None and cut.next_start_ms == T0 + 600_000


def test_a_stop_cuts_the_window_short_and_the_next_start_never_reuses_its_second():
    log = log_with([(T0 + 1, 10), (T0 + 2, 10)])
    position = Position(0, 0, T0)
    cut = windows.at_stop(position, log)
    assert (cut.first_sequence, cut.end_sequence, cut.next_start_ms) == (0, 2, None)
    stopped = windows.after(cut, position, 20)
    assert windows.opening(stopped, log, T0 + 300) == Position(2, 20, T0 + 1000, T0)
    assert windows.opening(stopped, log, T0 + 5_300) == Position(2, 20, T0 + 5_000, T0)
    running = Position(2, 20, T0 + 7000, T0)
    assert windows.opening(running, log, T0 + 99_000) == running  # a window open at a crash goes on
