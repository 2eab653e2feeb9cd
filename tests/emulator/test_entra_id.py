"""Passwordless clients against the emulator's Entra ID mode: DefaultAzureCredential for real, its
token from a loopback stand-in of the App Service managed identity endpoint.

These run on the emulator's plain AMQP port: the SDK takes a namespace and a credential with the
(undocumented but passed through) `use_tls=False` that its own `UseDevelopmentEmulator` path sets, and
our client takes an `Endpoint` with `tls=False`. Over TLS on 5671, as a client configured exactly as for
Azure dials, they need the emulator's TLS listener (another change); see README.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient
from azure.eventhub.aio import EventHubProducerClient as AsyncProducerClient
from azure.eventhub.exceptions import AuthenticationError, ConnectionLostError
from azure.identity import DefaultAzureCredential

from emulator.process import EmulatorProcess
from hubclient.connection import Endpoint
from hubclient.management import Management
from hubclient.receiver import PartitionReceiver
from jobs.datasource.columns import EventColumns
from tests.emulator.managed_identity import ManagedIdentityEndpoint

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

CONFIG = '[keys]\nRootManageSharedAccessKey = "SAS_KEY_VALUE"\n[[hubs]]\nname = "tweets"\npartitions = 2\n'
# Variables that would make DefaultAzureCredential pick another credential before managed identity.
OTHER_IDENTITY_VARS = (
    "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT", "MSI_SECRET",
    "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "AZURE_TOKEN_CREDENTIALS",
)  # fmt: skip


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


def test_sdk_producer_and_consumer_passwordless(emulator: EmulatorProcess, identity: Any) -> None:
    credential = DefaultAzureCredential()
    with EventHubProducerClient(host(emulator), "tweets", credential, use_tls=False, retry_total=0) as client:
        assert client.get_partition_ids() == ["0", "1"]
        client.send_event(EventData("passwordless"), partition_id="1")

    received: list[str] = []
    consumer = EventHubConsumerClient(
        host(emulator), "tweets", "$Default", credential, use_tls=False, retry_total=0
    )

    def on_event(_context: Any, event: EventData | None) -> None:
        if event is not None:
            received.append(event.body_as_str())
            consumer.close()

    with consumer:
        consumer.receive(on_event, partition_id="1", starting_position="-1", max_wait_time=10)
    assert received == ["passwordless"]
    # The SDK asked for the Event Hubs resource, and azure-identity passed it on to the endpoint.
    assert identity.requests and identity.requests[0]["resource"] == ["https://eventhubs.azure.net/"]


class AsyncOverSync:
    """The aio clients want an async credential; azure-identity's aio one needs aiohttp, which the
    project does not install, so the sync DefaultAzureCredential serves it from a worker thread."""

    def __init__(self, credential: DefaultAzureCredential) -> None:
        self.credential = credential

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.credential.get_token, *scopes, **kwargs)

    async def close(self) -> None:
        self.credential.close()


def test_async_sdk_producer_passwordless(emulator: EmulatorProcess, identity: Any) -> None:
    async def send() -> list[str]:
        credential = cast("AsyncTokenCredential", AsyncOverSync(DefaultAzureCredential()))
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
