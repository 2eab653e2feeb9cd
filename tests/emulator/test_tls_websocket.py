"""The SDK configured as for Azure (no UseDevelopmentEmulator), over TLS and over WebSockets, trusting the
emulator's local CA: sync and aio clients, every kind of key credential."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken, AzureNamedKeyCredential, AzureSasCredential
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient, TransportType
from azure.eventhub.aio import EventHubConsumerClient as AioConsumer
from azure.eventhub.aio import EventHubProducerClient as AioProducer
from azure.eventhub.exceptions import EventHubError

from emulator.process import EmulatorProcess
from eventhubs.sas import make_sas_token
from tests.conftest import TEST_CONFIG, running_emulator

HUB = "tweets"
KEY_NAME, KEY = "RootManageSharedAccessKey", "SAS_KEY_VALUE"
# As the portal gives it: a host name, no port, no UseDevelopmentEmulator.
AZURE_STYLE = f"Endpoint=sb://localhost/;SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY}"
TRANSPORTS = {"tls": TransportType.Amqp, "websocket": TransportType.AmqpOverWebsocket}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One emulator for the module (in memory): each test uses its own partition or reads by sequence."""
    with running_emulator(tmp_path_factory.mktemp("tls-emulator"), TEST_CONFIG) as process:
        yield process


def client_options(emulator: EmulatorProcess, transport: str) -> dict[str, Any]:
    """What a user adds to reach a local port and trust the local CA: the SDK dials 5671 (TLS) or 443
    (WebSockets) whatever the connection string says, so the port goes in custom_endpoint_address."""
    port = emulator.tls_port if transport == "tls" else emulator.ws_port
    return {
        "transport_type": TRANSPORTS[transport],
        "custom_endpoint_address": f"sb://localhost:{port}",
        "connection_verify": str(emulator.ca_file),
    }


def receive(make: Any, count: int, partition_id: str, timeout: float = 20.0) -> list[str]:
    client: EventHubConsumerClient = make()
    received: list[str] = []
    done = threading.Event()

    def on_event(_context: Any, event: EventData | None) -> None:
        if event is not None:
            received.append(event.body_as_str())
        if len(received) >= count:
            done.set()

    worker = threading.Thread(
        target=client.receive,
        kwargs={"on_event": on_event, "partition_id": partition_id, "starting_position": "-1"},
        daemon=True,
    )
    worker.start()
    done.wait(timeout)
    client.close()
    worker.join(10)
    return received


@pytest.mark.parametrize("transport", ["tls", "websocket"])
def test_sync_clients_from_an_azure_style_connection_string(
    emulator: EmulatorProcess, transport: str
) -> None:
    options = client_options(emulator, transport)
    partition = "0" if transport == "tls" else "1"
    bodies = [f"{transport} {i}" for i in range(5)]
    with EventHubProducerClient.from_connection_string(AZURE_STYLE, eventhub_name=HUB, **options) as producer:
        assert producer.get_partition_ids() == ["0", "1", "2", "3"]
        batch = producer.create_batch(partition_id=partition)
        for body in bodies:
            batch.add(EventData(body))
        producer.send_batch(batch)
        props = producer.get_partition_properties(partition)
    assert props["last_enqueued_sequence_number"] == 4

    def consumer() -> EventHubConsumerClient:
        return EventHubConsumerClient.from_connection_string(
            AZURE_STYLE, consumer_group="$Default", eventhub_name=HUB, **options
        )

    assert receive(consumer, 5, partition) == bodies


class SasTokenCredential:
    """A SAS token credential as the SDK's sample `authenticate_with_sas_token.py` writes one."""

    token_type = b"servicebus.windows.net:sastoken"

    def __init__(self, token: str, expiry: int) -> None:
        self.token, self.expiry = token, expiry

    def get_token(self, *_scopes: str, **_kwargs: Any) -> AccessToken:
        return AccessToken(self.token, self.expiry)


def credentials() -> dict[str, Any]:
    expiry = int(time.time()) + 3600
    token = make_sas_token(f"sb://localhost/{HUB}", KEY_NAME, KEY, expiry)
    return {
        "named-key": AzureNamedKeyCredential(KEY_NAME, KEY),
        "sas-credential": AzureSasCredential(token),
        "sas-token": SasTokenCredential(token, expiry),
    }


@pytest.mark.parametrize("kind", ["named-key", "sas-credential", "sas-token", "sas-connection-string"])
@pytest.mark.parametrize("transport", ["tls", "websocket"])
def test_every_key_credential(emulator: EmulatorProcess, kind: str, transport: str) -> None:
    options = client_options(emulator, transport)
    if kind == "sas-connection-string":
        token = make_sas_token(f"sb://localhost/{HUB}", KEY_NAME, KEY, int(time.time()) + 3600)
        producer = EventHubProducerClient.from_connection_string(
            f"Endpoint=sb://localhost/;SharedAccessSignature={token}", eventhub_name=HUB, **options
        )
    else:
        producer = EventHubProducerClient(
            fully_qualified_namespace="localhost",
            eventhub_name=HUB,
            credential=credentials()[kind],
            **options,
        )
    with producer:
        before = producer.get_partition_properties("3")["last_enqueued_sequence_number"]
        producer.send_event(EventData(f"{kind} over {transport}"), partition_id="3")
        after = producer.get_partition_properties("3")["last_enqueued_sequence_number"]
    assert after == before + 1


@pytest.mark.parametrize("transport", ["tls", "websocket"])
def test_aio_clients(emulator: EmulatorProcess, transport: str) -> None:
    options = client_options(emulator, transport)
    partition = "2"

    async def scenario() -> list[str]:
        producer = AioProducer(
            fully_qualified_namespace="localhost",
            eventhub_name=HUB,
            credential=AzureNamedKeyCredential(KEY_NAME, KEY),
            **options,
        )
        async with producer:
            start = (await producer.get_partition_properties(partition))["last_enqueued_sequence_number"] + 1
            batch = await producer.create_batch(partition_id=partition)
            for i in range(3):
                batch.add(EventData(f"aio {transport} {i}"))
            await producer.send_batch(batch)
        received: list[str] = []
        done = asyncio.Event()

        async def on_event(_context: Any, event: Any) -> None:
            received.append(event.body_as_str())
            if len(received) == 3:
                done.set()

        consumer = AioConsumer.from_connection_string(
            AZURE_STYLE, consumer_group="$Default", eventhub_name=HUB, **options
        )
        async with consumer:
            task = asyncio.create_task(
                consumer.receive(on_event, partition_id=partition, starting_position=start,
                                 starting_position_inclusive=True)
            )  # fmt: skip
            await asyncio.wait_for(done.wait(), 20)
            await consumer.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return received

    assert asyncio.run(scenario()) == [f"aio {transport} {i}" for i in range(3)]


@pytest.mark.parametrize("transport", ["tls", "websocket"])
def test_a_client_that_does_not_trust_the_ca_fails_on_the_certificate(
    emulator: EmulatorProcess, transport: str
) -> None:
    options = client_options(emulator, transport)
    del options["connection_verify"]  # certifi's bundle only, as an untouched virtualenv has
    with EventHubProducerClient.from_connection_string(
        AZURE_STYLE, eventhub_name=HUB, retry_total=0, **options
    ) as producer:
        with pytest.raises(EventHubError, match="CERTIFICATE_VERIFY_FAILED"):
            producer.get_partition_ids()


def test_the_startup_lines_name_the_ports_and_the_ca(emulator: EmulatorProcess) -> None:
    text = "".join(emulator.output)
    assert f"TLS: amqps://localhost:{emulator.tls_port} (CA: {emulator.ca_file};" in text
    assert f"WebSockets: wss://localhost:{emulator.ws_port}/$servicebus/websocket" in text
    assert emulator.ca_file is not None and emulator.ca_file.parent == Path(
        __import__("os").environ["HUBSTREAM_CA_DIR"]
    )


def test_no_tls_serves_plain_amqp_only(tmp_path: Path) -> None:
    with EmulatorProcess(extra_args=["--no-tls"]) as process:
        assert process.connection_string and process.tls_port == 0 and process.ws_port == 0
        text = "".join(process.output)
    assert "TLS:" not in text and "WebSockets:" not in text


def test_the_ca_command_prints_the_trust_step_per_ecosystem(local_ca_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "emulator", "ca"], capture_output=True, text=True, check=True
    ).stdout
    ca = local_ca_dir / "rootCA.pem"
    assert f"Local CA: {ca}" in out
    assert f'connection_verify="{ca}"' in out
    assert "python -m emulator ca --trust-certifi" in out
    assert f'NODE_EXTRA_CA_CERTS="{ca}"' in out
    assert "spark.driver.extraJavaOptions=-Djavax.net.ssl.trustStore=" in out
    assert "spark.executor.extraJavaOptions" in out


def test_a_websocket_that_breaks_the_binding_is_closed_and_the_server_carries_on(
    emulator: EmulatorProcess,
) -> None:
    import socket
    import ssl

    from wsproto import ConnectionType, WSConnection
    from wsproto.events import Request, TextMessage

    context = ssl.create_default_context(cafile=str(emulator.ca_file))
    with socket.create_connection(("127.0.0.1", emulator.ws_port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            ws = WSConnection(ConnectionType.CLIENT)
            tls.sendall(ws.send(Request(host="localhost", target="/$servicebus/websocket",
                                        subprotocols=["AMQPWSB10"])))  # fmt: skip
            ws.receive_data(tls.recv(4096))
            tls.sendall(ws.send(TextMessage(data="not AMQP")))
            closed = b""
            while chunk := tls.recv(4096):
                closed += chunk
    assert closed  # a close frame, then the end of the stream
    with EventHubProducerClient.from_connection_string(
        AZURE_STYLE, eventhub_name=HUB, **client_options(emulator, "websocket")
    ) as producer:
        assert producer.get_partition_ids() == ["0", "1", "2", "3"]
