"""Memory: the emulator's resident set size with a million events on disk.

Measured on the emulator `bench.egress.filled_emulator` filled: right after filling, after the egress
reads (if they ran), and after a restart (`EmulatorProcess.restart()`) followed by one
`get_partition_properties` call, which makes it open the partition's log. The disk store keeps only an
index of 24 bytes per event in memory, never the payloads, so the target is < 300 MB either way.
"""

from __future__ import annotations

import time

from azure.eventhub import EventHubProducerClient

from . import HUB, Figure, progress, rss_mb
from .egress import PARTITION, Filled

TARGET_MB = 300


def _figure(what: str, mb: float) -> Figure:
    print(f"emulator RSS {what}: {mb:.1f} MB (target < {TARGET_MB} MB)")
    return Figure("memory", f"RSS {what}", mb, "MB", f"< {TARGET_MB}", mb < TARGET_MB)


def header(filled: Filled) -> None:
    print(
        f"\n== memory: emulator with {filled.events:,} events on disk ({_du_mb(filled):.0f} MB in --data-dir)"
    )


def after_fill(filled: Filled) -> Figure:
    return _figure("after filling", rss_mb(filled.emulator.pid))


def after_reads(filled: Filled) -> Figure:
    return _figure("after the egress reads", rss_mb(filled.emulator.pid))


def after_restart(filled: Filled) -> list[Figure]:
    progress("memory: restarting the emulator")
    started = time.perf_counter()
    filled.emulator.restart()
    listening = time.perf_counter() - started
    producer = EventHubProducerClient.from_connection_string(
        filled.emulator.connection_string, eventhub_name=HUB
    )
    try:
        properties = producer.get_partition_properties(PARTITION)
    finally:
        producer.close()
    answered = time.perf_counter() - started
    assert properties["last_enqueued_sequence_number"] == filled.events - 1, properties
    print(
        f"restart: listening after {listening:.2f} s, partition properties answered after {answered:.2f} s "
        f"(last sequence number {properties['last_enqueued_sequence_number']:,})"
    )
    return [
        _figure("after restart + get_partition_properties", rss_mb(filled.emulator.pid)),
        Figure("memory", "restart until partition properties", answered, "s"),
    ]


def _du_mb(filled: Filled) -> float:
    return sum(p.stat().st_size for p in filled.data_dir.rglob("*") if p.is_file()) / 1e6
