"""One client connection's Event Hubs behaviour, on top of the sans-I/O AMQP connection.

The handler reads the connection's events and answers them: `$cbs` put-token requests, `$management`
reads, producers' messages into the namespace, consumers' credit with stored events. It does no I/O:
after any call the transport sends `connection.data_to_send()`; `wake` asks it to do so when events
arrive from another connection's producer.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from amqp10.connection import (
    SENDER,
    Connection,
    ConnectionClosed,
    ConnectionOpened,
    CreditGranted,
    Event,
    Link,
    LinkAttaching,
    LinkDetached,
    LinkState,
    MessageReceived,
)
from amqp10.errors import DecodeError
from amqp10.message import Message, Properties
from amqp10.performatives import Error
from amqp10.types import Array, Symbol, Timestamp

from ..config import HubConfig
from ..storage import PartitionLog
from . import events
from .auth import AuthError, Claim, token_audience, validate_sas_token
from .namespace import EntityError, Namespace, Receiver
from .selector import SelectorError, parse_selector

log = logging.getLogger("emulator.connection")

CBS = "$cbs"
MANAGEMENT = "$management"
SELECTOR_FILTER = Symbol("apache.org:selector-filter:string")
EPOCH = Symbol("com.microsoft:epoch")
RUNTIME_METRIC = Symbol("com.microsoft:enable-receiver-runtime-metric")
READ_BATCH = 256


@dataclass
class _Replies:
    """A link on which we answer requests to a node ($cbs, $management)."""

    node: str
    outbox: deque[bytes] = field(default_factory=deque)


@dataclass
class _Requests:
    node: str


@dataclass
class _Publisher:
    hub: HubConfig
    partition_id: str | None


@dataclass
class _Consumer:
    hub: HubConfig
    log: PartitionLog
    receiver: Receiver
    next_sequence: int
    track_last_enqueued: bool
    listener: Callable[[], None]


class Handler:
    def __init__(
        self,
        namespace: Namespace,
        connection: Connection,
        *,
        wake: Callable[[], None] = lambda: None,
        peer: str = "?",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.namespace = namespace
        self.connection = connection
        self.wake = wake
        self.peer = peer
        self.clock = clock
        self.claims: list[Claim] = []
        self._consumers: list[Link] = []

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer and act on every event they complete. ProtocolErrors propagate."""
        self.connection.receive_data(data, now=time.monotonic())
        while True:
            event = self.connection.next_event()
            if not isinstance(event, Event):  # NEED_DATA
                return
            self._on_event(event)

    def connection_lost(self) -> None:
        for link in list(self._consumers):
            self._drop_consumer(link)

    # ---- dispatch ---------------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, MessageReceived):
            self._on_message(event)
        elif isinstance(event, CreditGranted):
            self._on_credit(event.link)
        elif isinstance(event, LinkAttaching):
            self._on_attach(event.link)
        elif isinstance(event, LinkDetached):
            if isinstance(event.link.context, _Consumer):
                self._drop_consumer(event.link)
        elif isinstance(event, ConnectionOpened):
            log.info("%s opened connection (container %s)", self.peer, event.container_id)
        elif isinstance(event, ConnectionClosed):
            self.connection_lost()

    def _on_attach(self, link: Link) -> None:
        address = entity_path(link.address or "")
        try:
            if address in (CBS, MANAGEMENT):
                link.context = _Replies(address) if link.role == SENDER else _Requests(address)
                self.connection.accept_attach(link)
            elif link.role == SENDER:
                self._attach_consumer(link, address)
            else:
                self._attach_publisher(link, address)
        except EntityError as exc:
            log.info("%s: refused link to %r: %s", self.peer, address, exc.description)
            if link.state is LinkState.ATTACHING:
                self.connection.refuse_attach(link, Error(exc.condition, exc.description))
            else:
                self.connection.detach(link, Error(exc.condition, exc.description))

    # ---- authorization ----------------------------------------------------------------------------------

    def _authorized(self, entity_path: str) -> bool:
        now = self.clock()
        wanted = entity_path.strip("/").lower()
        for claim in self.claims:
            if claim.expires_at <= now:
                continue
            granted = urlsplit(claim.audience).path.strip("/").lower()
            if not granted or wanted == granted or wanted.startswith(granted + "/"):
                return True
        return False

    def _authorize(self, entity_path: str) -> None:
        if self._authorized(entity_path):
            return
        raise EntityError(
            "amqp:unauthorized-access",
            f"Unauthorized access to '{entity_path}': send a valid SAS token for it to $cbs first "
            "(check the connection string's SharedAccessKeyName and SharedAccessKey).",
        )

    # ---- publishers -------------------------------------------------------------------------------------

    def _attach_publisher(self, link: Link, address: str) -> None:
        parts = address.strip("/").split("/")
        hub = self.namespace.hub(parts[0])
        partition_id = None
        if len(parts) == 3 and parts[1].lower() == "partitions":
            partition_id = self.namespace.check_partition(hub, parts[2])
        elif len(parts) != 1:
            raise EntityError(
                "amqp:not-found",
                f"'{address}' is not a sender address: use '<hub>' or '<hub>/Partitions/<id>'.",
            )
        self._authorize(hub.name)
        link.context = _Publisher(hub, partition_id)
        self.connection.accept_attach(link, max_message_size=self.namespace.config.max_message_bytes)
        log.info("%s: producer attached to %s", self.peer, address)

    def _on_message(self, event: MessageReceived) -> None:
        ctx = event.link.context
        error: Error | None = None
        try:
            if isinstance(ctx, _Publisher):
                messages, key = events.unpack(event.payload, event.message_format)
                self.namespace.publish(ctx.hub, ctx.partition_id, messages, key)
            elif isinstance(ctx, _Requests):
                self._on_request(ctx.node, event.payload)
            else:
                error = Error("amqp:not-allowed", "this link does not take messages")
        except DecodeError as exc:
            error = Error("amqp:decode-error", f"the message could not be decoded: {exc}")
        except EntityError as exc:
            error = Error(exc.condition, exc.description)
        except (OSError, ValueError) as exc:
            log.exception("%s: storing a message failed", self.peer)
            error = Error("amqp:internal-error", f"the emulator could not store the message: {exc}")
        if not event.settled:
            self.connection.settle(event.link, event.delivery_id, error=error)

    # ---- consumers --------------------------------------------------------------------------------------

    def _attach_consumer(self, link: Link, address: str) -> None:
        parts = address.strip("/").split("/")
        if len(parts) != 5 or parts[1].lower() != "consumergroups" or parts[3].lower() != "partitions":
            raise EntityError(
                "amqp:not-found",
                f"'{address}' is not a receiver address: use '<hub>/ConsumerGroups/<group>/Partitions/<id>'.",
            )
        hub = self.namespace.hub(parts[0])
        group = self.namespace.consumer_group(hub, parts[2])
        partition_id = self.namespace.check_partition(hub, parts[4])
        self._authorize(f"{hub.name}/consumergroups/{group}")
        partition_log = self.namespace.log(hub, partition_id)
        start = self._start_sequence(link, partition_log)
        epoch = link.properties.get(EPOCH)
        receiver = Receiver(
            hub.name, group, partition_id, None if epoch is None else int(epoch), link.name,
            kick=lambda exc: self._kick(link, exc),
        )  # fmt: skip
        self.namespace.open_receiver(receiver)
        ctx = _Consumer(
            hub, partition_log, receiver, start, RUNTIME_METRIC in link.desired_capabilities,
            listener=lambda: self._on_new_events(link),
        )  # fmt: skip
        link.context = ctx
        self._consumers.append(link)
        self.namespace.listen(hub, partition_id, ctx.listener)
        properties = {EPOCH: int(epoch)} if epoch is not None else None
        self.connection.accept_attach(
            link, properties=properties, offered_capabilities=tuple(str(c) for c in link.desired_capabilities)
        )
        log.info("%s: consumer attached to %s from sequence number %d", self.peer, address, start)

    def _start_sequence(self, link: Link, partition_log: PartitionLog) -> int:
        filters = (link.source.filter if link.source else None) or {}
        selector = filters.get(SELECTOR_FILTER)
        if selector is None:
            return partition_log.begin_sequence_number
        expression = selector.value if hasattr(selector, "value") else selector
        try:
            position = parse_selector(expression)
        except SelectorError as exc:
            raise EntityError("amqp:invalid-field", str(exc)) from None
        begin, end = partition_log.begin_sequence_number, partition_log.next_sequence_number
        if position.kind == "latest":
            return end
        if position.kind == "offset":
            if position.value < 0:
                return begin
            return partition_log.first_sequence_at_offset(position.value, position.inclusive)
        if position.kind == "time":
            return partition_log.first_sequence_at_time(position.value, position.inclusive)
        wanted = position.value if position.inclusive else position.value + 1
        return min(max(wanted, begin), end)

    def _on_credit(self, link: Link) -> None:
        if isinstance(link.context, _Replies):
            self._flush_replies(link)
        elif isinstance(link.context, _Consumer):
            self._pump(link)
            if link.drain:
                self.connection.complete_drain(link)

    def _on_new_events(self, link: Link) -> None:
        if link.can_send:
            self._pump(link)
            self.wake()

    def _pump(self, link: Link) -> None:
        ctx = link.context
        assert isinstance(ctx, _Consumer)
        while link.can_send:
            batch = ctx.log.read(ctx.next_sequence, min(link.credit, READ_BATCH))
            if not batch:
                return
            metrics = self._runtime_metrics(ctx) if ctx.track_last_enqueued else None
            for stored in batch:
                if not link.can_send:
                    return
                payload = stored.payload
                if metrics is not None:
                    payload = events.with_delivery_annotations(payload, metrics)
                self.connection.send_message(link, payload)
                ctx.next_sequence = stored.sequence_number + 1

    def _runtime_metrics(self, ctx: _Consumer) -> dict[str, Any] | None:
        last = ctx.log.last_event
        if last is None:
            return None
        return {
            "last_enqueued_sequence_number": last.sequence_number,
            "last_enqueued_offset": str(last.offset),
            "last_enqueued_time_utc": Timestamp(last.enqueued_time_ms),
            "runtime_info_retrieval_time_utc": Timestamp(int(self.clock() * 1000)),
        }

    def _kick(self, link: Link, exc: EntityError) -> None:
        log.info("%s: %s", self.peer, exc.description)
        self._drop_consumer(link)
        self.connection.detach(link, Error(exc.condition, exc.description))
        self.wake()

    def _drop_consumer(self, link: Link) -> None:
        ctx = link.context
        if not isinstance(ctx, _Consumer) or link not in self._consumers:
            return
        self._consumers.remove(link)
        self.namespace.unlisten(ctx.hub, ctx.receiver.partition_id, ctx.listener)
        self.namespace.close_receiver(ctx.receiver)

    # ---- request / response nodes -----------------------------------------------------------------------

    def _on_request(self, node: str, payload: bytes) -> None:
        request = Message.decode(payload)
        props = {_text(k): v for k, v in (request.application_properties or {}).items()}
        try:
            status, description, body = (
                self._put_token(props, request.value) if node == CBS else self._management(props)
            )
        except AuthError as exc:
            status, description, body = exc.status_code, exc.description, None
        except EntityError as exc:
            status = 404 if exc.condition == "amqp:not-found" else 400
            status, description, body = status, exc.description, None
        message_id = request.properties.message_id if request.properties else None
        reply_to = request.properties.reply_to if request.properties else None
        response = Message(
            properties=Properties(correlation_id=message_id, to=reply_to),
            # azure-eventhub reads "status-description" for $cbs but "statusDescription" for $management.
            application_properties={
                "status-code": status,
                "status-description": description,
                "statusDescription": description,
            },
            value=body,
            has_value=body is not None,
        )
        self._reply(node, response.encode())

    def _put_token(self, props: dict[str, Any], token: Any) -> tuple[int, str, Any]:
        if _text(props.get("operation")) != "put-token":
            return (
                400,
                f"unknown $cbs operation {props.get('operation')!r}; only put-token is supported",
                None,
            )
        token_type = _text(props.get("type"))
        if token_type != "servicebus.windows.net:sastoken":
            raise AuthError(
                f"token type {token_type!r} is not supported by the emulator: use a connection string with "
                "SharedAccessKeyName/SharedAccessKey (Microsoft Entra ID tokens need the real service)"
            )
        audience = _text(props.get("name"))
        claim = validate_sas_token(_text(token), audience, self.namespace.config.keys, self.clock())
        self.claims.append(claim)
        log.info("%s: authorized for %s with key %s", self.peer, audience, claim.key_name)
        return 200, "OK", None

    def _management(self, props: dict[str, Any]) -> tuple[int, str, Any]:
        if _text(props.get("operation")) != "READ":
            return (
                400,
                f"unknown $management operation {props.get('operation')!r}; only READ is supported",
                None,
            )
        hub = self.namespace.hub(_text(props.get("name")))
        token = props.get("security_token")
        if token is not None and not self._authorized(hub.name):
            token = _text(token)
            self.claims.append(
                validate_sas_token(token, token_audience(token), self.namespace.config.keys, self.clock())
            )
        self._authorize(hub.name)
        kind = _text(props.get("type"))
        if kind == "com.microsoft:eventhub":
            body = self.namespace.eventhub_properties(hub)
        elif kind == "com.microsoft:partition":
            body = self.namespace.partition_properties(hub, _text(props.get("partition")))
        else:
            return 400, f"unknown $management type {kind!r}", None
        return 200, "OK", _wire_properties(kind, body)

    def _reply(self, node: str, payload: bytes) -> None:
        for link in self.connection_links():
            if isinstance(link.context, _Replies) and link.context.node == node:
                link.context.outbox.append(payload)
                self._flush_replies(link)
                return
        log.warning("%s: a %s request arrived with no link to answer on", self.peer, node)

    def _flush_replies(self, link: Link) -> None:
        outbox = link.context.outbox
        while outbox and link.can_send:
            self.connection.send_message(link, outbox.popleft())

    def connection_links(self) -> list[Link]:
        return [
            link
            for session in self.connection.sessions.values()
            for link in session.links_by_handle.values()
            if link.state is LinkState.ATTACHED
        ]


def entity_path(address: str) -> str:
    """'amqps://host:port/hub/Partitions/0' and 'hub/Partitions/0' both name 'hub/Partitions/0'."""
    if "://" in address:
        address = urlsplit(address).path
    return address.strip("/")


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _wire_properties(kind: str, body: dict[str, Any]) -> dict[Any, Any]:
    """Management response bodies with the AMQP types the SDK reads (timestamps, string arrays)."""
    wire: dict[Any, Any] = {}
    for key, value in body.items():
        if key in ("created_at", "last_enqueued_time_utc"):
            value = Timestamp(value)
        elif key == "partition_ids":
            value = Array(value, element=str)
        wire[key] = value
    wire["type"] = kind
    return wire
