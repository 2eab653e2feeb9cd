"""Where finished capture files go: a local folder, or a Blob container (Azurite locally).

`deliver` blocks (file copies, HTTP): the service calls it off the event loop. A file appears whole or not
at all: in a folder it is renamed into place; a block blob becomes visible when its upload commits.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from emulator.config import CaptureConfig

log = logging.getLogger("emulator.capture")


class Destination(Protocol):
    description: str  # for logs: no secret in it

    def deliver(self, name: str, file: Path) -> None:
        """Put the finished capture file `file` at `name` (a '/'-separated path); raises on failure."""
        ...


class FolderDestination:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.description = f"folder {self.folder}"

    def deliver(self, name: str, file: Path) -> None:
        target = self.folder.joinpath(*name.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        # Hidden and not *.avro while it is copied: readers listing the folder never see half a file.
        partial = target.with_name(f".{target.name}.part")
        try:
            shutil.copyfile(file, partial)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise


class BlobDestination:
    """A container of the storage account a connection string names; created on first use if missing."""

    def __init__(self, connection_string: str, container: str) -> None:
        from azure.storage.blob import BlobServiceClient

        # The SDK logs every request at INFO: one line per file delivered says enough here.
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

        # No SDK retries: the capture service retries with its own backoff, and logs each failure.
        self._service = BlobServiceClient.from_connection_string(
            connection_string, retry_total=0, connection_timeout=5, read_timeout=60
        )
        self._container = self._service.get_container_client(container)
        self._created = False
        self.description = f"blob container {container!r} at {self._service.primary_endpoint}"

    def deliver(self, name: str, file: Path) -> None:
        from azure.core.exceptions import ResourceExistsError

        if not self._created:
            try:
                self._container.create_container()
                log.info("capture: created %s", self.description)
            except ResourceExistsError:
                pass
            self._created = True
        with file.open("rb") as stream:
            self._container.upload_blob(name, stream, overwrite=True, length=file.stat().st_size)

    def close(self) -> None:
        self._service.close()


class DestinationError(ValueError):
    """A destination cannot be set up (a missing environment variable, a bad connection string)."""


def build_destination(hub: str, capture: CaptureConfig, environ: Mapping[str, str]) -> Any:
    """The destination a hub's capture settings name; DestinationError says what to set."""
    if capture.folder is not None:
        return FolderDestination(capture.folder)
    assert capture.blob_container is not None
    variable = capture.connection_string_env
    connection_string = environ.get(variable, "")
    if not connection_string:
        raise DestinationError(
            f"Capture of hub {hub!r} writes to blob container {capture.blob_container!r}, but the "
            f"environment variable {variable} (connection_string_env) is not set; set it to the storage "
            "account's connection string (Azurite's: UseDevelopmentStorage=true, or its full "
            "DefaultEndpointsProtocol=... string)"
        )
    try:
        return BlobDestination(connection_string, capture.blob_container)
    except ValueError as exc:
        raise DestinationError(
            f"Capture of hub {hub!r}: the connection string in {variable} is not a storage connection string "
            f"({exc}); use e.g. Azurite's DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;..."
        ) from None
