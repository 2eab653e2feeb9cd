"""The source through Spark Connect (how Databricks serverless and shared access mode run PySpark).

A local Spark Connect server (the pyspark package's own jar, started with its spark-submit) on a free
loopback port; the client registers the source over `spark.dataSource.register` as a notebook would, and
the server's Python workers import it from this interpreter's environment (as a serverless environment's
dependencies provide it). The client runs in a process of its own (connect_client.py). The server is
stopped when the module's tests end.
"""

from __future__ import annotations

import json
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

from emulator.process import EmulatorProcess
from jobs.datasource import SOURCE_NAME

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


def test_stream_and_batch_read_through_connect(
    connect_url: str, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "tests.compat.connect_client", connect_url, emulator.connection_string]
    done = subprocess.run(
        [*command, str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"the Connect client failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["session"].startswith("pyspark.sql.connect")  # a Spark Connect session, not a classic one
    assert found["source"] == SOURCE_NAME
    # maxEventsPerTrigger 30 over 100 events, then 40 more after a restart from the checkpoint
    assert found["first"] == [30, 30, 30, 10]
    assert found["second"] == [30, 10]
    rows = found["rows"]
    assert sorted(body for _, _, body in rows) == list(range(140))  # each event once
    for pid in PIDS:
        assert sorted(seq for p, seq, _ in rows if p == pid) == list(range(35))
    # the batch read between the two: sequence numbers 1 to 3 of each partition, at the time
    assert found["batch"] == [[pid, seq, str(seq * 4 + int(pid))] for pid in PIDS for seq in range(1, 4)]
