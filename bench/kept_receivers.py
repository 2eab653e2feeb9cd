"""What keeping a partition's receiver between micro-batches saves one task: the wall time of a task
reading a few events (`read_partition`, in this process), its receiver opened for it (TCP, TLS, the
`$cbs` token, the attach) or taken over from the previous task, side by side on the same partition.
On loopback a connection costs little; `DelayProxy` puts a wide-area round trip (WAN_RTT_S) between
the task and the emulator, as between a cluster and its Event Hubs namespace in another region."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping

from eventhubs.connection_string import parse_connection_string
from eventhubs.links import AMQPS_PORT
from jobs.datasource.reader import EventHubsPartition, read_partition
from jobs.datasource.receivers import RECEIVERS

from .delay_proxy import DelayProxy

TASKS = 40  # per way
TASK_EVENTS = 5  # a small micro-batch's share of one partition
WAN_RTT_S = 0.030


def task_times(
    host: str, connection_string: str, hub: str, consumer_group: str, ends: Mapping[str, int]
) -> dict[str, tuple[float, float]]:
    """Median seconds per task, (receiver opened, receiver kept), over loopback and over a WAN_RTT_S
    round trip; `connection_string` names `host` without a port (TLS on 5671, as Azure's)."""
    tasks = min(TASKS, ends["0"] // (4 * TASK_EVENTS))
    first = ends["0"] - 4 * tasks * TASK_EVENTS
    found = {"loopback": _times(connection_string, hub, consumer_group, first, tasks)}
    with DelayProxy(host, AMQPS_PORT, WAN_RTT_S / 2) as proxy:
        far = connection_string.replace(f"sb://{host}/", f"sb://{host}:{proxy.port}/")
        found[f"{WAN_RTT_S * 1000:.0f} ms round trip"] = _times(
            far, hub, consumer_group, first + 2 * tasks * TASK_EVENTS, tasks
        )
    return found


def _times(
    connection_string: str, hub: str, consumer_group: str, start: int, tasks: int
) -> tuple[float, float]:
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
