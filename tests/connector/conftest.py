"""The Scala connector on Spark 3.5 against one emulator over TLS: `make test-connector` runs these.

They need pyspark 3.5 (.venv-spark3) and the connector's jar (Maven Central through Ivy into .ivy2/);
under Spark 4 (`make test`) nothing here is collected. The emulator serves TLS on 5671 of a loopback
address of its own (the Java client dials 5671 whatever the endpoint says), with a CA made for the run;
the JVM trusts it through a truststore (the JDK's CAs and that CA, so Ivy still reaches Maven Central).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyspark
import pytest

if int(pyspark.__version__.split(".")[0]) >= 4:
    # The connector has no build for Spark 4: these run under make test-connector, in .venv-spark3.
    collect_ignore_glob = ["test_*.py"]

from conf import Settings, load_settings
from emulator.process import EmulatorProcess, free_loopback_host
from emulator.tls import LocalCA
from emulator.trust import java_options, java_truststore_with_jdk_cas
from eventhubs.links import AMQPS_PORT
from jobs.datasource.connector import connector_packages_conf

REPOSITORY = Path(__file__).resolve().parents[2]
IVY_DIR = Path(os.environ.get("HUBSTREAM_IVY_DIR", REPOSITORY / ".ivy2"))
# One hub per test module or test, so no test sees another's events.
HUBS = {"reads": 2, "positions": 1, "restart": 2, "epochs": 2, "parity": 2, "submit": 1}
CONFIG = "\n".join(
    ['namespace = "emulator"', "[keys]", 'RootManageSharedAccessKey = "SAS_KEY_VALUE"']
    + [
        f'[[hubs]]\nname = "{name}"\npartitions = {count}\nconsumer_groups = ["other"]'
        for name, count in HUBS.items()
    ]
)


@dataclasses.dataclass(frozen=True)
class ConnectorHub:
    """The emulator as both sides see it: our producer on plain AMQP, the connector over TLS."""

    emulator: EmulatorProcess
    host: str  # what the connector's endpoint names (the certificate names it)

    @property
    def development_connection_string(self) -> str:
        return self.emulator.connection_string

    def settings(self, hub: str, **job: Any) -> Settings:
        """The job's settings for `hub` with use_connector = true and an Azure-style connection string."""
        base = load_settings("local", connection_string=self.emulator.azure_connection_string(self.host))
        return dataclasses.replace(
            base,
            eventhub=dataclasses.replace(base.eventhub, name=hub),
            job=dataclasses.replace(base.job, use_connector=True, **job),
        )


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return LocalCA.load_or_create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def connector_hub(tmp_path_factory: pytest.TempPathFactory, ca: LocalCA) -> Iterator[ConnectorHub]:
    folder = tmp_path_factory.mktemp("emulator")
    config = folder / "config.toml"
    config.write_text(CONFIG)
    for attempt in range(3):  # another process may take the address between the probe and the start
        host = free_loopback_host(AMQPS_PORT, prefer_localhost=False)
        extra = ["--host", host, "--no-websocket", "--health-port", "-1"]
        process = EmulatorProcess(
            config=config, extra_args=extra, ca_dir=ca.directory, tls_port=AMQPS_PORT, log_file=folder / "log"
        )
        try:
            process.start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
    with process:
        yield ConnectorHub(process, host)


@pytest.fixture(scope="session")
def spark(ca: LocalCA) -> Iterator[Any]:
    from jobs.local_spark import local_session

    store = java_truststore_with_jdk_cas(ca)
    session = local_session(
        "hubstream-connector-tests", connector_packages_conf(IVY_DIR, java_options(store))
    )
    yield session
    session.stop()
