"""The AMQP WebSocket binding, sans-I/O: a client and a server paired in memory."""

from __future__ import annotations

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, Request, TextMessage

from amqp10.frames import SASL_HEADER
from amqp10.websocket import AMQP_WS_SUBPROTOCOL, WebSocketClient, WebSocketError, WebSocketServer

PATH = "/$servicebus/websocket"


def pair() -> tuple[WebSocketClient, WebSocketServer]:
    client, server = WebSocketClient("localhost:8443", PATH), WebSocketServer(PATH)
    assert server.receive_data(client.data_to_send()) == b""
    assert server.open
    assert client.receive_data(server.data_to_send()) == b""
    assert client.open
    return client, server


def test_amqp_bytes_cross_both_ways_in_binary_messages() -> None:
    client, server = pair()
    client.send(SASL_HEADER)
    client.send(b"more")
    assert server.receive_data(client.data_to_send()) == SASL_HEADER + b"more"
    big = bytes(range(256)) * 1000
    server.send(big)
    wire = server.data_to_send()
    # Bytes arrive in any slices; the AMQP stream comes out whole and in order.
    out = b"".join(client.receive_data(wire[i : i + 1000]) for i in range(0, len(wire), 1000))
    assert out == big


def test_nothing_is_sent_before_the_handshake() -> None:
    server = WebSocketServer(PATH)
    server.send(SASL_HEADER)
    assert server.data_to_send() == b""


def test_close_is_answered_and_ends_both_sides() -> None:
    client, server = pair()
    client.close()
    assert server.receive_data(client.data_to_send()) == b""
    assert server.closed and not server.open
    client.receive_data(server.data_to_send())
    assert client.closed


def offer(target: str, subprotocols: list[str]) -> tuple[WebSocketServer, object]:
    raw = WSConnection(ConnectionType.CLIENT)
    server = WebSocketServer(PATH)
    server.receive_data(raw.send(Request(host="localhost", target=target, subprotocols=subprotocols)))
    raw.receive_data(server.data_to_send())
    return server, next(raw.events())


def test_another_path_is_not_found() -> None:
    server, answer = offer("/somewhere", [AMQP_WS_SUBPROTOCOL])
    assert isinstance(answer, RejectConnection) and answer.status_code == 404
    assert server.rejected is not None and "/somewhere" in server.rejected


def test_the_amqp_subprotocol_is_required() -> None:
    server, answer = offer(PATH, ["mqtt"])
    assert isinstance(answer, RejectConnection) and answer.status_code == 400
    assert not server.open


def test_the_server_picks_amqpwsb10_among_several() -> None:
    server, answer = offer(PATH, ["mqtt", AMQP_WS_SUBPROTOCOL])
    assert isinstance(answer, AcceptConnection) and answer.subprotocol == AMQP_WS_SUBPROTOCOL
    assert server.open


def test_a_text_message_breaks_the_binding() -> None:
    client, server = pair()
    text = client._ws.send(TextMessage(data="hello"))
    with pytest.raises(WebSocketError, match="binary only"):
        server.receive_data(text)
    assert server.closed


def test_a_refused_handshake_is_an_error_for_the_client() -> None:
    client = WebSocketClient("localhost", "/wrong")
    server = WebSocketServer(PATH)
    server.receive_data(client.data_to_send())
    with pytest.raises(WebSocketError, match="HTTP 404"):
        client.receive_data(server.data_to_send())


def test_garbage_instead_of_a_handshake_is_a_protocol_error() -> None:
    with pytest.raises(WebSocketError):
        WebSocketServer(PATH).receive_data(b"\x16\x03\x01 not http\r\n\r\n")
