"""Options for the Scala Event Hubs connector, built without its jar."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from pyspark.sql import SparkSession

from conf import load_settings
from jobs.datasource.connector import (
    CONNECTOR_PACKAGE,
    ConnectorError,
    connector_options,
    starting_position_json,
)
from jobs.datasource.options import parse_position

KEY = "c2VjcmV0LWtleS1mb3ItdGVzdHM="
CS = f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey={KEY}"


def options(position: str = "-1", cs: str = CS) -> tuple[dict[str, str], list[str]]:
    calls: list[str] = []

    def encrypt(text: str) -> str:
        calls.append(text)
        return "ENCRYPTED"

    settings = load_settings("local", connection_string=cs)
    built = connector_options(settings, max_events_per_trigger=5, starting_position=position, encrypt=encrypt)
    return built, calls


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ("-1", {"offset": "-1", "seqNo": -1, "enqueuedTime": None, "isInclusive": True}),
        ("@latest", {"offset": "@latest", "seqNo": -1, "enqueuedTime": None, "isInclusive": True}),
        ("seq:42", {"offset": None, "seqNo": 42, "enqueuedTime": None, "isInclusive": True}),
        (
            "2024-05-01T12:00:00Z",
            {"offset": None, "seqNo": -1, "enqueuedTime": "2024-05-01T12:00:00Z", "isInclusive": True},
        ),
        (
            "2024-05-01T14:00:00+02:00",
            {"offset": None, "seqNo": -1, "enqueuedTime": "2024-05-01T12:00:00Z", "isInclusive": True},
        ),
    ],
)
def test_starting_positions(position: str, expected: dict[str, object]) -> None:
    built, _ = options(position)
    assert json.loads(built["eventhubs.startingPosition"]) == expected
    # hubstream's own source reads the same JSON.
    parse_position("eventhubs.startingPosition", built["eventhubs.startingPosition"])


def test_the_connector_json_form() -> None:
    assert starting_position_json("-1") == '{"offset":"-1","seqNo":-1,"enqueuedTime":null,"isInclusive":true}'


@pytest.mark.parametrize("bad", ["latest", "seq:", "seq:-3", "yesterday", ""])
def test_bad_starting_position_names_the_forms(bad: str) -> None:
    with pytest.raises(ValueError, match="seq:"):
        starting_position_json(bad)


def test_options_and_entity_path_added() -> None:
    built, calls = options()
    assert calls == [CS + ";EntityPath=tweets"]
    assert built == {
        "eventhubs.connectionString": "ENCRYPTED",
        "eventhubs.consumerGroup": "$Default",
        "eventhubs.startingPosition": starting_position_json("-1"),
        "maxEventsPerTrigger": "5",
    }


def test_entity_path_kept_when_present() -> None:
    _, calls = options(cs=CS + ";EntityPath=tweets")
    assert calls == [CS + ";EntityPath=tweets"]


def test_encrypt_failure_hides_the_key() -> None:
    def encrypt(text: str) -> str:
        raise RuntimeError(f"cannot encrypt {text}")

    settings = load_settings("local", connection_string=CS)
    with pytest.raises(ConnectorError, match="RuntimeError") as raised:
        connector_options(settings, max_events_per_trigger=5, starting_position="-1", encrypt=encrypt)
    assert KEY not in str(raised.value)


def test_without_the_jar_a_clear_error(spark: SparkSession) -> None:
    settings = load_settings("local", connection_string=CS)
    with pytest.raises(ConnectorError) as raised:
        connector_options(settings, spark, max_events_per_trigger=5, starting_position="-1")
    message = str(raised.value)
    assert CONNECTOR_PACKAGE in message and "use_connector = false" in message
    assert KEY not in message and KEY not in repr(raised.value)


def test_needs_spark_or_encrypt() -> None:
    settings = load_settings("local", connection_string=CS)
    with pytest.raises(ConnectorError, match="SparkSession"):
        connector_options(settings, max_events_per_trigger=5, starting_position="-1")


def test_the_profiles_websocket_transport_goes_into_the_connection_string() -> None:
    """The Java client's own connection string key; the connector has no option for it."""
    settings = load_settings("local", connection_string=CS)
    hub = dataclasses.replace(settings.eventhub, transport="websocket")
    calls: list[str] = []

    def encrypt(text: str) -> str:
        calls.append(text)
        return "ENCRYPTED"

    connector_options(
        dataclasses.replace(settings, eventhub=hub), max_events_per_trigger=5, starting_position="-1",
        encrypt=encrypt,
    )  # fmt: skip
    assert calls == [CS + ";EntityPath=tweets;TransportType=AmqpWebSockets"]


@pytest.mark.parametrize("key", ["connection_verify", "custom_endpoint_address"])
def test_settings_the_connector_cannot_honour_are_refused(key: str) -> None:
    settings = load_settings("local", connection_string=CS)
    changes: dict[str, Any] = {key: "sb://localhost:15671"}
    hub = dataclasses.replace(settings.eventhub, **changes)
    with pytest.raises(ConnectorError, match=f"sets {key}, which the Scala connector has no option for"):
        connector_options(
            dataclasses.replace(settings, eventhub=hub), max_events_per_trigger=5, starting_position="-1",
            encrypt=str,
        )  # fmt: skip
