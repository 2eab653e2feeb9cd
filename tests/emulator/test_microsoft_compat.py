"""Drop-in for Microsoft's Docker emulator: its Config.json as --config, its GET /health probe."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from azure.eventhub import EventData, EventHubProducerClient

from emulator.config import ConfigError, load_config
from emulator.health import answer
from emulator.process import EmulatorProcess
from emulator.roundtrip import read_events

# Microsoft's sample, as in azure-event-hubs-emulator-installer's EventHub-Emulator/Config/Config.json.
MICROSOFT_CONFIG = {
    "UserConfig": {
        "NamespaceConfig": [
            {
                "Type": "EventHub",
                "Name": "emulatorNs1",
                "Entities": [{"Name": "eh1", "PartitionCount": "2", "ConsumerGroups": [{"Name": "cg1"}]}],
            }
        ],
        "LoggingConfig": {"Type": "File"},
    }
}


def write(tmp_path: Path, config: object, name: str = "Config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config, indent=4))
    return path


def test_microsoft_config_json_becomes_a_namespace(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MICROSOFT_CONFIG))
    assert config.namespace == "emulatorNs1"
    hub = config.hubs["eh1"]
    assert hub.partition_count == 2
    assert hub.consumer_groups == ("$Default", "cg1")
    assert dict(config.keys) == {"RootManageSharedAccessKey": "SAS_KEY_VALUE"}


def test_json_is_recognised_by_content_and_integers_and_default_groups_are_taken(tmp_path: Path) -> None:
    entity = {"Name": "orders", "PartitionCount": 4, "ConsumerGroups": [{"Name": "$default"}, {"Name": "a"}]}
    raw = {"UserConfig": {"NamespaceConfig": [{"Type": "EventHub", "Name": "ns", "Entities": [entity]}]}}
    config = load_config(write(tmp_path, raw, name="namespace.conf"))
    assert config.hubs["orders"].partition_count == 4
    assert config.hubs["orders"].consumer_groups == ("$Default", "a")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"UserConfig": {}}, "NamespaceConfig as an array of one namespace"),
        ({"UserConfig": {"NamespaceConfig": [{"Name": "ns", "Entities": {}}]}}, "Entities must be an array"),
        (
            {
                "UserConfig": {
                    "NamespaceConfig": [{"Name": "ns", "Entities": [{"Name": "h", "PartitionCount": "x"}]}]
                }
            },
            "partitions = 'x' must be an integer",
        ),
        (
            {
                "UserConfig": {
                    "NamespaceConfig": [{"Name": "ns", "Entities": [{"Name": "h", "PartitionCount": "64"}]}]
                }
            },
            "partitions = 64 is out of range",
        ),
    ],
)
def test_bad_config_json_is_named(tmp_path: Path, raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, raw))


def test_a_broken_json_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "Config.json"
    path.write_text('{"UserConfig": ')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(path)


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", b"200 OK"),
        (b"GET /health?probe=1 HTTP/1.0\r\n\r\n", b"200 OK"),
        (b"GET / HTTP/1.1\r\n\r\n", b"404 Not Found"),
        (b"POST /health HTTP/1.1\r\n\r\n", b"405 Method Not Allowed"),
        (b"\x16\x03\x01 garbage\r\n\r\n", b"400 Bad Request"),
    ],
)
def test_probe_answers(request_head: bytes, status: bytes) -> None:
    assert answer(request_head, healthy=True).startswith(b"HTTP/1.1 " + status)


def test_probe_bodies_are_microsofts() -> None:
    head, _, body = answer(b"GET /health HTTP/1.1\r\n\r\n", healthy=True).partition(b"\r\n\r\n")
    assert json.loads(body) == {"status": "healthy", "message": "Service is healthy."}
    assert b"Content-Length: %d" % len(body) in head
    head, _, body = answer(b"GET /health HTTP/1.1\r\n\r\n", healthy=False).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and json.loads(body)["status"] == "unhealthy"
    assert answer(b"HEAD /health HTTP/1.1\r\n\r\n", healthy=True).endswith(b"\r\n\r\n")


def health_url(process: EmulatorProcess) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        match = re.search(r"Health probe: (http://\S+/health)", "".join(process.output))
        if match:
            return match.group(1)
        time.sleep(0.05)
    raise AssertionError("no health probe line:\n" + "".join(process.output))


def test_the_emulator_serves_microsofts_config_and_probe(tmp_path: Path) -> None:
    config = write(tmp_path, MICROSOFT_CONFIG)
    with EmulatorProcess(config=config, extra_args=["--health-port", "0"]) as process:
        with urllib.request.urlopen(health_url(process), timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read()) == {"status": "healthy", "message": "Service is healthy."}
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(health_url(process).replace("/health", "/other"), timeout=5)
        assert info.value.code == 404

        with EventHubProducerClient.from_connection_string(
            process.connection_string, eventhub_name="eh1"
        ) as client:
            assert client.get_partition_ids() == ["0", "1"]
            client.send_event(EventData("from a Config.json user"), partition_id="1")
        events = read_events(
            process.connection_string, count=1, hub="eh1", partition_id="1", consumer_group="cg1",
            starting_position="-1",
        )  # fmt: skip
        assert [e.body_as_str() for e in events] == ["from a Config.json user"]


def test_a_taken_health_port_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    with EmulatorProcess(extra_args=["--health-port", "0"]) as first:
        port = int(health_url(first).rsplit(":", 1)[1].split("/")[0])
        with EmulatorProcess(extra_args=["--health-port", str(port)]) as second:
            deadline = time.monotonic() + 10
            while "no health probe" not in "".join(second.output) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "no health probe" in "".join(second.output)
            assert second.connection_string
