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
from dataclasses import dataclass, field

from eventhubs.events import encode_event
from hubclient.connection import Endpoint
from hubclient.sender import EventSender, EventTooLargeError

from .events import Event
from .sender import BatchLoop, LoopOptions, SendStats

log = logging.getLogger("producers.engine")


@dataclass
class _Run:
    """One `HubstreamSender.send`: the EventSender, the linger thread and what they share under `lock`."""

    sender: EventSender
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)
    oldest: list[float] = field(default_factory=list)  # when the first unsent event was added, if any
    failure: list[BaseException] = field(default_factory=list)
    reported: int = 0
    flusher: threading.Thread | None = None


class HubstreamSender(BatchLoop[_Run]):
    """The `Sender` interface (`send(events, count=, duration_s=, stop=)`) over an EventSender."""

    log = log

    def __init__(
        self, endpoint: Endpoint, options: LoopOptions | None = None, *, timeout_s: float = 60.0
    ) -> None:
        super().__init__(options)
        self.endpoint = endpoint
        self.timeout_s = timeout_s

    def _begin(self, stats: SendStats) -> _Run:
        run = _Run(EventSender(self.endpoint, timeout_s=self.timeout_s))
        run.flusher = threading.Thread(target=self._linger, args=(run,), name="linger", daemon=True)
        return run

    def _start(self, run: _Run) -> None:
        run.sender.open()
        assert run.flusher is not None
        run.flusher.start()

    def _linger(self, run: _Run) -> None:
        while not run.done.wait(max(self.options.linger_s / 2, 0.01)):
            with run.lock:
                try:
                    if run.oldest and self.options.clock() - run.oldest[0] >= self.options.linger_s:
                        run.sender.send_open()
                        run.oldest.clear()
                    run.sender.idle()
                except BaseException as exc:  # raised in the reading thread at its next event
                    run.failure.append(exc)
                    return

    def _failure(self, run: _Run) -> BaseException | None:
        return run.failure[0] if run.failure else None

    def _add(self, run: _Run, event: Event, stats: SendStats) -> None:
        with run.lock:
            if self._encode(run.sender, event, stats) and not run.oldest:
                run.oldest.append(self.options.clock())
            if self.options.progress is not None and run.sender.stats.events > run.reported:
                self.options.progress.update(run.sender.stats.events - run.reported, 0)
                run.reported = run.sender.stats.events

    def _finish(self, run: _Run, stats: SendStats) -> None:
        run.done.set()
        if run.flusher is not None and run.flusher.is_alive():
            run.flusher.join()
        try:
            if not run.failure and run.sender.is_open:
                confirmed = run.sender.flush()  # every event read is sent and settled, or this raises
                stats.events, stats.batches = confirmed.events, confirmed.batches
        finally:
            run.sender.close()
            if self.options.progress is not None:
                self.options.progress.update(max(0, stats.events - run.reported), 0)

    def _encode(self, sender: EventSender, event: Event, stats: SendStats) -> bool:
        body = event.body.encode("utf-8") if isinstance(event.body, str) else event.body
        properties = dict(event.properties) if event.properties else None
        key = None if self.options.partition_id is not None else event.partition_key
        try:
            sender.send_encoded(encode_event(body, properties, key), self.options.partition_id, key)
        except EventTooLargeError as exc:
            self._oversize(len(body), exc.limit, stats, "--oversize skip")
            return False
        stats.bytes += len(body)
        return True
