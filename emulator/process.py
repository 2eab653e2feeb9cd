"""Run the emulator as a child process: for tests, benchmarks and `make run`, which all need a real one."""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from childprocess import kill, stop

_CONNECTION_STRING = re.compile(r"Connection string: (Endpoint=sb://[^:]+:(\d+)\S*)")
_TLS = re.compile(r"TLS: amqps://[^ ]+:(\d+) \((?:CA: (.+?); )?")
_WEBSOCKETS = re.compile(r"WebSockets: wss://[^ ]+:(\d+)/")


class EmulatorProcess:
    """`python -m emulator` on free ports; `connection_string` and `port` once `start()` returns.

    It serves TLS and WebSockets (wss) too, each on a free port: `tls_port`, `ws_port` and `ca_file`
    (the CA that signed its certificate; `ca_dir` keeps that CA out of the user's own folder).
    """

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        config: Path | None = None,
        extra_args: Sequence[str] = (),
        log_file: Path | None = None,
        ca_dir: Path | None = None,
        tls_port: int = 0,
        command_prefix: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        # Run before python (which it must exec, so `pid` stays the emulator's): e.g. a namespace's setup.
        self.command_prefix = list(command_prefix)
        self.config = config
        self.extra_args = list(extra_args)
        self.log_file = log_file
        self.ca_dir = ca_dir
        self.process: subprocess.Popen[str] | None = None
        self.connection_string = ""
        self.port = 0
        self.tls_port = tls_port
        self.ws_port = 0
        self.ca_file: Path | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 30.0, port: int | None = None) -> EmulatorProcess:
        """Start it (on `port`, or the port it had before, or a free one) and wait until it serves."""
        args = [
            *self.command_prefix,
            sys.executable,
            "-m",
            "emulator",
            "--port",
            str(port if port is not None else self.port),
        ]
        args += ["--tls-port", str(self.tls_port), "--ws-port", str(self.ws_port)]
        if self.data_dir is not None:
            args += ["--data-dir", str(self.data_dir)]
        if self.config is not None:
            args += ["--config", str(self.config)]
        args += self.extra_args
        self.output = []
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                **({"HUBSTREAM_CA_DIR": str(self.ca_dir)} if self.ca_dir is not None else {}),
            },
        )
        found = threading.Event()
        threading.Thread(target=self._read_output, args=(self.process, found), daemon=True).start()
        if not found.wait(timeout) or not self.connection_string:
            self.kill()
            raise RuntimeError("the emulator did not start:\n" + "".join(self.output[-40:]))
        return self

    def _read_output(self, process: subprocess.Popen[str], found: threading.Event) -> None:
        assert process.stdout is not None
        sink = self.log_file.open("a") if self.log_file else None
        try:
            for line in process.stdout:
                self.output.append(line)
                if sink:
                    sink.write(line)
                    sink.flush()
                if tls := _TLS.search(line):
                    self.tls_port = int(tls.group(1))
                    self.ca_file = Path(tls.group(2)) if tls.group(2) else None
                if ws := _WEBSOCKETS.search(line):
                    self.ws_port = int(ws.group(1))
                match = _CONNECTION_STRING.search(line)
                if match and not found.is_set():
                    self.connection_string, self.port = match.group(1), int(match.group(2))
                    found.set()
        finally:
            found.set()
            if sink:
                sink.close()

    def stop(self, timeout: float = 20.0) -> int:
        """Stop it as Ctrl-C would (SIGINT), and return its exit code."""
        if self.process is None:
            return 0
        return stop(self.process, timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to flush or close anything."""
        if self.process is not None:
            kill(self.process)

    def restart(self, timeout: float = 30.0) -> EmulatorProcess:
        self.stop()
        return self.start(timeout, port=self.port)

    def azure_connection_string(self, host: str, hub: str | None = None) -> str:
        """Its key in a connection string as the portal gives it (no UseDevelopmentEmulator): clients
        then dial TLS on 5671 of `host`, where this emulator must serve (`tls_port=5671`)."""
        fields = dict(part.split("=", 1) for part in self.connection_string.split(";") if "=" in part)
        text = f"Endpoint=sb://{host}/;SharedAccessKeyName={fields['SharedAccessKeyName']};"
        text += f"SharedAccessKey={fields['SharedAccessKey']}"
        return text + (f";EntityPath={hub}" if hub else "")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> EmulatorProcess:
        return self.start() if self.process is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def free_loopback_host(port: int, *, prefer_localhost: bool = True) -> str:
    """A loopback address whose `port` is free: 127.0.0.1 if it is (and preferred), else another of
    127.0.0.0/8.

    For clients that dial a fixed port whatever the connection string says (the Java Event Hubs client
    under the Scala connector dials 5671): emulators side by side each take their own address instead.
    Tests pass `prefer_localhost=False`, so they do not race a developer's emulator for 127.0.0.1.
    """
    others = [
        f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}" for _ in range(50)
    ]
    candidates = (["127.0.0.1"] if prefer_localhost else []) + others
    for host in candidates:
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return host
    raise RuntimeError(f"no loopback address has port {port} free (tried {len(candidates)})")
