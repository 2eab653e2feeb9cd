"""An Event Hubs namespace: hubs, their partition logs, and who reads which partition.

Knows nothing of AMQP connections: a connection handler calls `publish`, `open_receiver` and the
property reads, and registers callbacks to hear of new events. Entity names are matched ignoring case,
as the service does.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventhubs import events
from eventhubs.errors import (
    ArgumentOutOfRangeError,
    EventHubsError,
    LinkStolenError,
    NotFoundError,
    ResourceLimitError,
)
from eventhubs.partitioning import partition_index

from .config import HubConfig, NamespaceConfig
from .ratelimited import RateLimitedLog
from .storage import PartitionLog, Store, StoredEvent

MAX_NON_EPOCH_RECEIVERS = 5  # per consumer group and partition, as the service allows
# What the OS answers when there is no room for more bytes: a full disk, a quota, a file size limit.
_NO_ROOM = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
            errno.EFBIG: "a file reached the size limit (ulimit -f)"}  # fmt: skip

logger = logging.getLogger("emulator.namespace")


@dataclass(eq=False)
class Receiver:
    """A reader of one partition through one consumer group; `kick` detaches it when its link is stolen.

    `name` is the identifier the client gave (`com.microsoft:receiver-name`), or 'nil' as the service says.
    """

    hub: str
    consumer_group: str
    partition_id: str
    epoch: int | None
    name: str
    kick: Callable[[EventHubsError], None]


class Namespace:
    def __init__(
        self, config: NamespaceConfig, store: Store, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self._hubs = {name.lower(): hub for name, hub in config.hubs.items()}
        self._round_robin: dict[str, int] = {}
        self._receivers: dict[tuple[str, str, str], list[Receiver]] = {}
        self._listeners: dict[tuple[str, str], set[Callable[[], None]]] = {}
        self.storage_log = RateLimitedLog(logger)  # failures to store, from every connection
        self._out_of_room = False
        # Open every partition now, so retention reaches partitions nobody touches after a restart.
        for hub in config.hubs.values():
            self.store.created_at(hub.name, int(clock() * 1000))
            for partition_id in self.partition_ids(hub):
                self.log(hub, partition_id)

    # ---- entities ---------------------------------------------------------------------------------------

    def hub(self, name: str) -> HubConfig:
        hub = self._hubs.get(name.lower())
        if hub is None:
            known = ", ".join(sorted(self.config.hubs)) or "none"
            raise NotFoundError(
                f"The messaging entity '{self.config.namespace}:eventhub:{name}' could not be found "
                f"(hubs in this emulator: {known}; add it to the emulator's config file).",
            )
        return hub

    def partition_ids(self, hub: HubConfig) -> list[str]:
        return [str(i) for i in range(hub.partition_count)]

    def check_partition(self, hub: HubConfig, partition_id: str) -> str:
        if partition_id not in self.partition_ids(hub):
            raise ArgumentOutOfRangeError(
                f"Partition '{partition_id}' does not exist in event hub '{hub.name}': "
                f"its partition ids are 0 to {hub.partition_count - 1}.",
            )
        return partition_id

    def consumer_group(self, hub: HubConfig, name: str) -> str:
        for group in hub.consumer_groups:
            if group.lower() == name.lower():
                return group
        raise NotFoundError(
            f"The messaging entity '{self.config.namespace}:eventhub:{hub.name}/consumergroups:{name}' could "
            f"not be found (consumer groups: {', '.join(hub.consumer_groups)}).",
        )

    def log(self, hub: HubConfig, partition_id: str) -> PartitionLog:
        return self.store.partition(hub.name, partition_id)

    # ---- producing --------------------------------------------------------------------------------------

    def choose_partition(self, hub: HubConfig, partition_key: str | None) -> str:
        if partition_key is not None:
            # The service's own hash: a key lands where it would in Azure, and stays there across restarts.
            return str(partition_index(partition_key, hub.partition_count))
        turn = self._round_robin.get(hub.name, 0)
        self._round_robin[hub.name] = turn + 1
        return str(turn % hub.partition_count)

    def publish(
        self, hub: HubConfig, partition_id: str | None, messages: list[bytes], partition_key: str | None
    ) -> tuple[str, list[StoredEvent]]:
        """Stamp and store messages in one partition; they are stored when this returns."""
        if partition_id is None:
            partition_id = self.choose_partition(hub, partition_key)
        log = self.log(hub, partition_id)
        last = log.last_event
        now_ms = max(int(self.clock() * 1000), last.enqueued_time_ms if last else 0)
        sequence, offset = log.next_sequence_number, log.next_offset
        stored = []
        for message in messages:
            payload = events.stamp(message, sequence, offset, now_ms, partition_key)
            stored.append(StoredEvent(sequence, offset, now_ms, payload))
            sequence += 1
            offset += len(payload)
        try:
            log.append(stored)
        except OSError as exc:
            if exc.errno not in _NO_ROOM:
                raise
            raise self._no_room(hub, partition_id, exc) from None
        if self._out_of_room:
            self._out_of_room = False
            refused = self.storage_log.pending("no-room")
            logger.info("storing events again (%d more sends were refused for want of room)", refused)
        for listener in list(self._listeners.get((hub.name, partition_id), ())):
            listener()
        return partition_id, stored

    def _no_room(self, hub: HubConfig, partition_id: str, exc: OSError) -> ResourceLimitError:
        """The refusal of a send the disk has no room for, logged once per 10 s with a count, not per send.

        The service's answer to an entity that cannot take more is QuotaExceeded,
        `amqp:resource-limit-exceeded`, which the SDKs do not retry: a full disk waits for a person, so
        the sender learns at once, with what to do, instead of after its retries.
        """
        where = exc.filename or "the emulator's data folder"
        why = _NO_ROOM.get(exc.errno or 0, "no room")
        description = (
            f"The emulator cannot store events for event hub '{hub.name}', partition {partition_id}: "
            f"{why} ({exc.strerror}) at {where}. Free disk space there, or start the "
            "emulator with --data-dir on a larger disk; sends succeed again as soon as there is room. "
            "Nothing of this send was stored."
        )
        self._out_of_room = True
        self.storage_log.warning("no-room", "refusing sends: %s", description)
        return ResourceLimitError(description)

    # ---- consuming --------------------------------------------------------------------------------------

    def listen(self, hub: HubConfig, partition_id: str, listener: Callable[[], None]) -> None:
        self._listeners.setdefault((hub.name, partition_id), set()).add(listener)

    def unlisten(self, hub: HubConfig, partition_id: str, listener: Callable[[], None]) -> None:
        self._listeners.get((hub.name, partition_id), set()).discard(listener)

    def open_receiver(self, receiver: Receiver) -> None:
        """Admit a receiver under the service's epoch rules, kicking those it supersedes.

        The refusals and the detach carry the service's own texts (as clients and users quote them:
        the Java client raises them as ReceiverDisconnectedException / QuotaExceededException), with
        receivers named by their `com.microsoft:receiver-name` identifier, or 'nil' without one.
        """
        key = (receiver.hub, receiver.consumer_group, receiver.partition_id)
        current = self._receivers.setdefault(key, [])
        epochs = [r.epoch for r in current if r.epoch is not None]
        if receiver.epoch is None:
            if epochs:
                raise LinkStolenError(
                    f"At least one receiver for the endpoint is created with epoch of '{max(epochs)}', "
                    "and so non-epoch receiver is not allowed. Either reconnect with a higher epoch, or "
                    "make sure all epoch receivers are closed or disconnected.",
                )
            if len(current) >= MAX_NON_EPOCH_RECEIVERS:
                raise ResourceLimitError(
                    "Exceeded the maximum number of allowed receivers per partition in a consumer group "
                    f"which is {MAX_NON_EPOCH_RECEIVERS}. List of connected receivers - "
                    + ", ".join(r.name for r in current)
                    + ".",
                )
            current.append(receiver)
            return
        if epochs and receiver.epoch < max(epochs):
            raise LinkStolenError(
                f"A receiver with a higher epoch '{max(epochs)}' already exists. A new receiver with "
                f"epoch {receiver.epoch} cannot be created. Make sure you are creating receiver with "
                "increasing epoch value to ensure connectivity, or ensure all old epoch receivers are closed "
                "or disconnected.",
            )
        self._receivers[key] = [receiver]
        for old in current:
            old_epoch = "nil" if old.epoch is None else old.epoch
            old.kick(
                LinkStolenError(
                    f"New receiver '{receiver.name}' with higher epoch of '{receiver.epoch}' is created "
                    f"hence current receiver '{old.name}' with epoch '{old_epoch}' is getting disconnected. "
                    "If you are recreating the receiver, make sure a higher epoch is used.",
                )
            )

    def close_receiver(self, receiver: Receiver) -> None:
        key = (receiver.hub, receiver.consumer_group, receiver.partition_id)
        current = self._receivers.get(key, [])
        if receiver in current:
            current.remove(receiver)

    # ---- properties ($management) -----------------------------------------------------------------------

    def eventhub_properties(self, hub: HubConfig) -> dict[str, Any]:
        return {
            "name": hub.name,
            "created_at": self.store.created_at(hub.name, int(self.clock() * 1000)),
            "partition_count": hub.partition_count,
            "partition_ids": self.partition_ids(hub),
        }

    def partition_properties(self, hub: HubConfig, partition_id: str) -> dict[str, Any]:
        log = self.log(hub, self.check_partition(hub, partition_id))
        last = log.last_event
        empty = log.begin_sequence_number >= log.next_sequence_number
        return {
            "name": hub.name,
            "partition": partition_id,
            "begin_sequence_number": log.begin_sequence_number if not empty else log.next_sequence_number,
            "last_enqueued_sequence_number": last.sequence_number if last else -1,
            "last_enqueued_offset": str(last.offset) if last else "-1",
            "last_enqueued_time_utc": last.enqueued_time_ms if last else 0,
            "is_partition_empty": empty,
        }

    def apply_retention(self) -> int:
        return self.store.apply_retention(int(self.clock() * 1000))
