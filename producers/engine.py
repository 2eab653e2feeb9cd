"""`--engine hubstream`: send with hubstream's own Event Hubs client instead of the azure-eventhub SDK.

The SDK's producer builds ~35,000 200-byte events/s on one core here and waits for each batch's
acknowledgement before building the next. hubstream's `EventSender` (`hubclient/sender.py`) writes the
same batches (byte for byte) with a few µs of Python per event and keeps several in flight, which load
tests need. Same sources, limits and output as the SDK engine; no retries (a failed batch stops the run
with the service's error), and an event counts as sent once the service has settled its batch.

The calling thread reads the source, packs and sends; a linger thread sends a partly filled batch once
its first event has waited `linger_s`, so a slow source (a poll every 30 s) still flows. They share the
sender under a lock, which the reading thread does not hold while it waits for the source.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from eventhubs.events import encode_event
from hubclient.connection import Endpoint
from hubclient.sender import EventSender, EventTooLargeError

from .events import Event
from .sender import OversizeEvent, Progress, SendStats

log = logging.getLogger("producers.engine")


class HubstreamSender:
    """The `Sender` interface (`send(events, count=, duration_s=, stop=)`) over an EventSender."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        rate: float | None = None,
        linger_s: float = 0.1,
        on_oversize: Literal["skip", "fail"] = "skip",
        partition_id: str | None = None,
        progress: Progress | None = None,
        timeout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be a positive number of events per second, got {rate}")
        self.endpoint = endpoint
        self.rate = rate
        self.linger_s = linger_s
        self.on_oversize = on_oversize
        self.partition_id = partition_id
        self.progress = progress
        self.timeout_s = timeout_s
        self.clock = clock

    def send(
        self,
        events: Iterable[Event],
        *,
        count: int | None = None,
        duration_s: float | None = None,
        stop: threading.Event | None = None,
    ) -> SendStats:
        stats = SendStats()
        started = self.clock()
        sender = EventSender(self.endpoint, timeout_s=self.timeout_s)
        lock = threading.Lock()
        done = threading.Event()
        oldest: list[float] = []  # when the first unsent event was added, while there is one
        failure: list[BaseException] = []
        reported = 0

        def linger() -> None:
            while not done.wait(max(self.linger_s / 2, 0.01)):
                with lock:
                    try:
                        if oldest and self.clock() - oldest[0] >= self.linger_s:
                            sender.send_open()
                            oldest.clear()
                        sender.idle()
                    except BaseException as exc:  # raised in the reading thread at its next event
                        failure.append(exc)
                        return

        flusher = threading.Thread(target=linger, name="linger", daemon=True)
        try:
            sender.open()
            flusher.start()
            for read, event in enumerate(self._limited(events, count, duration_s, stop, started)):
                if failure:
                    raise failure[0]
                if self.rate is not None:
                    ahead = started + read / self.rate - self.clock()
                    if ahead > 0:
                        time.sleep(ahead)
                with lock:
                    if self._add(sender, event, stats) and not oldest:
                        oldest.append(self.clock())
                    if self.progress is not None and sender.stats.events > reported:
                        self.progress.update(sender.stats.events - reported, 0)
                        reported = sender.stats.events
        except KeyboardInterrupt:
            stats.interrupted = True
            log.warning("interrupted: sending what was read, then stopping")
        finally:
            done.set()
            if flusher.is_alive():
                flusher.join()
            try:
                if not failure and sender.is_open:
                    confirmed = sender.flush()  # every event read is sent and settled, or this raises
                    stats.events, stats.batches = confirmed.events, confirmed.batches
            finally:
                sender.close()
                stats.elapsed_s = self.clock() - started
                if self.progress is not None:
                    self.progress.update(max(0, stats.events - reported), 0)
                    self.progress.close()
        if failure:
            raise failure[0]
        if stop is not None and stop.is_set():
            stats.interrupted = True
        return stats

    def _add(self, sender: EventSender, event: Event, stats: SendStats) -> bool:
        body = event.body.encode("utf-8") if isinstance(event.body, str) else event.body
        properties = dict(event.properties) if event.properties else None
        key = None if self.partition_id is not None else event.partition_key
        try:
            sender.send_encoded(encode_event(body, properties, key), self.partition_id, key)
        except EventTooLargeError as exc:
            message = (
                f"an event of {len(body):,} bytes is larger than the hub accepts "
                f"({exc.limit:,} bytes with the batch envelope)"
            )
            if self.on_oversize == "fail":
                raise OversizeEvent(message + "; use --oversize skip to skip such events") from None
            stats.oversize_skipped += 1
            log.warning("skipping it: %s", message)
            return False
        stats.bytes += len(body)
        return True

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
            if duration_s is not None and self.clock() - started >= duration_s:
                return
            if stop is not None and stop.is_set():
                return
            try:
                event = next(source)
            except StopIteration:
                return
            yield event
            read += 1
