"""The source's `eventhubs.transportType` option: AMQP over WebSockets for the driver's management link
and the executors' receivers, against a real emulator (its CA trusted through SSL_CERT_FILE, which
Python's default TLS context reads: spark.executorEnv.SSL_CERT_FILE on a cluster)."""

from __future__ import annotations

import pytest
from azure.eventhub import EventData, EventHubProducerClient

from emulator.process import EmulatorProcess
from jobs.datasource.options import EventHubsOptionError, EventHubsOptions
from jobs.datasource.reader import EventHubsPartition, EventHubsStreamReader

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
