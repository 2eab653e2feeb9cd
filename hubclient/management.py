"""The hub's partitions and their properties, read from `$management` over one connection kept open.

The driver asks for every partition's first and next sequence number at each trigger; over a connection
and link kept for the query's lifetime each answer takes milliseconds (the SDK opens a management link
per request, ~0.36 s each). The requests are the SDK's (`eventhubs.nodes.read`).
"""

from __future__ import annotations

from typing import Any

from eventhubs import nodes
from eventhubs.errors import ConnectionLostError, error_for_status

from .connection import Endpoint, HubConnection


class Management:
    """Partition ids and properties of one hub; reconnects once when the connection is lost."""

    def __init__(self, endpoint: Endpoint, timeout_s: float, where: str) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.where = where
        self._hub: HubConnection | None = None

    def partition_ids(self) -> list[str]:
        body = self._read(nodes.EVENTHUB)
        return [str(pid) for pid in body.get("partition_ids") or ()]

    def partition_properties(self, partition_id: str) -> dict[str, Any]:
        """The SDK's `get_partition_properties` keys: sequence numbers, the last offset and time."""
        return nodes.partition_properties(self._read(nodes.PARTITION, partition_id))

    def close(self) -> None:
        hub, self._hub = self._hub, None
        if hub is not None:
            hub.close()

    def _read(self, kind: str, partition_id: str | None = None) -> dict[str, Any]:
        for attempt in (1, 2):
            fresh = self._hub is None
            try:
                return self._ask(kind, partition_id)
            except ConnectionLostError:
                # A connection lost between triggers is opened again, once; the service's answers
                # (a status code) and failures on a new connection are final.
                if fresh or attempt == 2:
                    raise
                self.close()
        raise AssertionError("unreachable")

    def _ask(self, kind: str, partition_id: str | None) -> dict[str, Any]:
        if self._hub is None:
            hub = HubConnection(self.endpoint, self.timeout_s, self.where)
            hub.open()
            self._hub = hub
        hub = self._hub
        reply = hub.request(
            nodes.MANAGEMENT, nodes.read(self.endpoint.hub, kind, hub.token, partition_id), None
        )
        if reply.status != 200 or not isinstance(reply.body, dict):
            raise error_for_status(
                reply.status, f"{self.where}: $management answered {reply.status}: {reply.description}"
            )
        return {str(k): v for k, v in reply.body.items()}
