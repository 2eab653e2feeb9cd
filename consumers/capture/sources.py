"""Where capture files are: a local folder, or a Blob Storage container (Azurite or Azure).

Both list `.avro` files in name order (Capture's default names sort by partition, then time), open one
as a binary stream, and delete one only when asked. Names always use `/`, whatever the OS.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

__all__ = ["CaptureSource", "ContainerSource", "FolderSource", "StoredFile", "container_source"]

AVRO_SUFFIX = ".avro"


@dataclass(frozen=True, slots=True)
class StoredFile:
    name: str  # relative to the source, `/`-separated
    size: int


class CaptureSource(Protocol):
    description: str

    def files(self) -> Iterator[StoredFile]: ...

    def open(self, name: str) -> IO[bytes]: ...

    def delete(self, name: str) -> None: ...


class FolderSource:
    """Capture files under a local folder (any depth)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"capture folder {str(self.root)!r} does not exist or is not a folder")
        self.description = f"folder {self.root}"

    def files(self) -> Iterator[StoredFile]:
        paths = sorted(p for p in self.root.rglob(f"*{AVRO_SUFFIX}") if p.is_file())
        for path in paths:
            yield StoredFile(path.relative_to(self.root).as_posix(), path.stat().st_size)

    def open(self, name: str) -> IO[bytes]:
        return (self.root / name).open("rb")

    def delete(self, name: str) -> None:
        (self.root / name).unlink()


class ContainerSource:
    """Capture files in a Blob Storage container, under an optional name prefix."""

    def __init__(self, container: ContainerClient, prefix: str = "") -> None:
        self.container = container
        self.prefix = prefix
        self.description = f"container {container.container_name!r}" + (
            f" under {prefix!r}" if prefix else ""
        )

    def files(self) -> Iterator[StoredFile]:
        blobs = self.container.list_blobs(name_starts_with=self.prefix or None)
        names = sorted((b.name, b.size or 0) for b in blobs if b.name.endswith(AVRO_SUFFIX))
        for name, size in names:
            yield StoredFile(name, size)

    def open(self, name: str) -> IO[bytes]:
        # Capture files are at most the size window (500 MiB): read into memory, as fastavro wants seeks.
        return io.BytesIO(self.container.download_blob(name).readall())

    def delete(self, name: str) -> None:
        self.container.delete_blob(name)


def container_source(
    container: str,
    *,
    connection_string: str | None = None,
    account_url: str | None = None,
    prefix: str = "",
) -> ContainerSource:
    """A container from a connection string, or from an account URL with DefaultAzureCredential."""
    from azure.storage.blob import ContainerClient

    if connection_string:
        client = ContainerClient.from_connection_string(connection_string, container)
    elif account_url:
        from azure.identity import DefaultAzureCredential

        client = ContainerClient(account_url, container, credential=DefaultAzureCredential())
    else:
        raise ValueError("a container needs a connection string or an account URL")
    if not client.exists():
        raise ValueError(
            f"container {container!r} does not exist in account {client.account_name!r}: check --container "
            "and the account"
        )
    return ContainerSource(client, prefix)
