"""Capture beside the server: one asyncio task per captured partition, off the send path.

A task reads its partition's log as a consumer does (`PartitionLog.read`, on the event loop, a batch at a
time), after the events are stored; records are encoded into a scratch file and delivered in worker
threads, so a slow or unreachable destination never holds up producers or consumers. A failed delivery is
logged and retried with backoff; the window's events stay in the partition meanwhile (as on the service,
for as long as the hub's retention keeps them) and the position moves only once the file is delivered.

On stop, each open window is written cut short; with `--data-dir`, positions survive restarts, so no event
is captured twice or missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emulator.capture import windows
from emulator.capture.destinations import Destination
from emulator.capture.positions import Position, Positions
from emulator.config import CaptureConfig, HubConfig
from emulator.namespace import Namespace
from emulator.storage import PartitionLog, StoredEvent
from eventhubs import capture as capture_format

log = logging.getLogger("emulator.capture")

READ_BATCH = 512  # events read from the log, and encoded as one Avro block, at a time
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 30.0


class _Stopping(Exception):
    """The emulator is stopping while a delivery keeps failing: leave the window for the next start."""


class PartitionCapture:
    """Captures one partition: waits for its window to close, then writes and delivers it."""

    def __init__(
        self,
        service: CaptureService,
        hub: HubConfig,
        partition_id: str,
        destination: Destination,
    ) -> None:
        self.service = service
        self.hub = hub
        self.settings: CaptureConfig = hub.capture
        self.partition_id = partition_id
        self.destination = destination
        self.log: PartitionLog = service.namespace.log(hub, partition_id)
        self.where = f"{hub.name}/{partition_id}"
        self.position = windows.opening(
            service.positions.load(hub.name, partition_id), self.log, service.now_ms()
        )
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        # Capped by the window, so a short local-testing window is retried about as often as it closes.
        self.max_retry_s = min(MAX_RETRY_S, float(self.settings.time_window_seconds))

    def on_events(self) -> None:
        """Called by the namespace as events are stored: wake the task only once the size window is full
        (the time window has its own deadline), so a publish costs one subtraction here."""
        if self.log.next_offset - self.position.next_offset >= self.settings.size_window_bytes:
            self._wake.set()

    async def run(self) -> None:
        stopping = self.service.stopping
        while not stopping.is_set():
            self._wake.clear()  # before looking: events stored from now on wake it again
            try:
                await self._write_due()
            except _Stopping:
                return
            except Exception:
                log.exception("capture of %s failed; trying again", self.where)
                await self._sleep(self.max_retry_s)
                continue
            start = self.position.window_start_ms
            assert start is not None
            end_ms = start + self.settings.time_window_seconds * 1000
            wait_s = max(0.0, (end_ms - self.service.now_ms()) / 1000)
            await self._sleep(wait_s, self._wake)

    async def _sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Sleep, unless the emulator stops (or `wake` is set) first."""
        waiters = [asyncio.ensure_future(self.service.stopping.wait())]
        if wake is not None:
            waiters.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _write_due(self) -> None:
        settings = self.settings
        while True:
            self._skip_lost_events()
            cut = windows.due(
                self.position,
                self.log,
                settings.time_window_seconds * 1000,
                settings.size_window_bytes,
                self.service.now_ms(),
            )
            if cut is None:
                return
            await self._write(cut, retry=True)

    async def finish(self) -> None:
        """At stop: write the open window cut short (one try; a failure leaves it to the next start)."""
        self._skip_lost_events()
        cut = windows.at_stop(self.position, self.log)
        with contextlib.suppress(_Stopping):
            await self._write(cut, retry=False)

    def _skip_lost_events(self) -> None:
        """Retention may remove events Capture has not written (a destination down for longer than the
        retention); say so and go on from the oldest event kept."""
        position, log_ = self.position, self.log
        begin, end = log_.begin_sequence_number, log_.next_sequence_number
        if position.next_sequence > end:
            log.warning(
                "capture of %s: the partition ends at event %d, before the captured position %d (its data "
                "was removed?); capturing from event %d on",
                self.where, end, position.next_sequence, end,
            )  # fmt: skip
            self.position = Position(end, log_.next_offset, position.window_start_ms, position.last_start_ms)
        elif position.next_sequence < begin:
            log.warning(
                "capture of %s: events %d to %d were removed by retention before Capture wrote them",
                self.where, position.next_sequence, begin - 1,
            )  # fmt: skip
            first = log_.read(begin, 1)
            offset = first[0].offset if first else log_.next_offset
            self.position = Position(begin, offset, position.window_start_ms, position.last_start_ms)

    async def _write(self, cut: windows.Cut, *, retry: bool) -> None:
        settings = self.settings
        next_offset = self.position.next_offset
        if cut.empty and settings.skip_empty_archives:
            await self._advance(cut, next_offset)
            return
        when = datetime.fromtimestamp(cut.start_ms / 1000, UTC)
        name = capture_format.archive_name(
            settings.archive_name_format, self.service.namespace.config.namespace, self.hub.name,
            self.partition_id, when,
        )  # fmt: skip
        scratch = self.service.scratch_file()
        try:
            count, next_offset = await self._encode(cut, scratch, next_offset)
            await self._deliver(name, scratch, retry=retry)
        finally:
            scratch.unlink(missing_ok=True)
        log.log(
            logging.INFO if count else logging.DEBUG,
            "capture of %s: wrote %s (%d events, %s window) to %s",
            self.where, name, count, cut.reason, self.destination.description,
        )  # fmt: skip
        await self._advance(cut, next_offset)

    async def _advance(self, cut: windows.Cut, next_offset: int) -> None:
        self.position = windows.after(cut, self.position, next_offset)
        # An fsync: off the loop, like every other file write here.
        await asyncio.to_thread(self.service.positions.save, self.hub.name, self.partition_id, self.position)

    async def _encode(self, cut: windows.Cut, scratch: Path, next_offset: int) -> tuple[int, int]:
        """Write the cut's events into `scratch`; returns how many, and the offset after the last."""
        codec = self.settings.codec
        with scratch.open("wb") as out:
            writer = await asyncio.to_thread(capture_format.ArchiveWriter, out, codec)
            sequence = cut.first_sequence
            while sequence < cut.end_sequence:
                # Read on the loop, as consumers do (the log is not thread-safe); encode off it.
                batch = self.log.read(sequence, min(READ_BATCH, cut.end_sequence - sequence))
                if not batch:
                    break
                await asyncio.to_thread(_encode_block, writer, batch)
                last = batch[-1]
                sequence = last.sequence_number + 1
                next_offset = last.offset + len(last.payload)
        return writer.records, next_offset

    async def _deliver(self, name: str, scratch: Path, *, retry: bool) -> None:
        delay = FIRST_RETRY_S
        failures = 0
        while True:
            try:
                await asyncio.to_thread(self.destination.deliver, name, scratch)
                if failures:
                    log.info(
                        "capture of %s: %s delivered after %d failed attempts", self.where, name, failures
                    )
                return
            except Exception as exc:
                failures += 1
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                if not retry or self.service.stopping.is_set():
                    log.warning(
                        "capture of %s: cannot write %s to %s (%s); its events stay in the partition and are "
                        "captured after the next start (with --data-dir)",
                        self.where, name, self.destination.description, reason,
                    )  # fmt: skip
                    raise _Stopping from None
                log.warning(
                    "capture of %s: cannot write %s to %s (%s); retrying in %.1f s (attempt %d; the events "
                    "stay in the partition meanwhile)",
                    self.where, name, self.destination.description, reason, delay, failures,
                )  # fmt: skip
                await self._sleep(delay)
                delay = min(delay * 2, self.max_retry_s)


def _encode_block(writer: capture_format.ArchiveWriter, batch: list[StoredEvent]) -> None:
    record = capture_format.capture_record
    writer.write_block(record(e.payload, e.sequence_number, e.offset, e.enqueued_time_ms) for e in batch)


class CaptureService:
    """Capture of every hub whose `[hubs.capture]` is enabled. `start()` once the namespace is open,
    `stop()` before its store closes."""

    def __init__(
        self,
        namespace: Namespace,
        positions: Positions,
        destinations: Mapping[str, Destination],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.namespace = namespace
        self.positions = positions
        self.destinations = dict(destinations)
        self.clock = clock
        self.stopping = asyncio.Event()
        self.partitions: list[PartitionCapture] = []
        self._scratch_dir: Path | None = None
        self._listeners: list[tuple[HubConfig, str, Callable[[], None]]] = []

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def scratch_file(self) -> Path:
        assert self._scratch_dir is not None
        handle, path = tempfile.mkstemp(suffix=".avro", dir=self._scratch_dir)
        os.close(handle)
        return Path(path)

    async def start(self) -> None:
        hubs = [h for h in self.namespace.config.hubs.values() if h.capture.enabled]
        self.positions.keep_only({h.name for h in hubs})
        if not hubs:
            return
        self._scratch_dir = Path(tempfile.mkdtemp(prefix="hubstream-capture-"))
        for hub in hubs:
            destination = self.destinations[hub.name]
            for partition_id in self.namespace.partition_ids(hub):
                capture = PartitionCapture(self, hub, partition_id, destination)
                # The opening window is saved at once: a restart continues it instead of starting anew.
                self.positions.save(hub.name, partition_id, capture.position)
                self.namespace.listen(hub, partition_id, capture.on_events)
                self._listeners.append((hub, partition_id, capture.on_events))
                capture.task = asyncio.create_task(capture.run(), name=f"capture {capture.where}")
                self.partitions.append(capture)

    async def stop(self, timeout: float = 15.0) -> None:
        """Let each task finish the file it is writing, then write every open window cut short."""
        self.stopping.set()
        for hub, partition_id, listener in self._listeners:
            self.namespace.unlisten(hub, partition_id, listener)
        tasks = [c.task for c in self.partitions if c.task is not None]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
        # Cut off mid-write, a task's position was not saved: the next start writes that window.
        finishing = [c for c in self.partitions if c.task is None or not c.task.cancelled()]
        results = await asyncio.gather(
            *(asyncio.wait_for(c.finish(), timeout) for c in finishing), return_exceptions=True
        )
        for capture, result in zip(finishing, results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "capture of %s: the window cut short by the stop is not written (%s: %s); the next start "
                    "writes it (with --data-dir)",
                    capture.where, type(result).__name__, result,
                )  # fmt: skip
        for destination in self.destinations.values():
            close: Any = getattr(destination, "close", None)
            if close is not None:
                close()
        if self._scratch_dir is not None:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
