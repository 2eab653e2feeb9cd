"""Send events to one hub over hubstream's own AMQP client: full batches, several in flight.

What goes out is what the azure-eventhub SDK's `send_batch` sends, byte for byte (`eventhubs.events.pack`):
one transfer per batch, message format 0x80013700, filled up to the max-message-size the service
announces when the link attaches (1 MiB on Standard). Unlike the SDK's producer, which waits for each
batch's acknowledgement before it builds the next, this sender keeps up to `in_flight` batches unsettled
on the wire while it packs the next one, and `flush()` returns only once the service has settled every
one of them: an event counts as sent when the service said it stored it, and a rejected or released batch
raises the service's error (`eventhubs.errors.error_for`). Nothing is retried here: at-least-once comes
from the caller sending again what `flush()` did not confirm.

Targets, per event: the hub (the service picks a partition), a partition id (a link to
`<hub>/Partitions/<id>`), or a partition key (the `x-opt-partition-key` annotation on the batch and on each
event, as the SDK writes it; the service hashes it to a partition).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from amqp10.connection import DeliveriesSettled, Link
from amqp10.message import BATCH_MESSAGE_FORMAT
from amqp10.performatives import Accepted, Rejected, Source, Target
from eventhubs.errors import EventHubsError, MessageSizeExceededError, OperationTimeoutError, error_for
from eventhubs.events import BatchPacker, encode_event
from eventhubs.links import sender_address

from .connection import Endpoint, HubConnection

DEFAULT_MAX_MESSAGE_SIZE = 1 << 20  # what the SDK assumes when the service announces none
IN_FLIGHT = 8  # unsettled batches on the wire: with 1 MiB batches, ~40,000 200-byte events
MAX_OPEN_BATCHES = 1000  # with many partition keys, the oldest open batch goes out to make room


class EventTooLargeError(MessageSizeExceededError):
    """One event larger than the hub accepts in a batch, even alone; nothing was sent for it."""

    def __init__(self, description: str, size: int, limit: int) -> None:
        super().__init__(description)
        self.size = size
        self.limit = limit


@dataclass
class SendStats:
    """What the service has confirmed so far."""

    events: int = 0
    batches: int = 0
    bytes: int = 0


class EventSender:
    """One connection to one hub, sending links attached as targets are first used.

        with EventSender(endpoint) as sender:
            sender.send(b"body", properties={"k": "v"}, partition_key="device-7")
            sender.flush()  # every batch settled, or the service's error raised

    Not thread-safe: one thread sends.
    """

    def __init__(self, endpoint: Endpoint, *, timeout_s: float = 60.0, in_flight: int = IN_FLIGHT) -> None:
        self.where = f"event hub {endpoint.hub!r}"
        self.hub = HubConnection(endpoint, timeout_s, self.where)
        self.timeout_s = timeout_s
        self.in_flight = max(1, in_flight)
        self.stats = SendStats()
        self._links: dict[str | None, tuple[Link, int]] = {}  # partition id (None: the hub) -> link, limit
        self._open: dict[tuple[str | None, str | None], BatchPacker] = {}  # (partition id, key) -> batch
        self._pending: dict[int, tuple[int, int]] = {}  # delivery id -> (events, bytes)

    def __enter__(self) -> EventSender:
        self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect, authorize and attach to the hub; on any failure nothing is left open."""
        self.hub.open_and_attach(lambda: self._link(None), self.close)

    def close(self) -> None:
        """Close the connection; batches not yet settled are not confirmed (call `flush()` first)."""
        self._links.clear()
        self._open.clear()
        self._pending.clear()
        self.hub.close()

    @property
    def is_open(self) -> bool:
        return self.hub._conn is not None

    def max_message_size(self, partition_id: str | None = None) -> int:
        """The largest batch the service accepts on the link to `partition_id` (None: the hub)."""
        return self._link(partition_id)[1]

    # ---- sending -----------------------------------------------------------------------------------------

    def send(
        self,
        body: bytes,
        properties: dict[str, Any] | None = None,
        *,
        partition_id: str | None = None,
        partition_key: str | None = None,
    ) -> None:
        """Add one event to its target's open batch; a full batch goes out (waiting while `in_flight` are
        unsettled). Raises EventTooLargeError for an event no batch can hold."""
        if partition_id is not None and partition_key is not None:
            raise ValueError("an event goes to a partition id or a partition key, not both")
        self.send_encoded(encode_event(body, properties, partition_key), partition_id, partition_key)

    def send_encoded(self, message: bytes, partition_id: str | None, partition_key: str | None) -> None:
        """`send` for an event already encoded with `eventhubs.events.encode_event` (and the same key)."""
        target = (partition_id, partition_key)
        batch = self._open.get(target)
        if batch is None:
            batch = self._new_batch(target)
        if batch.add(message):
            return
        if batch.count:
            self._transmit(partition_id, self._open.pop(target))
            batch = self._new_batch(target)
            if batch.add(message):
                return
        self._open.pop(target, None)
        raise EventTooLargeError(
            f"{self.where}: an event of {len(message):,} bytes (encoded, with its properties) is larger than "
            f"the hub accepts ({batch.max_size:,} bytes per batch, envelope included)",
            len(message),
            batch.max_size,
        )

    def flush(self) -> SendStats:
        """Send every open batch and wait until the service has settled all of them."""
        self.send_open()
        self._wait(lambda: not self._pending, "hear the service settle the batches")
        return self.stats

    def send_open(self) -> None:
        """Send every open batch, partly filled or not, without waiting for their settlement."""
        while self._open:
            target = next(iter(self._open))
            self._transmit(target[0], self._open.pop(target))

    @property
    def open_events(self) -> int:
        """Events added but not sent yet."""
        return sum(batch.count for batch in self._open.values())

    def idle(self) -> None:
        """Between events from a slow source: take settlements that came back, keep the connection alive."""
        self.hub.poll()
        self._take_settlements()
        self.hub.connection.check_timers(time.monotonic())
        self.hub.flush()

    def _new_batch(self, target: tuple[str | None, str | None]) -> BatchPacker:
        if len(self._open) >= MAX_OPEN_BATCHES:
            oldest = next(iter(self._open))
            self._transmit(oldest[0], self._open.pop(oldest))
        batch = BatchPacker(self._link(target[0])[1], target[1])
        self._open[target] = batch
        return batch

    def _transmit(self, partition_id: str | None, batch: BatchPacker) -> None:
        link = self._link(partition_id)[0]
        self._wait(lambda: link.can_send and len(self._pending) < self.in_flight, "send a batch")
        payload = batch.payload()
        delivery_id = self.hub.connection.send_message(
            link, payload, message_format=BATCH_MESSAGE_FORMAT, settled=False
        )
        self._pending[delivery_id] = (batch.count, len(payload))
        self.hub.flush()
        self.hub.poll()  # settle what has come back meanwhile, without waiting
        self._take_settlements()

    # ---- links and settlements ---------------------------------------------------------------------------

    def _link(self, partition_id: str | None) -> tuple[Link, int]:
        known = self._links.get(partition_id)
        if known is not None:
            return known
        e = self.hub.endpoint
        tag = uuid.uuid4().hex[:8]
        link, limit = self.hub.attach_sender(
            f"hubstream-sender-{partition_id if partition_id is not None else 'hub'}-{tag}",
            Source(f"hubstream-sender-{tag}"),
            Target(sender_address(e.host, e.hub, partition_id)),
        )
        known = self._links[partition_id] = (link, limit or DEFAULT_MAX_MESSAGE_SIZE)
        return known

    def _take_settlements(self) -> bool:
        """Handle what the connection has for us; True when a batch was settled."""
        progressed = False
        for event in self.hub.take_events():
            if isinstance(event, DeliveriesSettled):
                self._settled(event)
                progressed = True
            else:
                self.hub.check(event)
        return progressed

    def _settled(self, event: DeliveriesSettled) -> None:
        count = ((event.last - event.first) & 0xFFFFFFFF) + 1
        for i in range(count):
            entry = self._pending.pop((event.first + i) & 0xFFFFFFFF, None)
            if entry is None:
                continue  # not one of ours (a $cbs request): nothing to confirm
            events, nbytes = entry
            state = event.state
            if isinstance(state, Accepted):
                self.stats.events += events
                self.stats.batches += 1
                self.stats.bytes += nbytes
            elif isinstance(state, Rejected):
                error = state.error
                condition = error.condition if error is not None else None
                why = f"{condition}: {error.description or ''}" if error is not None else "no reason given"
                raise error_for(
                    condition, f"{self.where}: the service rejected a batch of {events} events: {why}"
                )
            else:
                raise EventHubsError(
                    f"{self.where}: the service did not store a batch of {events} events "
                    f"({type(state).__name__ if state is not None else 'settled with no outcome'})"
                )

    def _wait(self, ready: Any, what: str) -> None:
        """Read and settle until `ready()`; the timeout counts from the last settlement."""
        hub = self.hub
        deadline = time.monotonic() + self.timeout_s
        while True:
            if self._take_settlements():
                deadline = time.monotonic() + self.timeout_s
            if ready():
                return
            hub.flush()
            if time.monotonic() > deadline:
                raise OperationTimeoutError(f"{self.where}: timed out trying to {what}")
            hub.read(deadline)
