"""What keeping a partition's receiver between micro-batches saves one task: the wall time of a task
reading a few events (`read_partition`, in this process), its receiver opened for it (TCP, TLS, the
`$cbs` token, the attach) or taken over from the previous task, side by side on the same partition."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping

from eventhubs.connection_string import parse_connection_string
from jobs.datasource.reader import EventHubsPartition, read_partition
from jobs.datasource.receivers import RECEIVERS

TASKS = 40  # per way
TASK_EVENTS = 5  # a small micro-batch's share of one partition


def task_times(
    connection_string: str, hub: str, consumer_group: str, ends: Mapping[str, int]
) -> tuple[float, float]:
    """Median seconds per task, (receiver opened, receiver kept), reading partition 0's last
    2 x TASKS x TASK_EVENTS events (fewer tasks if it holds fewer)."""
    tasks = min(TASKS, ends["0"] // (2 * TASK_EVENTS))
    start = ends["0"] - 2 * tasks * TASK_EVENTS
    cs = parse_connection_string(connection_string)
    timings: dict[bool, list[float]] = {True: [], False: []}
    for keep in (False, True):
        for _ in range(tasks):
            piece = EventHubsPartition(
                connection_string=cs, fully_qualified_namespace=None, hub=hub, consumer_group=consumer_group,
                partition_id="0", start=start, end=start + TASK_EVENTS, receiver_timeout_s=30,
                operation_timeout_s=30, fail_on_data_loss=True, keep_receiver_s=60.0 if keep else 0.0,
            )  # fmt: skip
            began = time.perf_counter()
            read = sum(batch.num_rows for batch in read_partition(piece))
            timings[keep].append(time.perf_counter() - began)
            if read != TASK_EVENTS:
                raise RuntimeError(
                    f"a task read {read} events of [{piece.start}, {piece.end}), not {TASK_EVENTS}"
                )
            start += TASK_EVENTS
    RECEIVERS.close_all()
    return statistics.median(timings[False]), statistics.median(timings[True])
