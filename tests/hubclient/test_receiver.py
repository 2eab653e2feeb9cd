"""hubstream's own partition receiver (what executors read with) against a real emulator process."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from emulator.process import EmulatorProcess
from eventhubs.connection_string import parse_connection_string
from eventhubs.errors import EventHubsError
from eventhubs.sas import make_sas_token
from eventhubs.selector import selector
from hubclient.connection import AMQPS_PORT, Endpoint
from hubclient.receiver import PartitionReceiver
from jobs.datasource.columns import EventColumns
from tests.sdk_events import send

HUB = "tweets"
KEY = "SAS_KEY_VALUE"


def read(
    cs: str,
    position: int | str | datetime,
    *,
    inclusive: bool = True,
    partition: str = "0",
    group: str = "$Default",
    hub: str = HUB,
    want: int = 1,
) -> list[dict[str, object]]:
    """The first `want` events from `position`, as rows of the connector's columns."""
    columns = EventColumns(partition)
    endpoint = Endpoint.connect_to(parse_connection_string(cs), None, hub)
    with PartitionReceiver(endpoint, group, partition, position, inclusive=inclusive, timeout_s=10) as r:
        while len(columns) < want:
            r.read_into(columns, idle_timeout_s=5)
    return columns.take_batch().to_pylist()[:want]


def test_sequence_number_positions(emulator: EmulatorProcess) -> None:
    cs = emulator.connection_string
    send(cs, [f"e{i}" for i in range(10)], partition_id="0")
    assert [r["body"] for r in read(cs, 4, want=6)] == [f"e{i}".encode() for i in range(4, 10)]
    assert read(cs, 4, inclusive=False)[0]["sequenceNumber"] == 5
    assert read(cs, 0, partition="0")[0]["partition"] == "0"


def test_offset_and_time_positions(emulator: EmulatorProcess) -> None:
    cs = emulator.connection_string
    send(cs, ["a", "b"], partition_id="1")
    time.sleep(0.05)
    middle = datetime.now(UTC)
    time.sleep(0.05)
    send(cs, ["c"], partition_id="1")
    first, second = read(cs, 0, partition="1", want=2)
    offset = str(second["offset"])
    assert read(cs, offset, partition="1")[0]["body"] == b"b"
    assert read(cs, offset, inclusive=False, partition="1")[0]["body"] == b"c"
    assert read(cs, middle, partition="1")[0]["body"] == b"c"
    assert read(cs, "-1", inclusive=False, partition="1")[0]["body"] == first["body"] == b"a"


def test_nothing_to_read_times_out(emulator: EmulatorProcess) -> None:
    endpoint = Endpoint.connect_to(parse_connection_string(emulator.connection_string), None, HUB)
    with PartitionReceiver(endpoint, "$Default", "2", 0, timeout_s=10) as r:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"0\.5 s"):
            r.read_into(EventColumns("2"), idle_timeout_s=0.5)
        assert time.monotonic() - started < 3


def test_a_presigned_shared_access_signature_works(emulator: EmulatorProcess) -> None:
    send(emulator.connection_string, ["signed"], partition_id="0")
    endpoint = emulator.connection_string.split(";")[0]
    host = endpoint.split("//")[1].split(":")[0]
    token = make_sas_token(f"sb://{host}/{HUB}", "RootManageSharedAccessKey", KEY, int(time.time()) + 600)
    cs = f"{endpoint};SharedAccessSignature={token};UseDevelopmentEmulator=true"
    assert read(cs, 0)[0]["body"] == b"signed"


def test_a_wrong_key_is_refused_without_showing_it(emulator: EmulatorProcess) -> None:
    cs = emulator.connection_string.replace(KEY, "not-the-key-XYZ")
    with pytest.raises(EventHubsError, match=r"refused the token.*401") as caught:
        read(cs, 0)
    assert "not-the-key-XYZ" not in str(caught.value)
    assert caught.value.condition == "amqp:unauthorized-access"


def test_an_unknown_hub_and_consumer_group_are_named(emulator: EmulatorProcess) -> None:
    cs = emulator.connection_string
    with pytest.raises(EventHubsError, match=r"amqp:not-found: .*'emulator:eventhub:nope'") as caught:
        read(cs, 0, hub="nope")
    assert caught.value.condition == "amqp:not-found"
    with pytest.raises(EventHubsError, match=r"amqp:not-found.*no-such-group"):
        read(cs, 0, group="no-such-group")


def test_tls_to_a_plain_port_is_a_readable_error(emulator: EmulatorProcess) -> None:
    endpoint = Endpoint("127.0.0.1", emulator.port, True, HUB)
    receiver = PartitionReceiver(endpoint, "$Default", "0", 0, timeout_s=5)
    with pytest.raises(EventHubsError, match=rf"TLS with 127\.0\.0\.1:{emulator.port} failed"):
        receiver.open()
    assert receiver.hub._sock is None  # nothing left open


def test_nobody_listening_is_a_readable_error() -> None:
    endpoint = Endpoint("127.0.0.1", 1, False, HUB)
    with pytest.raises(EventHubsError, match=r"cannot connect to 127\.0\.0\.1:1"):
        PartitionReceiver(endpoint, "$Default", "0", 0, timeout_s=2).open()


def test_endpoints_use_tls_except_for_the_emulator() -> None:
    azure = Endpoint.connect_to(
        parse_connection_string(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s"
        ),
        None,
        HUB,
    )
    assert (azure.host, azure.port, azure.tls) == ("ns.servicebus.windows.net", AMQPS_PORT, True)
    assert azure.audience == f"sb://ns.servicebus.windows.net/{HUB}"
    local = Endpoint.connect_to(
        parse_connection_string(
            "Endpoint=sb://localhost:5999;SharedAccessKeyName=k;SharedAccessKey=s;UseDevelopmentEmulator=true"
        ),
        None,
        HUB,
    )
    assert (local.host, local.port, local.tls) == ("localhost", 5999, False)
    token, kind, expiry = local.token()
    assert kind == "servicebus.windows.net:sastoken" and token.startswith("SharedAccessSignature sr=")
    assert expiry > time.time() + 3000


def test_selectors_are_the_sdks() -> None:
    from azure.eventhub._utils import event_position_selector

    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    for position in (17, "12345", when, when + timedelta(microseconds=1)):
        for inclusive in (True, False):
            assert selector(position, inclusive) == event_position_selector(position, inclusive).decode()


def test_a_sixth_receiver_on_a_partition_is_refused_with_the_services_reason(
    emulator: EmulatorProcess,
) -> None:
    endpoint = Endpoint.connect_to(parse_connection_string(emulator.connection_string), None, HUB)
    receivers = [PartitionReceiver(endpoint, "$Default", "0", 0, timeout_s=10) for _ in range(6)]
    try:
        for r in receivers[:5]:
            r.open()
        with pytest.raises(
            EventHubsError,
            match=r"amqp:resource-limit-exceeded: Exceeded the maximum number of allowed receivers per "
            "partition in a consumer group which is 5",
        ) as caught:
            receivers[5].open()
        assert caught.value.condition == "amqp:resource-limit-exceeded"
    finally:
        for r in receivers:
            r.close()
