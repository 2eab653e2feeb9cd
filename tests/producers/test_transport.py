"""`python -m producers` over TLS and over AMQP over WebSockets, with an Azure-style connection string,
trusting the emulator's local CA: flags, or the profile's [eventhub] keys; both engines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import certifi
import pytest
from azure.eventhub import EventHubProducerClient

from conf import Settings, load_settings
from emulator.process import EmulatorProcess
from eventhubs.errors import ConnectionLostError
from producers import send_events
from producers.sources.test import test_messages

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
        f'transport = "websocket"\nconnection_verify = "{emulator.ca_file}"\n'
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


def profile_settings(tmp_path: Path, transport: str, ca: object, address: str) -> Settings:
    profile = tmp_path / f"{transport}.toml"
    profile.write_text(
        '[eventhub]\nname = "tweets"\nconnection_string = "${EVENTHUB_CONNECTION_STRING}"\n'
        f'transport = "{transport}"\n'
        f'connection_verify = "{ca}"\ncustom_endpoint_address = "{address}"\n'
    )
    return load_settings(profile, environ={"EVENTHUB_CONNECTION_STRING": AZURE_STYLE})


def test_the_hubstream_engine_takes_the_ca_and_the_address_from_the_profile(
    emulator: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the SDK engine: without them it would trust certifi's CAs and dial localhost:5671 (443)."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    for transport, port in (("amqp", emulator.tls_port), ("websocket", emulator.ws_port)):
        settings = profile_settings(tmp_path, transport, emulator.ca_file, f"sb://localhost:{port}")
        assert send_events(settings, test_messages(), count=10, engine="hubstream").events == 10
    assert stored(emulator) == 20
    assert "authorized for sb://localhost/tweets" in "".join(emulator.output)


def test_the_hubstream_engine_refuses_a_wrong_ca_naming_the_setting(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    settings = profile_settings(tmp_path, "amqp", certifi.where(), f"sb://localhost:{emulator.tls_port}")
    with pytest.raises(ConnectionLostError) as refused:
        send_events(settings, test_messages(), count=1, engine="hubstream")
    message = str(refused.value)
    assert f"TLS with localhost:{emulator.tls_port}: the certificate was refused" in message
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert (
        f"connection_verify ([eventhub] in the profile, or --connection-verify) ({certifi.where()})"
        in message
    )
