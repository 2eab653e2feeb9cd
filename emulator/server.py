"""The asyncio TCP server: moves bytes between sockets and the sans-I/O connections, nothing more.

It listens for plain AMQP (5672), AMQP over TLS (5671) and AMQP over WebSockets with TLS (443,
`wss://<host>/$servicebus/websocket`); every listener hands the AMQP bytes to the same per-connection
handler. Under a WebSocket, `amqp10.websocket` (sans-I/O, wsproto) unwraps and wraps them.

One misbehaving client (bad bytes, an abrupt disconnect, a bug its traffic triggers) ends its own
connection with a logged reason; the server and every other client carry on.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable

from amqp10.connection import Connection
from amqp10.errors import ProtocolError
from amqp10.performatives import Error
from amqp10.states import State
from amqp10.websocket import WebSocketError, WebSocketServer
from eventhubs.links import WEBSOCKET_PATH

from .capture import CaptureService
from .config import DEFAULT_RETENTION_CHECK_SECONDS, ServerLimits
from .handler import Handler
from .namespace import Namespace
from .ratelimited import RateLimitedLog

log = logging.getLogger("emulator.server")

TIMER_INTERVAL_S = 1.0
# The most a consumer's pump sends in one turn of the event loop, before the others are served.
PUMP_BUDGET_BYTES = 256 * 1024
# The longest one connection's work (frames read, consumers pumped) runs in one turn of the event loop;
# the rest waits for a later turn, after the other connections have been served.
SLICE_S = 0.005
_HANDSHAKE = frozenset({
    State.AWAIT_HEADER, State.AWAIT_SASL_INIT, State.AWAIT_AMQP_HEADER, State.AWAIT_OPEN,
})  # fmt: skip


RETENTION_INTERVAL_S = DEFAULT_RETENTION_CHECK_SECONDS  # the config's retention_check_seconds


class ListenError(OSError):
    """A listener could not bind; `which` names it ("amqp", "amqps" or "websocket")."""

    def __init__(self, which: str, host: str, port: int, exc: OSError) -> None:
        super().__init__(exc.errno, f"cannot listen for {which} on {host}:{port}: {exc.strerror or exc}")
        self.which = which
        self.port = port
        self.cause = exc


class _AmqpProtocol(asyncio.Protocol):
    def __init__(self, server: EmulatorServer, websocket: bool = False) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.connection: Connection | None = None
        self.handler: Handler | None = None
        self.websocket = WebSocketServer(WEBSOCKET_PATH) if websocket else None
        self.peer = "?"
        self.host = "?"
        self.started = 0.0
        self._pump_scheduled = False
        self._reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = f"{host}:{port}"
        self.host = str(host)
        self.started = time.monotonic()
        if not self.server.admit(self):
            transport.abort()  # quickly and quietly: the server logs refusals rate-limited
            return
        limits = self.server.limits
        self.connection = Connection(
            self.server.container_id,
            channel_max=limits.max_sessions_per_connection - 1,
            handle_max=limits.max_links_per_session - 1,
            idle_timeout_ms=self.server.idle_timeout_ms,
            check_plain=self.server.check_plain,
            now=time.monotonic(),
        )
        self.handler = Handler(
            self.server.namespace, self.connection, wake=self.flush, peer=self.peer,
            pump_budget=PUMP_BUDGET_BYTES,
        )  # fmt: skip
        high = limits.write_buffer_bytes
        transport.set_write_buffer_limits(high=high, low=high // 4)
        self.server.protocols.add(self)
        log.info("connection from %s", self.peer)

    def data_received(self, data: bytes) -> None:
        assert self.handler is not None and self.connection is not None
        if self.websocket is not None:
            try:
                data = self._unwrap(data)
            except WebSocketError as exc:
                log.warning("%s broke the WebSocket binding, closing its connection: %s", self.peer, exc)
                if self.transport is not None:
                    self.transport.write(self.websocket.data_to_send())
                self._abort()
                return
            if not data:
                return
        handler = self.handler
        self._work(lambda: handler.receive_data(data, SLICE_S))

    def _work(self, work: Callable[[], bool]) -> None:
        """Run a slice of this connection's work; if it left more, the rest runs on a later turn of the
        event loop, after the other connections' (reading from this one pauses meanwhile)."""
        assert self.handler is not None and self.connection is not None
        if self.transport is None or self.transport.is_closing():
            return
        try:
            more = work()
        except ProtocolError as exc:
            log.warning("%s broke the protocol, closing its connection: %s", self.peer, exc)
            more = False
        except Exception:
            log.exception("%s: internal error handling its traffic; closing only this connection", self.peer)
            self.connection.close(
                Error("amqp:internal-error", "the emulator failed handling this connection")
            )
            self.flush()
            self._abort()
            return
        self.flush()
        if self.connection.finished:
            self._abort()
        elif more:
            if not self._reading_paused:
                self._reading_paused = True
                self.transport.pause_reading()
            handler = self.handler
            asyncio.get_running_loop().call_soon(self._work, lambda: handler.process(SLICE_S))
        elif self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()

    def _unwrap(self, data: bytes) -> bytes:
        """The AMQP bytes inside WebSocket frames; handshake answers, pongs and closes go out at once."""
        ws = self.websocket
        assert ws is not None and self.transport is not None
        amqp = ws.receive_data(data)
        reply = ws.data_to_send()
        if reply:
            self.transport.write(reply)
        if ws.rejected:
            log.info("%s: WebSocket handshake refused: %s", self.peer, ws.rejected)
        if ws.closed:
            self._abort()
        return amqp

    def eof_received(self) -> bool:
        if self.websocket is not None:
            return False
        if self.handler is not None:
            try:
                self.handler.receive_data(b"")
            except ProtocolError as exc:
                log.info("%s closed mid-frame: %s", self.peer, exc)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.handler is None:
            return  # refused at accept: never counted
        self.server.protocols.discard(self)
        self.server.release(self)
        if self.handler is not None:
            self.handler.connection_lost()
        log.info("connection from %s closed%s", self.peer, f" ({exc})" if exc else "")

    def flush(self) -> None:
        if self.connection is None or self.transport is None or self.transport.is_closing():
            return
        ws = self.websocket
        if ws is not None and not ws.open:
            return  # no AMQP before the handshake (nor after a close)
        data = self.connection.data_to_send()
        if data:
            if ws is not None:
                ws.send(data)
                data = ws.data_to_send()
            self.transport.write(data)
            self.connection.note_sent(time.monotonic())
        if self.handler is not None and self.handler.backlogged:
            self._schedule_pump()

    # Backpressure: asyncio calls these when the transport's write buffer crosses its high-water mark
    # and when it has drained below the low one. Consumers send nothing in between.
    def pause_writing(self) -> None:
        if self.handler is not None:
            self.handler.writable = False

    def resume_writing(self) -> None:
        if self.handler is not None:
            self.handler.writable = True
            self._schedule_pump()

    def _schedule_pump(self) -> None:
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump_more)

    def _pump_more(self) -> None:
        # A turn of the event loop per budget: other connections are served in between.
        self._pump_scheduled = False
        if self.handler is None or self.transport is None or self.transport.is_closing():
            return
        try:
            self.handler.pump_backlog(SLICE_S)
        except Exception:
            log.exception("%s: internal error sending to it; closing only this connection", self.peer)
            self._abort()
            return
        self.flush()

    def tick(self, now: float) -> None:
        if self.connection is not None and self.connection.state in _HANDSHAKE:
            timeout = self.server.limits.handshake_timeout_seconds
            if now - self.started > timeout:
                log.info(
                    "%s did not finish the handshake in %d s; closing its connection", self.peer, timeout
                )
                self._abort()
                return
        if self.connection is not None:
            self.connection.check_timers(now)
            if self.handler is not None:
                self.handler.check_tokens()
            self.flush()
            if self.connection.finished:
                self._abort()

    def _abort(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.websocket is not None and self.websocket.open:
                self.websocket.close()
                self.transport.write(self.websocket.data_to_send())
            self.transport.close()


class EmulatorServer:
    """Serves one namespace on host:port. Use `start()`, then `stop()`; `port` is the bound port.

    With an SSL context it also serves AMQP over TLS on `tls_port`, and AMQP over WebSockets on
    `ws_port` (TLS under the WebSocket: wss); None leaves that listener out. Port 0 picks a free one;
    after `start()` the attributes hold the bound ports.
    """

    def __init__(
        self,
        namespace: Namespace,
        host: str = "127.0.0.1",
        port: int = 5672,
        *,
        ssl_context: ssl.SSLContext | None = None,
        tls_port: int | None = None,
        ws_port: int | None = None,
        container_id: str = "hubstream-emulator",
        idle_timeout_ms: int = 240_000,
        retention_interval_s: float = RETENTION_INTERVAL_S,
        limits: ServerLimits | None = None,
        capture: CaptureService | None = None,
    ) -> None:
        if not retention_interval_s > 0:
            raise ValueError(f"retention_interval_s must be positive, got {retention_interval_s}")
        self.namespace = namespace
        self.host = host
        self.port = port
        if ssl_context is None and (tls_port is not None or ws_port is not None):
            raise ValueError("tls_port and ws_port need an ssl_context")
        self.ssl_context = ssl_context
        self.tls_port = tls_port
        self.ws_port = ws_port
        self.container_id = container_id
        self.idle_timeout_ms = idle_timeout_ms
        self.retention_interval_s = retention_interval_s
        self.limits = limits if limits is not None else namespace.config.limits
        self.protocols: set[_AmqpProtocol] = set()
        self._per_peer: dict[str, int] = {}
        self._refusals = RateLimitedLog(log)
        self._servers: list[asyncio.Server] = []
        self._timer: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None
        # Started once the listeners are bound; stopped after the connections close, before the store does.
        self.capture = capture

    def admit(self, protocol: _AmqpProtocol) -> bool:
        """Count a new connection in, unless it would pass `max_connections` or `max_connections_per_peer`."""
        limits = self.limits
        from_peer = self._per_peer.get(protocol.host, 0)
        if len(self.protocols) >= limits.max_connections:
            self._refusals.warning(
                "connections", "refusing connection from %s: %d connections are open "
                "(limits.max_connections)", protocol.peer, len(self.protocols),
            )  # fmt: skip
            return False
        if from_peer >= limits.max_connections_per_peer:
            self._refusals.warning(
                "peer", "refusing connection from %s: %d connections from that address are open "
                "(limits.max_connections_per_peer)", protocol.peer, from_peer,
            )  # fmt: skip
            return False
        self._per_peer[protocol.host] = from_peer + 1
        return True

    def release(self, protocol: _AmqpProtocol) -> None:
        left = self._per_peer.get(protocol.host, 0) - 1
        if left > 0:
            self._per_peer[protocol.host] = left
        else:
            self._per_peer.pop(protocol.host, None)

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        # Out of descriptors, asyncio reports every failed accept: about 1 MB of log a second.
        message = str(context.get("message", ""))
        if "accept" in message:
            self._refusals.warning("accept", "%s: %s", message, context.get("exception"))
            return
        loop.default_exception_handler(context)

    def check_plain(self, user: str, password: str) -> bool:
        """SASL PLAIN: a namespace-level policy's name and one of its keys (as qpid-proton sends them)."""
        policy = self.namespace.config.namespace_policies().get(user)
        return policy is not None and password in policy.keys

    async def start(self) -> None:
        """Bind every listener (ListenError names the one that failed; none is left bound then)."""
        try:
            self.port = await self._listen("amqp", self.port, None, websocket=False)
            if self.tls_port is not None:
                self.tls_port = await self._listen("amqps", self.tls_port, self.ssl_context, websocket=False)
            if self.ws_port is not None:
                self.ws_port = await self._listen("websocket", self.ws_port, self.ssl_context, websocket=True)
        except ListenError:
            for server in self._servers:
                server.close()
            self._servers.clear()
            raise
        asyncio.get_running_loop().set_exception_handler(self._on_loop_error)
        self._timer = asyncio.create_task(self._timers())
        self._retention = asyncio.create_task(self._apply_retention())
        if self.capture is not None:
            await self.capture.start()

    async def _listen(self, which: str, port: int, context: ssl.SSLContext | None, *, websocket: bool) -> int:
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(
                lambda: _AmqpProtocol(self, websocket), self.host, port, ssl=context
            )
        except OSError as exc:
            raise ListenError(which, self.host, port, exc) from exc
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for task in (self._timer, self._retention):
            if task is not None:
                task.cancel()
        for server in self._servers:
            server.close()
        for protocol in list(self.protocols):
            if protocol.connection is not None:
                protocol.connection.close(Error("amqp:connection:forced", "the emulator is shutting down"))
                protocol.flush()
            protocol._abort()
        for server in self._servers:
            await server.wait_closed()
        if self.capture is not None:
            await self.capture.stop()
        self.namespace.store.close()

    async def _timers(self) -> None:
        while True:
            await asyncio.sleep(TIMER_INTERVAL_S)
            now = time.monotonic()
            for protocol in list(self.protocols):
                try:
                    protocol.tick(now)
                except Exception:
                    log.exception("%s: timer failed; closing only this connection", protocol.peer)
                    protocol._abort()

    async def _apply_retention(self) -> None:
        # Its own task, not the 1 s connection timer's: a test may check many times a second.
        while True:
            await asyncio.sleep(self.retention_interval_s)
            try:
                removed = self.namespace.apply_retention()
            except Exception:
                log.exception("applying retention failed; trying again in %g s", self.retention_interval_s)
                continue
            if removed:
                log.info("retention removed %d events", removed)
