"""Run the emulator as a child process: for tests, benchmarks and `make run`, which all need a real one."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

_CONNECTION_STRING = re.compile(r"Connection string: (Endpoint=sb://[^:]+:(\d+)\S*)")


class EmulatorProcess:
    """`python -m emulator` on a free port; `connection_string` and `port` once `start()` returns."""

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        config: Path | None = None,
        extra_args: Sequence[str] = (),
        log_file: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.config = config
        self.extra_args = list(extra_args)
        self.log_file = log_file
        self.process: subprocess.Popen[str] | None = None
        self.connection_string = ""
        self.port = 0
        self.output: list[str] = []

    def start(self, timeout: float = 30.0, port: int | None = None) -> EmulatorProcess:
        """Start it (on `port`, or the port it had before, or a free one) and wait until it serves."""
        args = [sys.executable, "-m", "emulator", "--port", str(port if port is not None else self.port)]
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
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
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
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no chance to flush or close anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self, timeout: float = 30.0) -> EmulatorProcess:
        self.stop()
        return self.start(timeout, port=self.port)

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
