"""The hub's partitions and their properties, read from `$management` over one connection kept open.

The driver asks for every partition's first and next sequence number at each trigger; over a connection
and link kept for the query's lifetime each answer takes milliseconds (the SDK opens a management link
per request, ~0.36 s each). The requests are the SDK's: READ with the entity's name and type, and the
token put to `$cbs` as `security_token`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .hub_connection import Endpoint, HubConnection, HubError

_CONDITIONS = {401: "amqp:unauthorized-access", 404: "amqp:not-found"}


class Management:
    """Partition ids and properties of one hub; reconnects once when the connection is lost."""

    def __init__(self, endpoint: Endpoint, timeout_s: float, where: str) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.where = where
        self._hub: HubConnection | None = None

    def partition_ids(self) -> list[str]:
        body = self._read("com.microsoft:eventhub")
        return [str(pid) for pid in body.get("partition_ids") or ()]

    def partition_properties(self, partition_id: str) -> dict[str, Any]:
        """The SDK's `get_partition_properties` keys: sequence numbers, the last offset and time."""
        body = self._read("com.microsoft:partition", partition_id)
        enqueued_ms = int(body.get("last_enqueued_time_utc") or 0)
        return {
            "beginning_sequence_number": int(body["begin_sequence_number"]),
            "last_enqueued_sequence_number": int(body["last_enqueued_sequence_number"]),
            "last_enqueued_offset": str(body.get("last_enqueued_offset")),
            "last_enqueued_time_utc": datetime.fromtimestamp(enqueued_ms / 1000, UTC),
            "is_empty": bool(body.get("is_partition_empty")),
        }

    def close(self) -> None:
        hub, self._hub = self._hub, None
        if hub is not None:
            hub.close()

    def _read(self, kind: str, partition_id: str | None = None) -> dict[str, Any]:
        for attempt in (1, 2):
            fresh = self._hub is None
            try:
                return self._ask(kind, partition_id)
            except HubError as e:
                # A connection lost between triggers is opened again, once; the service's answers
                # (a status code) and failures on a new connection are final.
                if not e.connection_lost or fresh or attempt == 2:
                    raise
                self.close()
        raise AssertionError("unreachable")

    def _ask(self, kind: str, partition_id: str | None) -> dict[str, Any]:
        if self._hub is None:
            hub = HubConnection(self.endpoint, self.timeout_s, self.where)
            hub.open()
            self._hub = hub
        hub = self._hub
        properties: dict[str, Any] = {
            "operation": "READ",
            "name": self.endpoint.hub,
            "type": kind,
            "security_token": hub.token,
        }
        if partition_id is not None:
            properties["partition"] = partition_id
        status, description, body = hub.request("$management", properties, None)
        if status != 200 or not isinstance(body, dict):
            raise HubError(
                f"{self.where}: $management answered {status}: {description}",
                _CONDITIONS.get(status, "amqp:internal-error"),
            )
        return {str(k): v for k, v in body.items()}
