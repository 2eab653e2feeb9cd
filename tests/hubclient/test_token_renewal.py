"""A connection living past its token's lifetime puts a new token to `$cbs` in time: the emulator, as the
service, detaches the links of a connection whose token expired."""

from __future__ import annotations

import dataclasses

import pytest

from emulator.process import EmulatorProcess
from eventhubs.connection_string import parse_connection_string
from hubclient.connection import Endpoint
from hubclient.receiver import PartitionReceiver
from jobs.datasource.columns import EventColumns
from tests.sdk_events import send

LIFETIME_S = 2


def test_token_is_renewed_before_it_expires(emulator: EmulatorProcess) -> None:
    cs = emulator.connection_string
    endpoint = dataclasses.replace(
        Endpoint.connect_to(parse_connection_string(cs), None, "tweets"), token_lifetime_s=LIFETIME_S
    )
    columns = EventColumns("0")
    with PartitionReceiver(endpoint, "$Default", "0", 0, timeout_s=10) as receiver:
        first = receiver.hub.token
        # Waiting for events past the token's lifetime: the connection renews it meanwhile...
        with pytest.raises(TimeoutError):
            receiver.read_into(columns, idle_timeout_s=LIFETIME_S + 1.2)
        assert receiver.hub.token != first
        # ...so the link is still attached and still reads.
        send(cs, ["after"], partition_id="0")
        assert receiver.read_into(columns, idle_timeout_s=10) == [0]
    assert columns.take_batch().to_pylist()[0]["body"] == b"after"
