"""An Event Hubs sink for Spark (`df.write` and `df.writeStream`) on the Python Data Source API.

The Scala connector's sink schema: `body` (string or binary, required), then either `partitionId` or
`partitionKey` (string; not both), and optional `properties` (map<string,string>). Other columns are
ignored. Options: the source's connection options (`eventhubs.connectionString`, or
`eventhubs.fullyQualifiedNamespace` with DefaultAzureCredential; `eventhubs.name`;
`eventhubs.operationTimeout`; `eventhubs.transportType`, `eventhubs.connectionVerify`,
`eventhubs.customEndpointAddress`).

Each task sends its rows over one connection with hubstream's own sender (`hubclient.sender`): full Event
Hubs batches, several in flight, and `write()` returns (the task commits) only once the service has
settled every batch. **Delivery is at-least-once**: a task that fails, or is retried by Spark, or a
streaming micro-batch that is run again after a restart, sends its rows again, and events the service
had already stored before the failure are then stored twice. The sink does not use Event Hubs'
idempotent publishing (a preview in some SDKs, not in the Python one), and the service has no
transactions; deduplicate downstream when it matters (e.g. by an id in the body or the properties).

An event larger than the hub accepts fails the task, naming the Spark partition and the row's position
in it; nothing is skipped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql.datasource import DataSourceStreamWriter, DataSourceWriter, WriterCommitMessage
from pyspark.sql.types import BinaryType, MapType, StringType, StructType

from eventhubs.connection_string import ConnectionString, redact
from eventhubs.errors import EventHubsError

from .options import EventHubsOptions, connect

try:  # Arrow batches instead of Rows: 4.0 has it for batch writes, 4.1 for streaming writes
    from pyspark.sql.datasource import DataSourceArrowWriter as _BatchBase
except ImportError:  # pragma: no cover - older pyspark
    _BatchBase = DataSourceWriter  # type: ignore[misc, assignment]
try:
    from pyspark.sql.datasource import DataSourceStreamArrowWriter as _StreamBase
except ImportError:  # pragma: no cover - pyspark 4.0
    _StreamBase = DataSourceStreamWriter  # type: ignore[misc, assignment]

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Row

__all__ = [
    "EventHubsSinkError",
    "EventHubsStreamWriter",
    "EventHubsWriteError",
    "EventHubsWriter",
    "SinkColumns",
    "SinkOptions",
    "check_append",
    "sink_columns",
    "write_rows",
]

BODY, PARTITION_ID, PARTITION_KEY, PROPERTIES = "body", "partitionId", "partitionKey", "properties"
IN_FLIGHT = 8

log = logging.getLogger(__name__)


class EventHubsSinkError(ValueError):
    """The DataFrame or the options cannot be written to Event Hubs; the message says what to change."""


class EventHubsWriteError(RuntimeError):
    """Sending failed; the message names the hub, the Spark partition and the row, never the key."""


@dataclass(frozen=True)
class SinkColumns:
    """Which sink columns the DataFrame has; checked on the driver before any task starts."""

    body_is_binary: bool
    partition_id: bool = False
    partition_key: bool = False
    properties: bool = False


def sink_columns(schema: StructType) -> SinkColumns:
    """The sink columns of `schema`, or an EventHubsSinkError naming the column and the fix."""
    fields = {f.name: f.dataType for f in schema.fields}
    body = fields.get(BODY)
    if body is None:
        raise EventHubsSinkError(
            f"the Event Hubs sink needs a column '{BODY}' (string or binary); the DataFrame has "
            f"{sorted(fields)}: select or alias one, e.g. to_json(struct(*)).alias('{BODY}')"
        )
    if not isinstance(body, StringType | BinaryType):
        raise EventHubsSinkError(
            f"column '{BODY}' must be string or binary, not {body.simpleString()}: cast it"
        )
    if PARTITION_ID in fields and PARTITION_KEY in fields:
        raise EventHubsSinkError(
            f"the DataFrame has both '{PARTITION_ID}' and '{PARTITION_KEY}': an event goes to a partition "
            f"id or is hashed by a partition key, not both; drop one of the two columns"
        )
    for name in (PARTITION_ID, PARTITION_KEY):
        if name in fields and not isinstance(fields[name], StringType):
            raise EventHubsSinkError(
                f"column '{name}' must be a string, not {fields[name].simpleString()}: cast it"
            )
    props = fields.get(PROPERTIES)
    if props is not None and not (
        isinstance(props, MapType)
        and isinstance(props.keyType, StringType)
        and isinstance(props.valueType, StringType)
    ):
        raise EventHubsSinkError(
            f"column '{PROPERTIES}' must be map<string,string>, not {props.simpleString()}"
        )
    return SinkColumns(
        body_is_binary=isinstance(body, BinaryType),
        partition_id=PARTITION_ID in fields,
        partition_key=PARTITION_KEY in fields,
        properties=props is not None,
    )


def check_append(overwrite: bool) -> None:
    """Event Hubs only appends: an overwrite (save mode overwrite, output mode complete) is refused."""
    if overwrite:
        raise EventHubsSinkError(
            "Event Hubs only appends events: use .mode('append') for df.write, or output mode "
            "'append' or 'update' for df.writeStream (a hub cannot be overwritten)"
        )


@dataclass(frozen=True)
class SinkOptions:
    """What a task needs to connect; the connection string's repr shows no key."""

    connection_string: ConnectionString | None
    fully_qualified_namespace: str | None
    hub: str
    operation_timeout_s: float = 60.0
    in_flight: int = IN_FLIGHT
    websocket: bool = False
    ca_pem: str | None = field(default=None, repr=False)  # the connectionVerify option's certificates
    custom_endpoint_address: str | None = None

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> SinkOptions:
        """The source's connection options, parsed by the source's own parser (`options.py`)."""
        parsed = EventHubsOptions.parse(options)
        return cls.of(parsed)

    @classmethod
    def of(cls, parsed: EventHubsOptions) -> SinkOptions:
        return cls(
            parsed.connection_string,
            parsed.fully_qualified_namespace,
            parsed.name,
            parsed.operation_timeout_s,
            websocket=parsed.websocket,
            ca_pem=parsed.ca_pem,
            custom_endpoint_address=parsed.custom_endpoint_address,
        )

    def redact(self, text: str) -> str:
        return redact(text, *(self.connection_string.secrets() if self.connection_string else ()))


@dataclass
class EventHubsCommitMessage(WriterCommitMessage):
    """What one task sent, as the service confirmed it."""

    events: int
    batches: int
    bytes: int


Event = tuple[Any, str | None, str | None, Any]  # body, partition id, partition key, properties


def _from_rows(rows: Iterable[Row], columns: SinkColumns) -> Iterator[Event]:
    for row in rows:
        yield (
            row[BODY],
            row[PARTITION_ID] if columns.partition_id else None,
            row[PARTITION_KEY] if columns.partition_key else None,
            row[PROPERTIES] if columns.properties else None,
        )


def _from_arrow(batch: pa.RecordBatch, columns: SinkColumns) -> Iterator[Event]:
    bodies = batch.column(BODY).to_pylist()
    count = len(bodies)
    none = [None] * count
    ids = batch.column(PARTITION_ID).to_pylist() if columns.partition_id else none
    keys = batch.column(PARTITION_KEY).to_pylist() if columns.partition_key else none
    props = batch.column(PROPERTIES).to_pylist() if columns.properties else none
    return zip(bodies, ids, keys, props, strict=True)


def _events(data: Iterable[Any], columns: SinkColumns) -> Iterator[Event]:
    """Events from Spark's input: Arrow record batches (4.0+ batch, 4.1+ streaming) or Rows."""
    import pyarrow as pa

    for item in data:
        if isinstance(item, pa.RecordBatch):
            yield from _from_arrow(item, columns)
        else:
            yield from _from_rows((item,), columns)


def write_rows(
    options: SinkOptions, columns: SinkColumns, data: Iterable[Any], where: str
) -> EventHubsCommitMessage:
    """Send `data` (Rows or Arrow batches with the sink columns) and wait for every batch to be settled.

    `where` names the Spark partition in errors; a row's position counts from 0 within it.
    """
    from eventhubs.events import encode_event  # executors import the client here, not at planning time
    from hubclient.sender import EventSender, EventTooLargeError

    endpoint = connect(options.connection_string, options.fully_qualified_namespace, options.hub, options)
    sender = EventSender(endpoint, timeout_s=options.operation_timeout_s, in_flight=options.in_flight)
    position = -1
    try:
        sender.open()
        send = sender.send_encoded
        for position, (body, partition_id, key, properties) in enumerate(_events(data, columns)):
            if body is None:
                raise EventHubsWriteError(
                    f"event hub {options.hub!r}, {where}, row {position}: '{BODY}' is null "
                    "(every event needs one)"
                )
            if isinstance(body, str):
                body = body.encode("utf-8")
            if properties is not None and not isinstance(properties, dict):
                properties = dict(properties)  # Arrow gives a map as (key, value) pairs
            try:
                send(encode_event(body, properties, key), partition_id, key)
            except EventTooLargeError as exc:
                raise EventHubsWriteError(
                    f"event hub {options.hub!r}, {where}, row {position}: an event of {exc.size:,} bytes "
                    f"(encoded, with its properties) is larger than the hub accepts ({exc.limit:,} bytes); "
                    "nothing is skipped: shorten or split it, or filter such rows out"
                ) from None
        stats = sender.flush()
    except EventHubsError as exc:
        at = f", after row {position}" if position >= 0 else ""
        raise EventHubsWriteError(options.redact(f"{where}{at}: {exc.description}")) from None
    finally:
        sender.close()
    return EventHubsCommitMessage(stats.events, stats.batches, stats.bytes)


def _task() -> str:
    from pyspark import TaskContext

    context = TaskContext.get()
    return "Spark partition ?" if context is None else f"Spark partition {context.partitionId()}"


class EventHubsWriter(_BatchBase):
    """`df.write.format("hubstream-eventhubs")`: append the rows to the hub, at least once."""

    def __init__(self, options: SinkOptions, columns: SinkColumns) -> None:
        self.options = options
        self.columns = columns

    def write(self, iterator: Iterator[Any]) -> WriterCommitMessage:
        return write_rows(self.options, self.columns, iterator, _task())

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        _log_commit(self.options, messages, "write")

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        # Batches the service settled before the failure stay in the hub: nothing can take them back.
        log.warning("writing to event hub %r failed; events already confirmed stay there", self.options.hub)


class EventHubsStreamWriter(_StreamBase):
    """`df.writeStream.format("hubstream-eventhubs")`: each micro-batch's rows, at least once."""

    def __init__(self, options: SinkOptions, columns: SinkColumns) -> None:
        self.options = options
        self.columns = columns

    def write(self, iterator: Iterator[Any]) -> WriterCommitMessage:
        return write_rows(self.options, self.columns, iterator, _task())

    def commit(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:
        _log_commit(self.options, messages, f"micro-batch {batchId}")

    def abort(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:
        log.warning(
            "micro-batch %d to event hub %r failed; it is sent again when the query restarts, and events "
            "already confirmed are then in the hub twice (at-least-once)",
            batchId,
            self.options.hub,
        )


def _log_commit(options: SinkOptions, messages: list[WriterCommitMessage | None], what: str) -> None:
    sent = [m for m in messages if isinstance(m, EventHubsCommitMessage)]
    log.info(
        "%s: %d events in %d batches to event hub %r",
        what,
        sum(m.events for m in sent),
        sum(m.batches for m in sent),
        options.hub,
    )
