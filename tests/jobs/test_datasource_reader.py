"""The Event Hubs stream reader as plain Python (no Spark) against a real emulator."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from emulator.process import EmulatorProcess
from eventhubs.connection_string import parse_connection_string
from jobs.datasource import EventHubsOptions, EventHubsReadError, EventHubsStreamReader
from jobs.datasource import reader as reader_module
from jobs.datasource.read_limits import ReadAllAvailable, ReadMaxRows, ReadMinRows
from jobs.datasource.reader import MAX_SPLITS, SPLIT_EVENTS, EventHubsPartition, split_range, spread
from tests import sdk_events

HUB = "tweets"


def send(cs: str, counts: dict[str, int], tag: str = "e") -> None:
    """Send counts[pid] events to each partition: bodies `{tag}-{pid}-{i}`, a property `i`."""
    events = {
        pid: [sdk_events.event_with(f"{tag}-{pid}-{i}", i=i) for i in range(n)] for pid, n in counts.items()
    }
    sdk_events.send_to_partitions(cs, events)


def reader(cs: str, **options: str) -> EventHubsStreamReader:
    return EventHubsStreamReader(
        EventHubsOptions.parse({"eventhubs.connectionString": cs, "eventhubs.name": HUB, **options})
    )


def rows(r: EventHubsStreamReader, start: dict[str, int], end: dict[str, int]) -> list[dict[str, Any]]:
    out = []
    for p in r.partitions(start, end):
        for batch in r.read(p):
            assert isinstance(batch, pa.RecordBatch)
            out += batch.to_pylist()
    return out


@pytest.fixture
def loaded(emulator: EmulatorProcess) -> Iterator[tuple[str, EventHubsStreamReader]]:
    """10, 30, 0 and 60 events in partitions 0-3, plus odd events (see test_rows_carry_everything)."""
    cs = emulator.connection_string
    send(cs, {"0": 10, "1": 30, "3": 60})
    r = reader(cs)
    yield cs, r
    r.stop()


def test_spread_is_proportional_and_exact() -> None:
    assert spread({"0": 10, "1": 30, "2": 0, "3": 60}, 20) == {"0": 2, "1": 6, "2": 0, "3": 12}
    assert spread({"0": 1, "1": 1, "2": 1}, 2) == {"0": 1, "1": 1, "2": 0}
    assert spread({"0": 5, "1": 3}, 100) == {"0": 5, "1": 3}
    for limit in range(1, 30):
        backlog = {"0": 7, "1": 1, "2": 13, "3": 0}
        take = spread(backlog, limit)
        assert sum(take.values()) == min(limit, 21)
        assert all(0 <= take[p] <= backlog[p] for p in backlog)


def test_plan_and_read_a_capped_batch(loaded: tuple[str, EventHubsStreamReader]) -> None:
    _, r = loaded
    start = r.initialOffset()
    assert start == {"0": 0, "1": 0, "2": 0, "3": 0}
    assert r.getDefaultReadLimit() == ReadMaxRows(4000)
    end = r.latestOffset(start, ReadMaxRows(20))
    assert end == {"0": 2, "1": 6, "2": 0, "3": 12}
    parts = r.partitions(start, end)
    assert [(p.partition_id, p.start, p.end) for p in parts] == [("0", 0, 2), ("1", 0, 6), ("3", 0, 12)]  # type: ignore[attr-defined]
    got = rows(r, start, end)
    assert len(got) == 20
    for pid, n in (("0", 2), ("1", 6), ("3", 12)):
        mine = [x for x in got if x["partition"] == pid]
        assert [x["sequenceNumber"] for x in mine] == list(range(n))
        assert [x["body"] for x in mine] == [f"e-{pid}-{i}".encode() for i in range(n)]
        assert all(isinstance(x["offset"], str) for x in mine)
    # the next batch continues where this one ended, and everything arrives once
    rest_end = r.latestOffset(end, ReadAllAvailable())
    assert rest_end == {"0": 10, "1": 30, "2": 0, "3": 60}
    assert len(rows(r, end, rest_end)) == 80
    assert r.latestOffset(rest_end, ReadMaxRows(20)) == rest_end


def test_rows_carry_everything(emulator: EmulatorProcess) -> None:
    cs = emulator.connection_string
    odd = sdk_events.event_with(b"\xff\x00\xfe not utf-8", n=42, raw=b"bytes", s="text", f=1.5)
    sdk_events.send(cs, [odd], partition_key="device-7")
    r = reader(cs)
    start = r.initialOffset()
    end = r.latestOffset(start, ReadAllAvailable())
    (row,) = rows(r, start, end)
    assert row["body"] == b"\xff\x00\xfe not utf-8"
    assert row["partitionKey"] == "device-7"
    assert row["offset"] == "0" and row["sequenceNumber"] == 0
    assert end[row["partition"]] == 1
    assert dict(row["properties"]) == {"n": "42", "raw": "bytes", "s": "text", "f": "1.5"}
    system = dict(row["systemProperties"])
    assert system["x-opt-sequence-number"] == "0" and system["x-opt-partition-key"] == "device-7"
    assert abs(row["enqueuedTime"] - datetime.now(UTC)) < timedelta(minutes=1)
    r.stop()


def test_starting_positions(loaded: tuple[str, EventHubsStreamReader]) -> None:
    cs, _ = loaded
    after_first = datetime.now(UTC)
    time.sleep(0.05)
    send(cs, {"0": 2}, tag="late")
    assert reader(cs, **{"eventhubs.startingPosition": '{"offset": "@latest"}'}).initialOffset() == {
        "0": 12,
        "1": 30,
        "2": 0,
        "3": 60,
    }
    inclusive = reader(cs, **{"eventhubs.startingPosition": '{"seqNo": 5, "isInclusive": true}'})
    assert inclusive.initialOffset() == {"0": 5, "1": 5, "2": 5, "3": 5}
    exclusive = reader(cs, **{"eventhubs.startingPosition": '{"seqNo": 5, "isInclusive": false}'})
    assert exclusive.initialOffset()["0"] == 6
    # an offset: that of partition 0's event 3, read with the SDK reader itself
    r = reader(cs)
    third = rows(r, {"0": 3}, {"0": 4})[0]
    per_partition = json.dumps(
        {
            json.dumps({"ehName": HUB, "partitionId": 0}): {"offset": third["offset"], "isInclusive": True},
            "1": {"offset": third["offset"], "isInclusive": False},
            "3": {"enqueuedTime": after_first.isoformat()},
        }
    )
    start = reader(cs, **{"eventhubs.startingPositions": per_partition}).initialOffset()
    assert start["0"] == 3
    assert start["1"] == 4  # partition 1's events have the same sizes, so the same offsets
    assert start["2"] == 0  # not listed: eventhubs.startingPosition, from the start
    assert start["3"] == 60  # nothing enqueued after that time in partition 3
    by_time = reader(
        cs, **{"eventhubs.startingPosition": json.dumps({"enqueuedTime": after_first.isoformat()})}
    )
    late = by_time.initialOffset()
    assert late["0"] == 10
    got = rows(by_time, late, by_time.latestOffset(late, ReadAllAvailable()))
    assert [x["body"] for x in got] == [b"late-0-0", b"late-0-1"]


def test_min_rows_waits_until_the_delay(loaded: tuple[str, EventHubsStreamReader]) -> None:
    cs, _ = loaded
    now = [0.0]
    r = EventHubsStreamReader(
        EventHubsOptions.parse(
            {"eventhubs.connectionString": cs, "eventhubs.name": HUB, "maxTriggerDelay": "10s"}
        ),
        clock=lambda: now[0],
    )
    start = r.initialOffset()
    assert r.latestOffset(start, ReadMinRows(1000)) == start  # 100 < 1000: wait
    now[0] = 9.0
    assert r.latestOffset(start, ReadMinRows(1000)) == start
    now[0] = 10.0
    assert sum(r.latestOffset(start, ReadMinRows(1000)).values()) == 100  # the delay has passed
    assert sum(r.latestOffset(start, ReadMinRows(50)).values()) == 100  # enough events


def test_available_now_stops_at_the_target(loaded: tuple[str, EventHubsStreamReader]) -> None:
    cs, r = loaded
    start = r.initialOffset()
    r.prepareForTriggerAvailableNow()
    send(cs, {"0": 5, "2": 5}, tag="after")
    assert r.latestOffset(start, ReadAllAvailable()) == {"0": 10, "1": 30, "2": 0, "3": 60}


def test_read_errors_name_the_partition_and_range(emulator: EmulatorProcess) -> None:
    cs = emulator.connection_string
    send(cs, {"0": 3})
    common = {
        "connection_string": parse_connection_string(cs),
        "fully_qualified_namespace": None,
        "hub": HUB,
        "consumer_group": "$Default",
        "partition_id": "0",
        "operation_timeout_s": 10.0,
        "fail_on_data_loss": True,
    }
    r = reader(cs)
    # events that do not exist yet: a readable timeout, not a hang
    with pytest.raises(EventHubsReadError, match=r"partition 0, sequence numbers \[2, 5\).*receiverTimeout"):
        list(r.read(EventHubsPartition(start=2, end=5, receiver_timeout_s=2.0, **common)))  # type: ignore[arg-type]
    with pytest.raises(EventHubsReadError) as raised:
        reader(cs.replace("tweets", "x"), **{"eventhubs.name": "nohub"}).initialOffset()
    assert "nohub" in str(raised.value) and "SAS_KEY_VALUE" not in str(raised.value)


@pytest.mark.parametrize(
    ("start", "end", "pieces"),
    [(0, 0, []), (5, 5, []), (7, 3, []), (0, 1, [(0, 1)]), (10, 250_010, [(10, 250_010)]),
     (0, 250_001, [(0, 125_000), (125_000, 250_001)]), (100, 10_000_100, None)],
)  # fmt: skip
def test_large_ranges_split_into_at_most_four_consecutive_pieces(
    start: int, end: int, pieces: list[tuple[int, int]] | None
) -> None:
    got = split_range(start, end)
    if pieces is not None:
        assert got == pieces
    else:
        assert len(got) == MAX_SPLITS
    assert all(a < b for a, b in got) and all(b == c for (_, b), (c, _) in itertools.pairwise(got))
    assert (got[0][0], got[-1][1]) == (start, end) if got else end <= start
    assert all(b - a <= max(SPLIT_EVENTS, -(-(end - start) // MAX_SPLITS)) for a, b in got)


def test_split_pieces_read_exactly_their_range(
    loaded: tuple[str, EventHubsStreamReader], monkeypatch: pytest.MonkeyPatch
) -> None:
    _cs, r = loaded
    monkeypatch.setattr(reader_module, "SPLIT_EVENTS", 7)
    start = r.initialOffset()
    end = r.latestOffset(start, ReadAllAvailable())
    parts = r.partitions(start, end)
    pieces = [p for p in parts if isinstance(p, EventHubsPartition) and p.partition_id == "3"]
    assert len(pieces) == MAX_SPLITS  # 60 events in pieces of 15
    got = rows(r, start, end)
    assert sorted((x["partition"], x["sequenceNumber"]) for x in got) == sorted(
        (pid, seq) for pid in start for seq in range(start[pid], end[pid])
    )
