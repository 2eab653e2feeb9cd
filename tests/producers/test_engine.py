"""`--engine hubstream`: the producers' sources sent with hubstream's own client, read back with the SDK."""

from __future__ import annotations

import re
from typing import Any

import pytest

from emulator.process import EmulatorProcess
from emulator.roundtrip import read_all, read_events
from eventhubs.connection_string import parse_connection_string
from eventhubs.errors import NotFoundError
from hubclient.connection import Endpoint
from producers import LoopOptions, Sender
from producers.engine import HubstreamSender
from producers.sources.telemetry import telemetry
from producers.sources.test import TUTORIAL_MESSAGES, test_messages
from tests.producers.test_cli import run_cli
from tests.sdk_events import partition_sizes, producer


def engine(emulator: EmulatorProcess, hub: str = "tweets", **options: Any) -> HubstreamSender:
    """A hubstream-engine sender for `hub`; `options` are `LoopOptions`' fields."""
    endpoint = Endpoint.connect_to(parse_connection_string(emulator.connection_string), None, hub)
    return HubstreamSender(endpoint, LoopOptions(**options), timeout_s=20)


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


def test_an_unknown_hub_fails_with_the_services_error(emulator: EmulatorProcess) -> None:
    with pytest.raises(NotFoundError, match="no-such-hub"):
        engine(emulator, "no-such-hub").send(test_messages(), count=10)


def test_the_cli_engine_flag(emulator: EmulatorProcess) -> None:
    result = run_cli("--engine", "hubstream", "--source", "test", "--count", "5000", "--quiet",
                     emulator=emulator)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"sent 5,000 events .* events/s", result.stderr)
    assert sum(partition_sizes(emulator.connection_string).values()) == 5000
    help_text = run_cli("--help").stdout
    assert "--engine {sdk,hubstream}" in help_text and "hubstream  hubstream's own AMQP client" in help_text
