"""hubstream's own client (the Spark source's receiver and management link) over TLS and over WebSockets
against a real emulator process, trusting its local CA as `Endpoint.ca_file`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.eventhub import EventData, EventHubProducerClient

from emulator.process import EmulatorProcess
from eventhubs.connection_string import parse_connection_string
from eventhubs.errors import ConnectionLostError
from hubclient.connection import Endpoint
from hubclient.management import Management
from hubclient.receiver import PartitionReceiver
from jobs.datasource.columns import EventColumns
from tests.conftest import TEST_CONFIG

HUB = "tweets"
BODIES = [f"event {i}".encode() for i in range(50)]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    folder = tmp_path_factory.mktemp("hubclient-tls")
    config = folder / "emulator.toml"
    config.write_text(TEST_CONFIG)
    with EmulatorProcess(config=config, log_file=folder / "emulator.log") as process:
        with EventHubProducerClient.from_connection_string(process.connection_string, eventhub_name=HUB) as p:
            batch = p.create_batch(partition_id="1")
            for body in BODIES:
                batch.add(EventData(body))
            p.send_batch(batch)
        yield process


def endpoint(emulator: EmulatorProcess, transport: str, *, trust: bool = True) -> Endpoint:
    """From an Azure-style connection string naming the port (our client dials the port it is given)."""
    port = emulator.tls_port if transport == "tls" else emulator.ws_port
    cs = parse_connection_string(
        f"Endpoint=sb://localhost:{port}/;SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey=SAS_KEY_VALUE"
    )
    ca_file = str(emulator.ca_file) if trust else None
    return Endpoint.connect_to(cs, None, HUB, websocket=transport == "websocket", ca_file=ca_file)


@pytest.mark.parametrize("transport", ["tls", "websocket"])
def test_the_receiver_reads_a_partition(emulator: EmulatorProcess, transport: str) -> None:
    e = endpoint(emulator, transport)
    assert e.tls and e.websocket == (transport == "websocket")
    columns = EventColumns("1")
    with PartitionReceiver(e, "$Default", "1", 0, prefetch=7, timeout_s=10) as receiver:
        while len(columns) < len(BODIES):
            receiver.read_into(columns, idle_timeout_s=5)
    rows = columns.take_batch().to_pylist()
    assert [r["body"] for r in rows] == BODIES
    assert [r["sequenceNumber"] for r in rows] == list(range(len(BODIES)))


@pytest.mark.parametrize("transport", ["tls", "websocket"])
def test_management_reads_the_hub_and_its_partitions(emulator: EmulatorProcess, transport: str) -> None:
    management = Management(endpoint(emulator, transport), 10.0, "the management link")
    try:
        assert management.partition_ids() == ["0", "1", "2", "3"]
        props = management.partition_properties("1")
        assert props["last_enqueued_sequence_number"] == len(BODIES) - 1
        assert management.partition_properties("2")["is_empty"] is True
    finally:
        management.close()


@pytest.mark.parametrize("transport", ["tls", "websocket"])
def test_without_the_ca_the_certificate_is_refused(emulator: EmulatorProcess, transport: str) -> None:
    receiver = PartitionReceiver(endpoint(emulator, transport, trust=False), "$Default", "1", 0, timeout_s=5)
    with pytest.raises(ConnectionLostError, match="CERTIFICATE_VERIFY_FAILED"):
        receiver.open()
    assert receiver.hub._sock is None  # nothing left open


def test_websockets_default_to_port_443() -> None:
    cs = parse_connection_string(
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s"
    )
    e = Endpoint.connect_to(cs, None, HUB, websocket=True)
    assert (e.port, e.tls, e.websocket) == (443, True, True)


@pytest.mark.parametrize(
    ("address", "websocket", "dialed"),
    [
        ("sb://localhost:15671", False, ("localhost", 15671, "/$servicebus/websocket")),
        ("localhost", False, ("localhost", 5671, "/$servicebus/websocket")),
        ("sb://gateway.example", True, ("gateway.example", 443, "/$servicebus/websocket")),
        ("https://gateway.example:8443/hub/", True, ("gateway.example", 8443, "/hub/$servicebus/websocket")),
    ],
)
def test_a_custom_endpoint_is_dialed_as_the_sdk_dials_it(
    address: str, websocket: bool, dialed: tuple[str, int, str]
) -> None:
    """azure-eventhub 5.15 `_pyamqp/_connection.py`: the custom port, else 5671 (443 for WebSockets);
    the certificate is checked for the custom host; the token's audience still names the namespace."""
    cs = parse_connection_string(
        "Endpoint=sb://ns.servicebus.windows.net:5999/;SharedAccessKeyName=k;SharedAccessKey=s"
    )
    e = Endpoint.connect_to(cs, None, HUB, websocket=websocket, custom_endpoint_address=address)
    assert (e.address, e.port, e.websocket_path) == dialed
    assert e.audience == f"sb://ns.servicebus.windows.net/{HUB}"
