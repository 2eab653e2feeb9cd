"""A Spark Structured Streaming source for Azure Event Hubs on the Python Data Source API (Spark 4.0+).

Offsets are `{"<partition id>": <next sequence number to read>}`. The driver asks the hub for partition
properties on `$management` (`hubclient.management`); executors read exact sequence ranges with a
partition receiver (`hubclient.receiver`), which hands the wire bytes straight to Arrow columns
(`columns.py`). Both are hubstream's own Event Hubs client, not the azure-eventhub SDK.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql.datasource import DataSource, DataSourceReader, DataSourceStreamReader, InputPartition
from pyspark.sql.types import StructType

from eventhubs.connection_string import ConnectionString, redact
from eventhubs.errors import EventHubsError
from hubclient.connection import Endpoint
from hubclient.management import Management
from hubclient.receiver import PartitionReceiver

from .columns import SCHEMA_DDL, EventColumns, MalformedEvent
from .options import (
    ENDING_POSITION,
    ENDING_POSITIONS,
    FAIL_ON_DATA_LOSS,
    RECEIVER_TIMEOUT,
    EventHubsOptionError,
    EventHubsOptions,
    EventPosition,
    connect,
)
from .read_limits import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    ReadMinRows,
    SupportsTriggerAvailableNow,
)
from .receivers import RECEIVERS, KeptReceiver, StreamKey, worker_is_reused

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SCHEMA_DDL", "SOURCE_NAME", "EventHubsDataSource", "EventHubsPartition", "read_partition"]

SOURCE_NAME = "hubstream-eventhubs"
ROWS_PER_BATCH = 5000
PREFETCH = 3000  # events the service may send ahead of the reader (the SDK's default: 300)
SPLIT_EVENTS = 250_000  # a partition's range longer than this is read by several tasks...
MAX_SPLITS = 4  # ...at most this many, leaving a receiver of the 5 Event Hubs allows to someone else

log = logging.getLogger(__name__)


class EventHubsReadError(RuntimeError):
    """Reading the hub failed; the message names the hub, partition and range, never the key."""


@dataclass(frozen=True)
class EventHubsPartition(InputPartition):
    """What an executor needs to read sequence numbers [start, end) of one partition."""

    connection_string: ConnectionString | None
    fully_qualified_namespace: str | None
    hub: str
    consumer_group: str
    partition_id: str
    start: int
    end: int
    receiver_timeout_s: float
    operation_timeout_s: float
    fail_on_data_loss: bool
    websocket: bool = False
    ca_pem: str | None = None  # the connectionVerify option's certificates: no file needed on executors
    custom_endpoint_address: str | None = None
    keep_receiver_s: float = 0.0  # > 0: keep the receiver open for the next range, this long at most idle

    def __repr__(self) -> str:  # what a plan or a log needs
        return (
            f"EventHubsPartition(hub={self.hub!r}, partition={self.partition_id}, "
            f"range=[{self.start}, {self.end}))"
        )


def _redact(text: str, connection_string: ConnectionString | None) -> str:
    """`text` without the connection string's key, should a message ever quote it."""
    return redact(text, *(connection_string.secrets() if connection_string else ()))


def read_partition(p: EventHubsPartition) -> Iterator[pa.RecordBatch]:
    """Yield exactly the events with sequence numbers in [p.start, p.end) as Arrow record batches.

    With `p.keep_receiver_s` > 0 (and a Python worker Spark reuses) the receiver stays open for the
    partition's next range, with the events it already received past `p.end` (`receivers.py`).
    """
    if p.start >= p.end:
        return
    columns = EventColumns(p.partition_id)
    early: list[bytes] = []  # events past p.end: the next range's
    sink = _UpTo(columns, p.start, p.end, early)
    key = _stream_key(p)
    keep = p.keep_receiver_s > 0 and worker_is_reused()
    kept = RECEIVERS.take(key, p.start, max_skip=PREFETCH) if keep else None
    skipping = kept is not None and kept.next < p.start  # events before p.start come first
    endpoint = connect(p.connection_string, p.fully_qualified_namespace, p.hub, p)
    expected = p.start
    receiver: PartitionReceiver | None = None
    waiting: list[bytes] = kept.early if kept is not None else []
    try:
        if kept is not None:
            receiver = kept.receiver
        else:
            receiver = _open_receiver(p, endpoint, p.start, keep)
        while expected < p.end:
            if waiting:
                added = [sink.add(message) for message in waiting]
                waiting = []
            else:
                try:
                    added = receiver.read_into(sink, p.receiver_timeout_s)
                except TimeoutError as e:
                    if _range_expired(p, endpoint, expected):
                        break
                    raise EventHubsReadError(
                        f"{_where(p)}: {e} (waiting for {expected}; raise {RECEIVER_TIMEOUT} if the hub is "
                        "slow)"
                    ) from None
                except EventHubsError as e:
                    if kept is None:
                        raise
                    # A kept receiver the service let go meanwhile (the link detached: its token expired,
                    # another reader took the partition; the connection closed): once, a fresh one from
                    # where this task is.
                    log.info("%s: a kept receiver failed (%s): reopening", _where(p, expected), e)
                    kept, skipping = None, False
                    receiver.close()
                    early.clear()  # the fresh receiver delivers them again
                    receiver = _open_receiver(p, endpoint, expected, keep)
                    continue
            for seq in added:
                if seq < p.start and skipping:
                    continue
                if seq < expected:
                    raise EventHubsReadError(f"{_where(p)}: event {seq} arrived after {expected - 1}")
                if expected < p.end and seq > expected:
                    # The service starts at the oldest event it keeps when older ones are gone; a first
                    # event at or past p.end means the whole rest of the range is gone.
                    gone = "are gone (retention) from" if expected == p.start else "are missing from"
                    _data_loss(p, f"events {expected}..{min(seq, p.end) - 1} {gone} {_where(p)}")
                expected = max(expected, min(seq + 1, p.end))
            if len(columns) >= ROWS_PER_BATCH:
                yield columns.take_batch()
        if keep and expected == p.end:
            RECEIVERS.keep(key, KeptReceiver(receiver, p.end, early, p.keep_receiver_s))
            receiver = None
    except (EventHubsError, MalformedEvent) as e:
        raise EventHubsReadError(_redact(f"{_where(p, expected)}: {e}", p.connection_string)) from None
    finally:
        if receiver is not None:
            receiver.close()
    if len(columns):
        yield columns.take_batch()


class _UpTo:
    """The Arrow columns of the events in [start, end); those from `end` on go to `past` (encoded),
    those before `start` (a kept receiver catching up) nowhere."""

    def __init__(self, columns: EventColumns, start: int, end: int, past: list[bytes]) -> None:
        self.columns, self.start, self.end, self.past = columns, start, end, past

    def add(self, message: bytes) -> int:
        seq = self.columns.add(message)
        if seq >= self.end or seq < self.start:
            self.columns.drop_last()
            if seq >= self.end:
                self.past.append(message)
        return seq


def _open_receiver(p: EventHubsPartition, endpoint: Endpoint, start: int, keep: bool) -> PartitionReceiver:
    """An open receiver from `start`; one to keep prefetches as much as a long range's does."""
    receiver = PartitionReceiver(
        endpoint,
        p.consumer_group,
        p.partition_id,
        start,
        prefetch=PREFETCH if keep else max(1, min(PREFETCH, p.end - start)),
        timeout_s=p.operation_timeout_s,
    )
    receiver.open()
    return receiver


def _stream_key(p: EventHubsPartition) -> StreamKey:
    return StreamKey(
        p.connection_string, p.fully_qualified_namespace, p.hub, p.consumer_group, p.partition_id,
        p.websocket, p.custom_endpoint_address, p.ca_pem,
    )  # fmt: skip


def _range_expired(p: EventHubsPartition, endpoint: Endpoint, expected: int) -> bool:
    """After a timeout: True (data loss reported) when the rest of the range has expired."""
    management = Management(endpoint, p.operation_timeout_s, "the management link")
    try:
        begin = int(management.partition_properties(p.partition_id)["beginning_sequence_number"])
    except EventHubsError as e:
        raise EventHubsReadError(_redact(f"{_where(p, expected)}: {e}", p.connection_string)) from None
    finally:
        management.close()
    if begin < p.end:
        return False
    _data_loss(p, f"events {expected}..{p.end - 1} are gone (retention) from {_where(p, expected)}")
    return True


def _where(p: EventHubsPartition, start: int | None = None) -> str:
    return (
        f"event hub {p.hub!r}, consumer group {p.consumer_group!r}, partition {p.partition_id}, "
        f"sequence numbers [{p.start if start is None else start}, {p.end})"
    )


def _data_loss(p: EventHubsPartition, message: str) -> None:
    if p.fail_on_data_loss:
        raise EventHubsReadError(
            f"data loss: {message}. Set {FAIL_ON_DATA_LOSS}=false to skip to the events that exist"
        )
    log.warning("data loss, skipped (%s=false): %s", FAIL_ON_DATA_LOSS, message)


# -- the driver side ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionState:
    begin: int  # first sequence number still kept
    next: int  # sequence number the next event will get
    last_offset: str
    last_time: datetime


class EventHubsStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Plans micro-batches from partition properties; spreads maxEventsPerTrigger over the backlogs."""

    def __init__(self, options: EventHubsOptions, clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self._clock = clock
        self._endpoint: Endpoint | None = None  # never pickled: not in InputPartitions
        self._management: Management | None = None
        self._states: dict[str, PartitionState] | None = None  # as the last latestOffset saw them
        self._pool: ThreadPoolExecutor | None = None
        self._partition_ids: list[str] | None = None
        self._target: dict[str, int] | None = None  # Trigger.AvailableNow: never read past this
        self._last_trigger: float | None = None
        self._initial: dict[str, int] | None = None
        # Where the next micro-batch starts, as Spark last said (partitions(), commit()); for Spark
        # 4.0/4.1, whose latestOffset() gets no start.
        self._seen: dict[str, int] | None = None

    def _describe(self) -> str:
        return f"event hub {self.options.name!r}, consumer group {self.options.consumer_group!r}"

    def _hub_endpoint(self) -> Endpoint:
        o = self.options
        if self._endpoint is None:
            self._endpoint = o.endpoint()
        return self._endpoint

    def _call(self, what: str, fn: Callable[[Management], Any]) -> Any:
        o = self.options
        try:
            if self._management is None:
                self._management = Management(
                    self._hub_endpoint(), o.operation_timeout_s, "the management link"
                )
            return fn(self._management)
        except EventHubsError as e:
            message = f"cannot {what} of {self._describe()}: {e}"
        except Exception as e:  # e.g. DefaultAzureCredential finding no identity
            message = f"cannot {what} of {self._describe()}: {type(e).__name__}: {e}"
        raise EventHubsReadError(_redact(message, o.connection_string))

    def partition_ids(self) -> list[str]:
        if self._partition_ids is None:
            ids = self._call("list the partitions", lambda m: m.partition_ids())
            self._partition_ids = sorted(ids, key=lambda p: (len(p), p))
        return self._partition_ids

    def _state(self, pid: str) -> PartitionState:
        props = self._call(f"read partition {pid}'s properties", lambda m: m.partition_properties(pid))
        begin = int(props["beginning_sequence_number"])
        return PartitionState(
            begin=begin,
            next=max(begin, int(props["last_enqueued_sequence_number"]) + 1),
            last_offset=str(props["last_enqueued_offset"]),
            last_time=props["last_enqueued_time_utc"],
        )

    def partition_states(self) -> dict[str, PartitionState]:
        return {pid: self._state(pid) for pid in self.partition_ids()}

    def initialOffset(self) -> dict[str, int]:
        # Once per reader: Spark 4.0/4.1 may ask latestOffset() (which then needs it) before this, and an
        # "@latest" or a time must resolve the same both times.
        if self._initial is None:
            self._initial = self._resolve_initial()
        return dict(self._initial)

    def _resolve_initial(self) -> dict[str, int]:
        states = self.partition_states()
        return self._resolve_all(
            states, lambda pid: self._resolve(pid, self.options.position_for(pid), states[pid])
        )

    def _resolve_all(self, states: Mapping[str, PartitionState], fn: Callable[[str], int]) -> dict[str, int]:
        if self._pool is None:
            workers = max(1, min(8, len(states)))
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="eventhubs-driver")
        # Resolving an offset or a time may wait on a receiver: do the partitions side by side.
        return dict(zip(states, self._pool.map(fn, states), strict=True))

    def batch_range(self) -> tuple[dict[str, int], dict[str, int]]:
        """A batch read's (start, end) per partition, from one look at the partitions' properties.

        The end is the first event not read: an ending position's event is read when isInclusive (the
        default), and nothing past the latest event now is (the default end).
        """
        o = self.options
        states = self._states = self.partition_states()

        def end(pid: str) -> int:
            position = o.ending_for(pid)
            if position is None:
                return states[pid].next
            flipped = dataclasses.replace(position, inclusive=not position.inclusive)
            return min(states[pid].next, self._resolve(pid, flipped, states[pid]))

        start = self._resolve_all(states, lambda pid: self._resolve(pid, o.position_for(pid), states[pid]))
        ends = self._resolve_all(states, end)
        return start, {pid: max(start[pid], ends[pid]) for pid in states}

    def _resolve(self, pid: str, position: EventPosition, state: PartitionState) -> int:
        """The sequence number a starting position stands for in partition `pid`."""
        if position.offset == "-1":
            return state.begin
        if position.offset == "@latest":
            return state.next
        if position.seq_no is not None:
            return position.seq_no if position.inclusive else position.seq_no + 1
        # An offset or a time: nothing to ask when it lies past the last event...
        if position.offset is not None:
            if state.last_offset.lstrip("-").isdigit():
                last = int(state.last_offset)
                if int(position.offset) > last or (int(position.offset) == last and not position.inclusive):
                    return state.next
            where: str | datetime = position.offset
        else:
            assert position.enqueued_time is not None
            t = position.enqueued_time
            if t > state.last_time or (t == state.last_time and not position.inclusive):
                return state.next
            where = t
        # ...else the first event the service delivers from there tells its sequence number.
        o = self.options
        timeout = min(o.operation_timeout_s, 10.0)
        receiver = PartitionReceiver(
            self._hub_endpoint(),
            o.consumer_group, pid, where, inclusive=position.inclusive, prefetch=1, timeout_s=timeout,
        )  # fmt: skip
        columns = EventColumns(pid)
        try:
            receiver.open()
            return receiver.read_into(columns, timeout)[0]
        except TimeoutError:
            return state.next  # nothing after that position yet
        except (EventHubsError, MalformedEvent) as e:
            message = f"partition {pid} of {self._describe()}: {e}"
            raise EventHubsReadError(_redact(message, o.connection_string)) from None
        finally:
            receiver.close()

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.options.max_events(len(self.partition_ids())))

    def prepareForTriggerAvailableNow(self) -> None:
        self._target = {pid: s.next for pid, s in self.partition_states().items()}

    def latestOffset(
        self, start: dict[str, int] | None = None, limit: ReadLimit | None = None
    ) -> dict[str, int]:
        """The end of the next micro-batch: at most `limit` events past `start`, spread by backlog.

        Spark 4.2+ passes both (a signature with parameters is how its runner tells admission control
        apart). Spark 4.0/4.1 pass neither: the start is then where Spark last said the query is (the end
        of the last planned or committed batch, or `partitions(last, last)` on a restart, else the initial
        offset), and the limit is the source's default, so maxEventsPerTrigger holds there too.
        """
        if start is None:
            start = dict(self._seen) if self._seen is not None else self.initialOffset()
        if limit is None:
            limit = self.getDefaultReadLimit()
        states = self._states = self.partition_states()
        begin = {pid: start.get(pid, 0) for pid in states}
        latest = {pid: s.next for pid, s in states.items()}
        if self._target is not None:
            latest = {pid: min(latest[pid], self._target.get(pid, begin[pid])) for pid in latest}
        backlog = {pid: max(0, latest[pid] - begin[pid]) for pid in latest}
        total = sum(backlog.values())

        min_rows = limit.min_rows if isinstance(limit, ReadMinRows) else self.options.min_events_per_trigger
        # Trigger.AvailableNow must finish, so it never waits for more events.
        if min_rows and self._target is None and 0 < total < min_rows:
            now = self._clock()
            if self._last_trigger is None:
                self._last_trigger = now
            if now - self._last_trigger < self.options.max_trigger_delay_s:
                return start
        if isinstance(limit, ReadMaxRows):
            take = spread(backlog, limit.max_rows)
        elif isinstance(limit, ReadAllAvailable | ReadMinRows):
            take = backlog
        else:
            raise EventHubsReadError(f"read limit {type(limit).__name__} is not supported by {SOURCE_NAME}")
        end = {pid: begin[pid] + take[pid] for pid in states}
        if end != begin:
            self._last_trigger = self._clock()
        return end

    def partitions(self, start: dict[str, int], end: dict[str, int]) -> Sequence[InputPartition]:
        self._saw(end)
        o = self.options
        pieces = [
            EventHubsPartition(
                connection_string=o.connection_string,
                fully_qualified_namespace=o.fully_qualified_namespace,
                hub=o.name,
                consumer_group=o.consumer_group,
                partition_id=pid,
                start=first,
                end=stop,
                receiver_timeout_s=o.receiver_timeout_s,
                operation_timeout_s=o.operation_timeout_s,
                fail_on_data_loss=o.fail_on_data_loss,
                websocket=o.websocket,
                ca_pem=o.ca_pem,
                custom_endpoint_address=o.custom_endpoint_address,
                keep_receiver_s=o.kept_receiver_idle_timeout_s if o.keep_receivers else 0.0,
            )
            for pid, last in end.items()
            for first, stop in split_range(start.get(pid, 0), last)
        ]
        if not pieces:
            return pieces
        # A range retention has wholly removed is reported here: a task would wait receiverTimeout for
        # events that will never come. One partly removed is the task's to report (it sees the gap).
        # The states latestOffset just read do (the first kept event only moves on); a batch replayed
        # from the checkpoint after a restart has none yet.
        states = self._states or self.partition_states()
        kept = []
        for piece in pieces:
            if states[piece.partition_id].begin >= piece.end:
                _data_loss(
                    piece, f"events {piece.start}..{piece.end - 1} are gone (retention) from {_where(piece)}"
                )
            else:
                kept.append(piece)
        return kept

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, EventHubsPartition)
        return read_partition(partition)

    def commit(self, end: dict[str, int]) -> None:
        """Spark's checkpoint holds the offsets; only noted, for latestOffset() on Spark 4.0/4.1."""
        self._saw(end)

    def _saw(self, end: Mapping[str, int]) -> None:
        # Per partition the furthest: a commit of batch N arrives after batch N+1 is planned.
        seen = dict(self._seen or {})
        for pid, seq in end.items():
            seen[pid] = max(seen.get(pid, seq), int(seq))
        self._seen = seen

    def stop(self) -> None:
        management, self._management = self._management, None
        if management is not None:
            management.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


def split_range(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) as consecutive pieces of at most ~SPLIT_EVENTS, read by parallel tasks; none if empty.

    At most MAX_SPLITS pieces: each piece is one receiver, and Event Hubs allows 5 per partition and
    consumer group.
    """
    if end <= start:
        return []
    pieces = min(MAX_SPLITS, -(-(end - start) // SPLIT_EVENTS))
    bounds = [start + (end - start) * i // pieces for i in range(pieces + 1)]
    return list(itertools.pairwise(bounds))


def spread(backlog: Mapping[str, int], limit: int) -> dict[str, int]:
    """Split `limit` events over partitions in proportion to backlog: exact total, none over its backlog."""
    total = sum(backlog.values())
    if total <= limit:
        return dict(backlog)
    share = {pid: limit * b // total for pid, b in backlog.items()}
    # Largest remainders first; each such partition has share < backlog, so +1 never overshoots it.
    rest = limit - sum(share.values())
    by_remainder = sorted(backlog, key=lambda pid: (-(limit * backlog[pid] % total), -backlog[pid], pid))
    for pid in by_remainder[:rest]:
        share[pid] += 1
    return share


class EventHubsBatchReader(DataSourceReader):
    """`spark.read`: each partition from its starting to its ending position, exactly."""

    def __init__(self, options: EventHubsOptions) -> None:
        self.options = options

    def partitions(self) -> Sequence[InputPartition]:
        planner = EventHubsStreamReader(self.options)  # its connection stays on the driver
        try:
            start, end = planner.batch_range()
            # One read, no next range: nothing to keep a receiver open for.
            pieces = planner.partitions(start, end)
            return [
                dataclasses.replace(p, keep_receiver_s=0.0) if isinstance(p, EventHubsPartition) else p
                for p in pieces
            ]
        finally:
            planner.stop()

    def read(self, partition: InputPartition | None) -> Iterator[pa.RecordBatch]:
        if not isinstance(partition, EventHubsPartition):
            # partitions() was empty, and Spark reads one placeholder: None on 4.0/4.1,
            # InputPartition(None) on 4.2+.
            if partition is not None and getattr(partition, "value", None) is not None:
                raise EventHubsReadError(f"not a partition of {SOURCE_NAME}: {partition!r}")
            return iter(())
        return read_partition(partition)


class EventHubsDataSource(DataSource):
    """`format("hubstream-eventhubs")` for spark.readStream and spark.read: the connector's schema, options"""

    def __init__(self, options: dict[str, str]) -> None:
        super().__init__(options)
        # Parse now, so a bad option fails `load()` rather than the running query.
        self.parsed = EventHubsOptions.parse(options)

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> str:
        return SCHEMA_DDL

    def reader(self, schema: StructType) -> DataSourceReader:
        return EventHubsBatchReader(self.parsed)

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        if self.parsed.has_ending:
            raise EventHubsOptionError(
                f"{ENDING_POSITION} and {ENDING_POSITIONS} are for batch reads (spark.read): "
                f"a stream has no end; drop them or read with spark.read"
            )
        return EventHubsStreamReader(self.parsed)

    # The sink (`writer.py`): `df.write` / `df.writeStream` with the connector's sink columns.
    def writer(self, schema: StructType, overwrite: bool) -> Any:
        from .writer import EventHubsWriter, SinkOptions, check_append, sink_columns

        check_append(overwrite)
        return EventHubsWriter(SinkOptions.of(self.parsed), sink_columns(schema))

    def streamWriter(self, schema: StructType, overwrite: bool) -> Any:
        from .writer import EventHubsStreamWriter, SinkOptions, check_append, sink_columns

        check_append(overwrite)
        return EventHubsStreamWriter(SinkOptions.of(self.parsed), sink_columns(schema))
