"""Shared fixtures: a real emulator process on a free port, and SDK helpers to read from it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.eventhub import EventData
from hypothesis import settings
from pyspark.sql import SparkSession

from emulator.process import EmulatorProcess
from tests.local_spark import local_session
from tests.sdk_events import read_events

# No per-example deadline: on a busy 2-core machine (CI runs the suites side by side with their servers) a
# first example that imports or warms up can take far longer than Hypothesis' 200 ms, and fail for nothing.
settings.register_profile("hubstream", deadline=None)
settings.load_profile("hubstream")

TEST_CONFIG = """
namespace = "emulator"
[keys]
RootManageSharedAccessKey = "SAS_KEY_VALUE"
[[hubs]]
name = "tweets"
partitions = 4
consumer_groups = ["spark", "audit"]
[[hubs]]
name = "telemetry"
partitions = 2
"""


@pytest.fixture(scope="session", autouse=True)
def local_ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every emulator the tests start (they inherit the environment) shares one CA made for this run,
    not the one in the user's own folder."""
    path = tmp_path_factory.mktemp("ca")
    before = os.environ.get("HUBSTREAM_CA_DIR")
    os.environ["HUBSTREAM_CA_DIR"] = str(path)
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop("HUBSTREAM_CA_DIR", None)
        else:
            os.environ["HUBSTREAM_CA_DIR"] = before


@pytest.fixture
def emulator_config(tmp_path: Path) -> Path:
    path = tmp_path / "emulator.toml"
    path.write_text(TEST_CONFIG)
    return path


@pytest.fixture
def emulator(tmp_path: Path, emulator_config: Path) -> Iterator[EmulatorProcess]:
    """An emulator keeping its events on disk under tmp_path, so a test can restart it."""
    process = EmulatorProcess(
        data_dir=tmp_path / "data", config=emulator_config, log_file=tmp_path / "emulator.log"
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


Receive = Callable[..., list[EventData]]


@pytest.fixture
def receive() -> Receive:
    return read_events


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark session for the whole run."""
    session = local_session("hubstream-tests")
    try:
        yield session
    finally:
        session.stop()
