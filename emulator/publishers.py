"""Producers' links: where a sender may attach, and its messages stored in the namespace."""

from __future__ import annotations

from dataclasses import dataclass

from eventhubs import events
from eventhubs.links import parse_sender_address

from .authorization import Authorization
from .config import SEND, HubConfig
from .namespace import Namespace


@dataclass
class Publisher:
    """A sending link's target: the hub, and the partition when the client chose one."""

    hub: HubConfig
    partition_id: str | None
    authorized_until: float = 0.0  # Unix seconds: until then its token needs no new look

    @classmethod
    def attach(cls, namespace: Namespace, authorization: Authorization, address: str) -> Publisher:
        """The publisher for a link to `address`; raises the service's refusal."""
        target = parse_sender_address(address)
        hub = namespace.hub(target.hub)
        partition_id = (
            None if target.partition_id is None else namespace.check_partition(hub, target.partition_id)
        )
        publisher = cls(hub, partition_id)
        authorization.require(publisher.entity, SEND)
        return publisher

    @property
    def entity(self) -> str:
        """What its token must cover: the hub, or the partition it sends to (the Java client's audience
        for a partition sender is `amqp://<host>/<hub>/Partitions/<id>`)."""
        if self.partition_id is None:
            return self.hub.name
        return f"{self.hub.name}/partitions/{self.partition_id}"

    def publish(self, namespace: Namespace, payload: bytes, message_format: int) -> None:
        """Store a transfer's events; they are stored when this returns."""
        messages, key = events.unpack(payload, message_format)
        namespace.publish(self.hub, self.partition_id, messages, key)
