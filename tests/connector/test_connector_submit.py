"""`spark-submit jobs/read_events.py` with `use_connector = true` prints its batches and exits 0.

The connector's Java clients run on non-daemon thread pools it never shuts down; without the job stopping
them, the driver's JVM outlived the job (Spark 3.5's spark-submit waits for non-daemon threads)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.tls import LocalCA
from emulator.trust import java_options, java_truststore_with_jdk_cas
from jobs.datasource.connector import CONNECTOR_PACKAGE

from .conftest import IVY_DIR, REPOSITORY, ConnectorHub
from .test_connector_reads import send

HUB = "submit"
# JVM start, the Ivy cache and one micro-batch take 15-30 s; a driver kept alive by a leftover
# non-daemon thread never ends.
BOUND_S = 120


def test_spark_submit_with_the_connector_exits_after_its_batches(
    connector_hub: ConnectorHub, ca: LocalCA, tmp_path: Path
) -> None:
    bodies = [f"submitted {n}" for n in range(3)]
    send(connector_hub.development_connection_string, HUB, bodies, "0")
    profile = tmp_path / "connector.toml"
    profile.write_text(
        f'[eventhub]\nname = "{HUB}"\nconnection_string = "${{EVENTHUB_CONNECTION_STRING}}"\n'
        "[job]\nuse_connector = true\nmax_events_per_trigger = 5\n"
    )
    options = java_options(java_truststore_with_jdk_cas(ca))
    bin_dir = Path(sys.executable).parent  # spark-submit finds pyspark through the python on PATH
    command = [
        str(bin_dir / "spark-submit"),
        "--master", "local[2]",
        "--packages", CONNECTOR_PACKAGE,
        "--conf", f"spark.jars.ivy={IVY_DIR.resolve()}",
        "--conf", f"spark.driver.extraJavaOptions={options}",
        "--conf", f"spark.executor.extraJavaOptions={options}",
        "jobs/read_events.py", "--profile", str(profile), "--trigger", "available-now",
    ]  # fmt: skip
    env = dict(
        os.environ,
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(REPOSITORY),  # this tree's job, whichever tree the virtualenv was installed from
        EVENTHUB_CONNECTION_STRING=connector_hub.emulator.azure_connection_string(connector_hub.host),
    )
    process = subprocess.Popen(
        command, cwd=REPOSITORY, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=BOUND_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"spark-submit still running after {BOUND_S} s; it printed:\n{out}")
    assert process.returncode == 0, f"spark-submit exited {process.returncode}:\n{out}\n{err[-3000:]}"
    assert "Batch 0: 3 events" in out, out
    assert f"read 3 events in 1 batches from '{HUB}'" in out, out
    for body in bodies:
        assert body in out, out
