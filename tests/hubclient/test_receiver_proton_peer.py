"""Our partition receiver against qpid-proton acting as the service: a second, independent AMQP peer.

The emulator shares its protocol code with the receiver, so agreeing with it alone could hide a mistake
made on both sides. Proton has its own encoder (it trims trailing null fields), its own SASL and its own
link and credit handling, and here it plays the service: it answers the `$cbs` put-token and serves
events with Event Hubs' annotations on the partition the receiver attaches to.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from proton import Message, symbol, timestamp
from proton.handlers import MessagingHandler
from proton.reactor import Container

from eventhubs.connection_string import parse_connection_string
from eventhubs.errors import EventHubsError
from hubclient.connection import Endpoint
from hubclient.receiver import PartitionReceiver
from jobs.datasource.columns import EventColumns

EVENTS = 2500  # more than the receiver's credit: proton only goes on after the receiver tops it up
CREDIT = 300


class ProtonService(MessagingHandler):
    """Answers put-token requests with `status`, then serves EVENTS events on any partition address."""

    def __init__(self, port: int, status: int = 200) -> None:
        super().__init__(prefetch=10, auto_accept=True)
        self.url = f"127.0.0.1:{port}"
        self.status = status
        self.tokens: list[dict[str, Any]] = []
        self.filters: list[Any] = []
        self.sent = 0
        self.ready = threading.Event()

    def on_start(self, event: Any) -> None:
        self.acceptor = event.container.listen(self.url)
        self.ready.set()

    def on_link_opening(self, event: Any) -> None:
        link = event.link
        link.source.copy(link.remote_source)
        link.target.copy(link.remote_target)
        if link.is_sender and link.remote_source.address.endswith("/Partitions/0"):
            data = link.remote_source.filter
            data.rewind()
            data.next()
            self.filters.append(data.get_object())

    def on_message(self, event: Any) -> None:
        request = event.message
        self.tokens.append({**request.properties, "token": request.body})
        reply_link = next(
            link
            for link in _links(event.connection)
            if link.is_sender and link.remote_source.address == "$cbs"
        )
        reply = Message(
            correlation_id=request.id,
            address=request.reply_to,
            properties={
                "status-code": self.status,
                "status-description": "go away" if self.status != 200 else "OK",
            },
        )
        reply_link.send(reply)

    def on_sendable(self, event: Any) -> None:
        link = event.link
        if not link.remote_source.address.endswith("/Partitions/0"):
            return
        while link.credit > 0 and self.sent < EVENTS:
            seq = self.sent
            message = Message(
                body=f"event {seq}".encode(),
                inferred=True,  # a bytes body as a data section, as Event Hubs sends it
                annotations={
                    symbol("x-opt-sequence-number"): seq,
                    symbol("x-opt-offset"): str(seq * 100),
                    symbol("x-opt-enqueued-time"): timestamp(1760000000000 + seq),
                },
                properties={"n": seq},
            )
            link.send(message)
            self.sent += 1


def _links(connection: Any) -> Iterator[Any]:
    link = connection.link_head(0)
    while link:
        yield link
        link = link.next(0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(status: int = 200) -> tuple[ProtonService, Container, threading.Thread]:
    service = ProtonService(free_port(), status)
    container = Container(service)
    thread = threading.Thread(target=container.run, daemon=True)
    thread.start()
    assert service.ready.wait(10)
    return service, container, thread


@pytest.fixture
def proton_service() -> Iterator[ProtonService]:
    service, container, thread = serve()
    yield service
    container.stop()
    thread.join(10)


def endpoint(service: ProtonService) -> Endpoint:
    cs = (
        f"Endpoint=sb://{service.url}/;SharedAccessKeyName=policy;SharedAccessKey=secret;"
        "UseDevelopmentEmulator=true"
    )
    return Endpoint.connect_to(parse_connection_string(cs), None, "hub")


def test_the_receiver_reads_what_proton_serves(proton_service: ProtonService) -> None:
    columns = EventColumns("0")
    with PartitionReceiver(
        endpoint(proton_service), "$Default", "0", 0, prefetch=CREDIT, timeout_s=10
    ) as receiver:
        while len(columns) < EVENTS:
            receiver.read_into(columns, idle_timeout_s=10)
    rows = columns.take_batch().to_pylist()
    assert [r["sequenceNumber"] for r in rows] == list(range(EVENTS))
    assert rows[7]["body"] == b"event 7" and rows[7]["offset"] == "700"
    assert dict(rows[7]["properties"]) == {"n": "7"}
    (token,) = proton_service.tokens
    assert token["operation"] == "put-token" and token["name"] == "sb://127.0.0.1/hub"
    assert token["type"] == "servicebus.windows.net:sastoken"
    assert token["token"].startswith("SharedAccessSignature sr=") and "secret" not in token["token"]
    (filters,) = proton_service.filters
    ((name, selector),) = filters.items()
    assert name == selector.descriptor == symbol("apache.org:selector-filter:string")
    assert selector.value == "amqp.annotation.x-opt-sequence-number >= '0'"


def test_a_refused_token_is_a_readable_error() -> None:
    service, container, thread = serve(status=401)
    try:
        with pytest.raises(
            EventHubsError, match=r"refused the token for sb://127\.0\.0\.1/hub \(401\): go away"
        ):
            PartitionReceiver(endpoint(service), "$Default", "0", 0, timeout_s=10).open()
    finally:
        container.stop()
        thread.join(10)
