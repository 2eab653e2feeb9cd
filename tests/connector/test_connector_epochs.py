"""Epochs as the connector meets them: it reads with epoch-0 receivers (its default), which take a partition
from another epoch-0 reader of the same consumer group (the Java client raises ReceiverDisconnectedException
there, with the service's text) and keep readers without an epoch (hubstream's source) out while open.
README's Troubleshooting says what these check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from azure.eventhub import EventData, EventHubProducerClient

from eventhubs.connection_string import parse_connection_string
from eventhubs.errors import EventHubsError
from hubclient.connection import Endpoint
from hubclient.receiver import PartitionReceiver
from jobs.read_events import build_stream, start_query, transform

from .conftest import ConnectorHub

HUB = "epochs"


def test_the_connector_takes_the_partition_from_another_epoch_reader_and_keeps_non_epoch_readers_out(
    spark: Any, connector_hub: ConnectorHub, tmp_path: Path
) -> None:
    from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]

    cs = connector_hub.development_connection_string
    with EventHubProducerClient.from_connection_string(cs, eventhub_name=HUB) as producer:
        batch = producer.create_batch(partition_id="0")
        for i in range(3):
            batch.add(EventData(f"event {i}"))
        producer.send_batch(batch)

    # Another application reading partition 0 of $Default with epoch 0: the Java client the connector
    # wraps, in the same JVM but on its own connection, as a second job on another cluster would.
    jvm = spark._jvm
    eventhubs = jvm.com.microsoft.azure.eventhubs
    pool = jvm.java.util.concurrent.Executors.newScheduledThreadPool(2)
    client = eventhubs.EventHubClient.createFromConnectionStringSync(
        connector_hub.emulator.azure_connection_string(connector_hub.host, HUB), pool
    )
    try:
        options = eventhubs.ReceiverOptions()
        options.setIdentifier("other-job")
        position = eventhubs.EventPosition.fromStartOfStream()
        other = client.createEpochReceiverSync("$Default", "0", position, 0, options)
        received = 0
        for _ in range(10):  # it hands over what has arrived, perhaps one event at a time
            received += len(list(other.receiveSync(3) or []))
            if received == 3:
                break
        assert received == 3
        other.setReceiveTimeout(jvm.java.time.Duration.ofSeconds(120))
        waiting = other.receive(3)  # nothing more to read: this receive waits on the link

        # The connector's query on the same consumer group takes the partition ...
        settings = connector_hub.settings(HUB)
        events = build_stream(spark, settings, max_events_per_trigger=5, starting_position="-1")
        query = start_query(
            transform(events, "memory"),
            "memory",
            None,
            tmp_path / "chk",
            "processing-time:0",
            query_name="epochs",
        )
        try:
            query.processAllAvailable()
        finally:
            query.stop()
        assert sorted(r["Body"] for r in spark.table("epochs").collect()) == [f"event {i}" for i in range(3)]

        # ... and the other reader's waiting receive fails with the service's reason. (Its next receive
        # would attach again with epoch 0 and take the partition back: two such readers take turns, and
        # whichever has a receive in flight when the other attaches gets this exception.)
        with pytest.raises(Py4JJavaError) as caught:
            waiting.get(60, jvm.java.util.concurrent.TimeUnit.SECONDS)
        error = caught.value.java_exception.getCause()
        assert error.getClass().getName() == "com.microsoft.azure.eventhubs.ReceiverDisconnectedException"
        message = error.getMessage()
        assert "with higher epoch of '0' is created hence current receiver 'other-job' with epoch '0' is " \
            "getting disconnected" in message  # fmt: skip
        assert "New receiver 'spark-" in message
    finally:
        client.closeSync()
        pool.shutdown()

    # The connector's receivers stay open in its executor after the query stops: a reader without an epoch
    # (hubstream's source, or an SDK consumer without owner_level) is refused on that consumer group ...
    endpoint = Endpoint.connect_to(parse_connection_string(cs), None, HUB)
    with pytest.raises(EventHubsError) as refused:
        PartitionReceiver(endpoint, "$Default", "0", 0, timeout_s=10).open()
    assert refused.value.condition == "amqp:link:stolen"
    assert "created with epoch of '0', and so non-epoch receiver is not allowed" in str(refused.value)
    # ... and reads on its own consumer group, as Troubleshooting advises.
    with PartitionReceiver(endpoint, "other", "0", 0, timeout_s=10) as receiver:
        assert receiver is not None
