"""A loopback TCP proxy that holds every chunk `delay_s` in each direction: a client as far from the
service as a wide-area round trip of 2 x `delay_s`, on this machine. Chunks keep their order.

with DelayProxy("127.0.0.1", emulator.port, delay_s=0.015) as proxy:
    ... connect to 127.0.0.1:proxy.port (it listens on the target's address, so TLS names still match) ...
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import TracebackType


class DelayProxy:
    def __init__(self, host: str, target_port: int, delay_s: float) -> None:
        self.host = host
        self.target = (host, target_port)
        self.delay_s = delay_s
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="delay-proxy", daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, self.host, 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *_exc: object | TracebackType | None) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        try:
            server_in, server_out = await asyncio.open_connection(*self.target)
        except OSError:
            client_out.close()
            return
        try:
            await asyncio.gather(
                self._pipe(client_in, server_out), self._pipe(server_in, client_out), return_exceptions=True
            )
        except asyncio.CancelledError:  # the proxy stops: end quietly (asyncio logs a cancelled handler)
            client_out.close()
            server_out.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def take_in() -> None:
            while data := await reader.read(1 << 16):
                queue.put_nowait((time.monotonic() + self.delay_s, data))
            queue.put_nowait((time.monotonic() + self.delay_s, b""))  # the end, as late as the rest

        async def hand_on() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(take_in(), hand_on())
        except OSError:
            writer.close()
