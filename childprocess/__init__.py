"""Stopping a child process (the emulator, Azurite, a consumer) as Ctrl-C would, or killing it.

The bottom of the house: it imports nothing of ours, so every wrapper that runs one of our servers or
clients as a child process, for tests, benchmarks and demos, stops it the same way.
"""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def interrupt(process: subprocess.Popen[Any], timeout: float) -> int | None:
    """SIGINT, as Ctrl-C: it may flush and close. Its exit code, or None if it still runs after `timeout`
    seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def stop(process: subprocess.Popen[Any], timeout: float) -> int:
    """SIGINT, and SIGKILL if it still runs after `timeout` seconds; its exit code."""
    code = interrupt(process, timeout)
    return kill(process) if code is None else code


def kill(process: subprocess.Popen[Any]) -> int:
    """SIGKILL if it still runs (nothing flushed, nothing closed); its exit code once it is gone."""
    if process.poll() is None:
        process.kill()
    return process.wait()
