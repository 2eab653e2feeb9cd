"""What both engines do alike (`--engine sdk`: `Sender`, `--engine hubstream`: `HubstreamSender`), each test
run with each engine against a real emulator and read back with the SDK consumer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from emulator.process import EmulatorProcess
from producers import Event, LoopOptions, OversizeEvent, Sender
from producers.sender import BatchLoop
from tests.producers.test_engine import engine
from tests.sdk_events import partition_sizes, producer, read_events

MakeSender = Callable[..., BatchLoop]


@pytest.fixture(params=["sdk", "hubstream"])
def make_sender(request: pytest.FixtureRequest, emulator: EmulatorProcess) -> Iterator[MakeSender]:
    """Makes a sender for the "tweets" hub with the test's engine; SDK clients close at the end."""
    with ExitStack() as clients:

        def make(**options: Any) -> BatchLoop:
            if request.param == "hubstream":
                return engine(emulator, **options)
            client = clients.enter_context(producer(emulator.connection_string))
            return Sender(client, LoopOptions(**options))

        yield make


def test_a_slow_source_still_flows_after_linger(emulator: EmulatorProcess, make_sender: MakeSender) -> None:
    release = threading.Event()

    def slow() -> Iterator[Event]:
        yield Event("first", partition_key="k")
        release.wait(20)
        yield Event("second", partition_key="k")

    sender = make_sender(linger_s=0.05)
    result: list = []
    worker = threading.Thread(target=lambda: result.append(sender.send(slow())))
    worker.start()
    deadline = time.monotonic() + 20
    while sum(partition_sizes(emulator.connection_string).values()) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    stored_while_waiting = sum(partition_sizes(emulator.connection_string).values())
    release.set()
    worker.join(20)
    assert stored_while_waiting == 1, "the first event must be sent while the source waits"
    assert result[0].events == 2


def test_ctrl_c_sends_what_was_read_and_reports_it(
    emulator: EmulatorProcess, make_sender: MakeSender
) -> None:
    def interrupted() -> Iterator[Event]:
        for i in range(250):
            yield Event(f"e{i}", partition_key="one-key")
        raise KeyboardInterrupt

    stats = make_sender().send(interrupted())
    assert stats.interrupted
    assert stats.events == 250
    assert sum(partition_sizes(emulator.connection_string).values()) == 250


def test_oversize_events_are_skipped_and_counted(emulator: EmulatorProcess, make_sender: MakeSender) -> None:
    events = [Event("small 1"), Event(b"x" * 1_100_000), Event("small 2")]
    stats = make_sender(partition_id="0").send(events)
    assert (stats.events, stats.oversize_skipped) == (2, 1)
    assert "skipped 1 events larger" in stats.summary()
    got = read_events(emulator.connection_string, count=2, partition_id="0", starting_position="-1")
    assert [e.body_as_str() for e in got] == ["small 1", "small 2"]


def test_oversize_events_fail_when_asked(make_sender: MakeSender) -> None:
    with pytest.raises(OversizeEvent, match="1,100,000 bytes"):
        make_sender(on_oversize="fail").send([Event("ok"), Event(b"x" * 1_100_000)])


def test_event_properties_travel_as_the_sdk_sends_them(
    emulator: EmulatorProcess, make_sender: MakeSender
) -> None:
    events = [Event(f"p{i}", properties={"n": i, "kind": "sample", "ok": True}) for i in range(3)]
    make_sender(partition_id="1").send(events)
    got = read_events(emulator.connection_string, count=3, partition_id="1", starting_position="-1")
    assert [e.properties for e in got] == [{b"n": i, b"kind": b"sample", b"ok": True} for i in range(3)]
