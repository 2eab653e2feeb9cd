"""Partition receivers a Python worker keeps open between micro-batches.

Opening a receiver costs a TCP (and TLS) handshake, a token put to `$cbs` and an attach: most of a small
micro-batch's time. Spark reuses Python workers (`spark.python.worker.reuse`, on by default), so this
module's `RECEIVERS` outlives a task, and the next task of the same stream and partition in this worker
takes the receiver over when it stands where that task starts. Events it received past the last task's
end wait with it, in order, for that next task. Spark hands a partition's tasks to whichever worker is
free, so a receiver often stands a batch behind (another worker read the partition meanwhile): the task
then skips those events, which mostly arrived already with the prefetch, when they are few (at most
`max_skip`), rather than paying for a new connection. Anything else (a replay after a restart, a split
range, a receiver far behind) closes it and the task opens a fresh one, as before.

Bounds: one kept receiver per stream and partition per worker; one idle longer than its idle timeout
is closed by a timer thread; the rest close at exit (a worker Spark ends with `os._exit` closes its
sockets with it).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from eventhubs.connection_string import ConnectionString
from hubclient.receiver import PartitionReceiver

__all__ = ["RECEIVERS", "KeptReceiver", "ReceiverCache", "StreamKey", "worker_is_reused"]


@dataclass(frozen=True)
class StreamKey:
    """What makes two tasks read the same stream: where, as whom, which partition of which group."""

    connection_string: ConnectionString | None = field(repr=False)  # its key is part of who we are
    fully_qualified_namespace: str | None
    hub: str
    consumer_group: str
    partition_id: str
    websocket: bool
    custom_endpoint_address: str | None = None
    ca_pem: str | None = field(default=None, repr=False)  # certificates: long, and nothing to read in a log


@dataclass
class KeptReceiver:
    """An open receiver, the sequence number of the next event it will deliver, and the events it
    already delivered from there on (the previous task's prefetch past its end)."""

    receiver: PartitionReceiver
    next: int
    early: list[bytes]
    idle_timeout_s: float
    idle_since: float = 0.0


class ReceiverCache:
    """Receivers by stream; taken by one task at a time, given back at its end."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._kept: dict[StreamKey, KeptReceiver] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._sweeper: threading.Thread | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)

    def take(self, key: StreamKey, start: int, max_skip: int = 0) -> KeptReceiver | None:
        """The receiver kept for `key` if its next event is `start`, or at most `max_skip` events before
        it (the caller skips those), and the service has not closed it meanwhile (its early events could
        then be a recreated hub's predecessor's); otherwise none (and it is closed)."""
        with self._lock:
            kept = self._kept.pop(key, None)
        if kept is None:
            return None
        if 0 <= start - kept.next <= max_skip and kept.receiver.still_open():
            return kept
        kept.receiver.close()
        return None

    def keep(self, key: StreamKey, kept: KeptReceiver) -> None:
        """Hold `kept` for the next task of `key`; a receiver already held for it is closed."""
        kept.idle_since = self._clock()
        with self._lock:
            old = self._kept.pop(key, None)
            self._kept[key] = kept
            if self._sweeper is None or not self._sweeper.is_alive():
                self._sweeper = threading.Thread(target=self._sweep, name="eventhubs-receivers", daemon=True)
                self._sweeper.start()
            self._wake.notify()
        if old is not None:
            old.receiver.close()

    def close_idle(self) -> int:
        """Close the receivers idle past their timeout; return how many."""
        now = self._clock()
        with self._lock:
            idle = [k for k, kept in self._kept.items() if now - kept.idle_since >= kept.idle_timeout_s]
            gone = [self._kept.pop(k) for k in idle]
        for kept in gone:
            kept.receiver.close()
        return len(gone)

    def close_all(self) -> None:
        with self._lock:
            gone, self._kept = list(self._kept.values()), {}
            self._wake.notify()
        for kept in gone:
            kept.receiver.close()

    def _sweep(self) -> None:
        """Until nothing is kept: wake when the first kept receiver's idle timeout is up, close idle ones."""
        while True:
            with self._lock:
                if not self._kept:
                    self._sweeper = None
                    return
                now = self._clock()
                due = min(kept.idle_since + kept.idle_timeout_s for kept in self._kept.values())
                if due > now:
                    self._wake.wait(due - now)
                    continue
            self.close_idle()


def worker_is_reused() -> bool:
    """False in a Spark Python worker that ends after its task (spark.python.worker.reuse=false): Spark
    sets SPARK_REUSE_WORKER for the workers it reuses. True elsewhere (the driver, a test calling the
    reader directly)."""
    in_spark_worker = "PYTHON_WORKER_FACTORY_SECRET" in os.environ
    return not in_spark_worker or os.environ.get("SPARK_REUSE_WORKER") == "1"


RECEIVERS = ReceiverCache()
atexit.register(RECEIVERS.close_all)
