"""Shared fixtures: a real emulator process on a free port, and SDK helpers to read from it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from azure.eventhub import EventData
from hypothesis import settings
from pyspark.sql import SparkSession

from emulator.process import EmulatorProcess
from jobs.local_spark import local_session
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
# Shared access policies at the namespace and on a hub (test_authorization.py, test_policies.py).
POLICIES_CONFIG = """
[keys]
RootManageSharedAccessKey = "SAS_KEY_VALUE"

[[policies]]
name = "listen-only"
key = "listen-key"
secondary_key = "listen-key-2"
rights = ["Listen"]

[[policies]]
name = "send-only"
key = "send-key"
rights = ["Send"]

[[hubs]]
name = "tweets"
partitions = 2
[[hubs.policies]]
name = "tweets-send"
key = "tweets-key"
rights = ["Send"]

[[hubs]]
name = "telemetry"
partitions = 2
"""


@contextmanager
def running_emulator(folder: Path, config_text: str, **kwargs: object) -> Iterator[EmulatorProcess]:
    """An emulator with `config_text` as its configuration and its files in `folder`, stopped at the end."""
    config = folder / "emulator.toml"
    config.write_text(config_text)
    process = EmulatorProcess(config=config, log_file=folder / "emulator.log", **kwargs)  # type: ignore[arg-type]
    process.start()
    try:
        yield process
    finally:
        process.stop()


@contextmanager
def default_emulator(folder: Path) -> Iterator[EmulatorProcess]:
    """An emulator with its default configuration, logging to `folder`/emulator.log, stopped at the end."""
    process = EmulatorProcess(log_file=folder / "emulator.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


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
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    """An emulator keeping its events on disk under tmp_path, so a test can restart it."""
    with running_emulator(tmp_path, TEST_CONFIG, data_dir=tmp_path / "data") as process:
        yield process


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
