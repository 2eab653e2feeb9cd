"""Send any source's events to Event Hubs in full batches, rate-limited, with progress and clean stops.

The calling thread reads the source and fills `create_batch()` batches (one open batch per partition
key); a sender thread sends each full batch while the next one is built. A batch that is not full is
sent once its first event has waited `linger_s`, so a slow source (a poll every 30 s) still flows.
Stopping (Ctrl-C, `stop`, `count`, `duration_s`) sends every event already read before returning.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from azure.eventhub import EventData, EventDataBatch, EventHubProducerClient

from .events import Event

log = logging.getLogger("producers.sender")

MAX_OPEN_BATCHES = 1000  # with many partition keys, the oldest open batch is sent to make room
QUEUED_BATCHES = 4
OVERSIZE_HINT = "on_oversize='skip' (--oversize skip)"

R = TypeVar("R")  # one run's state, per engine


class OversizeEvent(ValueError):
    """An event larger than the hub accepts, with `on_oversize="fail"`."""


class Progress(Protocol):
    def update(self, events: int, nbytes: int) -> None: ...
    def close(self) -> None: ...


@dataclass
class SendStats:
    events: int = 0
    bytes: int = 0
    batches: int = 0
    oversize_skipped: int = 0
    elapsed_s: float = 0.0
    interrupted: bool = False

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        text = (
            f"sent {self.events:,} events ({self.bytes / 1e6:,.2f} MB) in {self.batches:,} batches "
            f"in {self.elapsed_s:.2f} s: {self.events_per_s:,.0f} events/s"
        )
        if self.oversize_skipped:
            text += f"; skipped {self.oversize_skipped:,} events larger than the hub accepts"
        if self.interrupted:
            text += " (stopped early; every event read was sent)"
        return text


@dataclass
class _OpenBatch:
    batch: EventDataBatch
    opened: float
    events: int = 0
    nbytes: int = 0


@dataclass
class _Shared:
    """State the reading thread, the flusher and the sender thread share, under `lock`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    open: dict[str | None, _OpenBatch] = field(default_factory=dict)
    failure: BaseException | None = None


@dataclass(frozen=True)
class LoopOptions:
    """How a `BatchLoop` sends, whichever engine: pace, linger, oversize rule, partition, progress."""

    rate: float | None = None  # events/s; None: as fast as possible
    linger_s: float = 0.1  # send a partly filled batch once its first event has waited this long
    on_oversize: Literal["skip", "fail"] = "skip"
    partition_id: str | None = None  # None: by each event's partition key, or round robin
    progress: Progress | None = None
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"rate must be a positive number of events per second, got {self.rate}")


class BatchLoop(Generic[R]):
    """The loop both engines share: limits, pace, Ctrl-C and progress; subclasses say how a batch is sent.

    `_begin` makes one run's state, `_start` starts it (inside the loop's `try`), `_add` takes one event,
    `_failure` is a send error to stop on (raised once the run is finished) and `_finish` sends every event
    already read, then releases the run.
    """

    log = log  # each engine warns under its own logger

    def __init__(self, options: LoopOptions | None = None) -> None:
        self.options = options if options is not None else LoopOptions()

    def send(
        self,
        events: Iterable[Event],
        *,
        count: int | None = None,
        duration_s: float | None = None,
        stop: threading.Event | None = None,
    ) -> SendStats:
        stats = SendStats()
        started = self.options.clock()
        run = self._begin(stats)
        try:
            self._start(run)
            for read, event in enumerate(self._limited(events, count, duration_s, stop, started)):
                if self._failure(run) is not None:
                    break
                self._pace(read, started)
                self._add(run, event, stats)
        except KeyboardInterrupt:
            stats.interrupted = True
            self.log.warning("interrupted: sending what was read, then stopping")
        finally:
            try:
                self._finish(run, stats)
            finally:
                stats.elapsed_s = self.options.clock() - started
                if self.options.progress is not None:
                    self.options.progress.close()
        if stop is not None and stop.is_set():
            stats.interrupted = True
        failure = self._failure(run)
        if failure is not None:
            raise failure
        return stats

    def _begin(self, stats: SendStats) -> R:
        raise NotImplementedError

    def _start(self, run: R) -> None:
        raise NotImplementedError

    def _add(self, run: R, event: Event, stats: SendStats) -> None:
        raise NotImplementedError

    def _failure(self, run: R) -> BaseException | None:
        raise NotImplementedError

    def _finish(self, run: R, stats: SendStats) -> None:
        raise NotImplementedError

    def _limited(
        self,
        events: Iterable[Event],
        count: int | None,
        duration_s: float | None,
        stop: threading.Event | None,
        started: float,
    ) -> Iterator[Event]:
        # The limits are checked before asking for the next event: a slow source may block for a whole poll.
        source = iter(events)
        read = 0
        while count is None or read < count:
            if duration_s is not None and self.options.clock() - started >= duration_s:
                return
            if stop is not None and stop.is_set():
                return
            try:
                event = next(source)
            except StopIteration:
                return
            yield event
            read += 1

    def _pace(self, read: int, started: float) -> None:
        if self.options.rate is None:
            return
        ahead = started + read / self.options.rate - self.options.clock()
        if ahead > 0:
            time.sleep(ahead)

    def _oversize(self, size: int, limit: int, stats: SendStats, hint: str) -> None:
        message = (
            f"an event of {size:,} bytes is larger than the hub accepts ({limit:,} bytes with the batch "
            "envelope)"
        )
        if self.options.on_oversize == "fail":
            raise OversizeEvent(f"{message}; use {hint} to skip such events") from None
        stats.oversize_skipped += 1
        self.log.warning("skipping it: %s", message)


@dataclass
class _Run:
    """One `Sender.send`: the shared state, the queue to the sender thread and the two threads."""

    shared: _Shared
    outbox: queue.Queue[_OpenBatch | None]
    done: threading.Event
    sender: threading.Thread
    flusher: threading.Thread


class Sender(BatchLoop[_Run]):
    """Sends events with one `EventHubProducerClient`; see the module docstring."""

    def __init__(self, client: EventHubProducerClient, options: LoopOptions | None = None) -> None:
        super().__init__(options)
        self.client = client

    def _begin(self, stats: SendStats) -> _Run:
        shared = _Shared()
        outbox: queue.Queue[_OpenBatch | None] = queue.Queue(maxsize=QUEUED_BATCHES)
        done = threading.Event()
        sender = threading.Thread(
            target=self._send_loop, args=(outbox, stats, shared), name="sender", daemon=True
        )
        flusher = threading.Thread(
            target=self._linger_loop, args=(outbox, shared, done), name="linger", daemon=True
        )
        return _Run(shared, outbox, done, sender, flusher)

    def _start(self, run: _Run) -> None:
        run.sender.start()
        run.flusher.start()

    def _failure(self, run: _Run) -> BaseException | None:
        return run.shared.failure

    def _finish(self, run: _Run, stats: SendStats) -> None:
        run.done.set()
        if run.flusher.is_alive():
            run.flusher.join()
        with run.shared.lock:
            pending = list(run.shared.open.values())
            run.shared.open.clear()
        for open_batch in pending:
            if open_batch.events:
                run.outbox.put(open_batch)
        if run.sender.is_alive():
            run.outbox.put(None)
            run.sender.join()

    def _new_batch(self, key: str | None) -> EventDataBatch:
        if self.options.partition_id is not None:
            return self.client.create_batch(partition_id=self.options.partition_id)
        return self.client.create_batch(partition_key=key)

    def _add(self, run: _Run, event: Event, stats: SendStats) -> None:
        shared, outbox = run.shared, run.outbox
        data = EventData(event.body)
        if event.properties:
            properties: dict[str | bytes, Any] = {k: v for k, v in event.properties.items()}
            data.properties = properties
        size = len(event.body) if isinstance(event.body, bytes) else len(event.body.encode("utf-8"))
        key = event.partition_key
        full: _OpenBatch | None = None
        with shared.lock:
            current = shared.open.get(key)
            if current is None:
                current = self._open(key, shared)
            try:
                current.batch.add(data)
            except ValueError:
                if current.events == 0:
                    self._oversize(size, current.batch.max_size_in_bytes, stats, OVERSIZE_HINT)
                    return
                full = shared.open.pop(key)
                current = self._open(key, shared)
                try:
                    current.batch.add(data)
                except ValueError:
                    self._oversize(size, current.batch.max_size_in_bytes, stats, OVERSIZE_HINT)
                    current = None
            if current is not None:
                current.events += 1
                current.nbytes += size
            evicted = self._evict_oldest(shared) if len(shared.open) > MAX_OPEN_BATCHES else None
        for ready in (full, evicted):
            if ready is not None:
                outbox.put(ready)

    def _open(self, key: str | None, shared: _Shared) -> _OpenBatch:
        opened = _OpenBatch(self._new_batch(key), self.options.clock())
        shared.open[key] = opened
        return opened

    @staticmethod
    def _evict_oldest(shared: _Shared) -> _OpenBatch:
        key = min(shared.open, key=lambda k: shared.open[k].opened)
        return shared.open.pop(key)

    def _linger_loop(
        self, outbox: queue.Queue[_OpenBatch | None], shared: _Shared, done: threading.Event
    ) -> None:
        linger_s = self.options.linger_s
        while not done.wait(max(linger_s / 2, 0.01)):
            now = self.options.clock()
            with shared.lock:
                stale = [k for k, b in shared.open.items() if b.events and now - b.opened >= linger_s]
                ready = [shared.open.pop(k) for k in stale]
            for open_batch in ready:
                outbox.put(open_batch)

    def _send_loop(self, outbox: queue.Queue[_OpenBatch | None], stats: SendStats, shared: _Shared) -> None:
        while (item := outbox.get()) is not None:
            if shared.failure is not None:
                continue  # drain: the reading thread stops at its next event
            try:
                self.client.send_batch(item.batch)
            except BaseException as exc:  # handed to the reading thread, raised there
                shared.failure = exc
                continue
            stats.events += item.events
            stats.bytes += item.nbytes
            stats.batches += 1
            if self.options.progress is not None:
                self.options.progress.update(item.events, item.nbytes)
