"""An `EventHubConsumerClient` from settings, sharing partitions through a checkpoint store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.eventhub import EventHubConsumerClient
from azure.eventhub.aio import EventHubConsumerClient as AsyncConsumerClient

from conf.sdk_options import sdk_connection_options

if TYPE_CHECKING:
    from conf import EventHubSettings


def consumer_client(
    hub: EventHubSettings,
    checkpoint_store: Any,
    *,
    aio: bool = True,
    consumer_group: str | None = None,
    load_balancing_interval_s: float = 10.0,
    ownership_expiry_s: float = 60.0,
    **options: Any,
) -> AsyncConsumerClient | EventHubConsumerClient:
    """The aio client (the tutorial's), or with `aio=False` the sync one (give it a sync store).

    Consumers with the same group and store share the hub's partitions: each claims its share in the store
    every `load_balancing_interval_s`, and takes over a partition whose owner has not renewed its claim for
    `ownership_expiry_s`.
    """
    balancing: dict[str, Any] = {
        "consumer_group": consumer_group or hub.consumer_group,
        "eventhub_name": hub.name,
        "checkpoint_store": checkpoint_store,
        "load_balancing_interval": load_balancing_interval_s,
        "partition_ownership_expiration_interval": ownership_expiry_s,
        **sdk_connection_options(hub),
        **options,
    }
    client_class = AsyncConsumerClient if aio else EventHubConsumerClient
    if hub.connection_string is not None:
        return client_class.from_connection_string(hub.connection_string.reveal(), **balancing)
    assert hub.fully_qualified_namespace is not None
    return client_class(
        fully_qualified_namespace=hub.fully_qualified_namespace, credential=credential(aio), **balancing
    )


def credential(aio: bool) -> Any:
    """azure-identity's DefaultAzureCredential, aio or sync (imported here: only passwordless needs it)."""
    if aio:
        from azure.identity.aio import DefaultAzureCredential as AsyncCredential

        return AsyncCredential()
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()
