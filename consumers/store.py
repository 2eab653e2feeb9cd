"""The SDK's Blob Storage checkpoint store (sync or aio) from [checkpoint_store] settings, checked first.

The store keeps, per consumer group, one blob per partition for its checkpoint and one for its owner:
`{fully_qualified_namespace}/{eventhub}/{consumer_group}/checkpoint/{partition_id}` and `.../ownership/...`,
all lower case, the values in the blobs' metadata (azure-eventhub-checkpointstoreblob).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ServiceRequestError,
)
from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore
from azure.storage.blob import ContainerClient

from conf import SettingsError

from .client import credential

if TYPE_CHECKING:
    from azure.eventhub.extensions.checkpointstoreblobaio import (
        BlobCheckpointStore as AsyncBlobCheckpointStore,
    )

    from conf import CheckpointStoreSettings


class CheckpointStoreError(RuntimeError):
    """The checkpoint store cannot be used; the message says where it is and what to fix."""


def checkpoint_store(store: CheckpointStoreSettings) -> BlobCheckpointStore:
    """The sync BlobCheckpointStore for EventHubConsumerClient."""
    if store.connection_string is not None:
        return BlobCheckpointStore.from_connection_string(store.connection_string.reveal(), store.container)
    return BlobCheckpointStore(_account_url(store), store.container, credential=credential(aio=False))


def async_checkpoint_store(store: CheckpointStoreSettings) -> AsyncBlobCheckpointStore:
    """The aio BlobCheckpointStore for azure.eventhub.aio.EventHubConsumerClient (the tutorial's)."""
    from azure.eventhub.extensions.checkpointstoreblobaio import BlobCheckpointStore as AsyncStore

    if store.connection_string is not None:
        return AsyncStore.from_connection_string(store.connection_string.reveal(), store.container)
    return AsyncStore(_account_url(store), store.container, credential=credential(aio=True))


def _account_url(store: CheckpointStoreSettings) -> str:
    if store.account_url is None:
        raise SettingsError("no checkpoint store configured: give a connection string or an account URL")
    return store.account_url


def prepare_container(store: CheckpointStoreSettings, timeout_s: float = 10.0) -> bool:
    """Create the container if it is missing (True when it was created); fail fast with one clear line.

    The store itself retries for minutes against an unreachable account: this check does not retry.
    """
    options: dict[str, Any] = {"retry_total": 0, "connection_timeout": timeout_s, "read_timeout": timeout_s}
    if store.connection_string is not None:
        container = ContainerClient.from_connection_string(
            store.connection_string.reveal(), store.container, **options
        )
    else:
        container = ContainerClient(
            _account_url(store), store.container, credential=credential(aio=False), **options
        )
    where = f"container {store.container!r} at {container.url.rsplit('/', 1)[0]}"
    try:
        with container:
            container.create_container()
            return True
    except ResourceExistsError:
        return False
    except ClientAuthenticationError as exc:
        if exc.response is None:  # refused here, while signing: the key is not a storage key at all
            raise CheckpointStoreError(
                f"cannot sign requests for {where} with the connection string's AccountKey "
                f"({_reason(exc)}): give the base64 key the storage account's Access keys page shows"
            ) from None
        raise _refused(where, exc) from None
    except HttpResponseError as exc:
        if exc.status_code in (401, 403):
            raise _refused(where, exc) from None
        raise CheckpointStoreError(f"the checkpoint store failed for {where}: {_reason(exc)}") from None
    except ServiceRequestError as exc:
        local = "127.0.0.1" in container.url or "localhost" in container.url
        fix = "start Azurite (`make azurite`) or" if local else "check the account name and network, or"
        raise CheckpointStoreError(
            f"cannot reach the checkpoint store for {where}: {_reason(exc)}; {fix} point "
            "CHECKPOINT_STORE_CONNECTION_STRING at a reachable one"
        ) from None


def _refused(where: str, exc: Exception) -> CheckpointStoreError:
    return CheckpointStoreError(
        f"the checkpoint store refused the credentials for {where} ({_reason(exc)}): check the "
        "connection string's AccountKey, or the identity's 'Storage Blob Data Contributor' role"
    )


def _reason(exc: Exception) -> str:
    """The service's status and error code, or the first line of the error without its request dump."""
    code = getattr(exc, "error_code", None)
    if isinstance(exc, HttpResponseError) and code:
        return f"{exc.status_code} {code}"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
