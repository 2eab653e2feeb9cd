"""Option parsing of the Event Hubs source: every option, and errors that name the option."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import certifi
import pytest

from jobs.datasource.options import EventHubsOptionError, EventHubsOptions, EventPosition

KEY = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs="
CS = f"Endpoint=sb://ns.example.net/;SharedAccessKeyName=listen;SharedAccessKey={KEY}"


BASE = {"eventhubs.connectionString": CS, "eventhubs.name": "tweets"}


def parse(**options: str) -> EventHubsOptions:
    return EventHubsOptions.parse({"eventhubs.connectionString": CS, "eventhubs.name": "tweets", **options})


def fails(option: str, **options: str) -> str:
    """Parse, expect an error that names `option` and does not quote the key; return its message."""
    with pytest.raises(EventHubsOptionError) as raised:
        EventHubsOptions.parse(options)
    message = str(raised.value)
    assert option in message
    assert KEY not in message
    return message


def test_defaults() -> None:
    o = parse()
    assert o.name == "tweets"
    assert o.consumer_group == "$Default"
    assert o.starting_position == EventPosition(offset="-1")
    assert o.starting_positions == {}
    assert o.max_events(4) == 4000
    assert o.min_events_per_trigger is None
    assert o.max_trigger_delay_s == 900.0
    assert o.fail_on_data_loss is True
    assert (o.receiver_timeout_s, o.operation_timeout_s) == (60.0, 60.0)
    # Off: kept receivers add up past Event Hubs' 5 per partition on a cluster of more than 5 task slots.
    assert (o.keep_receivers, o.kept_receiver_idle_timeout_s) == (False, 60.0)
    assert KEY not in repr(o)


def test_every_option_parses_case_insensitively() -> None:
    o = EventHubsOptions.parse(
        {
            "EVENTHUBS.CONNECTIONSTRING": CS + ";EntityPath=tweets",
            "eventhubs.consumergroup": "spark",
            "eventhubs.startingposition": json.dumps({"seqNo": 7, "isInclusive": False}),
            "eventhubs.startingPositions": json.dumps(
                {
                    json.dumps({"ehName": "tweets", "partitionId": 1}): {"offset": "@latest"},
                    "2": {"offset": None, "seqNo": -1, "enqueuedTime": "2024-05-01T12:00:00.5Z"},
                }
            ),
            "MaxEventsPerTrigger": "500",
            "minEventsPerTrigger": "10",
            "maxTriggerDelay": "30s",
            "failOnDataLoss": "FALSE",
            "eventhubs.receiverTimeout": "5",
            "eventhubs.operationTimeout": "2m",
            "KEEPRECEIVERS": "true",
            "keptReceiverIdleTimeout": "90s",
        }
    )
    assert o.name == "tweets" and o.consumer_group == "spark"
    assert o.starting_position == EventPosition(seq_no=7, inclusive=False)
    assert o.position_for("1") == EventPosition(offset="@latest")
    assert o.position_for("2") == EventPosition(
        enqueued_time=datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)
    )
    assert o.position_for("0") == o.starting_position
    assert (o.max_events(4), o.min_events_per_trigger, o.max_trigger_delay_s) == (500, 10, 30.0)
    assert o.fail_on_data_loss is False
    assert (o.receiver_timeout_s, o.operation_timeout_s) == (5.0, 120.0)
    assert (o.keep_receivers, o.kept_receiver_idle_timeout_s) == (True, 90.0)


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900.0), ("500ms", 0.5), ("1 hour", 3600.0), ("2000", 2.0), ("1d", 86400.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse(maxTriggerDelay=text).max_trigger_delay_s == seconds


def test_positions_in_the_connectors_json() -> None:
    assert (
        parse(**{"eventhubs.startingPosition": '{"offset": -1, "seqNo": -1, "enqueuedTime": null}'})
        == parse()
    )
    p = parse(**{"eventhubs.startingPosition": '{"offset": "1024", "isInclusive": false}'}).starting_position
    assert p == EventPosition(offset="1024", inclusive=False)
    naive = parse(
        **{"eventhubs.startingPosition": '{"enqueuedTime": "2024-05-01T12:00:00"}'}
    ).starting_position
    assert naive.enqueued_time == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_passwordless_needs_namespace_and_name() -> None:
    o = EventHubsOptions.parse(
        {"eventhubs.fullyQualifiedNamespace": "ns.servicebus.windows.net", "eventhubs.name": "t"}
    )
    assert o.connection_string is None and o.fully_qualified_namespace == "ns.servicebus.windows.net"
    fails("eventhubs.name", **{"eventhubs.fullyQualifiedNamespace": "ns.servicebus.windows.net"})


BAD = [
    ("eventhubs.connectionString", {}),
    ("eventhubs.connectionString", {"eventhubs.connectionString": " "}),
    ("eventhubs.connectionString", {"eventhubs.connectionString": f"SharedAccessKey={KEY}"}),
    ("eventhubs.connectionString", {"eventhubs.connectionString": f"Endpoint=sb://x/;SharedAccessKey={KEY}"}),
    ("eventhubs.connectionString", {"eventhubs.connectionString": f"Endpoint=sb://x/;{KEY}"}),
    ("eventhubs.name", {"eventhubs.connectionString": CS}),
    ("eventhubs.name", {"eventhubs.connectionString": CS + ";EntityPath=other", "eventhubs.name": "tweets"}),
    ("eventhubs.startingPosition", {"eventhubs.startingPosition": "{offset: -1"}),
    ("eventhubs.startingPosition", {"eventhubs.startingPosition": '{"sequenceNumber": 4}'}),
    ("eventhubs.startingPosition", {"eventhubs.startingPosition": "[1]"}),
    ("eventhubs.startingPosition", {"eventhubs.startingPosition": "{}"}),
    ("eventhubs.startingPosition", {"eventhubs.startingPosition": '{"offset": "abc"}'}),
    ("eventhubs.startingPosition", {"eventhubs.startingPosition": '{"seqNo": -5}'}),
    ("eventhubs.startingPosition", {"eventhubs.startingPosition": '{"seqNo": "4"}'}),
    ("eventhubs.startingPosition", {"eventhubs.startingPosition": '{"seqNo": 4, "offset": "10"}'}),
    ("eventhubs.startingPosition", {"eventhubs.startingPosition": '{"enqueuedTime": "yesterday"}'}),
    ("eventhubs.startingPosition", {"eventhubs.startingPosition": '{"seqNo": 1, "isInclusive": "yes"}'}),
    ("eventhubs.startingPositions", {"eventhubs.startingPositions": "not json"}),
    ("eventhubs.startingPositions", {"eventhubs.startingPositions": '{"zero": {"seqNo": 1}}'}),
    ("eventhubs.startingPositions", {"eventhubs.startingPositions": '{"0": {"seqNo": 1, "x": 2}}'}),
    (
        "eventhubs.startingPositions",
        {"eventhubs.startingPositions": json.dumps({json.dumps({"ehName": "other", "partitionId": 0}): {}})},
    ),
    ("maxEventsPerTrigger", {"maxEventsPerTrigger": "-5"}),
    ("maxEventsPerTrigger", {"maxEventsPerTrigger": "0"}),
    ("maxEventsPerTrigger", {"maxEventsPerTrigger": "lots"}),
    ("minEventsPerTrigger", {"minEventsPerTrigger": "-1"}),
    ("minEventsPerTrigger", {"minEventsPerTrigger": "20", "maxEventsPerTrigger": "10"}),
    ("maxTriggerDelay", {"maxTriggerDelay": "15 fortnights"}),
    ("maxTriggerDelay", {"maxTriggerDelay": "m15"}),
    ("failOnDataLoss", {"failOnDataLoss": "maybe"}),
    ("eventhubs.receiverTimeout", {"eventhubs.receiverTimeout": "-1"}),
    ("eventhubs.operationTimeout", {"eventhubs.operationTimeout": "soon"}),
]


@pytest.mark.parametrize(("option", "options"), BAD, ids=[f"{o}-{i}" for i, (o, _) in enumerate(BAD)])
def test_bad_values_name_the_option(option: str, options: dict[str, str]) -> None:
    base = {"eventhubs.connectionString": CS, "eventhubs.name": "tweets"}
    if option in ("eventhubs.connectionString", "eventhubs.name"):
        base = {}
    fails(option, **{**base, **options})


# --- TLS trust and the custom endpoint (the SDK's connection_verify, custom_endpoint_address) ------------


def test_connection_verify_reads_the_file_where_the_query_is_planned(tmp_path: Path) -> None:
    """The certificates travel with the tasks as text: executors need no file; a bundle's comments stay."""
    bundle = Path(certifi.where()).read_text(encoding="utf-8")
    first = bundle[bundle.index("-----BEGIN") : bundle.index("-----END CERTIFICATE-----") + 25]
    path = tmp_path / "ca.pem"
    path.write_text(f"# a comment\n{first}\n")
    assert parse(**{"eventhubs.connectionVerify": str(path)}).ca_pem == first
    assert parse(**{"eventhubs.ConnectionVerify": first}).ca_pem == first  # or the PEM text itself
    assert parse().ca_pem is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/no/such/ca.pem", "'/no/such/ca.pem': no such file where the query is planned"),
        (__file__, "holds no usable CA certificate (no certificate in it)"),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            "the PEM text given holds no usable",
        ),
    ],
)
def test_a_bad_connection_verify_is_named(value: str, expected: str) -> None:
    message = fails("eventhubs.connectionVerify", **{**BASE, "eventhubs.connectionVerify": value})
    assert expected in message


def test_the_custom_endpoint_address() -> None:
    assert parse(**{"eventhubs.customEndpointAddress": "sb://localhost:15671"}).custom_endpoint_address == (
        "sb://localhost:15671"
    )
    message = fails(
        "eventhubs.customEndpointAddress", **{**BASE, "eventhubs.customEndpointAddress": "sb://:1"}
    )
    assert "is not an address such as sb://<host>:<port>" in message
