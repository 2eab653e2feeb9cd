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
class CustomEndpoint:
    """Where a client dials instead of the namespace, as the azure-eventhub SDK reads its
    `custom_endpoint_address` (`_configuration.py`, `_pyamqp/_connection.py`): `host[:port][/path]`, a
    scheme optional (`sb://` assumed). The token's audience still names the namespace; TLS checks `host`."""

    host: str
    port: int | None  # None: the transport's default, 5671 for AMQP, 443 for WebSockets
    path: str  # WebSockets only: the handshake's path is this followed by WEBSOCKET_PATH

    @classmethod
    def parse(cls, address: str) -> CustomEndpoint:
        """Raise ValueError (the message says what is wrong) for an address without a host or a bad port."""
        parts = urlsplit(address if "//" in address else f"sb://{address}")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{address!r} has a port that is not a number from 1 to 65535") from None
        if not parts.hostname or port == 0:
            raise ValueError(f"{address!r} is not an address such as sb://<host>:<port>")
        return cls(parts.hostname, port, parts.path.rstrip("/"))

    def port_for(self, websocket: bool) -> int:
        return self.port or (WEBSOCKET_PORT if websocket else AMQPS_PORT)


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
