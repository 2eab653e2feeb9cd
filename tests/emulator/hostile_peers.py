"""The clients the hostile tests play: a well-behaved SDK client beside each attack (`Neighbour`), and
our sans-I/O client end on a raw socket (`RawClient`) that does only what a test tells it, with the
frames and answers they share."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient

from amqp10.connection import (
    NEED_DATA,
    SENDER,
    Connection,
    DeliveriesSettled,
    LinkAttached,
    State,
)
from amqp10.frames import AMQP_HEADER, Frame, encode_frame, split_stream
from amqp10.performatives import Attach, Begin, Close, Open, Rejected, Source, Target
from emulator.process import EmulatorProcess
from eventhubs import nodes
from eventhubs.connection_string import parse_connection_string
from eventhubs.sas import TOKEN_TYPE, make_sas_token

HUB = "tweets"


class Neighbour:
    """A well-behaved SDK producer and consumer on one partition, connected once: each round sends a
    batch and waits until the consumer has read all of it. `beside()` runs rounds in a thread while an
    attack runs, and then checks what the issue asks: every round completed, every event sent read
    back, and no round more than a second slower than the slowest round alone (the baseline)."""

    def __init__(self, emu: EmulatorProcess, partition_id: str, batch: int = 10) -> None:
        self.partition_id = partition_id
        self.batch = batch
        self.marker = uuid.uuid4().hex
        self.sent = 0
        self.seen: set[str] = set()
        self._read = threading.Condition()
        cs = emu.connection_string
        self.producer = EventHubProducerClient.from_connection_string(cs, eventhub_name=HUB)
        self.consumer = EventHubConsumerClient.from_connection_string(cs, "$Default", eventhub_name=HUB)
        start = self.producer.get_partition_properties(partition_id)["last_enqueued_sequence_number"]
        self._receiving = threading.Thread(
            target=self.consumer.receive, args=(self._on_event,), daemon=True,
            kwargs={"partition_id": partition_id, "starting_position": start,
                    "starting_position_inclusive": False},
        )  # fmt: skip
        self._receiving.start()
        self.round(timeout_s=60)  # the consumer's link is up: what follows is the steady state
        self.baseline_s = max(self.round() for _ in range(5))

    def _on_event(self, _context: object, event: Any) -> None:
        body = event.body_as_str()
        if body.startswith(self.marker):
            with self._read:
                self.seen.add(body)
                self._read.notify_all()

    def round(self, timeout_s: float = 30.0) -> float:
        """Send a batch and wait until all of it is read back; the seconds it took."""
        started = time.monotonic()
        names = [f"{self.marker}-{self.sent + i}" for i in range(self.batch)]
        batch = self.producer.create_batch(partition_id=self.partition_id)
        for name in names:
            batch.add(EventData(name))
        self.producer.send_batch(batch)
        self.sent += self.batch
        with self._read:
            read = self._read.wait_for(lambda: self.seen.issuperset(names), timeout_s)
        assert read, f"{len(self.seen)} of {self.sent} events read back after {timeout_s} s"
        return time.monotonic() - started

    @contextmanager
    def beside(self) -> Iterator[None]:
        rounds: list[float] = []
        failures: list[BaseException] = []
        stop = threading.Event()

        def run() -> None:
            while not stop.is_set():
                try:
                    rounds.append(self.round())
                except BaseException as exc:  # reported below, in the test's thread
                    failures.append(exc)
                    return
                stop.wait(0.05)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(60)
        assert not failures, f"the well-behaved client failed beside the attack: {failures[0]!r}"
        assert rounds, "the well-behaved client completed no round beside the attack"
        worst = max(rounds)
        print(
            f"well-behaved client: {len(rounds)} rounds beside the attack, worst {worst:.2f} s, "
            f"alone {self.baseline_s:.2f} s"
        )
        assert worst <= self.baseline_s + 1.0, (
            f"a round took {worst:.2f} s beside the attack, {self.baseline_s:.2f} s alone"
        )
        assert self.seen == {f"{self.marker}-{i}" for i in range(self.sent)}

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()
        self._receiving.join(10)


class RawClient:
    """Our sans-I/O client end on a blocking socket, doing what the test says and nothing more
    (unlike an SDK, it grants no credit it is not told to and may never read)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.conn = Connection.client("attacker", "localhost")
        self.events: list[Any] = []
        self.flush()
        self.wait(lambda: self.conn.state is State.OPEN, "open")
        self.session = self.conn.begin()
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def read(self, timeout: float = 0.2) -> bool:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except TimeoutError:
            return True
        self.conn.receive_data(data)
        while (event := self.conn.next_event()) is not NEED_DATA:
            self.events.append(event)
        self.flush()
        return bool(data)

    def wait(self, ready: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert time.monotonic() < deadline, f"the emulator did not let us {what} in {timeout} s"
            assert self.read(), f"the emulator closed the connection before we could {what}"

    def attach(self, name: str, role: bool, source: str, target: str, credit: int = 1000) -> LinkAttached:
        link = self.conn.attach(
            self.session, name, role, source=Source(source), target=Target(target), credit=credit
        )
        self.flush()
        self.wait(lambda: any(isinstance(e, LinkAttached) and e.link is link for e in self.events), "attach")
        return next(e for e in self.events if isinstance(e, LinkAttached) and e.link is link)

    def outcomes(self) -> list[Any]:
        return [e.state for e in self.events if isinstance(e, DeliveriesSettled)]

    def close(self) -> None:
        self.sock.close()


def put_token_request(emu: EmulatorProcess, audience: str, reply_to: str, expires_in: int = 3600) -> bytes:
    cs = parse_connection_string(emu.connection_string)
    expires_at = int(time.time()) + expires_in
    token = make_sas_token(audience, cs.key_name, cs.key.reveal(), expires_at)
    properties = nodes.put_token(token, TOKEN_TYPE, audience, expires_at)
    return nodes.encode_request(properties, token, uuid.uuid4().hex, reply_to)


def condition(state: object) -> str | None:
    return state.error.condition if isinstance(state, Rejected) and state.error is not None else None


def raw_frames_until_closed(port: int, data: bytes, within: float = 30.0) -> list[Frame]:
    """Send `data` on a fresh socket and return the frames the emulator sends until it closes the socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=within)
    received = bytearray()
    try:
        sock.sendall(data)
        deadline = time.monotonic() + within
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(1 << 20)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            received += chunk
        else:
            pytest.fail(f"the emulator kept the connection open for {within} s")
    finally:
        sock.close()
    return [f for f in split_stream(bytes(received))[0] if isinstance(f, Frame)]


def raw_attach(handle: int) -> bytes:
    return encode_frame(
        0, Attach(f"link-{handle}", handle, SENDER, source=Source("a"), target=Target("$cbs"))
    )


def close_error(frames: list[Frame]) -> str | None:
    closes = [f.body for f in frames if isinstance(f.body, Close)]
    return closes[-1].error.condition if closes and closes[-1].error is not None else None


OPEN_AND_BEGIN = (
    AMQP_HEADER
    + encode_frame(0, Open("attacker", "localhost"))
    + encode_frame(0, Begin(None, 0, 1 << 20, 1 << 20))
)
