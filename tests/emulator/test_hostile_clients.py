"""Careless and hostile clients against a real emulator process: each costs a bounded amount, and a
well-behaved SDK client sending and reading beside them carries on (issue 11).

Memory is the emulator process's resident set (psutil), sampled while the attack runs.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psutil  # type: ignore[import-untyped, unused-ignore]
import pytest
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient

from emulator.process import EmulatorProcess
from eventhubs.connection_string import parse_connection_string
from hubclient.connection import Endpoint
from hubclient.receiver import PartitionReceiver

HUB = "tweets"
MB = 1 << 20

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    log = tmp_path_factory.mktemp("hostile") / "emulator.log"
    process = EmulatorProcess(log_file=log)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def rss(emu: EmulatorProcess) -> int:
    return int(psutil.Process(emu.pid).memory_info().rss)


class PeakRss:
    """Samples the emulator's RSS every 50 ms in a thread until stopped; `peak` is the highest seen."""

    def __init__(self, emu: EmulatorProcess) -> None:
        self.emu = emu
        self.peak = rss(emu)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss(self.emu))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def fill_partition(emu: EmulatorProcess, partition_id: str, total_bytes: int, event_bytes: int) -> int:
    """Send `total_bytes` of events of `event_bytes` each to one partition; return how many were sent."""
    body = b"x" * event_bytes
    sent = 0
    client = EventHubProducerClient.from_connection_string(emu.connection_string, eventhub_name=HUB)
    with client:
        while sent * event_bytes < total_bytes:
            batch = client.create_batch(partition_id=partition_id)
            try:
                while sent * event_bytes < total_bytes:
                    batch.add(EventData(body))
                    sent += 1
            except ValueError:  # the batch is full: this event goes in the next one
                pass
            client.send_batch(batch)
    return sent


def sdk_round_trip(emu: EmulatorProcess, partition_id: str, count: int, timeout_s: float) -> float:
    """Send `count` events to a partition with the SDK and read them back; the seconds it took."""
    marker = uuid.uuid4().hex
    started = time.monotonic()
    producer = EventHubProducerClient.from_connection_string(emu.connection_string, eventhub_name=HUB)
    with producer:
        start = producer.get_partition_properties(partition_id)["last_enqueued_sequence_number"]
        batch = producer.create_batch(partition_id=partition_id)
        for i in range(count):
            batch.add(EventData(f"{marker}-{i}"))
        producer.send_batch(batch)
    seen: list[str] = []
    consumer = EventHubConsumerClient.from_connection_string(
        emu.connection_string, "$Default", eventhub_name=HUB
    )

    def on_event(_context: object, event: object) -> None:
        if event is not None:
            body = event.body_as_str()  # type: ignore[attr-defined]
            if body.startswith(marker):
                seen.append(body)
        if len(seen) >= count:
            threading.Thread(target=consumer.close, daemon=True).start()

    deadline = threading.Timer(timeout_s, consumer.close)
    deadline.start()
    try:
        consumer.receive(
            on_event, partition_id=partition_id, starting_position=start, starting_position_inclusive=False,
            max_wait_time=0.5,
        )  # fmt: skip
    finally:
        deadline.cancel()
    assert sorted(seen) == sorted(f"{marker}-{i}" for i in range(count)), f"read back {len(seen)} of {count}"
    return time.monotonic() - started


# ---------------------------------------------------------------------------------------------------------
# Case 1: receivers that grant huge credit and never read their socket


def test_never_reading_receivers_cost_a_bounded_buffer(emu: EmulatorProcess) -> None:
    fill_partition(emu, "0", 40 * MB, 200_000)
    baseline_s = sdk_round_trip(emu, "1", 20, timeout_s=30)
    time.sleep(0.5)
    before = rss(emu)
    endpoint = Endpoint.connect_to(parse_connection_string(emu.connection_string), None, HUB)
    stalled = [
        PartitionReceiver(endpoint, "$Default", "0", 0, prefetch=100_000, timeout_s=10) for _ in range(4)
    ]
    try:
        with PeakRss(emu) as peak:
            for receiver in stalled:
                receiver.open()  # attached with 100,000 credit; from here on nobody reads its socket
                receiver.hub.flush()  # the flow granting that credit
            time.sleep(2.0)
            beside_s = sdk_round_trip(emu, "1", 20, timeout_s=30)
            time.sleep(1.0)
        grown = peak.peak - before
        print(f"emulator RSS {before / MB:.1f} MB -> peak {peak.peak / MB:.1f} MB with 4 stalled receivers")
        # Without backpressure each would buffer the whole 40 MB partition (+160 MB); with it each costs
        # about the 1 MiB high-water mark, a 256 KiB pump budget and an event.
        assert grown < 24 * MB, f"the emulator grew by {grown / MB:.1f} MB under 4 stalled receivers"
        assert beside_s < baseline_s + 5.0, (
            f"the SDK's round trip took {beside_s:.1f} s (alone {baseline_s:.1f})"
        )
    finally:
        for receiver in stalled:
            receiver.close()
    # Once they are gone, the partition still reads from the start for a well-behaved reader.
    sdk_round_trip(emu, "1", 5, timeout_s=30)
