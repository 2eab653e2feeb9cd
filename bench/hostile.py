"""Hostile neighbours: a well-behaved SDK client's throughput and send latency alone, then beside 10
receivers that grant huge credit and never read, 1,000 idle sockets and a 20,000-attach burst, in one run
on one emulator (issue 11). Printed: events/s and p99 send latency in each phase and their ratios, the
emulator's peak RSS while the attackers ran (sampled from /proc) and the internal errors in its log.

The well-behaved client sends batches of 100 events to partition 1 with the SDK producer for PHASE_S
seconds and reads them back with the SDK consumer (every event must come back): alone, beside the
attackers, and alone again once they are gone; the ratio is to the mean of the two runs alone. The
never-reading receivers attach to partition 0 (five in each of two consumer groups, the service's most
per group), filled with FILL_EVENTS events first, with 100,000 credit each. The idle sockets finish the
handshake (header, open, begin) and then say nothing, from 127.0.0.2 to 127.0.0.5. The attach burst is
sessions of 250 attaches each (27 sessions a connection, under the caps), on raw frames, answered and
read. The emulator's connection caps are raised so that all 1,000 idle sockets are held, not refused.
"""

from __future__ import annotations

import resource
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient

from amqp10.frames import AMQP_HEADER, encode_frame
from amqp10.performatives import Attach, Begin, Open, Source, Target
from emulator.process import EmulatorProcess
from eventhubs.connection_string import parse_connection_string
from hubclient.connection import Endpoint
from hubclient.receiver import PartitionReceiver

from . import HUB, Figure, event_body, progress
from .ingest import send_events
from .tables import table

PHASE_S = 10.0
FILL_EVENTS = 100_000  # 20 MB of 200-byte events that each never-reading receiver is offered
STALLED_RECEIVERS = 10
IDLE_SOCKETS = 1_000
ATTACHES = 20_000
SESSIONS_PER_CONNECTION = 27
LINKS_PER_SESSION = 250
CONFIG = """
[keys]
RootManageSharedAccessKey = "SAS_KEY_VALUE"

[[hubs]]
name = "tweets"
partitions = 2
consumer_groups = ["stalled"]

[limits]
max_connections = 2000
max_connections_per_peer = 1000
"""


def raise_open_files(needed: int) -> str:
    """Raise this process's soft open-files limit to its hard one if `needed` does not fit; the emulator,
    a child, inherits it. Returns what was done, to print."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return f"ulimit -n {soft} (enough for {needed})"
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return f"ulimit -n raised from {soft} to the hard limit {hard} for {needed} sockets"


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set so far, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def rss_now_mb(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


class WellBehaved:
    """The SDK producer and consumer on partition 1, connected once, for both phases."""

    def __init__(self, emu: EmulatorProcess) -> None:
        cs = emu.connection_string
        self.producer = EventHubProducerClient.from_connection_string(cs, eventhub_name=HUB)
        self.consumer = EventHubConsumerClient.from_connection_string(cs, "$Default", eventhub_name=HUB)
        self.marker = uuid.uuid4().hex.encode()
        self.read = 0
        start = self.producer.get_partition_properties("1")["last_enqueued_sequence_number"]
        self._thread = threading.Thread(
            target=self.consumer.receive_batch, args=(self._on_batch,), daemon=True,
            kwargs={"partition_id": "1", "starting_position": start, "max_batch_size": 300,
                    "prefetch": 3000},
        )  # fmt: skip
        self._thread.start()
        self.sent = 0
        self.phase(1.0)  # the links are up and warm

    def _on_batch(self, _context: object, events: list[EventData]) -> None:
        self.read += sum(1 for e in events if e.body_as_str().encode().startswith(self.marker))

    def phase(self, seconds: float) -> tuple[float, float]:
        """Send full batches for `seconds`; (events/s, p99 send latency in seconds)."""
        body = self.marker + event_body()[len(self.marker) :]
        latencies: list[float] = []
        sent = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            batch = self.producer.create_batch(partition_id="1")
            for _ in range(100):
                batch.add(EventData(body))
            t0 = time.perf_counter()
            self.producer.send_batch(batch)
            latencies.append(time.perf_counter() - t0)
            sent += 100
        elapsed = time.monotonic() - started
        self.sent += sent
        latencies.sort()
        return sent / elapsed, latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]

    def all_read(self, timeout_s: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.read < self.sent and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.read == self.sent

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()


def idle_sockets(port: int, count: int) -> list[socket.socket]:
    handshake = (
        AMQP_HEADER + encode_frame(0, Open("idle", "localhost")) + encode_frame(0, Begin(None, 0, 10, 10))
    )
    socks = []
    for i in range(count):
        sock = socket.socket()
        sock.bind((f"127.0.0.{2 + i % 4}", 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(handshake)
        socks.append(sock)
    return socks


def attach_burst(port: int, attaches: int) -> tuple[int, float]:
    """Attach `attaches` links to $cbs on raw frames over as few connections as the caps allow, and read
    every answer; (attaches answered, seconds)."""
    started = time.monotonic()
    answered = 0
    per_connection = SESSIONS_PER_CONNECTION * LINKS_PER_SESSION
    remaining = attaches
    while remaining > 0:
        links = min(remaining, per_connection)
        remaining -= links
        data = bytearray(AMQP_HEADER + encode_frame(0, Open("burst", "localhost")))
        for n in range(links):
            channel, handle = divmod(n, LINKS_PER_SESSION)
            if handle == 0:
                data += encode_frame(channel, Begin(None, 0, 1 << 20, 1 << 20))
            attach = Attach(f"l{n}", handle, False, source=Source("burst"), target=Target("$cbs"))
            data += encode_frame(channel, attach)
        with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
            sock.sendall(data)
            received = 0
            # Each answer is an attach and a flow granting credit: wait until about that much came.
            expected = links * 60
            while received < expected:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                received += len(chunk)
        answered += links
    return answered, time.monotonic() - started


@contextmanager
def sampled_peak(pid: int) -> Iterator[Callable[[], float]]:
    peak = [rss_now_mb(pid)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], rss_now_mb(pid))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: peak[0]
    finally:
        stop.set()
        thread.join()


def run() -> list[Figure]:
    limits_note = raise_open_files(IDLE_SOCKETS + STALLED_RECEIVERS + 200)
    progress(limits_note)
    folder = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    (folder / "emulator.toml").write_text(CONFIG)
    emu = EmulatorProcess(config=folder / "emulator.toml", log_file=folder / "emulator.log")
    with emu:
        progress(f"filling partition 0 with {FILL_EVENTS:,} events for the never-reading receivers")
        with EventHubProducerClient.from_connection_string(
            emu.connection_string, eventhub_name=HUB
        ) as filler:
            send_events(filler, FILL_EVENTS, partition_id="0")
        client = WellBehaved(emu)
        progress(f"the well-behaved client alone for {PHASE_S:.0f} s")
        alone = [client.phase(PHASE_S)]
        rss_before = rss_now_mb(emu.pid)
        endpoint = Endpoint.connect_to(parse_connection_string(emu.connection_string), None, HUB)
        # The service lets 5 receivers read a partition per consumer group: half in each of two groups.
        stalled = [
            PartitionReceiver(endpoint, group, "0", 0, prefetch=100_000, timeout_s=30)
            for group in ("$Default", "stalled")
            for _ in range(STALLED_RECEIVERS // 2)
        ]
        socks: list[socket.socket] = []
        burst: list[tuple[int, float]] = []
        with sampled_peak(emu.pid) as peak:
            progress(f"{STALLED_RECEIVERS} never-reading receivers, {IDLE_SOCKETS:,} idle sockets")
            for receiver in stalled:
                receiver.open()
                receiver.hub.flush()
            socks = idle_sockets(emu.port, IDLE_SOCKETS)
            progress(f"the well-behaved client beside them and a {ATTACHES:,}-attach burst, {PHASE_S:.0f} s")
            burster = threading.Thread(target=lambda: burst.append(attach_burst(emu.port, ATTACHES)))
            burster.start()
            hostile_rate, hostile_p99 = client.phase(PHASE_S)
            burster.join()
            peak_mb = peak()
        for sock in socks:
            sock.close()
        for receiver in stalled:
            receiver.close()
        progress(f"the well-behaved client alone again for {PHASE_S:.0f} s")
        alone.append(client.phase(PHASE_S))
        everything_read = client.all_read()
        client.close()
        hwm_mb = peak_rss_mb(emu.pid)
        errors = [line for line in emu.output if "internal error" in line or "Traceback" in line]
    # Alone before and after, averaged: a shared machine's load drifts during the run.
    alone_rate = sum(rate for rate, _ in alone) / 2
    alone_p99 = sum(p99 for _, p99 in alone) / 2
    ratio = hostile_rate / alone_rate
    answered, burst_s = burst[0] if burst else (0, 0.0)
    print("\n== hostile neighbours: the well-behaved SDK client alone and beside them, one emulator")
    print(f"   ({limits_note}; emulator log: {folder / 'emulator.log'})")
    print(
        table(
            [
                ("alone, before", f"{alone[0][0]:,.0f}", f"{alone[0][1] * 1000:.1f}", ""),
                ("alone, after", f"{alone[1][0]:,.0f}", f"{alone[1][1] * 1000:.1f}", ""),
                ("beside the attackers", f"{hostile_rate:,.0f}", f"{hostile_p99 * 1000:.1f}", f"{ratio:.2f}"),
            ],
            ("client", "events/s", "p99 send ms", "ratio"),
        )
    )
    print(
        f"attach burst: {answered:,} attaches answered in {burst_s:.1f} s; every event sent read back: "
        f"{everything_read}; emulator RSS {rss_before:.0f} MB before, peak {peak_mb:.0f} MB while attacked "
        f"(VmHWM over its life {hwm_mb:.0f} MB); internal errors in its log: {len(errors)}"
    )
    for line in errors[:5]:
        print("   ", line.rstrip())
    return [
        Figure("hostile", "throughput beside / alone", ratio, "x", ">= 0.8", ratio >= 0.8),
        Figure("hostile", "p99 send latency beside / alone", hostile_p99 / alone_p99, "x"),
        Figure("hostile", "emulator peak RSS while attacked", peak_mb, "MB", "< 300 MB", peak_mb < 300),
        Figure("hostile", "internal errors logged", len(errors), "", "0", not errors),
    ]
