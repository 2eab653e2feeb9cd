"""childprocess: SIGINT first, SIGKILL for a child that will not stop, on real child processes."""

from __future__ import annotations

import signal
import subprocess
import sys

from childprocess import interrupt, kill, stop

# Prints a line once its SIGINT handler is set, so the test never signals it before.
IGNORES_CTRL_C = (
    "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)
# Prints inside its try: a SIGINT that lands between the print and the try would end it as -2, not 130.
EXITS_ON_CTRL_C = (
    "import time\n"
    "try:\n    print('ready', flush=True)\n    time.sleep(60)\n"
    "except KeyboardInterrupt:\n    raise SystemExit(130)"
)


def started(code: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def test_stop_is_ctrl_c_for_a_child_that_handles_it() -> None:
    assert stop(started(EXITS_ON_CTRL_C), timeout=10) == 130


def test_stop_kills_a_child_that_ignores_ctrl_c() -> None:
    process = started(IGNORES_CTRL_C)
    assert interrupt(process, timeout=0.2) is None and process.poll() is None
    assert stop(process, timeout=0.2) == -signal.SIGKILL


def test_kill_and_stop_of_a_child_already_gone_return_its_code() -> None:
    process = started(IGNORES_CTRL_C)
    assert kill(process) == -signal.SIGKILL
    assert (kill(process), stop(process, timeout=1)) == (-signal.SIGKILL, -signal.SIGKILL)
