"""Options for the Scala azure-eventhubs-spark connector (`format("eventhubs")`), for Spark 3 clusters.

The connector has no build for Spark 4; on Spark 4 use hubstream's own source (`register(spark)`), which
takes the same option names. `starting_position_json` turns the job's `--starting-position` forms
(`-1`, `@latest`, `seq:N`, an ISO time) into the EventPosition JSON that both sources read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .options import CONNECTION_STRING, CONSUMER_GROUP, MAX_EVENTS, STARTING_POSITION

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from conf import Settings

__all__ = [
    "CONNECTOR_FORMAT",
    "CONNECTOR_JAR",
    "CONNECTOR_PACKAGE",
    "ConnectorError",
    "connector_options",
    "connector_packages_conf",
    "starting_position_json",
    "stop_connector_threads",
]

CONNECTOR_FORMAT = "eventhubs"
CONNECTOR_PACKAGE = "com.microsoft.azure:azure-eventhubs-spark_2.12:2.3.22"
# Where Ivy keeps the connector's jar under `spark.jars.ivy` once it has fetched it.
CONNECTOR_JAR = "jars/com.microsoft.azure_azure-eventhubs-spark_2.12-2.3.22.jar"
_UTILS_CLASS = "org.apache.spark.eventhubs.EventHubsUtils"
# The connector's Java clients run on ScheduledExecutorServices (threadPoolSize, default 16) that it keeps
# per connection string in this object's private `pools` map for the JVM's lifetime, with non-daemon
# threads (pool-N-thread-M) and no public way to shut them down: under spark-submit (Spark 3.5 has no
# spark.submit.callSystemExitOnMainExit, added in Spark 4) they keep the driver's JVM alive after the job.
_THREAD_POOLS_CLASS = "org.apache.spark.eventhubs.client.ClientThreadPool$"
POSITION_FORMS = (
    "'-1' (from the start), '@latest' (new events only), 'seq:N' (a sequence number) or an ISO time"
)


class ConnectorError(RuntimeError):
    """The connector cannot be used here; the message says why and what to do, never the key."""


def starting_position_json(value: str) -> str:
    """`-1`, `@latest`, `seq:N` or an ISO-8601 time as the connector's EventPosition JSON."""
    text = value.strip()
    offset: str | None = None
    seq_no = -1
    enqueued: str | None = None
    if text in ("-1", "@latest"):
        offset = text
    elif text.lower().startswith("seq:"):
        number = text[4:].strip()
        if not number.isdigit():
            raise ValueError(f"starting position {value!r}: seq: needs a sequence number >= 0, e.g. seq:42")
        seq_no = int(number)
    else:
        try:
            time = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"starting position {value!r} is not {POSITION_FORMS}") from None
        # The connector reads a time without a zone as UTC; say so explicitly in the JSON.
        time = time.replace(tzinfo=UTC) if time.tzinfo is None else time.astimezone(UTC)
        enqueued = time.isoformat().replace("+00:00", "Z")
    position: dict[str, Any] = {
        "offset": offset,
        "seqNo": seq_no,
        "enqueuedTime": enqueued,
        "isInclusive": True,
    }
    return json.dumps(position, separators=(",", ":"))


def connector_packages_conf(ivy_dir: str | Path, java_options: str | None = None) -> dict[str, str]:
    """Spark settings that fetch the connector and its dependencies from Maven Central through Ivy, as
    `spark-submit --packages` does, into `ivy_dir` (fetched once, then read from there); `java_options`
    go to the driver's and the executors' JVMs (e.g. a truststore: the Java client checks TLS with the
    JVM's default trust)."""
    conf = {"spark.jars.packages": CONNECTOR_PACKAGE, "spark.jars.ivy": str(Path(ivy_dir).resolve())}
    if java_options:
        conf["spark.driver.extraJavaOptions"] = java_options
        conf["spark.executor.extraJavaOptions"] = java_options
    return conf


def with_entity_path(connection_string: str, hub: str) -> str:
    """The connection string with `EntityPath=hub` added if it has none: the connector reads the hub there."""
    parts = [p for p in connection_string.strip().split(";") if p.strip()]
    if any(p.partition("=")[0].strip().lower() == "entitypath" for p in parts):
        return ";".join(parts)
    return ";".join([*parts, f"EntityPath={hub}"])


def jvm_encrypt(spark: SparkSession) -> Callable[[str], str]:
    """The connector's `EventHubsUtils.encrypt` through py4j, or a ConnectorError saying how to get it."""
    missing = ConnectorError(
        f"the Scala Event Hubs connector ({_UTILS_CLASS}) is not on this Spark's classpath: install the "
        f"Maven library {CONNECTOR_PACKAGE} on the cluster (Spark 3 / Scala 2.12 only), or, on Spark 4, set "
        "use_connector = false in the profile's [job] section to read with hubstream's own source"
    )
    try:
        jvm = spark._jvm  # absent under Spark Connect, which cannot reach the JVM at all
        utils = jvm.org.apache.spark.eventhubs.EventHubsUtils if jvm is not None else None
    except Exception:
        raise missing from None
    # py4j answers an unknown class with a JavaPackage placeholder instead of failing.
    if utils is None or type(utils).__name__ != "JavaClass":
        raise missing

    def encrypt(connection_string: str) -> str:
        return str(utils.encrypt(connection_string))

    return encrypt


def stop_connector_threads(spark: SparkSession) -> int:
    """Shut down the connector's client thread pools in `spark`'s JVM, so that a driver started by
    spark-submit can exit; call it once the queries are stopped. Returns how many pools were shut down
    (0 where the connector never ran or is not on the classpath)."""
    try:
        jvm: Any = spark._jvm  # absent under Spark Connect
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        holder = jvm.java.lang.Class.forName(_THREAD_POOLS_CLASS, True, loader)
        field = holder.getDeclaredField("pools")
    except Exception:  # no JVM, the connector not on the classpath, or a version without this map
        return 0
    field.setAccessible(True)
    pools = field.get(holder.getField("MODULE$").get(None)).valuesIterator()
    stopped = 0
    while pools.hasNext():
        pools.next().shutdownNow()  # interrupts the reactor threads blocked in select()
        stopped += 1
    return stopped


def connector_options(
    settings: Settings,
    spark: SparkSession | None = None,
    *,
    max_events_per_trigger: int,
    starting_position: str,
    encrypt: Callable[[str], str] | None = None,
) -> dict[str, str]:
    """The connector's options for `spark.readStream.format("eventhubs").options(**...)`.

    The connection string gets `EntityPath` if missing and is encrypted with `encrypt` (default: the
    connector's own `EventHubsUtils.encrypt` in `spark`'s JVM), as the connector requires since 2.3.15.
    """
    hub = settings.eventhub
    if hub.connection_string is None:
        raise ConnectorError(
            f"profile {settings.profile!r} is passwordless (fully_qualified_namespace): the Scala connector "
            "needs a connection string; set one, or set use_connector = false to use hubstream's own source"
        )
    alone = [key for key in ("connection_verify", "custom_endpoint_address") if getattr(hub, key)]
    if alone:
        raise ConnectorError(
            f"profile {settings.profile!r} sets {' and '.join(alone)}, which the Scala connector has no "
            "option for: its JVM trusts its own trust store (`python -m emulator ca --java-truststore` "
            "prints the Spark settings) and dials the connection string's host on 5671 (443); remove "
            f"{'it' if len(alone) == 1 else 'them'}, or set use_connector = false to use hubstream's source"
        )
    if encrypt is None:
        if spark is None:
            raise ConnectorError("connector_options needs a SparkSession (spark=...) or an encrypt function")
        encrypt = jvm_encrypt(spark)
    full = with_entity_path(hub.connection_string.reveal(), hub.name)
    if hub.transport == "websocket" and "transporttype=" not in full.lower():
        full = f"{full.rstrip(';')};TransportType=AmqpWebSockets"  # the Java client's own key
    try:
        encrypted = encrypt(full)
    except Exception as e:
        # The exception's text is left out: it could quote the connection string.
        raise ConnectorError(f"encrypting the connection string failed ({type(e).__name__})") from None
    return {
        CONNECTION_STRING: encrypted,
        CONSUMER_GROUP: hub.consumer_group,
        STARTING_POSITION: starting_position_json(starting_position),
        MAX_EVENTS: str(max_events_per_trigger),
    }
