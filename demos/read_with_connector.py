"""`make run-connector`: the tutorial's reader, the Scala connector on Spark 3.5 against the emulator.

Starts an emulator with TLS on 5671 (the Java client under the connector dials that port whatever the
connection string says), sends the tutorial's test events with our producer, then reads them as
ReadTweetsFromEventHub does: `format("eventhubs")` from Maven's azure-eventhubs-spark_2.12 2.3.22,
`setMaxEventsPerTrigger(5)` and the connection string through `EventHubsUtils.encrypt` (the job's
`use_connector = true` path), the readable columns, console batches of at most 5. The JVM trusts the
emulator's local CA through a truststore (the JDK's CAs and the local CA, so Ivy still reaches Maven
Central); the client checks the certificate and its host name.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from conf import load_settings
from emulator.process import EmulatorProcess, free_loopback_host
from emulator.tls import LocalCA, ca_dir
from emulator.trust import java_options, java_truststore_with_jdk_cas
from eventhubs.links import AMQPS_PORT
from jobs.datasource.connector import CONNECTOR_JAR, CONNECTOR_PACKAGE, connector_packages_conf
from producers import send_events
from producers.sources.test import test_messages

EVENTS = 25
MAX_EVENTS_PER_TRIGGER = 5
REPOSITORY = Path(__file__).resolve().parent.parent
IVY_DIR = REPOSITORY / ".ivy2"


def endpoint_host(host: str) -> str:
    """The name clients put in the endpoint: localhost for 127.0.0.1 (the certificate names both)."""
    return "localhost" if host == "127.0.0.1" else host


def say_what_ivy_fetches(ivy_dir: Path) -> None:
    if (ivy_dir / CONNECTOR_JAR).exists():
        print(
            f"the connector {CONNECTOR_PACKAGE} is in Ivy's cache ({ivy_dir}): nothing to download",
            flush=True,
        )
        return
    print(
        f"first run: Spark fetches {CONNECTOR_PACKAGE} and its dependencies (azure-eventhubs 3.3.0, "
        f"proton-j 0.33.8, ...; about 42 jars, 13 MB) from Maven Central through Ivy into {ivy_dir}; "
        "later runs read them from there. Ivy lists each one below (a lookup on repos.spark-packages.org, "
        "Spark's second repository, may fail where that host is not reachable: Maven Central has them all).",
        flush=True,
    )


def main() -> int:
    """Run the demo; 0 when every event sent was read back in batches of at most 5."""
    from jobs.local_spark import local_session
    from jobs.read_events import build_stream, start_query, transform

    started = time.monotonic()
    host = free_loopback_host(AMQPS_PORT)
    print(f"starting the Event Hubs emulator (in memory), TLS on {host}:{AMQPS_PORT} ...", flush=True)
    extra = ["--host", host, "--no-websocket", "--health-port", "-1"]
    with EmulatorProcess(extra_args=extra, tls_port=AMQPS_PORT) as emulator:
        local = load_settings("local", connection_string=emulator.connection_string)
        stats = send_events(local, test_messages(), count=EVENTS)
        print(stats.summary(), flush=True)

        ca = LocalCA.load_or_create(ca_dir())
        store = java_truststore_with_jdk_cas(ca)
        print(f"the JVM trusts the emulator's CA {ca.cert_file} through {store}", flush=True)
        azure_style = emulator.azure_connection_string(endpoint_host(host))
        settings = load_settings("local", connection_string=azure_style)
        settings = dataclasses.replace(settings, job=dataclasses.replace(settings.job, use_connector=True))
        print(f"connection string for the connector: {settings.eventhub.connection_string}", flush=True)

        say_what_ivy_fetches(IVY_DIR)
        packages = connector_packages_conf(IVY_DIR, java_options(store))
        spark = local_session("hubstream-connector-demo", packages, log_level="ERROR")
        print(f"Spark {spark.version}; reading with format('eventhubs'), maxEventsPerTrigger 5", flush=True)
        try:
            events = build_stream(spark, settings, max_events_per_trigger=MAX_EVENTS_PER_TRIGGER)
            # The tutorial's default trigger: micro-batch after micro-batch; the connector's source has no
            # admission control, so available-now would read one capped batch and stop.
            checkpoint = tempfile.TemporaryDirectory(prefix="hubstream-connector-checkpoint-")
            query = start_query(
                transform(events, "console"), "console", None, checkpoint.name, "processing-time:0"
            )
            try:
                query.processAllAvailable()
                batches = [p["numInputRows"] for p in query.recentProgress if p["numInputRows"]]
            finally:
                query.stop()
                checkpoint.cleanup()
        finally:
            spark.stop()
    read = sum(batches)
    ok = read == EVENTS and max(batches, default=0) <= MAX_EVENTS_PER_TRIGGER
    print(
        f"{'done' if ok else 'FAILED'}: the Scala connector read {read} of {EVENTS} events in {len(batches)} "
        f"batches of at most {MAX_EVENTS_PER_TRIGGER} ({batches}) in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
