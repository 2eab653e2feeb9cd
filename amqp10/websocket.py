"""AMQP over WebSockets (the OASIS AMQP WebSocket binding), sans-I/O, over wsproto.

Both ends carry the AMQP byte stream in binary messages of a WebSocket that negotiated the subprotocol
`AMQPWSB10`; message boundaries mean nothing to AMQP. Each side here only turns bytes into bytes:
`receive_data(bytes)` returns the AMQP bytes the peer sent (and queues handshake answers and pongs),
`send(amqp)` queues frames, `data_to_send()` drains what goes on the wire. The socket, the TLS under it
and the AMQP connection above it belong to the caller, as with `amqp10.connection`.

wsproto (from the house of h11) does the framing, masking, handshake and close; what this module adds is
the binding's rules: the subprotocol, binary messages only, and one path the server answers on.
"""

from __future__ import annotations

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError as WsLocalError
from wsproto.utilities import RemoteProtocolError as WsRemoteError

from .errors import RemoteProtocolError

AMQP_WS_SUBPROTOCOL = "AMQPWSB10"
# WebSocket close code 1002: protocol error; 1000: normal closure.
_CLOSE_PROTOCOL_ERROR = 1002
_CLOSE_NORMAL = 1000


class WebSocketError(RemoteProtocolError):
    """The peer broke the WebSocket handshake or the AMQP WebSocket binding."""

    condition = "amqp:connection:framing-error"


class _Side:
    def __init__(self, kind: ConnectionType) -> None:
        self._ws = WSConnection(kind)
        self._out: list[bytes] = []
        self.open = False  # the handshake is done and the socket is not closing
        self.closed = False  # a close was sent or received: nothing more goes either way

    def data_to_send(self) -> bytes:
        out, self._out = self._out, []
        return b"".join(out)

    def send(self, amqp: bytes) -> None:
        """Queue AMQP bytes as one binary message (nothing before the handshake or after a close)."""
        if amqp and self.open:
            self._out.append(self._ws.send(BytesMessage(data=amqp)))

    def close(self, code: int = _CLOSE_NORMAL, reason: str = "") -> None:
        if self.open:
            self.open = False
            try:
                self._out.append(self._ws.send(CloseConnection(code=code, reason=reason)))
            except WsLocalError:
                pass  # the peer's close crossed ours
        self.closed = True

    def receive_data(self, data: bytes) -> bytes:
        """Feed bytes from the socket (b"" at its end); return the AMQP bytes they held."""
        try:
            self._ws.receive_data(data or None)
        except WsRemoteError as exc:
            raise WebSocketError(f"bad WebSocket handshake: {exc}") from None
        amqp: list[bytes] = []
        try:
            for event in self._ws.events():
                if isinstance(event, BytesMessage):
                    amqp.append(bytes(event.data))
                elif isinstance(event, Ping):
                    self._out.append(self._ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if self.open:
                        self.open = False
                        self._out.append(self._ws.send(event.response()))
                    self.closed = True
                elif isinstance(event, TextMessage):
                    self.close(_CLOSE_PROTOCOL_ERROR, "AMQP travels in binary messages")
                    raise WebSocketError("a text message: the AMQP WebSocket binding allows binary only")
                else:
                    self._handshake(event)
        except WsRemoteError as exc:
            self.closed = True
            self.open = False
            raise WebSocketError(f"WebSocket protocol error: {exc}") from None
        return b"".join(amqp)

    def _handshake(self, event: object) -> None:
        """Pong and other events are ignored; each side overrides this for its handshake."""


class WebSocketServer(_Side):
    """The server end: accepts a handshake on `path` that offers the AMQP subprotocol, rejects others."""

    def __init__(self, path: str) -> None:
        super().__init__(ConnectionType.SERVER)
        self.path = path
        self.rejected: str | None = None  # why the handshake was refused

    def _handshake(self, event: object) -> None:
        if not isinstance(event, Request):
            return
        target = event.target.split("?", 1)[0]
        if target != self.path:
            self._reject(404, f"no WebSocket endpoint at {target!r}: AMQP is served at {self.path}")
        elif AMQP_WS_SUBPROTOCOL not in event.subprotocols:
            offered = ", ".join(event.subprotocols) or "none"
            self._reject(400, f"subprotocol {AMQP_WS_SUBPROTOCOL} required (offered: {offered})")
        else:
            self._out.append(self._ws.send(AcceptConnection(subprotocol=AMQP_WS_SUBPROTOCOL)))
            self.open = True

    def _reject(self, status: int, reason: str) -> None:
        body = (reason + "\n").encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        self._out.append(self._ws.send(RejectConnection(status_code=status, headers=headers, has_body=True)))
        self._out.append(self._ws.send(RejectData(data=body)))
        self.rejected = reason
        self.closed = True


class WebSocketClient(_Side):
    """The client end: `WebSocketClient(host, path)` queues the handshake request at once."""

    def __init__(self, host: str, path: str) -> None:
        super().__init__(ConnectionType.CLIENT)
        self._out.append(self._ws.send(Request(host=host, target=path, subprotocols=[AMQP_WS_SUBPROTOCOL])))

    def _handshake(self, event: object) -> None:
        if isinstance(event, AcceptConnection):
            if event.subprotocol != AMQP_WS_SUBPROTOCOL:
                raise WebSocketError(
                    f"the server accepted subprotocol {event.subprotocol!r}, not {AMQP_WS_SUBPROTOCOL}"
                )
            self.open = True
        elif isinstance(event, RejectConnection):
            self.closed = True
            raise WebSocketError(f"the server refused the WebSocket handshake: HTTP {event.status_code}")
