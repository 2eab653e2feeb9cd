"""A minimal AMQP endpoint that acknowledges without storing: the floor the emulator is compared with.

It runs the project's own sans-I/O `Connection` under a trivial asyncio server and does only what a
producer needs to get going: it accepts every attach (max-message-size 1 MiB), answers every `$cbs`
put-token with 200 and every `$management` read with a fixed 4-partition hub, and settles every message
Accepted without looking inside it. Whatever the emulator spends on top of this is Event Hubs work:
unpacking batches, stamping, storing.

    python -m bench.baseline_endpoint --port 0      # prints "baseline listening on 127.0.0.1:<port>"

`BaselineProcess` starts it as a child process, so that its CPU time is measured apart from the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any

from amqp10.connection import (
    SENDER,
    Connection,
    ConnectionClosed,
    CreditGranted,
    Event,
    Link,
    LinkAttaching,
    LinkState,
    MessageReceived,
)
from emulator.config import default_config
from emulator.endpoint import connection_string
from eventhubs import nodes
from eventhubs.links import entity_path

MAX_MESSAGE_SIZE = 1 << 20
PARTITION_IDS = ["0", "1", "2", "3"]
_LISTENING = re.compile(r"baseline listening on [^:]+:(\d+)")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.connection = Connection("hubstream-baseline", now=time.monotonic())
        # Replies waiting for credit, per request node, sent on the link whose source is that node.
        self.outboxes: dict[str, deque[bytes]] = {node: deque() for node in nodes.NODES}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        _PROTOCOLS.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        _PROTOCOLS.discard(self)

    def data_received(self, data: bytes) -> None:
        self.connection.receive_data(data, now=time.monotonic())
        try:
            while isinstance(event := self.connection.next_event(), Event):
                if isinstance(event, MessageReceived):
                    self._on_message(event)
                elif isinstance(event, LinkAttaching):
                    self.connection.accept_attach(event.link, max_message_size=MAX_MESSAGE_SIZE)
                elif isinstance(event, CreditGranted):
                    self._flush_replies(event.link)
                    if event.link.drain:
                        self.connection.complete_drain(event.link)
                elif isinstance(event, ConnectionClosed):
                    break
        except Exception as exc:
            print(f"baseline: closing a connection: {exc!r}", file=sys.stderr, flush=True)
            self.flush()
            assert self.transport is not None
            self.transport.close()
            return
        self.flush()
        if self.connection.finished and self.transport is not None:
            self.transport.close()

    def _on_message(self, event: MessageReceived) -> None:
        node = entity_path(event.link.address or "")
        if node in nodes.NODES:
            self._answer(node, event.payload)
        if not event.settled:
            self.connection.settle(event.link, event.delivery_id)

    def _answer(self, node: str, payload: bytes) -> None:
        request = nodes.decode_request(payload)
        body: Any = None
        if node == nodes.MANAGEMENT:
            name = nodes.text(request.properties.get("name"))
            if nodes.text(request.properties.get("type")) == nodes.PARTITION:
                properties: dict[str, Any] = {
                    "name": name,
                    "partition": nodes.text(request.properties.get("partition")),
                    "begin_sequence_number": 0,
                    "last_enqueued_sequence_number": -1,
                    "last_enqueued_offset": "-1",
                    "last_enqueued_time_utc": 0,
                    "is_partition_empty": True,
                }
                body = nodes.properties_body(nodes.PARTITION, properties)
            else:
                properties = {
                    "name": name,
                    "created_at": int(time.time() * 1000),
                    "partition_count": len(PARTITION_IDS),
                    "partition_ids": PARTITION_IDS,
                }
                body = nodes.properties_body(nodes.EVENTHUB, properties)
        self.outboxes[node].append(nodes.encode_reply(request, 200, "OK", body))
        for link in self._attached_links():
            if link.role == SENDER and entity_path(link.address or "") == node:
                self._flush_replies(link)
                return

    def _flush_replies(self, link: Link) -> None:
        outbox = self.outboxes.get(entity_path(link.address or ""))
        while outbox and link.can_send:
            self.connection.send_message(link, outbox.popleft())

    def _attached_links(self) -> list[Link]:
        return [
            link
            for session in self.connection.sessions.values()
            for link in session.links_by_handle.values()
            if link.state is LinkState.ATTACHED
        ]

    def flush(self) -> None:
        data = self.connection.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.connection.note_sent(time.monotonic())


_PROTOCOLS: set[_Protocol] = set()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Protocol, host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"baseline listening on {host}:{server.sockets[0].getsockname()[1]}", flush=True)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            for protocol in list(_PROTOCOLS):  # heartbeats, as the emulator's server sends them
                protocol.connection.check_timers(time.monotonic())
                protocol.flush()
    server.close()
    for protocol in list(_PROTOCOLS):
        if protocol.transport is not None:
            protocol.transport.close()


class BaselineProcess:
    """`python -m bench.baseline_endpoint` as a child process; `port`, `pid`, `connection_string`."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.port = 0
        self.connection_string = ""

    def start(self, timeout: float = 30.0) -> BaselineProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.baseline_endpoint", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        found = threading.Event()
        threading.Thread(target=self._read_output, args=(found,), daemon=True).start()
        if not found.wait(timeout) or not self.port:
            self.stop()
            raise RuntimeError("the baseline endpoint did not start")
        self.connection_string = connection_string(default_config(), self.port)
        return self

    def _read_output(self, found: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            match = _LISTENING.search(line)
            if match and not found.is_set():
                self.port = int(match.group(1))
                found.set()
            elif line.strip():
                print(line.rstrip(), file=sys.stderr)
        found.set()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> BaselineProcess:
        return self.start() if self.process is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.baseline_endpoint",
        description="an AMQP endpoint that acknowledges without storing",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 for any free port (default)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
