"""An `EventHubProducerClient` from settings: a connection string, or passwordless with Entra ID."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.eventhub import EventHubProducerClient

from conf.sdk_options import sdk_connection_options

if TYPE_CHECKING:
    from conf import EventHubSettings, ProducerSettings


def producer_client(hub: EventHubSettings, options: ProducerSettings) -> EventHubProducerClient:
    retry: dict[str, Any] = {
        "retry_total": options.retry_total,
        "retry_backoff_factor": options.retry_backoff_factor,
        "retry_backoff_max": options.retry_backoff_max,
        "retry_mode": options.retry_mode,
    }
    transport = sdk_connection_options(hub)
    if hub.connection_string is not None:
        return EventHubProducerClient.from_connection_string(
            hub.connection_string.reveal(), eventhub_name=hub.name, **retry, **transport
        )
    # Imported here: only passwordless profiles need azure-identity's credential chain.
    from azure.identity import DefaultAzureCredential

    assert hub.fully_qualified_namespace is not None
    return EventHubProducerClient(
        fully_qualified_namespace=hub.fully_qualified_namespace,
        eventhub_name=hub.name,
        credential=DefaultAzureCredential(),
        **retry,
        **transport,
    )
