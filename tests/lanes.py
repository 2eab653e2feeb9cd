"""`make test`: the suite as two pytest processes side by side, because on 2 cores one alone leaves a core
idle: the Spark tests keep a JVM busy while the emulator's tests mostly wait on sockets and the
azure-eventhub SDK's timers. Side by side they took about 12 minutes where one process took 17 to 20.

    python tests/lanes.py [pytest arguments for both lanes, e.g. -k selector -x]

Lane one (LANE_ONE) prints as it goes; lane two (the rest of tests/) writes to .test-logs/lane-two.log,
printed once both are done. Ctrl-C reaches both (they share the terminal's process group), and each stops
its emulators and Spark as pytest does; this waits for them rather than killing them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LANE_ONE = (
    "tests/jobs",
    "tests/compat",
    "tests/notebooks",
    "tests/packaging",
    "tests/consumers",
    "tests/producers",
)
LANE_TWO_LOG = Path(".test-logs/lane-two.log")
NO_TESTS_COLLECTED = 5  # pytest's exit code when a lane has nothing that matches, e.g. under -k


def lane_commands(pytest_args: list[str]) -> tuple[list[str], list[str]]:
    pytest = [sys.executable, "-m", "pytest"]
    one = [*pytest, *LANE_ONE, *pytest_args]
    # Its own cache folder: both lanes writing .pytest_cache's last-failed list would keep one lane's.
    ignored = [f"--ignore={path}" for path in LANE_ONE]
    two = [*pytest, "-o", "cache_dir=.pytest_cache/lane-two", *ignored, *pytest_args]
    return one, two


def combined(one: int, two: int) -> int:
    """The suite's exit code: a lane where -k matched nothing is no failure if the other lane ran tests."""
    codes = {one, two}
    if codes == {NO_TESTS_COLLECTED}:
        return NO_TESTS_COLLECTED
    codes.discard(NO_TESTS_COLLECTED)
    return max(codes)


def main(pytest_args: list[str]) -> int:
    one_command, two_command = lane_commands(pytest_args)
    LANE_TWO_LOG.parent.mkdir(exist_ok=True)
    print(f"== lane one: {' '.join(LANE_ONE)}; lane two (the rest) runs beside it into {LANE_TWO_LOG}")
    sys.stdout.flush()
    with LANE_TWO_LOG.open("w") as log:
        two = subprocess.Popen(two_command, stdout=log, stderr=subprocess.STDOUT)
        one = subprocess.Popen(one_command)
        try:
            codes = one.wait(), two.wait()
        except KeyboardInterrupt:
            one.wait()
            two.wait()
            print(f"\ninterrupted: lane two's output is in {LANE_TWO_LOG}", file=sys.stderr)
            return 130
    print("== lane two: the rest of tests/")
    print(LANE_TWO_LOG.read_text(), end="")
    return combined(*codes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
