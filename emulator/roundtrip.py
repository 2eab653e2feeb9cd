"""`python -m emulator.roundtrip`: prove an emulator end to end with the real azure-eventhub SDK.

Starts an emulator with its events on disk, sends keyed events, reads every one back and checks its
sequence number, offset, enqueued time and key, restarts the emulator and checks that the very same
events come back. `make run` runs this until the Spark job exists. `read_events` is also what the
tests use to read with the SDK.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient

from .process import EmulatorProcess


def read_events(
    connection_string: str,
    *,
    count: int,
    hub: str = "tweets",
    partition_id: str = "0",
    consumer_group: str = "$Default",
    timeout: float = 20.0,
    **receive_kwargs: Any,
) -> list[EventData]:
    """Read one partition with the SDK consumer until `count` events arrived or `timeout` passed."""
    client = EventHubConsumerClient.from_connection_string(
        connection_string, consumer_group=consumer_group, eventhub_name=hub
    )
    received: list[EventData] = []
    done = threading.Event()

    def on_event(_context: Any, event: EventData | None) -> None:
        if event is not None:
            received.append(event)
        if len(received) >= count:
            done.set()

    worker = threading.Thread(
        target=client.receive,
        kwargs={"on_event": on_event, "partition_id": partition_id, **receive_kwargs},
        daemon=True,
    )
    worker.start()
    if count == 0:
        time.sleep(2)  # long enough for anything wrongly delivered to show up
    else:
        done.wait(timeout)
    client.close()
    worker.join(10)
    return received


@dataclass(frozen=True)
class Received:
    partition_id: str
    sequence_number: int
    offset: str
    enqueued_time: datetime
    partition_key: str | None
    body: str


def send_keyed(connection_string: str, hub: str, count: int, keys: int = 8) -> dict[int, str]:
    """Send `count` events, event i keyed `device-{i % keys}`, batched per key; return each body's key."""
    key_of = {i: f"device-{i % keys}" for i in range(count)}
    with EventHubProducerClient.from_connection_string(connection_string, eventhub_name=hub) as producer:
        for key in sorted(set(key_of.values())):
            batch = producer.create_batch(partition_key=key)
            for i, k in key_of.items():
                if k == key:
                    try:
                        batch.add(EventData(str(i)))
                    except ValueError:  # batch full: send it, start another
                        producer.send_batch(batch)
                        batch = producer.create_batch(partition_key=key)
                        batch.add(EventData(str(i)))
            producer.send_batch(batch)
    return key_of


def read_all(connection_string: str, hub: str) -> list[Received]:
    """Every event of every partition of `hub`, as plain values."""
    rows = []
    with EventHubProducerClient.from_connection_string(connection_string, eventhub_name=hub) as client:
        sizes = {
            pid: client.get_partition_properties(pid)["last_enqueued_sequence_number"] + 1
            for pid in client.get_partition_ids()
        }
    # An empty partition is not read: read_events(count=0) would wait 2 s for anything wrongly delivered.
    for pid, size in sizes.items():
        if not size:
            continue
        for e in read_events(
            connection_string, count=size, hub=hub, partition_id=pid, starting_position="-1"
        ):
            key = e.partition_key.decode() if isinstance(e.partition_key, bytes) else e.partition_key
            assert e.sequence_number is not None and e.offset is not None and e.enqueued_time is not None
            rows.append(Received(pid, e.sequence_number, e.offset, e.enqueued_time, key, e.body_as_str()))
    return rows


def check(rows: list[Received], key_of: dict[int, str], started: datetime) -> list[str]:
    """What is wrong with what came back, if anything."""
    problems = []
    if sorted(int(r.body) for r in rows) != sorted(key_of):
        problems.append(f"expected bodies 0..{len(key_of) - 1} once each, got {len(rows)} events")
    partitions_of: dict[str, set[str]] = {}
    for partition_id in {r.partition_id for r in rows}:
        mine = [r for r in rows if r.partition_id == partition_id]
        if [r.sequence_number for r in mine] != list(range(len(mine))):
            problems.append(f"partition {partition_id}: sequence numbers are not 0..{len(mine) - 1}")
        offsets = [int(r.offset) for r in mine]
        if offsets != sorted(set(offsets)):
            problems.append(f"partition {partition_id}: offsets do not increase")
    for r in rows:
        if r.partition_key != key_of.get(int(r.body)):
            problems.append(f"event {r.body}: key {r.partition_key!r}, sent with {key_of.get(int(r.body))!r}")
        if not started <= r.enqueued_time <= datetime.now(started.tzinfo):
            problems.append(f"event {r.body}: enqueued time {r.enqueued_time} is outside the run")
        partitions_of.setdefault(r.partition_key or "", set()).add(r.partition_id)
    problems += [f"key {k} landed on partitions {sorted(p)}" for k, p in partitions_of.items() if len(p) > 1]
    return problems


def run(count: int, hub: str, say: Callable[[str], None] = print) -> int:
    with tempfile.TemporaryDirectory(prefix="hubstream-roundtrip-") as data_dir:
        emulator = EmulatorProcess(data_dir=Path(data_dir)).start()
        try:
            say(f"emulator up: {emulator.connection_string}")
            started = datetime.now().astimezone()
            begin = time.perf_counter()
            key_of = send_keyed(emulator.connection_string, hub, count)
            keys = len(set(key_of.values()))
            say(f"sent {count} events with {keys} partition keys in {time.perf_counter() - begin:.2f} s")
            before = read_all(emulator.connection_string, hub)
            problems = check(before, key_of, started)
            say(f"read back {len(before)} events: {'all correct' if not problems else 'PROBLEMS'}")
            for row in before[:3]:
                say(
                    f"  partition {row.partition_id} seq {row.sequence_number} offset {row.offset} "
                    f"enqueued {row.enqueued_time:%H:%M:%S.%f} key {row.partition_key} body {row.body}"
                )
            emulator.restart()
            say("emulator restarted")
            after = read_all(emulator.connection_string, hub)
            if after != before:
                problems.append("events read after the restart differ from those read before it")
            verdict = "identical" if after == before else "DIFFERENT"
            say(f"read back {len(after)} events after the restart: {verdict}")
        finally:
            emulator.stop()
    for problem in problems:
        say(f"problem: {problem}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.roundtrip", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="events to send (default: %(default)s)")
    parser.add_argument("--hub", default="tweets", help="event hub to use (default: %(default)s)")
    args = parser.parse_args(argv)
    return run(args.count, args.hub)


if __name__ == "__main__":
    sys.exit(main())
