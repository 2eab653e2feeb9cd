"""The source through Spark Connect (how Databricks serverless and shared access mode run PySpark).

A local Spark Connect server (the pyspark package's own jar, started with its spark-submit) on a free
loopback port; the client registers the source over `spark.dataSource.register` as a notebook would, and
the server's Python workers import it from this interpreter's environment (as a serverless environment's
dependencies provide it). The server is stopped when the module's tests end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest
from azure.eventhub import EventData, EventHubProducerClient
from pyspark.sql import SparkSession

from emulator.process import EmulatorProcess
from jobs.datasource import SOURCE_NAME, EventHubsDataSource

HUB = "tweets"
PIDS = ("0", "1", "2", "3")
REPO = Path(__file__).resolve().parents[2]
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = Path(pyspark.__file__).parent
    port = free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "PYSPARK_PYTHON": sys.executable,
        "PYTHONPATH": str(REPO),
    }
    command = [
        str(home / "bin" / "spark-submit"), "--master", "local[2]", "--class", SERVER_CLASS,
        "--name", "hubstream-connect-test",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.shuffle.partitions=2",
        "--conf", "spark.sql.session.timeZone=UTC",
        "--conf", f"spark.pyspark.python={sys.executable}",
        "spark-internal",
    ]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, f"the Connect server exited: {log.read_text()[-3000:]}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"no Connect server in 180 s: {log.read_text()[-3000:]}"
                time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server's own process group, started above
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(30)


@pytest.fixture(scope="module")
def remote(connect_url: str) -> Iterator[SparkSession]:
    session = SparkSession.builder.remote(connect_url).getOrCreate()
    try:
        assert type(session).__module__.startswith("pyspark.sql.connect")
        session.dataSource.register(EventHubsDataSource)
        yield session
    finally:
        session.stop()


def send(cs: str, first: int, count: int) -> None:
    with EventHubProducerClient.from_connection_string(cs, eventhub_name=HUB) as producer:
        for pid in PIDS:
            batch = producer.create_batch(partition_id=pid)
            for i in range(first, first + count):
                if i % 4 == int(pid):
                    batch.add(EventData(str(i)))
            producer.send_batch(batch)


def run_until(remote: SparkSession, cs: str, out: Path, checkpoint: Path, events: int) -> list[int]:
    """A processing-time query into parquet files, stopped once progress counts `events`; batch sizes."""
    query = (
        remote.readStream.format(SOURCE_NAME)
        .options(**{"eventhubs.connectionString": cs, "eventhubs.name": HUB, "maxEventsPerTrigger": "30"})
        .load()
        .selectExpr("partition", "sequenceNumber", "CAST(body AS STRING) AS body")
        .writeStream.format("parquet")
        .option("path", str(out))
        .option("checkpointLocation", str(checkpoint))
        .trigger(processingTime="0 seconds")
        .start()
    )
    try:
        deadline = time.monotonic() + 180
        while sum(sizes := [p.numInputRows for p in query.recentProgress]) < events:
            assert query.exception() is None, query.exception()
            assert time.monotonic() < deadline, (
                f"{sizes} after 180 s, expected {events}: {query.lastProgress}"
            )
            time.sleep(0.5)
    finally:
        query.stop()
    assert query.exception() is None
    return [n for n in sizes if n]


def test_stream_through_connect_caps_batches_and_restarts_exactly_once(
    remote: SparkSession, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    cs = emulator.connection_string
    out, checkpoint = tmp_path / "out", tmp_path / "checkpoint"
    send(cs, 0, 100)
    assert run_until(remote, cs, out, checkpoint, 100) == [30, 30, 30, 10]
    send(cs, 100, 40)
    assert run_until(remote, cs, out, checkpoint, 40) == [30, 10]
    rows = remote.read.parquet(str(out)).collect()
    assert sorted(int(r.body) for r in rows) == list(range(140))  # each once
    for pid in PIDS:
        assert sorted(r.sequenceNumber for r in rows if r.partition == pid) == list(range(35))


def test_batch_read_through_connect(remote: SparkSession, emulator: EmulatorProcess) -> None:
    cs = emulator.connection_string
    send(cs, 0, 20)
    got = (
        remote.read.format(SOURCE_NAME)
        .options(
            **{
                "eventhubs.connectionString": cs,
                "eventhubs.name": HUB,
                "eventhubs.startingPosition": '{"seqNo": 1}',
                "eventhubs.endingPosition": '{"seqNo": 3}',
            }
        )
        .load()
        .selectExpr("partition", "sequenceNumber", "CAST(body AS STRING) AS body")
        .collect()
    )
    want = [(pid, seq, str(seq * 4 + int(pid))) for pid in PIDS for seq in range(1, 4)]
    assert sorted((r.partition, r.sequenceNumber, r.body) for r in got) == want
