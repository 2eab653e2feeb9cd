"""Shared access policies with rights, and tokens that expire, through the real azure-eventhub SDK."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken, AzureNamedKeyCredential, AzureSasCredential
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient
from azure.eventhub._pyamqp.utils import generate_sas_token
from azure.eventhub.aio import EventHubProducerClient as AsyncProducerClient
from azure.eventhub.exceptions import AuthenticationError, ConnectionLostError

from emulator.process import EmulatorProcess
from emulator.roundtrip import read_events
from eventhubs.connection_string import parse_connection_string
from eventhubs.errors import UnauthorizedError
from eventhubs.sas import make_sas_token
from hubclient.connection import Endpoint
from hubclient.receiver import PartitionReceiver
from jobs.datasource.columns import EventColumns
from tests.conftest import POLICIES_CONFIG, running_emulator

ROOT = ("RootManageSharedAccessKey", "SAS_KEY_VALUE")


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with running_emulator(tmp_path, POLICIES_CONFIG) as process:
        yield process


def conn_str(emulator: EmulatorProcess, name: str, key: str) -> str:
    return (
        f"Endpoint=sb://localhost:{emulator.port};SharedAccessKeyName={name};SharedAccessKey={key};"
        "UseDevelopmentEmulator=true"
    )


def producer(emulator: EmulatorProcess, name: str, key: str, hub: str = "tweets") -> EventHubProducerClient:
    return EventHubProducerClient.from_connection_string(
        conn_str(emulator, name, key), eventhub_name=hub, retry_total=0
    )


def test_a_listen_only_key_cannot_send(emulator: EmulatorProcess) -> None:
    # The SDK raises the detach's condition and text (to a partition sender it reports only
    # "UnknownError": its partition send path drops the detach's error; seen with 5.15.1).
    with producer(emulator, "listen-only", "listen-key") as client:
        with pytest.raises(ConnectionLostError) as info:
            client.send_event(EventData("x"))
    text = str(info.value)
    assert "Error condition: amqp:unauthorized-access" in text
    assert "Unauthorized access. 'Send' claim(s) are required to perform this operation." in text


def test_a_listen_only_key_reads_and_a_send_only_key_sends(emulator: EmulatorProcess) -> None:
    with producer(emulator, "send-only", "send-key") as client:
        client.send_event(EventData("hello"), partition_id="1")
    events = read_events(
        conn_str(emulator, "listen-only", "listen-key"), count=1, partition_id="1", starting_position="-1"
    )
    assert [e.body_as_str() for e in events] == ["hello"]


def test_a_send_only_key_cannot_read(emulator: EmulatorProcess) -> None:
    errors: list[Exception] = []

    def on_error(_context: Any, error: Exception) -> None:
        errors.append(error)
        client.close()

    client = EventHubConsumerClient.from_connection_string(
        conn_str(emulator, "send-only", "send-key"), "$Default", eventhub_name="tweets", retry_total=0
    )
    with client:
        client.receive(lambda *_: None, partition_id="0", starting_position="-1", on_error=on_error)
    assert errors, "the consumer should have been refused"
    assert "'Listen' claim(s) are required to perform this operation" in str(errors[0])


def test_a_hub_policy_sends_to_its_hub_only(emulator: EmulatorProcess) -> None:
    with producer(emulator, "tweets-send", "tweets-key") as client:
        client.send_event(EventData("mine"), partition_id="0")
    with producer(emulator, "tweets-send", "tweets-key", hub="telemetry") as client:
        with pytest.raises(AuthenticationError):
            client.send_event(EventData("not mine"), partition_id="0")


def test_named_key_and_sas_credentials_with_a_host_name(emulator: EmulatorProcess) -> None:
    """Clients built as for Azure (namespace + credential), on the emulator's plain port."""
    port = emulator.port
    sas = generate_sas_token(f"sb://localhost:{port}/tweets", *ROOT, int(time.time()) + 600)
    for credential in (AzureNamedKeyCredential(*ROOT), AzureSasCredential(sas)):
        with EventHubProducerClient(
            f"localhost:{port}", "tweets", credential, use_tls=False, retry_total=0
        ) as client:
            client.send_event(EventData(type(credential).__name__), partition_id="0")
            assert client.get_partition_ids() == ["0", "1"]


def test_a_sas_token_connection_string_and_the_aio_clients_with_credentials(
    emulator: EmulatorProcess,
) -> None:
    port = emulator.port
    sas = generate_sas_token(f"sb://localhost:{port}/tweets", *ROOT, int(time.time()) + 600)
    cs = f"Endpoint=sb://localhost:{port};SharedAccessSignature={sas};UseDevelopmentEmulator=true"
    with EventHubProducerClient.from_connection_string(cs, eventhub_name="tweets", retry_total=0) as client:
        client.send_event(EventData("sas connection string"), partition_id="1")

    async def send_async() -> list[str]:
        ids = []
        for credential in (AzureNamedKeyCredential(*ROOT), AzureSasCredential(sas)):
            client = AsyncProducerClient(
                f"localhost:{port}", "tweets", credential, use_tls=False, retry_total=0
            )
            async with client:
                await client.send_event(EventData(type(credential).__name__), partition_id="1")
                ids.append(",".join(await client.get_partition_ids()))
        return ids

    assert asyncio.run(send_async()) == ["0,1", "0,1"]
    events = read_events(emulator.connection_string, count=3, partition_id="1", starting_position="-1")
    assert [e.body_as_str() for e in events] == [
        "sas connection string", "AzureNamedKeyCredential", "AzureSasCredential",
    ]  # fmt: skip


class ShortLivedSas:
    """A credential whose SAS tokens live `lifetime` seconds; it counts the tokens it made."""

    token_type = b"servicebus.windows.net:sastoken"

    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime
        self.issued = 0

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.issued += 1
        expiry = int(time.time()) + self.lifetime
        return AccessToken(generate_sas_token(scopes[0], *ROOT, expiry), expiry)


def test_the_sdk_renews_short_lived_tokens_and_keeps_receiving(emulator: EmulatorProcess) -> None:
    """Tokens of 12 s: the SDK puts a new one 10% before expiry (1 s here); the emulator, which closes
    links whose token expires, must see every renewal in time, so the consumer reads across three."""
    credential = ShortLivedSas(lifetime=12)
    port = emulator.port
    received: list[str] = []
    errors: list[Exception] = []
    consumer = EventHubConsumerClient(
        f"localhost:{port}", "tweets", "$Default", credential, use_tls=False, retry_total=0
    )

    def on_event(_context: Any, event: EventData | None) -> None:
        if event is not None:
            received.append(event.body_as_str())

    thread = threading.Thread(
        target=consumer.receive,
        kwargs={
            "on_event": on_event,
            "partition_id": "0",
            "starting_position": "-1",
            "on_error": lambda _c, e: errors.append(e),
        },
        daemon=True,
    )
    thread.start()
    sent = 0
    with producer(emulator, *ROOT) as client:
        deadline = time.time() + 30
        while time.time() < deadline:
            client.send_event(EventData(f"e{sent}"), partition_id="0")
            sent += 1
            time.sleep(1)
    time.sleep(1)
    consumer.close()
    thread.join(10)
    assert errors == []
    assert received == [f"e{i}" for i in range(sent)]
    assert credential.issued >= 3  # the first token and at least two renewals


def test_the_startup_line_prints_no_key_but_the_development_key(tmp_path: Path) -> None:
    config = tmp_path / "secret.toml"
    secrets = ("very-secret-1", "very-secret-2")
    config.write_text(
        f'[keys]\nadmin = "{secrets[0]}"\n[[policies]]\nname = "reader"\nkey = "{secrets[1]}"\n'
        'rights = ["Listen"]\n[[hubs]]\nname = "tweets"\n'
    )
    with EmulatorProcess(config=config, extra_args=["--log-level", "debug"]) as process:
        with EventHubProducerClient.from_connection_string(
            process.connection_string.replace("<redacted>", secrets[0]), eventhub_name="tweets"
        ) as client:
            client.send_event(EventData("x"))
        output = "".join(process.output)
    assert "SharedAccessKeyName=admin;SharedAccessKey=<redacted>;" in process.connection_string
    assert not any(secret in output for secret in secrets)


def test_an_entra_id_only_namespace_prints_a_keyless_endpoint(tmp_path: Path) -> None:
    config = tmp_path / "entra.toml"
    config.write_text('entra_id = true\n[[hubs]]\nname = "tweets"\n')
    with EmulatorProcess(config=config) as process:
        assert (
            process.connection_string == f"Endpoint=sb://localhost:{process.port};UseDevelopmentEmulator=true"
        )
        deadline = time.monotonic() + 10  # the warning follows the connection string line
        while "for local testing only" not in "".join(process.output) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "for local testing only" in "".join(process.output)


def test_a_token_expiring_on_an_open_link_closes_it(emulator: EmulatorProcess) -> None:
    """Our receiver puts one SAS token and never renews it: when it expires the emulator detaches the
    link with amqp:unauthorized-access, as the service does."""
    audience = f"sb://localhost:{emulator.port}/tweets"
    token = make_sas_token(audience, *ROOT, int(time.time()) + 3)
    cs = f"Endpoint=sb://localhost:{emulator.port};SharedAccessSignature={token};UseDevelopmentEmulator=true"
    endpoint = Endpoint.connect_to(parse_connection_string(cs), None, "tweets")
    columns = EventColumns("0")
    with PartitionReceiver(endpoint, "$Default", "0", 0, timeout_s=10) as receiver:
        with pytest.raises(UnauthorizedError, match="expired and no new one was put") as info:
            receiver.read_into(columns, idle_timeout_s=8)
    assert info.value.condition == "amqp:unauthorized-access"
