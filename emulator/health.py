"""The health probe Microsoft's Event Hubs emulator answers (`GET /health` on port 5300), so the
docker-compose files and scripts written for it work with this one.

Their contract (`HealthCheckApiSchema.md` in azure-event-hubs-emulator-installer): 200 with
`{"status":"healthy","message":"Service is healthy."}`, or 503 with `{"status": "unhealthy", ...}`.
One request per connection, HTTP/1.1 with `Connection: close`; anything but `GET /health` gets 404
(or 405 for another method). Requests are read with a size bound and a timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

log = logging.getLogger("emulator.health")

DEFAULT_HEALTH_PORT = 5300
HEALTHY = {"status": "healthy", "message": "Service is healthy."}
UNHEALTHY = {"status": "unhealthy", "message": "Service not available. Please try after some time."}
MAX_REQUEST_BYTES = 8192
READ_TIMEOUT_S = 5.0


def answer(request_head: bytes, healthy: bool) -> bytes:
    """The whole HTTP response to a request's head (request line and headers)."""
    line = request_head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return _response(400, "Bad Request", {"status": "error", "message": "not an HTTP request"})
    method, target = parts[0], parts[1].split("?", 1)[0]
    if target != "/health":
        return _response(404, "Not Found", {"status": "error", "message": f"no such path {target[:100]!r}"})
    if method not in ("GET", "HEAD"):
        return _response(405, "Method Not Allowed", {"status": "error", "message": "use GET"}, allow=True)
    if healthy:
        body = _response(200, "OK", HEALTHY)
    else:
        body = _response(503, "Service Unavailable", UNHEALTHY)
    return body.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" if method == "HEAD" else body


def _response(status: int, reason: str, body: dict[str, str], *, allow: bool = False) -> bytes:
    data = json.dumps(body).encode()
    head = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        "Connection: close",
    ]
    if allow:
        head.append("Allow: GET, HEAD")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


class HealthProbe:
    """Serves the probe on host:port while `healthy()` says whether the emulator serves AMQP."""

    def __init__(self, host: str, port: int, healthy: Callable[[], bool]) -> None:
        self.host = host
        self.port = port
        self.healthy = healthy
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_REQUEST_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            writer.write(answer(head, self.healthy()))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("health probe: answering a request failed")
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
