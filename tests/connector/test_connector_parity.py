"""The same events read by the Scala connector (Spark 3.5) and by hubstream's source (Spark 4) give equal
readable columns, partition keys and properties: bodies, offsets, sequence numbers, enqueued times."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from azure.eventhub import EventData, EventHubProducerClient
from chispa import assert_df_equality

from jobs.datasource.connector import CONNECTOR_FORMAT, connector_options

from .conftest import REPOSITORY, ConnectorHub
from .parity import parity_frame

HUB = "parity"


def spark4_python() -> str:
    """The Spark 4 interpreter (make test-connector passes the main virtualenv's): no default to skip on."""
    python = os.environ.get("HUBSTREAM_SPARK4_PYTHON", str(REPOSITORY / ".venv" / "bin" / "python"))
    assert Path(python).exists(), f"{python} does not exist: run make venv (or set HUBSTREAM_SPARK4_PYTHON)"
    return python


def send_keyed_events_with_properties(cs: str) -> None:
    with EventHubProducerClient.from_connection_string(cs, eventhub_name=HUB) as client:
        for key in ("device-1", "device-2", "device-3"):
            batch = client.create_batch(partition_key=key)
            for i in range(4):
                event = EventData(f'{{"device": "{key}", "reading": {i}, "note": "café ☕"}}')
                event.properties = {"source": "parity", "device": key, "n": str(i)}
                batch.add(event)
            client.send_batch(batch)
        unkeyed = client.create_batch(partition_id="1")
        unkeyed.add(EventData(b"\xff not UTF-8"))
        client.send_batch(unkeyed)


def test_the_connector_and_our_source_read_the_same_columns(
    spark: Any, connector_hub: ConnectorHub, tmp_path: Path
) -> None:
    cs = connector_hub.development_connection_string
    send_keyed_events_with_properties(cs)

    options = connector_options(
        connector_hub.settings(HUB), spark, max_events_per_trigger=1000, starting_position="-1"
    )
    stream = spark.readStream.format(CONNECTOR_FORMAT).options(**options).load()
    query = (
        stream.writeStream.format("memory").queryName("parity_raw")
        .option("checkpointLocation", str(tmp_path / "chk")).start()
    )  # fmt: skip
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    connector_out, ours_out = tmp_path / "connector", tmp_path / "ours"
    parity_frame(spark.table("parity_raw")).write.parquet(str(connector_out))

    done = subprocess.run(
        # Another consumer group: the connector's epoch receivers stay open in its executors after the query
        # stops, and they refuse a receiver without an epoch (ours) on theirs (see test_connector_epochs).
        [spark4_python(), "-m", "tests.connector.read_with_our_source", cs, HUB, "other", str(ours_out)],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "pyspark 4." in done.stdout, done.stdout

    ours = spark.read.parquet(str(ours_out)).orderBy("Partition", "SequenceNumber")
    theirs = spark.read.parquet(str(connector_out)).orderBy("Partition", "SequenceNumber")
    assert theirs.count() == 13
    assert_df_equality(theirs, ours)
