"""A real emulator process against hostile clients on raw sockets: it must drop them and serve everyone else.

After each attack: (a) the emulator process is still running, (b) the attacker's socket was closed by the
server (recv returns b"" within a few seconds), and (c) the real azure-eventhub SDK can still read the hub's
properties and send a batch.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest
from azure.eventhub import EventData, EventHubProducerClient

from amqp10.codec import encode
from amqp10.frames import (
    AMQP_HEADER,
    EMPTY_FRAME,
    SASL_HEADER,
    TYPE_SASL,
    Frame,
    encode_frame,
    split_stream,
)
from amqp10.performatives import Begin, Close, Open, SaslInit
from amqp10.types import Described, ULong
from emulator.process import EmulatorProcess
from tests.conftest import default_emulator

HOST = "127.0.0.1"
HUB = "tweets"
IO_TIMEOUT = 5.0
CLOSE_WITHIN = 5.0

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with default_emulator(tmp_path_factory.mktemp("resilience")) as process:
        yield process


# ---------------------------------------------------------------------------------------------------------
# Helpers


def connect(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
    sock.settimeout(IO_TIMEOUT)
    return sock


def reset(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN: the rudest way to go."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_until_closed(sock: socket.socket, within: float = CLOSE_WITHIN) -> bytes:
    """Everything the server sends until it closes the connection; fails if it keeps it open."""
    received = bytearray()
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(
                f"the server kept the connection open for {within} s; it sent {bytes(received)[:200]!r}"
            )
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return bytes(received)
        if not chunk:
            return bytes(received)
        received += chunk


def frames_in(data: bytes) -> list[bytes | Frame]:
    return split_stream(data)[0]


def close_condition(data: bytes) -> str | None:
    closes = [f.body for f in frames_in(data) if isinstance(f, Frame) and isinstance(f.body, Close)]
    if not closes or closes[-1].error is None:
        return None
    return closes[-1].error.condition


def frame(body: bytes, frame_type: int = 0, channel: int = 0) -> bytes:
    return struct.pack(">IBBH", 8 + len(body), 2, frame_type, channel) + body


OPENED = AMQP_HEADER + encode_frame(0, Open("attacker", "localhost"))


def assert_healthy(emu: EmulatorProcess) -> None:
    """(a) the process runs and (c) the SDK can still use the hub."""
    assert emu.process is not None and emu.process.poll() is None, "the emulator process died:\n" + "".join(
        emu.output[-30:]
    )
    client = EventHubProducerClient.from_connection_string(emu.connection_string, eventhub_name=HUB)
    with client:
        props = client.get_eventhub_properties()
        assert props["eventhub_name"] == HUB
        batch = client.create_batch()
        batch.add(EventData("still serving"))
        client.send_batch(batch)


# ---------------------------------------------------------------------------------------------------------
# One bad connection at a time

# (name, bytes to send, the error condition of the Close we expect before the socket closes: None when
# the attack comes before the AMQP open, where no Close can be sent; "*" for any condition)
ATTACKS = [
    ("garbage after the SASL header", SASL_HEADER + b"\xde\xad\xbe\xef" * 64, None),
    ("garbage after the AMQP header", AMQP_HEADER + bytes(range(256)), None),
    ("undecodable frame after open", OPENED + frame(b"\x99" * 32), "amqp:decode-error"),
    (
        "a 4 GB frame header after open",
        OPENED + b"\xff\xff\xff\xff\x02\x00\x00\x00",
        "amqp:connection:framing-error",
    ),
    ("a 4 GB frame header before sasl-init", SASL_HEADER + b"\xff\xff\xff\xff\x02\x01\x00\x00", None),
    ("a 4 GB frame header before open", AMQP_HEADER + b"\xff\xff\xff\xff\x02\x00\x00\x00", None),
    (
        "a deeply nested value",
        OPENED + frame(b"\x00\x53\x11" + b"\xc0\xff\x01" * 20_000 + b"\x40" * 300),
        "amqp:decode-error",
    ),
    (
        "a deeply nested described descriptor",
        OPENED + frame(b"\x00" * 50_000 + b"\x40\x40"),
        "amqp:decode-error",
    ),
    (
        "a huge element count",
        OPENED + frame(b"\x00\x53\x11" + b"\xf0\x00\x00\x00\x05\x7f\xff\xff\xff\x40"),
        "amqp:decode-error",
    ),
    (
        "a list claiming 4 GB",
        OPENED + frame(b"\x00\x53\x11" + b"\xd0\xff\xff\xff\xff\xff\xff\xff\xff\x40"),
        "amqp:decode-error",
    ),
    (
        "a huge sasl-init response",
        SASL_HEADER + frame(encode(SaslInit("PLAIN", b"\x00" * 1000).described()), frame_type=TYPE_SASL),
        None,
    ),
    ("an unsupported protocol header", b"AMQP\x00\x00\x09\x01" + b"\x00" * 64, None),
    ("HTTP instead of AMQP", b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", None),
    (
        "a begin on a channel in use",
        OPENED + encode_frame(1, Begin(None, 0, 10, 10)) * 2,
        "*",  # some error condition
    ),
    (
        "an open with a wrongly typed field",
        AMQP_HEADER + frame(encode(Described(ULong(0x10), ["attacker", None, "huge"]))),
        None,
    ),
]


@pytest.mark.parametrize(("payload", "condition"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_a_hostile_connection_is_dropped_and_others_are_served(
    emu: EmulatorProcess, payload: bytes, condition: str | None
) -> None:
    sock = connect(emu.port)
    try:
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # already refused mid-send: fine, as long as it is closed below
        received = read_until_closed(sock)
    finally:
        sock.close()
    if condition == "*":
        assert close_condition(received) is not None, frames_in(received)
    elif condition is not None:
        assert close_condition(received) == condition, frames_in(received)
    assert_healthy(emu)


@pytest.mark.parametrize(
    "payload",
    [
        b"AMQ",  # inside the protocol header
        SASL_HEADER + encode_frame(0, SaslInit("ANONYMOUS"), frame_type=TYPE_SASL)[:9],
        OPENED + encode_frame(0, Begin(None, 0, 10, 10))[:11],
        OPENED + b"\x00\x00\x10\x00\x02\x00\x00\x00",  # a frame header announcing a body that never comes
    ],
    ids=["mid-header", "mid-sasl-frame", "mid-frame", "after-a-frame-header"],
)
def test_an_abrupt_disconnect_mid_frame_is_survived(emu: EmulatorProcess, payload: bytes) -> None:
    sock = connect(emu.port)
    sock.sendall(payload)
    time.sleep(0.05)
    reset(sock)
    assert_healthy(emu)


def test_a_half_closed_connection_mid_frame_is_closed(emu: EmulatorProcess) -> None:
    sock = connect(emu.port)
    try:
        sock.sendall(OPENED + encode_frame(0, Begin(None, 0, 10, 10))[:11])
        sock.shutdown(socket.SHUT_WR)  # EOF, but we still listen
        read_until_closed(sock)
    finally:
        sock.close()
    assert_healthy(emu)


def test_fifty_connections_opened_and_dropped_at_once(emu: EmulatorProcess) -> None:
    socks = [connect(emu.port) for _ in range(50)]
    try:
        for i, sock in enumerate(socks):
            kind = i % 5
            if kind == 0:
                sock.sendall(SASL_HEADER)
            elif kind == 1:
                sock.sendall(OPENED)
            elif kind == 2:
                sock.sendall(OPENED + encode_frame(0, Begin(None, 0, 10, 10))[:10])
            elif kind == 3:
                sock.sendall(AMQP_HEADER[:4])
            # kind 4: connected, silent
        # while they are all open, the service still answers
        assert_healthy(emu)
    finally:
        for sock in socks:
            reset(sock)
    assert_healthy(emu)


# ---------------------------------------------------------------------------------------------------------
# One client's bad values must not stop the server's timers for everyone


def heartbeats(port: int, seconds: float) -> int:
    """Open a connection asking for heartbeats (idle-timeout 1 s) and count the empty frames received."""
    sock = connect(port)
    try:
        sock.sendall(AMQP_HEADER + encode_frame(0, Open("probe", "localhost", idle_timeout=1000)))
        received = bytearray()
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
        return sum(1 for f in frames_in(bytes(received)) if isinstance(f, Frame) and f.body is None)
    finally:
        sock.close()


def test_a_bad_idle_timeout_does_not_stop_heartbeats_for_everyone(emu: EmulatorProcess) -> None:
    assert EMPTY_FRAME == b"\x00\x00\x00\x08\x02\x00\x00\x00"
    # The server's timers tick once a second: a 2.2 s window always holds a tick more than 0.5 s after open.
    assert heartbeats(emu.port, 2.2) >= 1, "no heartbeats even before the attack"
    attacker = connect(emu.port)
    try:
        # idle-timeout as a string: the Open is accepted, then the server's timer task trips on it
        attacker.sendall(
            AMQP_HEADER + frame(encode(Described(ULong(0x10), ["attacker", None, None, None, "soon"])))
        )
        time.sleep(1.1)  # at least one timer tick with the attacker's connection in it
        assert heartbeats(emu.port, 2.2) >= 1, "heartbeats stopped for every connection after one bad open"
    finally:
        reset(attacker)
    assert_healthy(emu)
