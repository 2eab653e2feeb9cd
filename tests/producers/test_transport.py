"""`python -m producers` over TLS and over AMQP over WebSockets, with an Azure-style connection string,
trusting the emulator's local CA: flags, or the profile's [producer] keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from azure.eventhub import EventHubProducerClient

from emulator.process import EmulatorProcess

AZURE_STYLE = (
    "Endpoint=sb://localhost/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE"
)


def produce(*args: str, profile: str = "local") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUBSTREAM_PROFILE": profile, "EVENTHUB_CONNECTION_STRING": AZURE_STYLE}
    return subprocess.run(
        [sys.executable, "-m", "producers", "--source", "test", "--quiet", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def stored(emulator: EmulatorProcess) -> int:
    with EventHubProducerClient.from_connection_string(
        emulator.connection_string, eventhub_name="tweets"
    ) as c:
        return sum(
            c.get_partition_properties(p)["last_enqueued_sequence_number"] + 1 for p in c.get_partition_ids()
        )


@pytest.mark.parametrize("transport", ["amqp", "websocket"])
def test_the_flags_send_over_tls_or_websockets(emulator: EmulatorProcess, transport: str) -> None:
    port = emulator.ws_port if transport == "websocket" else emulator.tls_port
    result = produce(
        "--count", "25", "--transport", transport, "--connection-verify", str(emulator.ca_file),
        "--custom-endpoint-address", f"sb://localhost:{port}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert stored(emulator) == 25
    assert "authorized for sb://localhost/tweets" in "".join(emulator.output)


def test_the_profile_keys_send_over_websockets(emulator: EmulatorProcess, tmp_path: Path) -> None:
    profile = tmp_path / "ws.toml"
    profile.write_text(
        '[eventhub]\nname = "tweets"\nconnection_string = "${EVENTHUB_CONNECTION_STRING}"\n'
        f'[producer]\ntransport = "websocket"\nconnection_verify = "{emulator.ca_file}"\n'
        f'custom_endpoint_address = "sb://localhost:{emulator.ws_port}"\n'
    )
    result = produce("--count", "10", profile=str(profile))
    assert result.returncode == 0, result.stderr
    assert stored(emulator) == 10


def test_without_the_ca_the_certificate_is_refused(emulator: EmulatorProcess) -> None:
    result = produce(
        "--count",
        "1",
        "--retry-total",
        "0",
        "--custom-endpoint-address",
        f"sb://localhost:{emulator.tls_port}",
    )
    assert result.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
