"""The receive loop around the SDK's EventHubConsumerClient: hand events to an output, checkpoint them.

Semantics: at-least-once. An event is checkpointed only after the output has taken it, so a crash
re-delivers what came after each partition's last checkpoint, and a clean stop (count, duration, Ctrl-C)
checkpoints everything handed to the output first, so a restart re-delivers nothing and skips nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from azure.eventhub import CloseReason, EventData
from azure.eventhub.aio import PartitionContext

log = logging.getLogger("consumers")


@dataclass(frozen=True)
class Received:
    """One event as the outputs see it."""

    partition_id: str
    sequence_number: int
    offset: str
    enqueued_time: datetime | None
    partition_key: str | None
    body: str

    @classmethod
    def from_event(cls, partition_id: str, event: EventData) -> Received:
        key = event.partition_key
        return cls(
            partition_id=partition_id,
            sequence_number=event.sequence_number or 0,
            offset=str(event.offset),
            enqueued_time=event.enqueued_time,
            partition_key=key.decode() if isinstance(key, bytes) else key,
            body=event.body_as_str(encoding="UTF-8"),
        )


class Output(Protocol):
    """Where the receive loop hands each event (outputs.py has the console, JSON lines and CSV ones)."""

    def write(self, event: Received) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class CheckpointPolicy:
    """Checkpoint a partition after `every_events` events and/or `every_s` seconds (None: not on that).

    With neither, a partition is checkpointed only when the consumer stops cleanly.
    """

    every_events: int | None = 100
    every_s: float | None = 5.0

    def due(self, pending: int, since_s: float) -> bool:
        if pending == 0:
            return False
        by_count = self.every_events is not None and pending >= self.every_events
        return by_count or (self.every_s is not None and since_s >= self.every_s)


class Progress(Protocol):
    def update(self, events: int) -> None: ...
    def close(self) -> None: ...


@dataclass
class ReceiveStats:
    events: int = 0
    checkpoints: int = 0
    per_partition: dict[str, int] = field(default_factory=dict)
    claimed: list[str] = field(default_factory=list)  # partitions this consumer took, in order
    lost: list[str] = field(default_factory=list)  # partitions another consumer took from it
    elapsed_s: float = 0.0
    interrupted: bool = False

    def summary(self) -> str:
        parts = ", ".join(f"{p}: {n:,}" for p, n in sorted(self.per_partition.items(), key=_partition_order))
        text = (
            f"received {self.events:,} events in {self.elapsed_s:.2f} s"
            f"{f' (by partition {parts})' if parts else ''}; {self.checkpoints:,} checkpoints written"
        )
        if self.lost:
            text += f"; partitions taken over by another consumer: {', '.join(self.lost)}"
        if self.interrupted:
            text += " (stopped early; every event handed to the output was checkpointed)"
        return text


def _partition_order(item: tuple[str, int]) -> tuple[int, str]:
    name = item[0]
    return (int(name), "") if name.isdigit() else (1 << 30, name)


@dataclass
class _Partition:
    context: PartitionContext
    pending: EventData | None = None  # the last event handed to the output and not yet checkpointed
    pending_count: int = 0
    checkpointed_at: float = 0.0


class Checkpointer:
    """The aio client's callbacks: output every event, checkpoint per the policy, all on finish().

    The client runs one task per partition; a lock orders them with tick() and finish(), so a checkpoint
    never covers an event the output has not taken.
    """

    def __init__(
        self,
        output: Output,
        policy: CheckpointPolicy,
        *,
        count: int | None = None,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.output = output
        self.policy = policy
        self.count = count
        self.progress = progress
        self.clock = clock
        self.done = asyncio.Event()  # count reached, or finish() called
        self.stats = ReceiveStats()
        self._partitions: dict[str, _Partition] = {}
        self._lock = asyncio.Lock()
        self._closing = False

    async def on_partition_initialize(self, context: PartitionContext) -> None:
        async with self._lock:
            self._partitions[context.partition_id] = _Partition(context, checkpointed_at=self.clock())
            self.stats.claimed.append(context.partition_id)
        log.info("claimed partition %s", context.partition_id)

    async def on_partition_close(self, context: PartitionContext, reason: CloseReason) -> None:
        async with self._lock:
            # Ownership lost: another consumer reads from the last checkpoint on; writing ours now could
            # move the checkpoint back behind its progress, so what is pending is left to be re-delivered.
            partition = self._partitions.pop(context.partition_id, None)
            if reason == CloseReason.OWNERSHIP_LOST:
                self.stats.lost.append(context.partition_id)
        if reason == CloseReason.OWNERSHIP_LOST:
            pending = partition.pending_count if partition else 0
            log.info("partition %s taken over by another consumer (%d events will be re-delivered there)",
                     context.partition_id, pending)  # fmt: skip

    async def on_error(self, context: PartitionContext | None, error: Exception) -> None:
        where = f"partition {context.partition_id}" if context is not None else "load balancing"
        log.warning("%s: %s: %s (the client retries)", where, type(error).__name__, error)

    async def on_event_batch(self, context: PartitionContext, events: list[EventData]) -> None:
        """The events the client holds for a partition, in order, handed over as soon as they arrive."""
        async with self._lock:
            if self._closing:
                return  # after finish(): not output, not checkpointed, so delivered again next time
            partition = self._partitions.get(context.partition_id)
            if partition is None:  # not initialized through on_partition_initialize (no checkpoint store)
                partition = _Partition(context, checkpointed_at=self.clock())
                self._partitions[context.partition_id] = partition
            taken = events[: self._room()]
            for event in taken:
                self.output.write(Received.from_event(context.partition_id, event))
                partition.pending, partition.pending_count = event, partition.pending_count + 1
                self.stats.events += 1
                self.stats.per_partition[context.partition_id] = (
                    self.stats.per_partition.get(context.partition_id, 0) + 1
                )
            if self.progress is not None and taken:
                self.progress.update(len(taken))
            if self.policy.due(partition.pending_count, self.clock() - partition.checkpointed_at):
                await self._checkpoint(partition)
            if self.count is not None and self.stats.events >= self.count:
                await self._finish_locked()

    def _room(self) -> int | None:
        """How many more events `count` allows (None: no limit)."""
        return None if self.count is None else max(self.count - self.stats.events, 0)

    async def tick(self) -> None:
        """Checkpoint the partitions whose every_s has passed, idle ones included (called every ~0.1 s)."""
        async with self._lock:
            if self._closing:
                return
            now = self.clock()
            for partition in self._partitions.values():
                if self.policy.due(partition.pending_count, now - partition.checkpointed_at):
                    await self._checkpoint(partition)

    async def finish(self) -> None:
        """Stop taking events and checkpoint every partition's last event handed to the output."""
        async with self._lock:
            await self._finish_locked()

    async def _finish_locked(self) -> None:
        if not self._closing:
            self._closing = True
            self.output.flush()
            for partition in list(self._partitions.values()):
                await self._checkpoint(partition)
        self.done.set()

    async def _checkpoint(self, partition: _Partition) -> None:
        if partition.pending is None:
            return
        self.output.flush()  # what a checkpoint covers must be in the output first
        await partition.context.update_checkpoint(partition.pending)
        partition.pending, partition.pending_count = None, 0
        partition.checkpointed_at = self.clock()
        self.stats.checkpoints += 1


def starting_position(text: str) -> tuple[Any, bool]:
    """The SDK's starting_position (and whether it is inclusive) from `start`, `end`, `offset:O`,
    `sequence:N` or `time:ISO-8601`; used only for partitions that have no checkpoint yet."""
    kind, _, value = text.partition(":")
    if text == "start":
        return "-1", False
    if text == "end":
        return "@latest", False
    if kind == "offset" and value:
        return value, True
    if kind == "sequence":
        try:
            return int(value), True
        except ValueError:
            pass
    if kind == "time":
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), True
    raise ValueError(
        f"{text!r} is not a starting position: start, end, offset:<offset>, sequence:<number> or "
        "time:<ISO 8601, e.g. 2026-01-31T12:00:00Z>"
    )
