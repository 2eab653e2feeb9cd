"""Spark 4.0/4.1 call latestOffset() with no start and no limit: the reader caps itself (plain Python).

The calls below are the ones Spark 4.0/4.1 make, in their order (seen in their Python stream runner and
PythonMicroBatchStream): a fresh query asks latestOffset() before initialOffset(); a restarted one first
gets partitions(last, last) (setLatestSeenOffset) with the last offset in its offset log.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.process import EmulatorProcess
from jobs.datasource import EventHubsOptions, EventHubsStreamReader
from jobs.datasource.reader import spread
from tests.sdk_events import send_to_partitions

HUB = "tweets"
COUNTS = {"0": 10, "1": 30, "2": 0, "3": 60}


def send(cs: str, counts: dict[str, int]) -> None:
    send_to_partitions(cs, {pid: [f"{pid}-{i}" for i in range(n)] for pid, n in counts.items()})


def reader(cs: str, **options: str) -> EventHubsStreamReader:
    return EventHubsStreamReader(
        EventHubsOptions.parse({"eventhubs.connectionString": cs, "eventhubs.name": HUB, **options})
    )


@pytest.fixture
def cs(emulator: EmulatorProcess) -> Iterator[str]:
    send(emulator.connection_string, COUNTS)
    yield emulator.connection_string


def test_fresh_query_caps_from_its_initial_offset_then_from_each_planned_batch(cs: str) -> None:
    r = reader(cs, maxEventsPerTrigger="20")
    try:
        first = r.latestOffset()  # before initialOffset(), as Spark 4.0/4.1 ask
        assert first == spread(COUNTS, 20) == {"0": 2, "1": 6, "2": 0, "3": 12}
        assert r.latestOffset() == first  # asked again (no batch ran): the same answer
        start = r.initialOffset()
        assert start == {"0": 0, "1": 0, "2": 0, "3": 0}
        r.partitions(start, first)
        second = r.latestOffset()
        backlog = {pid: COUNTS[pid] - first[pid] for pid in COUNTS}
        assert second == {pid: first[pid] + n for pid, n in spread(backlog, 20).items()}
        r.commit(first)  # the previous batch's commit arrives after the next is planned: no step back
        r.partitions(first, second)
        r.commit(first)
        assert sum(r.latestOffset().values()) == 60
        ends = second
        while (nxt := r.latestOffset()) != ends:
            assert 0 < sum(nxt.values()) - sum(ends.values()) <= 20
            r.partitions(ends, nxt)
            ends = nxt
        assert ends == COUNTS  # everything, then nothing more
    finally:
        r.stop()


def test_restart_caps_from_the_offset_spark_hands_back(cs: str) -> None:
    r = reader(cs, maxEventsPerTrigger="10", **{"eventhubs.startingPosition": '{"offset": "@latest"}'})
    try:
        last = {"0": 10, "1": 5, "2": 0, "3": 50}  # the offset log's last entry
        assert r.partitions(last, last) == []  # Spark's setLatestSeenOffset: nothing to read
        # 0, 25 and 10 events left: 10 spread over them, nothing from "@latest" (the initial offset)
        assert r.latestOffset() == {"0": 10, "1": 12, "2": 0, "3": 53}
    finally:
        r.stop()


def test_default_limit_without_max_events_is_1000_per_partition(cs: str) -> None:
    send(cs, {"3": 4000})
    r = reader(cs)
    try:
        end = r.latestOffset()
        assert sum(end.values()) == 4000 and end["3"] < 4060
    finally:
        r.stop()
