"""The source's `eventhubs.transportType` option: AMQP over WebSockets for the driver's management link
and the executors' receivers, against a real emulator (its CA trusted through SSL_CERT_FILE, which
Python's default TLS context reads: spark.executorEnv.SSL_CERT_FILE on a cluster); and the
`eventhubs.connectionVerify` / `eventhubs.customEndpointAddress` options, from a profile, for the source
and the sink with SSL_CERT_FILE unset."""

from __future__ import annotations

import pickle
from pathlib import Path

import certifi
import pytest
from azure.eventhub import EventData, EventHubProducerClient

from conf import load_settings
from emulator.process import EmulatorProcess
from jobs.datasource.options import EventHubsOptionError, EventHubsOptions
from jobs.datasource.reader import EventHubsPartition, EventHubsReadError, EventHubsStreamReader
from jobs.datasource.writer import SinkColumns, SinkOptions, write_rows
from jobs.read_events import source_options

BASE = {"eventhubs.connectionString": "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;"
        "SharedAccessKey=s;EntityPath=tweets"}  # fmt: skip


@pytest.mark.parametrize(
    ("value", "websocket"),
    [(None, False), ("Amqp", False), ("AmqpWebSockets", True), ("amqpwebsockets", True),
     ("AmqpOverWebsocket", True)],
)  # fmt: skip
def test_the_option_takes_the_java_and_python_names(value: str | None, websocket: bool) -> None:
    options = dict(BASE) if value is None else {**BASE, "eventhubs.TransportType": value}
    assert EventHubsOptions.parse(options).websocket is websocket


def test_another_transport_is_named_in_the_error() -> None:
    with pytest.raises(EventHubsOptionError, match=r"eventhubs.transportType 'Mqtt' is not Amqp"):
        EventHubsOptions.parse({**BASE, "eventhubs.transportType": "Mqtt"})


def test_the_stream_reader_plans_and_reads_over_websockets(
    emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EventHubProducerClient.from_connection_string(
        emulator.connection_string, eventhub_name="tweets"
    ) as p:
        batch = p.create_batch(partition_id="0")
        for i in range(10):
            batch.add(EventData(f"ws {i}"))
        p.send_batch(batch)
    assert emulator.ca_file is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(emulator.ca_file))
    options = EventHubsOptions.parse(
        {
            "eventhubs.connectionString": f"Endpoint=sb://localhost:{emulator.ws_port}/;"
            "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;EntityPath=tweets",
            "eventhubs.transportType": "AmqpWebSockets",
            "eventhubs.receiverTimeout": "5s",
        }
    )
    reader = EventHubsStreamReader(options)
    try:
        start = reader.initialOffset()
        end = reader.latestOffset(start, reader.getDefaultReadLimit())
        assert end["0"] == 10
        pieces = reader.partitions(start, end)
        assert all(isinstance(p, EventHubsPartition) and p.websocket for p in pieces)
        rows = [row for piece in pieces for batch in reader.read(piece) for row in batch.to_pylist()]
    finally:
        reader.stop()
    assert sorted(r["body"] for r in rows) == [f"ws {i}".encode() for i in range(10)]


# The emulator's development key, under a host name: TLS, as for Azure.
AZURE_STYLE = (
    "Endpoint=sb://localhost/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE"
)


def profile_options(emulator: EmulatorProcess, tmp_path: Path, ca: object) -> EventHubsOptions:
    """The options jobs.read_events builds from a profile naming a CA and the emulator's TLS port."""
    profile = tmp_path / "tls.toml"
    profile.write_text(
        '[eventhub]\nname = "tweets"\nconnection_string = "${EVENTHUB_CONNECTION_STRING}"\n'
        f'connection_verify = "{ca}"\ncustom_endpoint_address = "sb://localhost:{emulator.tls_port}"\n'
    )
    settings = load_settings(profile, environ={"EVENTHUB_CONNECTION_STRING": AZURE_STYLE})
    return EventHubsOptions.parse(
        source_options(settings, max_events_per_trigger=100, starting_position="-1")
    )


def test_the_sink_and_the_source_trust_the_ca_of_the_profile_only(
    emulator: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CA file is read where the query is planned; the executors' side (write_rows, read on a
    partition that went through pickle, as to an executor) gets its certificates, not its path."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    options = profile_options(emulator, tmp_path, emulator.ca_file)
    rows = [{"body": f"tls {i}", "partitionId": "2"} for i in range(5)]
    sent = write_rows(
        SinkOptions.of(options), SinkColumns(False, partition_id=True), rows, "Spark partition 0"
    )
    assert sent.events == 5
    reader = EventHubsStreamReader(options)
    try:
        start = reader.initialOffset()
        end = reader.latestOffset(start, reader.getDefaultReadLimit())
        pieces = [pickle.loads(pickle.dumps(p)) for p in reader.partitions(start, end)]
        read = [row["body"] for piece in pieces for batch in reader.read(piece) for row in batch.to_pylist()]
    finally:
        reader.stop()
    assert read == [f"tls {i}".encode() for i in range(5)]
    assert all(str(emulator.ca_file) not in repr(p) and p.ca_pem for p in pieces)


def test_a_wrong_ca_is_refused_naming_the_option(emulator: EmulatorProcess, tmp_path: Path) -> None:
    reader = EventHubsStreamReader(profile_options(emulator, tmp_path, certifi.where()))
    try:
        with pytest.raises(EventHubsReadError) as refused:
            reader.initialOffset()
    finally:
        reader.stop()
    message = str(refused.value)
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert "eventhubs.connectionVerify (the PEM text given) holds no CA that signed it" in message
    assert "set eventhubs.connectionVerify to the CA that did" in message
