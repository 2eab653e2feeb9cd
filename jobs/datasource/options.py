"""Options of the Event Hubs source, parsed and checked once, with errors that name the option."""

from __future__ import annotations

import json
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from eventhubs.connection_string import ConnectionString, ConnectionStringError, parse_connection_string
from eventhubs.links import CustomEndpoint

if TYPE_CHECKING:
    from hubclient.connection import Endpoint

CONNECTION_STRING = "eventhubs.connectionString"
NAMESPACE = "eventhubs.fullyQualifiedNamespace"
NAME = "eventhubs.name"
CONSUMER_GROUP = "eventhubs.consumerGroup"
STARTING_POSITION = "eventhubs.startingPosition"
STARTING_POSITIONS = "eventhubs.startingPositions"
# Batch reads only (spark.read), as in the Scala connector; the same JSON as the starting positions.
ENDING_POSITION = "eventhubs.endingPosition"
ENDING_POSITIONS = "eventhubs.endingPositions"
MAX_EVENTS = "maxEventsPerTrigger"
MIN_EVENTS = "minEventsPerTrigger"
MAX_TRIGGER_DELAY = "maxTriggerDelay"
FAIL_ON_DATA_LOSS = "failOnDataLoss"
RECEIVER_TIMEOUT = "eventhubs.receiverTimeout"
OPERATION_TIMEOUT = "eventhubs.operationTimeout"
# The Java client's connection string key and values (TransportType=AmqpWebSockets); the Python SDK's
# name for WebSockets (AmqpOverWebsocket) is accepted too.
TRANSPORT_TYPE = "eventhubs.transportType"
# hubstream's own: keep partition receivers open between micro-batches (receivers.py), closing those
# idle this long.
KEEP_RECEIVERS = "keepReceivers"
KEPT_RECEIVER_IDLE_TIMEOUT = "keptReceiverIdleTimeout"
_TRANSPORTS = {"amqp": False, "amqpwebsockets": True, "amqpoverwebsocket": True}
# The azure-eventhub SDK's `connection_verify` and `custom_endpoint_address` (the Java SDK's builder calls
# the latter customEndpointAddress; the Scala connector has neither: its JVM trusts its trust store).
# connectionVerify: a PEM file of the CAs to trust, read where the query is planned, or the PEM text
# itself; its certificates travel to the executors with the tasks, so no file is needed there.
CONNECTION_VERIFY = "eventhubs.connectionVerify"
CUSTOM_ENDPOINT_ADDRESS = "eventhubs.customEndpointAddress"
_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_BLOCK = re.compile(rf"{_PEM_BEGIN}[A-Za-z0-9+/=\s]*?-----END CERTIFICATE-----")

KNOWN_OPTIONS = (
    CONNECTION_STRING,
    NAMESPACE,
    NAME,
    CONSUMER_GROUP,
    STARTING_POSITION,
    STARTING_POSITIONS,
    ENDING_POSITION,
    ENDING_POSITIONS,
    MAX_EVENTS,
    MIN_EVENTS,
    MAX_TRIGGER_DELAY,
    FAIL_ON_DATA_LOSS,
    RECEIVER_TIMEOUT,
    OPERATION_TIMEOUT,
    TRANSPORT_TYPE,
    CONNECTION_VERIFY,
    CUSTOM_ENDPOINT_ADDRESS,
    KEEP_RECEIVERS,
    KEPT_RECEIVER_IDLE_TIMEOUT,
)

_POSITION_KEYS = {"offset", "seqNo", "enqueuedTime", "isInclusive"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_DURATION_UNITS_MS = {
    "": 1.0,  # Spark reads a bare number as milliseconds
    "us": 0.001,
    "ms": 1.0,
    "s": 1000.0,
    "sec": 1000.0,
    "second": 1000.0,
    "seconds": 1000.0,
    "m": 60_000.0,
    "min": 60_000.0,
    "mins": 60_000.0,
    "minute": 60_000.0,
    "minutes": 60_000.0,
    "h": 3_600_000.0,
    "hour": 3_600_000.0,
    "hours": 3_600_000.0,
    "d": 86_400_000.0,
    "day": 86_400_000.0,
    "days": 86_400_000.0,
}


class EventHubsOptionError(ValueError):
    """A source option is missing or has a bad value; the message names the option and the fix."""


@dataclass(frozen=True)
class EventPosition:
    """Where to start in a partition: exactly one of offset, sequence number or enqueued time."""

    offset: str | None = None  # "-1" = from the start, "@latest" = only new events, else an offset
    seq_no: int | None = None
    enqueued_time: datetime | None = None
    inclusive: bool = True

    @classmethod
    def earliest(cls) -> EventPosition:
        return cls(offset="-1")


@dataclass(frozen=True)
class EventHubsOptions:
    """The source's options; the connection string's repr shows no key."""

    connection_string: ConnectionString | None
    fully_qualified_namespace: str | None
    name: str
    consumer_group: str = "$Default"
    starting_position: EventPosition = field(default_factory=EventPosition.earliest)
    starting_positions: Mapping[str, EventPosition] = field(default_factory=dict)
    ending_position: EventPosition | None = None  # None: the latest event when the read is planned
    ending_positions: Mapping[str, EventPosition] = field(default_factory=dict)
    max_events_per_trigger: int | None = None  # None: 1000 per partition, as the Scala connector
    min_events_per_trigger: int | None = None
    max_trigger_delay_s: float = 900.0
    fail_on_data_loss: bool = True
    receiver_timeout_s: float = 60.0
    operation_timeout_s: float = 60.0
    websocket: bool = False  # AMQP over WebSockets (wss, port 443) instead of AMQP over TLS (5671)
    ca_pem: str | None = field(default=None, repr=False)  # connectionVerify's certificates; not secret
    custom_endpoint_address: str | None = None
    keep_receivers: bool = False
    kept_receiver_idle_timeout_s: float = 60.0

    def endpoint(self) -> Endpoint:
        """Where and how this hub is reached, by the driver and by the executors alike."""
        return connect(self.connection_string, self.fully_qualified_namespace, self.name, self)

    def position_for(self, partition_id: str) -> EventPosition:
        return self.starting_positions.get(partition_id, self.starting_position)

    def ending_for(self, partition_id: str) -> EventPosition | None:
        return self.ending_positions.get(partition_id, self.ending_position)

    @property
    def has_ending(self) -> bool:
        return self.ending_position is not None or bool(self.ending_positions)

    def max_events(self, partition_count: int) -> int:
        if self.max_events_per_trigger is not None:
            return self.max_events_per_trigger
        return max(1, partition_count) * 1000

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> EventHubsOptions:
        """Parse Spark's options (names case-insensitive) and check every value."""
        lowered = {str(k).lower(): v for k, v in options.items()}

        def get(name: str) -> str | None:
            value = lowered.get(name.lower())
            return None if value is None else str(value)

        connection_string = get(CONNECTION_STRING)
        namespace = get(NAMESPACE)
        name = get(NAME)
        if connection_string is not None and not connection_string.strip():
            raise EventHubsOptionError(
                f"{CONNECTION_STRING} is empty: give the namespace's connection string"
            )
        parsed: ConnectionString | None = None
        if connection_string:
            try:
                parsed = parse_connection_string(connection_string, where=CONNECTION_STRING)
            except ConnectionStringError as e:
                raise EventHubsOptionError(str(e)) from None
            entity = parsed.entity_path
            if entity and name and entity != name:
                raise EventHubsOptionError(
                    f"{NAME} is {name!r} but the EntityPath of {CONNECTION_STRING} is {entity!r}: "
                    f"drop one of them or make them match"
                )
            name = name or entity
        elif not namespace:
            raise EventHubsOptionError(
                f"{CONNECTION_STRING} is required (or {NAMESPACE} with {NAME} to sign in with "
                f"DefaultAzureCredential): set .option('{CONNECTION_STRING}', ...)"
            )
        if not name:
            raise EventHubsOptionError(
                f"{NAME} is required: set .option('{NAME}', '<event hub>') or add EntityPath=<event hub> "
                f"to {CONNECTION_STRING}"
            )
        consumer_group = get(CONSUMER_GROUP) or "$Default"

        starting = get(STARTING_POSITION)
        position = parse_position(STARTING_POSITION, starting) if starting else EventPosition.earliest()
        positions_text = get(STARTING_POSITIONS)
        positions = parse_positions(positions_text, name) if positions_text else {}
        ending = get(ENDING_POSITION)
        ending_text = get(ENDING_POSITIONS)

        max_events = _positive_int(MAX_EVENTS, get(MAX_EVENTS))
        min_events = _positive_int(MIN_EVENTS, get(MIN_EVENTS))
        if max_events is not None and min_events is not None and min_events > max_events:
            raise EventHubsOptionError(
                f"{MIN_EVENTS} ({min_events}) is larger than {MAX_EVENTS} ({max_events}): "
                f"lower {MIN_EVENTS} or raise {MAX_EVENTS}"
            )
        delay = get(MAX_TRIGGER_DELAY)
        transport = (get(TRANSPORT_TYPE) or "Amqp").strip()
        if transport.lower() not in _TRANSPORTS:
            raise EventHubsOptionError(
                f"{TRANSPORT_TYPE} {transport!r} is not Amqp (TLS, port 5671) or AmqpWebSockets "
                "(wss, port 443)"
            )
        return cls(
            connection_string=parsed,
            fully_qualified_namespace=namespace,
            name=name,
            consumer_group=consumer_group,
            starting_position=position,
            starting_positions=positions,
            ending_position=parse_position(ENDING_POSITION, ending) if ending else None,
            ending_positions=parse_positions(ending_text, name, ENDING_POSITIONS) if ending_text else {},
            max_events_per_trigger=max_events,
            min_events_per_trigger=min_events,
            max_trigger_delay_s=parse_duration(MAX_TRIGGER_DELAY, delay) if delay else 900.0,
            fail_on_data_loss=_bool(FAIL_ON_DATA_LOSS, get(FAIL_ON_DATA_LOSS), True),
            receiver_timeout_s=_seconds(RECEIVER_TIMEOUT, get(RECEIVER_TIMEOUT), 60.0),
            operation_timeout_s=_seconds(OPERATION_TIMEOUT, get(OPERATION_TIMEOUT), 60.0),
            websocket=_TRANSPORTS[transport.lower()],
            ca_pem=read_ca(get(CONNECTION_VERIFY)),
            custom_endpoint_address=_custom_endpoint(get(CUSTOM_ENDPOINT_ADDRESS)),
            keep_receivers=_bool(KEEP_RECEIVERS, get(KEEP_RECEIVERS), False),
            kept_receiver_idle_timeout_s=_seconds(
                KEPT_RECEIVER_IDLE_TIMEOUT, get(KEPT_RECEIVER_IDLE_TIMEOUT), 60.0
            ),
        )


class Reach(Protocol):
    """How a hub is reached beyond its address: the options, a partition to read, the sink's options."""

    @property
    def websocket(self) -> bool: ...
    @property
    def ca_pem(self) -> str | None: ...
    @property
    def custom_endpoint_address(self) -> str | None: ...


def connect(
    connection_string: ConnectionString | None,
    namespace: str | None,
    hub: str,
    reach: Reach,
) -> Endpoint:
    """The Endpoint for `hub`, reached as `reach` says (its websocket, ca_pem, custom_endpoint_address)."""
    from hubclient.connection import Endpoint  # executors import the client here, not at planning time

    return Endpoint.connect_to(
        connection_string, namespace, hub, websocket=reach.websocket, ca_pem=reach.ca_pem,
        ca_option=CONNECTION_VERIFY, custom_endpoint_address=reach.custom_endpoint_address,
    )  # fmt: skip


def read_ca(value: str | None) -> str | None:
    """connectionVerify's certificates as PEM text: from the value itself, or from the file it names."""
    if value is None:
        return None
    text = value.strip()
    given = "the PEM text given" if text.startswith(_PEM_BEGIN) else repr(value)
    if not text.startswith(_PEM_BEGIN):
        try:
            with open(os.path.expanduser(text), encoding="utf-8", errors="replace") as file:
                text = file.read()
        except FileNotFoundError:
            raise EventHubsOptionError(
                f"{CONNECTION_VERIFY} = {value!r}: no such file where the query is planned; give the path "
                "of the PEM file of the CA to trust (the emulator's: `python -m emulator ca`) or its text"
            ) from None
        except OSError as e:
            raise EventHubsOptionError(f"{CONNECTION_VERIFY} = {value!r} cannot be read: {e}") from None
    pem = "\n".join(_PEM_BLOCK.findall(text))  # a bundle's comments stay behind
    try:
        if not pem:
            raise ValueError("no certificate in it")
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError) as e:
        raise EventHubsOptionError(
            f"{CONNECTION_VERIFY} = {given} holds no usable CA certificate ({e}): give a PEM file with "
            f"{_PEM_BEGIN} blocks"
        ) from None
    return pem


def _custom_endpoint(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        CustomEndpoint.parse(value.strip())
    except ValueError as e:
        raise EventHubsOptionError(f"{CUSTOM_ENDPOINT_ADDRESS}: {e}") from None
    return value.strip()


def _json(option: str, text: str, example: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise EventHubsOptionError(f"{option} is not valid JSON ({e.msg}): expected e.g. {example}") from None


def parse_position(option: str, text: str | Mapping[str, Any]) -> EventPosition:
    """The connector's EventPosition JSON: offset, seqNo, enqueuedTime (one of them) and isInclusive."""
    data = _json(option, text, '{"offset": "-1", "isInclusive": true}') if isinstance(text, str) else text
    if not isinstance(data, dict):
        raise EventHubsOptionError(f'{option} must be a JSON object such as {{"seqNo": 42}}')
    unknown = sorted(set(data) - _POSITION_KEYS)
    if unknown:
        raise EventHubsOptionError(
            f"{option} has unknown key(s) {unknown}: use offset, seqNo, enqueuedTime and isInclusive"
        )
    offset, seq_no, enqueued = data.get("offset"), data.get("seqNo"), data.get("enqueuedTime")
    # The connector writes unused fields as null and an unused seqNo as -1.
    if seq_no is not None and (isinstance(seq_no, bool) or not isinstance(seq_no, int) or seq_no < -1):
        raise EventHubsOptionError(f"{option}: seqNo must be a sequence number >= 0 (or -1 for unset)")
    if seq_no == -1:
        seq_no = None
    if offset is not None:
        if isinstance(offset, bool) or not isinstance(offset, int | str):
            raise EventHubsOptionError(
                f'{option}: offset must be "-1", "@latest" or an offset such as "1024"'
            )
        offset = str(offset)
        if offset not in ("-1", "@latest") and not offset.isdigit():
            raise EventHubsOptionError(
                f'{option}: offset {offset!r} is not "-1" (start), "@latest" (end) or a number'
            )
    time: datetime | None = None
    if enqueued is not None:
        time = _iso_time(option, enqueued)
    chosen = [k for k, v in (("offset", offset), ("seqNo", seq_no), ("enqueuedTime", time)) if v is not None]
    if len(chosen) > 1:
        raise EventHubsOptionError(
            f"{option} sets {' and '.join(chosen)}: set only one of offset, seqNo and enqueuedTime"
        )
    if not chosen:
        raise EventHubsOptionError(
            f'{option} sets none of offset, seqNo and enqueuedTime: e.g. {{"offset": "-1"}}'
        )
    inclusive = data.get("isInclusive", True)
    if not isinstance(inclusive, bool):
        raise EventHubsOptionError(f"{option}: isInclusive must be true or false")
    return EventPosition(offset=offset, seq_no=seq_no, enqueued_time=time, inclusive=inclusive)


def parse_positions(text: str, hub: str, option: str = STARTING_POSITIONS) -> dict[str, EventPosition]:
    """Per-partition positions: keys `{"ehName": .., "partitionId": ..}` (JSON in a string) or a bare id."""
    data = _json(option, text, '{"<partition id>": {"seqNo": 42}, ...}')
    if not isinstance(data, dict):
        raise EventHubsOptionError(f"{option} must be a JSON object keyed by partition")
    positions: dict[str, EventPosition] = {}
    for key, value in data.items():
        partition = _partition_key(key, hub, option)
        positions[partition] = parse_position(f"{option}[{partition}]", value)
    return positions


def _partition_key(key: str, hub: str, option: str) -> str:
    text = key.strip()
    if text.isdigit():
        return str(int(text))
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or "partitionId" not in data:
        raise EventHubsOptionError(
            f'{option}: key {key!r} is neither a partition id nor {{"ehName": "{hub}", "partitionId": 0}}'
        )
    name = data.get("ehName")
    if name is not None and name != hub:
        raise EventHubsOptionError(
            f"{option}: key {key!r} names event hub {name!r}, but this source reads {hub!r}"
        )
    partition = data["partitionId"]
    if isinstance(partition, bool) or not str(partition).isdigit():
        raise EventHubsOptionError(f"{option}: key {key!r} has a partitionId that is not a number")
    return str(int(partition))


def parse_duration(option: str, text: str) -> float:
    """Spark/Kafka-style duration ('15m', '30s', '500ms', '1 hour'; a bare number is ms) in seconds."""
    match = _DURATION.match(text.lower())
    if not match or match.group(2) not in _DURATION_UNITS_MS:
        raise EventHubsOptionError(f"{option} {text!r} is not a duration: use e.g. '15m', '30s' or '500ms'")
    return float(match.group(1)) * _DURATION_UNITS_MS[match.group(2)] / 1000.0


def _iso_time(option: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise EventHubsOptionError(
            f"{option}: enqueuedTime must be an ISO-8601 string such as 2024-05-01T12:00:00Z"
        )
    try:
        time = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise EventHubsOptionError(
            f"{option}: enqueuedTime {value!r} is not ISO-8601: use e.g. 2024-05-01T12:00:00Z"
        ) from None
    # The connector reads a time without a zone as UTC.
    return time if time.tzinfo else time.replace(tzinfo=UTC)


def _positive_int(option: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        raise EventHubsOptionError(f"{option} {text!r} is not a whole number: use e.g. 10000") from None
    if value <= 0:
        raise EventHubsOptionError(f"{option} must be positive, got {value}")
    return value


def _bool(option: str, text: str | None, default: bool) -> bool:
    if text is None:
        return default
    if text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    raise EventHubsOptionError(f"{option} {text!r} is not true or false")


def _seconds(option: str, text: str | None, default: float) -> float:
    """Seconds as a number ('60'), or a duration ('1m', '30s')."""
    if text is None:
        return default
    try:
        value = float(text.strip())
    except ValueError:
        value = parse_duration(option, text)
    if value <= 0:
        raise EventHubsOptionError(f"{option} must be a positive number of seconds, got {text!r}")
    return value
