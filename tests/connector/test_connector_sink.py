"""The Scala connector's sink (azure-eventhubs-spark 2.3.22 on Spark 3.5) into the emulator over TLS.

`df.write.format("eventhubs")` and `writeStream.format("eventhubs")` send through the connector's own Java
client (azure-eventhubs 3.3.0 on proton-j), as on a Spark 3 cluster with the Maven library: TLS on port
5671 of the connection string's host (the emulator takes a loopback address of its own for that), a token
per link on `$cbs`, one message per row. What they wrote is read back with the azure-eventhub SDK, in this
process, and with our Spark 4 source, in a child process of the Spark 4 virtualenv (read_with_our_source):
body, partition key, partition and properties must come back as written, each event once.

Run by `make test-connector` in the pyspark 3.5 virtualenv, with conftest.py's Spark session (the
connector's jar through Ivy, a JVM trusting its CA); the emulator here is the sink's own, for its hubs.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from pyspark.sql import SparkSession

from emulator.process import EmulatorProcess, free_loopback_host
from emulator.tls import LocalCA
from jobs.datasource.connector import CONNECTOR_FORMAT, jvm_encrypt
from tests.sdk_events import partition_sizes, read_events, send

from .conftest import REPOSITORY
from .test_connector_parity import spark4_python

SINK_HUBS = ("sink-batch", "sink-binary", "sink-stream", "sink-sdk-keys")
SINK_CONFIG = '[keys]\nRootManageSharedAccessKey = "SAS_KEY_VALUE"\n' + "".join(
    f'[[hubs]]\nname = "{hub}"\npartitions = 4\n' for hub in SINK_HUBS
)
KEYS = [f"device-{i}" for i in range(5)]

# (body, partitionKey, partitionId, properties): keyed rows, rows for a partition, a row with neither.
BATCH_ROWS: list[tuple[str, str | None, str | None, dict[str, str] | None]] = [
    *((f"keyed {i}", KEYS[i % len(KEYS)], None, {"n": str(i), "kind": "keyed"}) for i in range(15)),
    *((f"to partition {p} #{i}", None, p, {"n": str(i), "kind": "placed"}) for i in range(3) for p in "23"),
    ("neither, no properties", None, None, None),
    ("neither, empty properties", None, None, {}),
    ('{"json": "ünïcødé ✓"}', None, None, {"é": "ü", "empty": ""}),
]

Event = tuple[str, bytes, str | None, tuple[tuple[str, str], ...]]  # partition, body, key, properties
SinkOptions = Callable[[str], dict[str, str]]  # hub -> the connector's options


@pytest.fixture(scope="module")
def sink_host() -> str:
    """A loopback address with 5671 free: the Java client dials 5671 whatever the connection string says."""
    return free_loopback_host(5671, prefer_localhost=False)


@pytest.fixture(scope="module")
def emulator(
    tmp_path_factory: pytest.TempPathFactory, ca: LocalCA, sink_host: str
) -> Iterator[EmulatorProcess]:
    """An emulator of the sink's own (its hubs), serving TLS on 5671 of `sink_host` with the CA the
    session's JVM trusts (conftest.py)."""
    folder = tmp_path_factory.mktemp("sink-emulator")
    (folder / "emulator.toml").write_text(SINK_CONFIG)
    process = EmulatorProcess(
        config=folder / "emulator.toml",
        ca_dir=ca.directory,
        tls_port=5671,
        extra_args=["--host", sink_host, "--no-websocket", "--health-port", "-1"],
        log_file=folder / "emulator.log",
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def sink_read_with_sdk(emulator: EmulatorProcess, hub: str) -> list[Event]:
    """Every event of `hub`, partition by partition, read with the azure-eventhub SDK."""
    found: list[Event] = []
    for pid, size in partition_sizes(emulator.connection_string, hub).items():
        if size == 0:
            continue
        events = read_events(
            emulator.connection_string, count=size, hub=hub, partition_id=pid, starting_position="-1"
        )
        assert len(events) == size, f"{hub} partition {pid}: read {len(events)} of {size} events"
        for event in events:
            key = event.partition_key
            found.append(
                (
                    pid,
                    b"".join(cast("Iterable[bytes]", event.body)),  # a data body: its sections
                    key.decode() if isinstance(key, bytes) else key,
                    sink_properties(event.properties),
                )
            )
    return found


def sink_properties(properties: dict[Any, Any] | None) -> tuple[tuple[str, str], ...]:
    """Application properties as sorted (name, value) text pairs; the SDK hands names as bytes."""
    text = {
        (k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
        for k, v in (properties or {}).items()
    }
    return tuple(sorted(text.items()))


def sink_written(
    rows: list[tuple[Any, ...]],
) -> Counter[tuple[bytes, str | None, tuple[tuple[str, str], ...]]]:
    return Counter(
        (body if isinstance(body, bytes) else body.encode(), key, sink_properties(props))
        for body, key, _pid, props in rows
    )


@pytest.fixture(scope="module")
def sink_options(spark: SparkSession, emulator: EmulatorProcess, sink_host: str) -> SinkOptions:
    """The connector's sink options for a hub: the portal-style connection string with EntityPath,
    encrypted by the connector's EventHubsUtils.encrypt."""
    encrypt = jvm_encrypt(spark)
    return lambda hub: {
        "eventhubs.connectionString": encrypt(emulator.azure_connection_string(sink_host, hub))
    }


@pytest.fixture(scope="module")
def batch_written(spark: SparkSession, emulator: EmulatorProcess, sink_options: SinkOptions) -> list[Event]:
    """BATCH_ROWS written to sink-batch with `df.write`, as the SDK reads them back."""
    df = spark.createDataFrame(
        BATCH_ROWS, "body string, partitionKey string, partitionId string, properties map<string,string>"
    )
    df.write.format(CONNECTOR_FORMAT).options(**sink_options("sink-batch")).save()
    return sink_read_with_sdk(emulator, "sink-batch")


def test_batch_write_keeps_bodies_keys_partitions_and_properties(
    emulator: EmulatorProcess, batch_written: list[Event]
) -> None:
    read = Counter((body, key, props) for _pid, body, key, props in batch_written)
    assert read == sink_written(BATCH_ROWS)  # each row once, nothing else

    partition_of_body = {body: pid for pid, body, _key, _props in batch_written}
    for body, _key, pid, _props in BATCH_ROWS:
        if pid is not None:
            assert partition_of_body[body.encode()] == pid, body

    # A key lands in one partition, the one the SDK's keyed send puts it in on a hub of the same size.
    connector_partitions = {key: {pid for pid, _b, k, _p in batch_written if k == key} for key in KEYS}
    for key in KEYS:
        send(emulator.connection_string, [f"sdk {key}"], hub="sink-sdk-keys", partition_key=key)
    sdk_partitions = {key: pid for pid, _b, key, _p in sink_read_with_sdk(emulator, "sink-sdk-keys")}
    assert connector_partitions == {key: {sdk_partitions[key]} for key in KEYS}


def test_binary_bodies_and_the_partition_column_alias(
    spark: SparkSession, emulator: EmulatorProcess, sink_options: SinkOptions
) -> None:
    # `partition` is the connector's first name for the column, `partitionId` its alias.
    rows = [
        (bytes(range(256)) * 4, None, "1", {"i": "0"}),
        (b"\x00\xff\xfe not UTF-8", None, "3", {"i": "1"}),
    ]
    df = spark.createDataFrame(
        rows, "body binary, partitionKey string, partition string, properties map<string,string>"
    )
    df.write.format(CONNECTOR_FORMAT).options(**sink_options("sink-binary")).save()
    read = sink_read_with_sdk(emulator, "sink-binary")
    assert sorted((pid, body, props) for pid, body, _key, props in read) == sorted(
        (pid, body, sink_properties(props)) for body, _key, pid, props in rows
    )


def test_write_stream_sends_each_row_once_across_restarts(
    spark: SparkSession, emulator: EmulatorProcess, sink_options: SinkOptions, tmp_path: Path
) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()

    def arrive(name: str, first: int, count: int) -> None:
        lines = (json.dumps({"body": f"row {i}", "partitionKey": KEYS[i % 2], "properties": {"i": str(i)}})
                 for i in range(first, first + count))  # fmt: skip
        (incoming / name).write_text("\n".join(lines) + "\n")

    def run_once() -> None:
        query = (
            spark.readStream.schema("body string, partitionKey string, properties map<string,string>")
            .json(str(incoming))
            .writeStream.format(CONNECTOR_FORMAT)
            .options(**sink_options("sink-stream"))
            .option("checkpointLocation", str(tmp_path / "checkpoint"))
            .trigger(availableNow=True)
            .start()
        )
        assert query.awaitTermination(180), "the stream into the connector's sink did not finish"
        assert query.exception() is None

    arrive("1.json", 0, 6)
    run_once()
    arrive("2.json", 6, 4)  # while stopped; the restarted query sends these and nothing again
    run_once()
    read = sink_read_with_sdk(emulator, "sink-stream")
    assert sorted(body.decode() for _pid, body, _key, _props in read) == sorted(f"row {i}" for i in range(10))
    assert {(body.decode(), key, props) for _pid, body, key, props in read} == {
        (f"row {i}", KEYS[i % 2], (("i", str(i)),)) for i in range(10)
    }


def test_our_spark4_source_reads_what_the_connector_wrote(
    spark: SparkSession, emulator: EmulatorProcess, batch_written: list[Event], tmp_path: Path
) -> None:
    out = tmp_path / "ours"
    done = subprocess.run(
        [spark4_python(), "-m", "tests.connector.read_with_our_source", emulator.connection_string,
         "sink-batch", "$Default", str(out)],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "pyspark 4." in done.stdout, done.stdout
    ours = sorted(
        (row["Partition"], row["Body"].encode(), row["partitionKey"], sink_properties(row["properties"]))
        for row in spark.read.parquet(str(out)).collect()
    )
    assert ours == sorted(batch_written)
