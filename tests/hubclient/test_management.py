"""Partition ids and properties from `$management` over our own connection, against a real emulator,
checked against what the azure-eventhub SDK reads for the same hub."""

from __future__ import annotations

import pytest
from azure.eventhub import EventHubConsumerClient

from emulator.process import EmulatorProcess
from eventhubs.connection_string import parse_connection_string
from eventhubs.errors import EventHubsError
from hubclient.connection import Endpoint
from hubclient.management import Management
from tests.sdk_events import send

HUB = "tweets"


def management(cs: str, hub: str = HUB) -> Management:
    return Management(
        Endpoint.connect_to(parse_connection_string(cs), None, hub), 10.0, "the management link"
    )


def test_partitions_and_their_properties_match_the_sdks(emulator: EmulatorProcess) -> None:
    cs = emulator.connection_string
    send(cs, [f"e{i}" for i in range(7)], partition_id="2")
    ours = management(cs)
    sdk = EventHubConsumerClient.from_connection_string(cs, consumer_group="$Default", eventhub_name=HUB)
    try:
        assert ours.partition_ids() == sdk.get_partition_ids() == ["0", "1", "2", "3"]
        for pid in ("0", "2"):
            got, expected = ours.partition_properties(pid), sdk.get_partition_properties(pid)
            for key in ("beginning_sequence_number", "last_enqueued_sequence_number", "last_enqueued_offset"):
                assert got[key] == expected[key], key
            assert got["is_empty"] == expected["is_empty"] == (pid == "0")
        assert ours.partition_properties("2")["last_enqueued_sequence_number"] == 6
        assert (
            ours.partition_properties("2")["last_enqueued_time_utc"]
            == sdk.get_partition_properties("2")["last_enqueued_time_utc"]
        )
    finally:
        ours.close()
        sdk.close()


def test_an_unknown_hub_is_not_found(emulator: EmulatorProcess) -> None:
    ours = management(emulator.connection_string, hub="nope")
    try:
        with pytest.raises(
            EventHubsError, match=r"\$management answered 404: .*'emulator:eventhub:nope'"
        ) as caught:
            ours.partition_ids()
        assert caught.value.condition == "amqp:not-found"
    finally:
        ours.close()


def test_a_lost_connection_is_opened_again_once(emulator: EmulatorProcess) -> None:
    ours = management(emulator.connection_string)
    try:
        assert ours.partition_ids() == ["0", "1", "2", "3"]
        emulator.stop()
        emulator.start()  # same port, same data: the kept connection is gone
        assert ours.partition_properties("1")["beginning_sequence_number"] == 0
    finally:
        ours.close()
