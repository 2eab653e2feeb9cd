"""`python -m producers` as a user runs it: a real process, a real emulator, the SDK reading back."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from emulator.process import EmulatorProcess
from tests.sdk_events import partition_sizes, read_events


def run_cli(*args: str, emulator: EmulatorProcess | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUBSTREAM_PROFILE": "local"}
    if emulator is not None:
        env["EVENTHUB_CONNECTION_STRING"] = emulator.connection_string
    return subprocess.run(
        [sys.executable, "-m", "producers", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_telemetry_from_the_local_profile_arrives_keyed_by_device(emulator: EmulatorProcess) -> None:
    """The issue's acceptance scenario."""
    result = run_cli("--profile", "local", "--source", "telemetry", "--count", "1000", "--quiet",
                     "--connection-string", emulator.connection_string)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"sent 1,000 events .* events/s", result.stderr)
    # The local profile names hub "tweets"; the telemetry source keys each reading by its device.
    sizes = partition_sizes(emulator.connection_string)
    assert sum(sizes.values()) == 1000
    devices: dict[str, set[str]] = {}
    for pid, size in sizes.items():
        for event in read_events(
            emulator.connection_string, count=size, partition_id=pid, starting_position="-1"
        ):
            reading = json.loads(event.body_as_str())
            assert event.partition_key == reading["id"].encode()
            devices.setdefault(reading["id"], set()).add(pid)
    assert len(devices) == 10
    assert all(len(pids) == 1 for pids in devices.values())


def test_the_environment_points_a_profile_at_another_emulator(emulator: EmulatorProcess) -> None:
    result = run_cli("--source", "test", "--count", "30", emulator=emulator)
    assert result.returncode == 0, result.stderr
    assert sum(partition_sizes(emulator.connection_string).values()) == 30


def test_ctrl_c_sends_what_was_read_and_prints_totals(emulator: EmulatorProcess) -> None:
    env = {
        **os.environ,
        "HUBSTREAM_PROFILE": "local",
        "EVENTHUB_CONNECTION_STRING": emulator.connection_string,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "producers", "--source", "test", "--rate", "300", "--quiet"],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while sum(partition_sizes(emulator.connection_string).values()) < 100 and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    match = re.search(r"sent ([\d,]+) events", stderr)
    assert match, stderr
    assert "stopped early" in stderr
    assert int(match.group(1).replace(",", "")) == sum(partition_sizes(emulator.connection_string).values())


def test_bad_settings_name_the_problem() -> None:
    unknown = run_cli("--profile", "nope", "--count", "1")
    assert unknown.returncode == 2
    assert "nope" in unknown.stderr and "local" in unknown.stderr
    no_file = run_cli("--source", "file", "--count", "1")
    assert no_file.returncode == 2
    assert "--file" in no_file.stderr
    bad_string = run_cli("--connection-string", "Endpoint=http://x;SharedAccessKeyName=k", "--count", "1")
    assert bad_string.returncode == 2
    assert "Endpoint" in bad_string.stderr or "SharedAccessKey" in bad_string.stderr


def test_help_reads_well() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for word in ("--profile", "--source", "telemetry", "twitter", "--count", "--rate", "examples:"):
        assert word in result.stdout
