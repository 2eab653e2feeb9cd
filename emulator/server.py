"""The asyncio TCP server: moves bytes between sockets and the sans-I/O connections, nothing more.

One misbehaving client (bad bytes, an abrupt disconnect, a bug its traffic triggers) ends its own
connection with a logged reason; the server and every other client carry on.
"""

from __future__ import annotations

import asyncio
import logging
import time

from amqp10.connection import Connection
from amqp10.errors import ProtocolError
from amqp10.performatives import Error

from .config import DEFAULT_RETENTION_CHECK_SECONDS
from .handler import Handler
from .namespace import Namespace

log = logging.getLogger("emulator.server")

TIMER_INTERVAL_S = 1.0
RETENTION_INTERVAL_S = DEFAULT_RETENTION_CHECK_SECONDS  # the config's retention_check_seconds


class _AmqpProtocol(asyncio.Protocol):
    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.connection: Connection | None = None
        self.handler: Handler | None = None
        self.peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = f"{host}:{port}"
        self.connection = Connection(
            self.server.container_id,
            idle_timeout_ms=self.server.idle_timeout_ms,
            check_plain=self.server.check_plain,
            now=time.monotonic(),
        )
        self.handler = Handler(self.server.namespace, self.connection, wake=self.flush, peer=self.peer)
        self.server.protocols.add(self)
        log.info("connection from %s", self.peer)

    def data_received(self, data: bytes) -> None:
        assert self.handler is not None and self.connection is not None
        try:
            self.handler.receive_data(data)
        except ProtocolError as exc:
            log.warning("%s broke the protocol, closing its connection: %s", self.peer, exc)
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

    def eof_received(self) -> bool:
        if self.handler is not None:
            try:
                self.handler.receive_data(b"")
            except ProtocolError as exc:
                log.info("%s closed mid-frame: %s", self.peer, exc)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.protocols.discard(self)
        if self.handler is not None:
            self.handler.connection_lost()
        log.info("connection from %s closed%s", self.peer, f" ({exc})" if exc else "")

    def flush(self) -> None:
        if self.connection is None or self.transport is None or self.transport.is_closing():
            return
        data = self.connection.data_to_send()
        if data:
            self.transport.write(data)
            self.connection.note_sent(time.monotonic())

    def tick(self, now: float) -> None:
        if self.connection is not None:
            self.connection.check_timers(now)
            if self.handler is not None:
                self.handler.check_tokens()
            self.flush()
            if self.connection.finished:
                self._abort()

    def _abort(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class EmulatorServer:
    """Serves one namespace on host:port. Use `start()`, then `stop()`; `port` is the bound port."""

    def __init__(
        self,
        namespace: Namespace,
        host: str = "127.0.0.1",
        port: int = 5672,
        *,
        container_id: str = "hubstream-emulator",
        idle_timeout_ms: int = 240_000,
        retention_interval_s: float = RETENTION_INTERVAL_S,
    ) -> None:
        if not retention_interval_s > 0:
            raise ValueError(f"retention_interval_s must be positive, got {retention_interval_s}")
        self.namespace = namespace
        self.host = host
        self.port = port
        self.container_id = container_id
        self.idle_timeout_ms = idle_timeout_ms
        self.retention_interval_s = retention_interval_s
        self.protocols: set[_AmqpProtocol] = set()
        self._server: asyncio.Server | None = None
        self._timer: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None

    def check_plain(self, user: str, password: str) -> bool:
        """SASL PLAIN: a namespace-level policy's name and one of its keys (as qpid-proton sends them)."""
        policy = self.namespace.config.namespace_policies().get(user)
        return policy is not None and password in policy.keys

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _AmqpProtocol(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._timer = asyncio.create_task(self._timers())
        self._retention = asyncio.create_task(self._apply_retention())

    async def stop(self) -> None:
        for task in (self._timer, self._retention):
            if task is not None:
                task.cancel()
        if self._server is not None:
            self._server.close()
        for protocol in list(self.protocols):
            if protocol.connection is not None:
                protocol.connection.close(Error("amqp:connection:forced", "the emulator is shutting down"))
                protocol.flush()
            protocol._abort()
        if self._server is not None:
            await self._server.wait_closed()
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
