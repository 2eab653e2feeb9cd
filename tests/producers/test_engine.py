"""`--engine hubstream`: the producers' sources sent with hubstream's own client, read back with the SDK."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest

from emulator.process import EmulatorProcess
from emulator.roundtrip import read_all, read_events
from eventhubs.connection_string import parse_connection_string
from eventhubs.errors import NotFoundError
from hubclient.connection import Endpoint
from producers import Event, OversizeEvent, Sender
from producers.engine import HubstreamSender
from producers.sources.telemetry import telemetry
from producers.sources.test import TUTORIAL_MESSAGES, test_messages
from tests.producers.test_cli import run_cli
from tests.sdk_events import partition_sizes, producer


def engine(emulator: EmulatorProcess, hub: str = "tweets", **kwargs: object) -> HubstreamSender:
    endpoint = Endpoint.connect_to(parse_connection_string(emulator.connection_string), None, hub)
    return HubstreamSender(endpoint, timeout_s=20, **kwargs)  # type: ignore[arg-type]


def test_test_source_sends_count_events_in_order(emulator: EmulatorProcess) -> None:
    stats = engine(emulator, partition_id="0").send(test_messages(), count=10_000)
    assert (stats.events, stats.oversize_skipped, stats.interrupted) == (10_000, 0, False)
    assert stats.batches >= 1 and re.search(r"sent 10,000 events .* events/s", stats.summary())
    events = read_events(emulator.connection_string, count=10_000, partition_id="0", starting_position="-1")
    assert [e.body_as_str() for e in events] == [TUTORIAL_MESSAGES[i % 3] for i in range(10_000)]


def test_keyed_telemetry_lands_where_the_sdk_engine_puts_it(emulator: EmulatorProcess) -> None:
    with producer(emulator.connection_string, "telemetry") as c:
        Sender(c).send(telemetry(devices=6, seed=1), count=120)
    sdk = {r.partition_key: r.partition_id for r in read_all(emulator.connection_string, "telemetry")}
    assert engine(emulator, "telemetry").send(telemetry(devices=6, seed=1), count=600).events == 600
    rows = read_all(emulator.connection_string, "telemetry")
    assert len(rows) == 720
    assert all(sdk[r.partition_key] == r.partition_id for r in rows)


def test_a_slow_source_still_flows_after_linger(emulator: EmulatorProcess) -> None:
    release = threading.Event()

    def slow() -> Iterator[Event]:
        yield Event("first", partition_key="k")
        release.wait(20)
        yield Event("second", partition_key="k")

    result: list = []
    worker = threading.Thread(target=lambda: result.append(engine(emulator, linger_s=0.05).send(slow())))
    worker.start()
    deadline = time.monotonic() + 20
    while sum(partition_sizes(emulator.connection_string).values()) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    stored_while_waiting = sum(partition_sizes(emulator.connection_string).values())
    release.set()
    worker.join(20)
    assert stored_while_waiting == 1, "the first event must be sent while the source waits"
    assert result[0].events == 2


def test_ctrl_c_sends_what_was_read_and_reports_it(emulator: EmulatorProcess) -> None:
    def interrupted() -> Iterator[Event]:
        for i in range(250):
            yield Event(f"e{i}", partition_key="one-key")
        raise KeyboardInterrupt

    stats = engine(emulator).send(interrupted())
    assert stats.interrupted and stats.events == 250
    assert sum(partition_sizes(emulator.connection_string).values()) == 250


def test_oversize_events_are_skipped_or_fail(emulator: EmulatorProcess) -> None:
    events = [Event("small 1"), Event(b"x" * 1_100_000), Event("small 2")]
    stats = engine(emulator, partition_id="0").send(events)
    assert (stats.events, stats.oversize_skipped) == (2, 1)
    got = read_events(emulator.connection_string, count=2, partition_id="0", starting_position="-1")
    assert [e.body_as_str() for e in got] == ["small 1", "small 2"]
    with pytest.raises(OversizeEvent, match="1,100,000 bytes"):
        engine(emulator, on_oversize="fail").send([Event("ok"), Event(b"x" * 1_100_000)])


def test_an_unknown_hub_fails_with_the_services_error(emulator: EmulatorProcess) -> None:
    with pytest.raises(NotFoundError, match="no-such-hub"):
        engine(emulator, "no-such-hub").send(test_messages(), count=10)


def test_event_properties_travel_as_the_sdk_sends_them(emulator: EmulatorProcess) -> None:
    events = [Event(f"p{i}", properties={"n": i, "kind": "sample", "ok": True}) for i in range(3)]
    engine(emulator, partition_id="1").send(events)
    got = read_events(emulator.connection_string, count=3, partition_id="1", starting_position="-1")
    assert [e.properties for e in got] == [{b"n": i, b"kind": b"sample", b"ok": True} for i in range(3)]


def test_the_cli_engine_flag(emulator: EmulatorProcess) -> None:
    result = run_cli("--engine", "hubstream", "--source", "test", "--count", "5000", "--quiet",
                     emulator=emulator)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"sent 5,000 events .* events/s", result.stderr)
    assert sum(partition_sizes(emulator.connection_string).values()) == 5000
    help_text = run_cli("--help").stdout
    assert "--engine {sdk,hubstream}" in help_text and "hubstream  hubstream's own AMQP client" in help_text
