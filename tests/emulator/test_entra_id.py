"""Passwordless clients against the emulator's Entra ID mode: DefaultAzureCredential for real, its
token from a loopback stand-in of the App Service managed identity endpoint.

Over TLS, as a user configures it: the SDK with `fully_qualified_namespace="localhost"`, the port in
`custom_endpoint_address` with `transport_type=TransportType.Amqp` and the local CA as
`connection_verify`; our client with `eventhubs.fullyQualifiedNamespace="localhost:<port>"` and the CA.
The role and mode checks run on the plain port, with the SDK's (undocumented, passed through)
`use_tls=False` that its own `UseDevelopmentEmulator` path sets, which they test too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient, TransportType
from azure.eventhub.aio import EventHubProducerClient as AsyncProducerClient
from azure.eventhub.exceptions import AuthenticationError, ConnectionLostError, EventHubError
from azure.identity import DefaultAzureCredential
from azure.identity.aio import DefaultAzureCredential as AioCredential

from emulator.identity import OTHER_IDENTITY_VARS, ManagedIdentityEndpoint
from emulator.process import EmulatorProcess
from hubclient.connection import Endpoint
from hubclient.management import Management
from hubclient.receiver import PartitionReceiver
from jobs.datasource.columns import EventColumns
from jobs.datasource.options import EventHubsOptions
from jobs.datasource.reader import EventHubsStreamReader

CONFIG = '[keys]\nRootManageSharedAccessKey = "SAS_KEY_VALUE"\n[[hubs]]\nname = "tweets"\npartitions = 2\n'


@pytest.fixture
def identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[ManagedIdentityEndpoint]:
    with ManagedIdentityEndpoint() as endpoint:
        for name in OTHER_IDENTITY_VARS:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.url)
        monkeypatch.setenv("IDENTITY_HEADER", endpoint.secret)
        yield endpoint


def start(tmp_path: Path, *extra: str) -> EmulatorProcess:
    config = tmp_path / "ns.toml"
    config.write_text(CONFIG)
    return EmulatorProcess(config=config, extra_args=list(extra), log_file=tmp_path / "emulator.log").start()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    process = start(tmp_path, "--entra-id")
    try:
        yield process
    finally:
        process.stop()


def host(emulator: EmulatorProcess) -> str:
    return f"localhost:{emulator.port}"


def over_tls(emulator: EmulatorProcess) -> dict[str, Any]:
    """The SDK dials 5671 once TLS is on, whatever port the namespace names: another port goes in
    custom_endpoint_address, which alone would switch the SDK to WebSockets, hence transport_type."""
    return {
        "fully_qualified_namespace": "localhost",
        "transport_type": TransportType.Amqp,
        "custom_endpoint_address": f"sb://localhost:{emulator.tls_port}",
        "connection_verify": str(emulator.ca_file),
    }


def first_event_of_partition_1(consumer: EventHubConsumerClient) -> list[str]:
    """The body of the first event in partition 1, read from the start; the consumer closes after it."""
    received: list[str] = []

    def on_event(_context: Any, event: EventData | None) -> None:
        if event is not None:
            received.append(event.body_as_str())
            consumer.close()

    with consumer:
        consumer.receive(on_event, partition_id="1", starting_position="-1", max_wait_time=10)
    return received


def test_sdk_passwordless_over_tls(emulator: EmulatorProcess, identity: Any) -> None:
    credential = DefaultAzureCredential()
    with EventHubProducerClient(
        eventhub_name="tweets", credential=credential, **over_tls(emulator)
    ) as client:
        assert client.get_partition_ids() == ["0", "1"]
        client.send_event(EventData("passwordless over TLS"), partition_id="1")

    consumer = EventHubConsumerClient(
        consumer_group="$Default", eventhub_name="tweets", credential=credential, **over_tls(emulator)
    )
    assert first_event_of_partition_1(consumer) == ["passwordless over TLS"]


def test_async_sdk_producer_passwordless_over_tls(emulator: EmulatorProcess, identity: Any) -> None:
    async def send() -> dict[str, Any]:
        async with AioCredential() as credential:
            client = AsyncProducerClient(eventhub_name="tweets", credential=credential, **over_tls(emulator))
            async with client:
                await client.send_event(EventData("async over TLS"), partition_id="0")
                return await client.get_partition_properties("0")

    assert asyncio.run(send())["last_enqueued_sequence_number"] == 0


def test_custom_endpoint_address_alone_means_websockets(emulator: EmulatorProcess, identity: Any) -> None:
    """azure-eventhub 5.15 `_configuration.py`: with a custom_endpoint_address and no transport_type it
    takes AmqpOverWebsocket. So the WebSocket port answers it and the TLS port does not."""
    options = {**over_tls(emulator), "custom_endpoint_address": f"sb://localhost:{emulator.ws_port}"}
    del options["transport_type"]
    with EventHubProducerClient(eventhub_name="tweets", credential=DefaultAzureCredential(), **options) as c:
        assert c.get_partition_ids() == ["0", "1"]
    options["custom_endpoint_address"] = f"sb://localhost:{emulator.tls_port}"
    with EventHubProducerClient(
        eventhub_name="tweets", credential=DefaultAzureCredential(), retry_total=0, **options
    ) as client:
        with pytest.raises(EventHubError):
            client.get_partition_ids()


def test_sdk_producer_and_consumer_passwordless(emulator: EmulatorProcess, identity: Any) -> None:
    credential = DefaultAzureCredential()
    with EventHubProducerClient(host(emulator), "tweets", credential, use_tls=False, retry_total=0) as client:
        assert client.get_partition_ids() == ["0", "1"]
        client.send_event(EventData("passwordless"), partition_id="1")

    consumer = EventHubConsumerClient(
        host(emulator), "tweets", "$Default", credential, use_tls=False, retry_total=0
    )
    assert first_event_of_partition_1(consumer) == ["passwordless"]
    # The SDK asked for the Event Hubs resource, and azure-identity passed it on to the endpoint.
    assert identity.requests and identity.requests[0]["resource"] == ["https://eventhubs.azure.net/"]


def test_async_sdk_producer_passwordless(emulator: EmulatorProcess, identity: Any) -> None:
    async def send() -> list[str]:
        async with AioCredential() as credential:
            client = AsyncProducerClient(host(emulator), "tweets", credential, use_tls=False, retry_total=0)
            async with client:
                await client.send_event(EventData("async"), partition_id="0")
                return await client.get_partition_ids()

    assert asyncio.run(send()) == ["0", "1"]


def test_a_data_sender_cannot_read_and_a_data_receiver_cannot_send(
    emulator: EmulatorProcess, identity: ManagedIdentityEndpoint
) -> None:
    identity.roles = ["Azure Event Hubs Data Sender"]
    with EventHubProducerClient(
        host(emulator), "tweets", DefaultAzureCredential(), use_tls=False, retry_total=0
    ) as client:
        client.send_event(EventData("sent by a sender"))
    errors: list[Exception] = []
    consumer = EventHubConsumerClient(
        host(emulator), "tweets", "$Default", DefaultAzureCredential(), use_tls=False, retry_total=0
    )

    def on_error(_context: Any, error: Exception) -> None:
        errors.append(error)
        consumer.close()

    with consumer:
        consumer.receive(lambda *_: None, partition_id="0", on_error=on_error)
    assert "'Listen' claim(s) are required to perform this operation" in str(errors[0])

    identity.roles = ["Azure Event Hubs Data Receiver"]
    with EventHubProducerClient(
        host(emulator), "tweets", DefaultAzureCredential(), use_tls=False, retry_total=0
    ) as client:
        with pytest.raises(ConnectionLostError, match="'Send' claim"):
            client.send_event(EventData("refused"))


def test_our_client_reads_passwordless(emulator: EmulatorProcess, identity: Any) -> None:
    """hubstream's receiver and management reader with a credential (the source's fullyQualifiedNamespace)."""
    with EventHubProducerClient(
        host(emulator), "tweets", DefaultAzureCredential(), use_tls=False, retry_total=0
    ) as client:
        client.send_event(EventData("for our reader"), partition_id="0")
    endpoint = Endpoint("localhost", emulator.port, False, "tweets", credential=DefaultAzureCredential())
    management = Management(endpoint, timeout_s=10, where="tweets")
    try:
        assert management.partition_ids() == ["0", "1"]
    finally:
        management.close()
    columns = EventColumns("0")
    with PartitionReceiver(endpoint, "$Default", "0", 0, timeout_s=10) as receiver:
        receiver.read_into(columns, idle_timeout_s=5)
    assert [row["body"] for row in columns.take_batch().to_pylist()] == [b"for our reader"]


def test_our_client_and_the_source_read_passwordless_over_tls(
    emulator: EmulatorProcess, identity: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Endpoint with a credential and the CA; the source's fullyQualifiedNamespace takes host:port, and
    trusts the CA as the source does (Python's default context: SSL_CERT_FILE, spark.executorEnv)."""
    with EventHubProducerClient(
        eventhub_name="tweets", credential=DefaultAzureCredential(), **over_tls(emulator)
    ) as client:
        batch = client.create_batch(partition_id="1")
        for i in range(3):
            batch.add(EventData(f"tls {i}"))
        client.send_batch(batch)
    namespace = f"localhost:{emulator.tls_port}"
    endpoint = Endpoint.connect_to(None, namespace, "tweets", ca_file=str(emulator.ca_file))
    assert endpoint.tls and endpoint.credential is not None
    management = Management(endpoint, timeout_s=10, where="tweets")
    try:
        assert management.partition_properties("1")["last_enqueued_sequence_number"] == 2
    finally:
        management.close()
    columns = EventColumns("1")
    with PartitionReceiver(endpoint, "$Default", "1", 0, timeout_s=10) as receiver:
        while len(columns) < 3:
            receiver.read_into(columns, idle_timeout_s=5)
    assert [row["body"] for row in columns.take_batch().to_pylist()] == [b"tls 0", b"tls 1", b"tls 2"]

    monkeypatch.setenv("SSL_CERT_FILE", str(emulator.ca_file))
    options = EventHubsOptions.parse(
        {"eventhubs.fullyQualifiedNamespace": namespace, "eventhubs.name": "tweets",
         "eventhubs.receiverTimeout": "5s"}
    )  # fmt: skip
    reader = EventHubsStreamReader(options)
    try:
        start = reader.initialOffset()
        end = reader.latestOffset(start, reader.getDefaultReadLimit())
        assert end == {"0": 0, "1": 3}
        rows = [
            row for piece in reader.partitions(start, end)
            for batch in reader.read(piece) for row in batch.to_pylist()
        ]  # fmt: skip
    finally:
        reader.stop()
    assert [r["body"] for r in rows] == [b"tls 0", b"tls 1", b"tls 2"]


def test_jwts_are_refused_unless_the_mode_is_on(tmp_path: Path, identity: Any) -> None:
    process = start(tmp_path)
    try:
        with EventHubProducerClient(
            f"localhost:{process.port}", "tweets", DefaultAzureCredential(), use_tls=False, retry_total=0
        ) as client:
            with pytest.raises(AuthenticationError, match="--entra-id"):
                client.get_partition_ids()
    finally:
        process.stop()
