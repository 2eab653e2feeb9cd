"""The azure-eventhub SDK's keyword arguments for a profile's connection settings ([eventhub] transport,
connection_verify, custom_endpoint_address), shared by the producers' and the consumers' SDK clients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import EventHubSettings


def sdk_connection_options(hub: EventHubSettings) -> dict[str, Any]:
    """transport_type, connection_verify and custom_endpoint_address, only those the profile sets."""
    from azure.eventhub import TransportType  # only SDK clients need it

    options: dict[str, Any] = {}
    if hub.transport == "websocket":
        options["transport_type"] = TransportType.AmqpOverWebsocket
    elif hub.custom_endpoint_address:
        # Without it, the SDK takes a custom endpoint for a WebSocket one.
        options["transport_type"] = TransportType.Amqp
    if hub.connection_verify:
        options["connection_verify"] = hub.connection_verify
    if hub.custom_endpoint_address:
        options["custom_endpoint_address"] = hub.custom_endpoint_address
    return options
