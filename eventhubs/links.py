"""Event Hubs links: the addresses senders and receivers attach to, and what receivers ask for on attach.

A sender attaches to ``<hub>`` (the service picks the partition) or ``<hub>/Partitions/<id>``; a receiver
to ``<hub>/ConsumerGroups/<group>/Partitions/<id>``. Clients write them as full URLs
(``amqps://<namespace>/<hub>/...``) or bare paths; names are matched ignoring case, as the service does.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from amqp10.types import Symbol

from .errors import NotFoundError

EPOCH = Symbol("com.microsoft:epoch")  # link property: an exclusive receiver's epoch
RECEIVER_NAME = Symbol("com.microsoft:receiver-name")  # link property: a receiver's identifier, if given
RUNTIME_METRIC = Symbol("com.microsoft:enable-receiver-runtime-metric")  # capability: last-enqueued info
GEOREPLICATION = Symbol("com.microsoft:georeplication")  # capability: offsets as the service gives them

# Where clients dial: plain AMQP (development connection strings only), AMQP over TLS, and AMQP over
# WebSockets with TLS at this path (the SDK's TransportType.AmqpOverWebsocket, subprotocol AMQPWSB10).
AMQP_PORT = 5672
AMQPS_PORT = 5671
WEBSOCKET_PORT = 443
WEBSOCKET_PATH = "/$servicebus/websocket"


@dataclass(frozen=True)
class SenderAddress:
    hub: str
    partition_id: str | None  # None: the service chooses


@dataclass(frozen=True)
class ReceiverAddress:
    hub: str
    consumer_group: str
    partition_id: str


def entity_path(address: str) -> str:
    """'amqps://host:port/hub/Partitions/0' and 'hub/Partitions/0' both name 'hub/Partitions/0'."""
    if "://" in address:
        address = urlsplit(address).path
    return address.strip("/")


def receiver_address(host: str, hub: str, consumer_group: str, partition_id: str) -> str:
    return f"amqps://{host}/{hub}/ConsumerGroups/{consumer_group}/Partitions/{partition_id}"


def sender_address(host: str, hub: str, partition_id: str | None = None) -> str:
    return f"amqps://{host}/{hub}" + ("" if partition_id is None else f"/Partitions/{partition_id}")


def audience(host: str, hub: str) -> str:
    """The resource a client's token is put for: the hub on the namespace."""
    return f"sb://{host}/{hub}"


def parse_sender_address(address: str) -> SenderAddress:
    parts = entity_path(address).split("/")
    if len(parts) == 1:
        return SenderAddress(parts[0], None)
    if len(parts) == 3 and parts[1].lower() == "partitions":
        return SenderAddress(parts[0], parts[2])
    raise NotFoundError(
        f"'{entity_path(address)}' is not a sender address: use '<hub>' or '<hub>/Partitions/<id>'."
    )


def parse_receiver_address(address: str) -> ReceiverAddress:
    parts = entity_path(address).split("/")
    if len(parts) != 5 or parts[1].lower() != "consumergroups" or parts[3].lower() != "partitions":
        raise NotFoundError(
            f"'{entity_path(address)}' is not a receiver address: "
            "use '<hub>/ConsumerGroups/<group>/Partitions/<id>'."
        )
    return ReceiverAddress(parts[0], parts[2], parts[4])
