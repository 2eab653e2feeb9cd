"""Consumers' links: where a receiver starts, and stored events pumped to it while it has credit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amqp10.connection import Connection, Link
from amqp10.types import Described, Timestamp
from eventhubs import events
from eventhubs.errors import InvalidFieldError
from eventhubs.links import EPOCH, RUNTIME_METRIC
from eventhubs.selector import SELECTOR_FILTER, SelectorError, parse_selector

from .config import HubConfig
from .namespace import Receiver
from .storage import PartitionLog

READ_BATCH = 256  # events read from the log at a time


@dataclass
class Consumer:
    """A receiving link's source: one partition's log, read from `next_sequence` on."""

    hub: HubConfig
    log: PartitionLog
    receiver: Receiver
    next_sequence: int
    track_last_enqueued: bool
    listener: Callable[[], None]

    def pump(
        self, connection: Connection, link: Link, clock: Callable[[], float], budget: int | None = None
    ) -> bool:
        """Send stored events until the link's credit or the log runs out, or `budget` bytes are sent.

        True when it stopped at the budget: there may be more to send once those bytes are written.
        """
        sent = 0
        while link.can_send:
            if budget is not None and sent >= budget:
                return True
            batch = self.log.read(self.next_sequence, min(link.credit, READ_BATCH))
            if not batch:
                return False
            metrics = self._runtime_metrics(clock) if self.track_last_enqueued else None
            for stored in batch:
                if not link.can_send:
                    return False
                if budget is not None and sent >= budget:
                    return True
                payload = stored.payload
                if metrics is not None:
                    payload = events.with_delivery_annotations(payload, metrics)
                connection.send_message(link, payload)
                sent += len(payload)
                self.next_sequence = stored.sequence_number + 1
        return False

    def _runtime_metrics(self, clock: Callable[[], float]) -> dict[str, Any] | None:
        last = self.log.last_event
        if last is None:
            return None
        return {
            "last_enqueued_sequence_number": last.sequence_number,
            "last_enqueued_offset": str(last.offset),
            "last_enqueued_time_utc": Timestamp(last.enqueued_time_ms),
            "runtime_info_retrieval_time_utc": Timestamp(int(clock() * 1000)),
        }


def epoch_of(link: Link) -> int | None:
    """The receiver's epoch: a long, as the SDKs send it; any other type is refused by name."""
    epoch = link.properties.get(EPOCH)
    if epoch is None:
        return None
    # Compared, not `in range(...)`: for an int subclass (a decoded ulong) that scans the range.
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not -(2**63) <= epoch < 2**63:
        raise InvalidFieldError(
            f"link property {EPOCH} must be a long, got {type(epoch).__name__} {epoch!r:.60}"
        )
    return epoch


def wants_runtime_metrics(link: Link) -> bool:
    return RUNTIME_METRIC in link.desired_capabilities


def start_sequence(link: Link, partition_log: PartitionLog) -> int:
    """The sequence number a receiver's selector filter starts at (the first kept event without one)."""
    filters = (link.source.filter if link.source else None) or {}
    selector = filters.get(SELECTOR_FILTER)
    if selector is None:
        return partition_log.begin_sequence_number
    expression = selector.value if isinstance(selector, Described) else selector
    if not isinstance(expression, str | bytes):
        raise InvalidFieldError(
            f"filter {SELECTOR_FILTER} must hold a string, got {type(expression).__name__} {expression!r:.60}"
        )
    try:
        position = parse_selector(expression)
    except SelectorError as exc:
        raise InvalidFieldError(str(exc)) from None
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
