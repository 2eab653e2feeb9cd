"""`python -m consumers` as a child process, writing JSON lines: for the demo and the tests, which kill
one with SIGKILL and watch another take over."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from childprocess import interrupt, kill

_CLAIMED = re.compile(r"consumers: claimed partition (\S+)")
_LOST = re.compile(r"consumers: partition (\S+) taken over by another consumer")
EventId = tuple[str, int]  # (partition id, sequence number): unique within a hub


class ConsumerProcess:
    """One consumer process; its events in `<folder>/<name>.jsonl`, its log in `<folder>/<name>.log`."""

    def __init__(
        self, name: str, folder: Path, environ: Mapping[str, str], extra_args: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.events_file = folder / f"{name}.jsonl"
        self.log_file = folder / f"{name}.log"
        args = [sys.executable, "-m", "consumers", "--output", "jsonl", "--path", str(self.events_file)]
        self.args = [*args, "--quiet", *extra_args]
        self.environ = {**os.environ, **environ, "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ConsumerProcess:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, env=self.environ, cwd=_REPO_ROOT
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def claimed(self) -> list[str]:
        """The partitions it has claimed so far, in order (a partition taken again appears again)."""
        text = self.log_file.read_text() if self.log_file.exists() else ""
        return _CLAIMED.findall(text)

    def owned(self) -> set[str]:
        """The partitions it owns now, from its log's claims and losses."""
        owned: set[str] = set()
        text = self.log_file.read_text() if self.log_file.exists() else ""
        for line in text.splitlines():
            if claimed := _CLAIMED.search(line):
                owned.add(claimed.group(1))
            elif lost := _LOST.search(line):
                owned.discard(lost.group(1))
        return owned

    def events(self) -> list[EventId]:
        return read_event_ids(self.events_file)

    def wait_until(self, condition: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
        """Poll `check()` until true; fail naming `condition` and the log's tail."""
        deadline = time.monotonic() + timeout
        while not check():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"consumer {self.name} exited ({self.process.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"consumer {self.name}: {condition} not within {timeout} s:\n{self.tail()}"
                )
            time.sleep(0.1)

    def tail(self, lines: int = 20) -> str:
        text = self.log_file.read_text() if self.log_file.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> int:
        """A clean stop, as Ctrl-C: it checkpoints what it output and prints its totals."""
        assert self.process is not None
        code = interrupt(self.process, timeout)
        if code is None:
            kill(self.process)
            raise subprocess.TimeoutExpired(self.args, timeout)
        return code

    def kill(self) -> None:
        """SIGKILL: no checkpoint, no goodbye; its claims lapse after the ownership expiry."""
        if self.process is not None:
            kill(self.process)


_REPO_ROOT = Path(__file__).resolve().parent.parent


def read_event_ids(path: Path) -> list[EventId]:
    """The (partition, sequence number) of each JSON line; a line cut short by SIGKILL is skipped."""
    if not path.exists():
        return []
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            ids.append((str(record["partition_id"]), int(record["sequence_number"])))
        except (ValueError, KeyError, TypeError):
            continue
    return ids
