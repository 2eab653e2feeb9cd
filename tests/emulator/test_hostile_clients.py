"""Careless and hostile clients against a real emulator process: each costs a bounded amount, and a
well-behaved SDK client sending and reading beside them carries on (issue 11).

Memory is the emulator process's resident set (psutil), sampled while the attack runs.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import psutil  # type: ignore[import-untyped, unused-ignore]
import pytest
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient

from amqp10.connection import (
    RECEIVER,
    SENDER,
    Link,
    MessageReceived,
)
from amqp10.frames import AMQP_HEADER, SASL_HEADER, encode_frame
from amqp10.performatives import Attach, Begin, Open
from emulator.process import EmulatorProcess
from eventhubs.connection_string import parse_connection_string
from hubclient.connection import Endpoint
from hubclient.receiver import PartitionReceiver
from tests.conftest import default_emulator
from tests.emulator.hostile_peers import (
    HUB,
    OPEN_AND_BEGIN,
    Neighbour,
    RawClient,
    close_error,
    condition,
    put_token_request,
    raw_attach,
    raw_frames_until_closed,
)

MB = 1 << 20

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with default_emulator(tmp_path_factory.mktemp("hostile")) as process:
        yield process


def rss(emu: EmulatorProcess) -> int:
    return int(psutil.Process(emu.pid).memory_info().rss)


class PeakRss:
    """Samples the emulator's RSS every 50 ms in a thread until stopped; `peak` is the highest seen."""

    def __init__(self, emu: EmulatorProcess) -> None:
        self.emu = emu
        self.peak = rss(emu)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss(self.emu))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def fill_partition(emu: EmulatorProcess, partition_id: str, total_bytes: int, event_bytes: int) -> int:
    """Send `total_bytes` of events of `event_bytes` each to one partition; return how many were sent."""
    body = b"x" * event_bytes
    sent = 0
    client = EventHubProducerClient.from_connection_string(emu.connection_string, eventhub_name=HUB)
    with client:
        while sent * event_bytes < total_bytes:
            batch = client.create_batch(partition_id=partition_id)
            try:
                while sent * event_bytes < total_bytes:
                    batch.add(EventData(body))
                    sent += 1
            except ValueError:  # the batch is full: this event goes in the next one
                pass
            client.send_batch(batch)
    return sent


def sdk_round_trip(emu: EmulatorProcess, partition_id: str, count: int, timeout_s: float) -> float:
    """Send `count` events to a partition with the SDK and read them back; the seconds it took."""
    marker = uuid.uuid4().hex
    started = time.monotonic()
    producer = EventHubProducerClient.from_connection_string(emu.connection_string, eventhub_name=HUB)
    with producer:
        start = producer.get_partition_properties(partition_id)["last_enqueued_sequence_number"]
        batch = producer.create_batch(partition_id=partition_id)
        for i in range(count):
            batch.add(EventData(f"{marker}-{i}"))
        producer.send_batch(batch)
    seen: list[str] = []
    consumer = EventHubConsumerClient.from_connection_string(
        emu.connection_string, "$Default", eventhub_name=HUB
    )

    def on_event(_context: object, event: object) -> None:
        if event is not None:
            body = event.body_as_str()  # type: ignore[attr-defined]
            if body.startswith(marker):
                seen.append(body)
        if len(seen) >= count:
            threading.Thread(target=consumer.close, daemon=True).start()

    deadline = threading.Timer(timeout_s, consumer.close)
    deadline.start()
    try:
        consumer.receive(
            on_event, partition_id=partition_id, starting_position=start, starting_position_inclusive=False,
            max_wait_time=0.5,
        )  # fmt: skip
    finally:
        deadline.cancel()
    assert sorted(seen) == sorted(f"{marker}-{i}" for i in range(count)), f"read back {len(seen)} of {count}"
    return time.monotonic() - started


# ---------------------------------------------------------------------------------------------------------
# Case 1: receivers that grant huge credit and never read their socket


def test_never_reading_receivers_cost_a_bounded_buffer(emu: EmulatorProcess, neighbour: Neighbour) -> None:
    fill_partition(emu, "0", 40 * MB, 200_000)
    time.sleep(0.5)
    before = rss(emu)
    endpoint = Endpoint.connect_to(parse_connection_string(emu.connection_string), None, HUB)
    stalled = [
        PartitionReceiver(endpoint, "$Default", "0", 0, prefetch=100_000, timeout_s=10) for _ in range(4)
    ]
    try:
        with PeakRss(emu) as peak, neighbour.beside():
            for receiver in stalled:
                receiver.open()  # attached with 100,000 credit; from here on nobody reads its socket
                receiver.hub.flush()  # the flow granting that credit
            time.sleep(3.0)
        grown = peak.peak - before
        print(f"emulator RSS {before / MB:.1f} MB -> peak {peak.peak / MB:.1f} MB with 4 stalled receivers")
        # Without backpressure each would buffer the whole 40 MB partition (+160 MB); with it each costs
        # about the 1 MiB high-water mark, a 256 KiB pump budget and an event.
        assert grown < 24 * MB, f"the emulator grew by {grown / MB:.1f} MB under 4 stalled receivers"
    finally:
        for receiver in stalled:
            receiver.close()
    # Once they are gone, the partition still reads from the start for a well-behaved reader.
    sdk_round_trip(emu, "1", 5, timeout_s=30)


# ---------------------------------------------------------------------------------------------------------
# Cases 2 and 5: before login, on the request/response nodes


def test_cbs_announces_and_enforces_the_max_message_size_before_any_token(
    emu: EmulatorProcess, neighbour: Neighbour
) -> None:
    client = RawClient(emu.port)
    try:
        attached = client.attach("cbs-requests", SENDER, "attacker", "$cbs")
        assert attached.remote.max_message_size == 1_048_576
        link: Link = attached.link
        client.wait(lambda: link.can_send, "get credit on $cbs")
        before = rss(emu)
        with PeakRss(emu) as peak, neighbour.beside():
            # 4 requests of 16 MB each, multi-frame (more=true): 64 MB that no token allows.
            for _ in range(4):
                client.conn.send_message(link, b"\x00" * (16 * MB), settled=False)
                client.flush()
            client.wait(lambda: len(client.outcomes()) >= 4, "hear the outcomes", timeout=60)
        assert [condition(s) for s in client.outcomes()] == ["amqp:link:message-size-exceeded"] * 4
        grown = peak.peak - before
        print(
            f"emulator RSS {before / MB:.1f} MB -> peak {peak.peak / MB:.1f} MB under 64 MB of $cbs requests"
        )
        assert grown < 16 * MB, f"the emulator grew by {grown / MB:.1f} MB reassembling $cbs requests"
    finally:
        client.close()


def test_replies_waiting_for_credit_are_bounded(emu: EmulatorProcess, neighbour: Neighbour) -> None:
    client = RawClient(emu.port)
    try:
        requests = client.attach("cbs-requests", SENDER, "attacker", "$cbs").link
        replies = client.attach("cbs-replies", RECEIVER, "$cbs", "attacker", credit=0).link
        client.wait(lambda: requests.can_send, "get credit on $cbs")
        audience = f"sb://localhost/{HUB}"
        with neighbour.beside():
            for _ in range(300):
                client.wait(lambda: requests.can_send, "get credit on $cbs")
                client.conn.send_message(
                    requests, put_token_request(emu, audience, "attacker"), settled=False
                )
                client.flush()
            client.wait(lambda: len(client.outcomes()) >= 300, "hear the outcomes", timeout=30)
        conditions = [condition(s) for s in client.outcomes()]
        # The first 100 are answered (waiting for credit); the rest are refused, by name.
        assert conditions[:100] == [None] * 100
        assert conditions[100:] == ["amqp:resource-limit-exceeded"] * 200
        assert not any(isinstance(e, MessageReceived) and e.link is replies for e in client.events)
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------------------
# Case 3: links per session


def test_the_links_per_session_cap_is_announced_and_a_burst_of_attaches_stays_fast(
    emu: EmulatorProcess, neighbour: Neighbour
) -> None:
    with neighbour.beside():
        started = time.monotonic()
        burst = OPEN_AND_BEGIN + b"".join(raw_attach(h) for h in range(257))
        frames = raw_frames_until_closed(emu.port, burst)
        elapsed = time.monotonic() - started
    begins = [f.body for f in frames if isinstance(f.body, Begin)]
    assert begins and begins[0].handle_max == 255
    assert sum(isinstance(f.body, Attach) for f in frames) == 256
    assert close_error(frames) == "amqp:connection:framing-error"
    print(f"256 attaches and the refused 257th: {elapsed:.2f} s")
    assert elapsed < 10


@pytest.mark.parametrize("handle", [256, 0xFFFF, 0xFFFFFFFF])
def test_an_attach_above_handle_max_is_refused_by_name(
    emu: EmulatorProcess, neighbour: Neighbour, handle: int
) -> None:
    with neighbour.beside():
        frames = raw_frames_until_closed(emu.port, OPEN_AND_BEGIN + raw_attach(handle))
    assert close_error(frames) == "amqp:connection:framing-error"
    assert not any(isinstance(f.body, Attach) for f in frames)


def test_the_sessions_per_connection_cap_is_announced_and_enforced(
    emu: EmulatorProcess, neighbour: Neighbour
) -> None:
    begins = b"".join(encode_frame(ch, Begin(None, 0, 10, 10)) for ch in range(33))
    with neighbour.beside():
        frames = raw_frames_until_closed(
            emu.port, AMQP_HEADER + encode_frame(0, Open("attacker", "localhost")) + begins
        )
    opens = [f.body for f in frames if isinstance(f.body, Open)]
    assert opens and opens[0].channel_max == 31
    assert sum(isinstance(f.body, Begin) for f in frames) == 32
    assert close_error(frames) == "amqp:connection:framing-error"


# ---------------------------------------------------------------------------------------------------------
# Case 4: handshakes that never finish, and too many connections

LIMITED = """
[keys]
RootManageSharedAccessKey = "SAS_KEY_VALUE"

[[hubs]]
name = "tweets"

[limits]
handshake_timeout_seconds = 2
max_connections = 40
max_connections_per_peer = 20
"""


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    folder = tmp_path_factory.mktemp("limited")
    (folder / "emulator.toml").write_text(LIMITED)
    with EmulatorProcess(config=folder / "emulator.toml", log_file=folder / "emulator.log") as process:
        yield process


@pytest.fixture(scope="module")
def limited_neighbour(limited: EmulatorProcess) -> Iterator[Neighbour]:
    client = Neighbour(limited, "0")  # two connections from 127.0.0.1, counted against the caps
    yield client
    client.close()


def idle_socket(port: int, source: str = "127.0.0.1", send: bytes = b"") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    if send:
        sock.sendall(send)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True if the emulator closes (or resets) the socket within `seconds`, whatever it sends first."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return False


@pytest.mark.parametrize(
    "send",
    [b"", b"AMQ", SASL_HEADER, AMQP_HEADER, AMQP_HEADER + encode_frame(0, Open("slow", "localhost"))[:12]],
    ids=["silent", "mid-header", "sasl-header-only", "amqp-header-no-open", "mid-open"],
)
def test_a_handshake_that_never_finishes_is_closed_at_its_deadline(
    limited: EmulatorProcess, limited_neighbour: Neighbour, send: bytes
) -> None:
    sock = idle_socket(limited.port, send=send)
    try:
        started = time.monotonic()
        with limited_neighbour.beside():
            assert closed_within(sock, 6.0), "the emulator kept a half-finished handshake open"
        # the deadline is 2 s, checked on the 1 s timer
        assert time.monotonic() - started >= 1.0
    finally:
        sock.close()


def test_connections_past_the_caps_are_refused_at_once_and_quietly(
    limited: EmulatorProcess, limited_neighbour: Neighbour
) -> None:
    opened = OPEN_AND_BEGIN  # finished handshakes: they stay until closed
    mine: list[socket.socket] = []
    try:
        with limited_neighbour.beside():
            mine += [idle_socket(limited.port, "127.0.0.2", opened) for _ in range(20)]
            time.sleep(0.3)
            assert not any(closed_within(s, 0.01) for s in mine)
            # The 21st from that address is closed at once; another address still gets in.
            extra = idle_socket(limited.port, "127.0.0.2", opened)
            started = time.monotonic()
            assert closed_within(extra, 2.0)
            assert time.monotonic() - started < 1.0
            extra.close()
            # 20 more from another address: with the neighbour's from 127.0.0.1 (its producer, its
            # consumer, maybe a management connection), those past 40 in all are closed at once.
            mine += [idle_socket(limited.port, "127.0.0.3", opened) for _ in range(20)]
            time.sleep(0.3)
            still_open = sum(not closed_within(s, 0.01) for s in mine)
            assert 36 <= still_open <= 38, f"{still_open} of 40 attackers' connections stayed open"
            # A burst of 200 more from a third address: each closed at once.
            burst = [idle_socket(limited.port, "127.0.0.4") for _ in range(200)]
            assert all(closed_within(s, 2.0) for s in burst)
            for s in burst:
                s.close()
            refusals = [line for line in limited.output if "refusing connection" in line]
            assert 1 <= len(refusals) <= 4, refusals
    finally:
        for s in mine:
            s.close()
    time.sleep(0.5)  # the emulator sees them close
    sdk_round_trip(limited, "0", 5, timeout_s=30)


def test_accept_errors_out_of_descriptors_are_logged_rate_limited(
    limited: EmulatorProcess, limited_neighbour: Neighbour
) -> None:
    process = psutil.Process(limited.pid)
    saved = process.rlimit(psutil.RLIMIT_NOFILE)
    in_use = process.num_fds()
    socks: list[socket.socket] = []
    with limited_neighbour.beside():
        try:
            process.rlimit(psutil.RLIMIT_NOFILE, (in_use + 2, saved[1]))
            socks = [idle_socket(limited.port, "127.0.0.5") for _ in range(10)]  # the kernel queues them
            time.sleep(4.0)
        finally:
            process.rlimit(psutil.RLIMIT_NOFILE, saved)
            for s in socks:
                s.close()
    accept_lines = [line for line in limited.output if "accept" in line]
    print(f"{len(accept_lines)} log lines about accept errors in 4 s out of descriptors: {accept_lines[:1]}")
    assert 1 <= len(accept_lines) <= 3, accept_lines[:10]
    time.sleep(1.5)
    sdk_round_trip(limited, "0", 5, timeout_s=30)
