"""Azurite, the Azure Storage emulator from npm, as the local Blob Storage of tests, demos and users.

from azurite import AzuriteProcess

with AzuriteProcess() as azurite:
    BlobServiceClient.from_connection_string(azurite.connection_string)
"""

from .process import (
    ACCOUNT_KEY,
    ACCOUNT_NAME,
    AZURITE_BIN_ENV,
    AzuriteNotInstalled,
    AzuriteProcess,
    azurite_binary,
    connection_string,
)

__all__ = [
    "ACCOUNT_KEY",
    "ACCOUNT_NAME",
    "AZURITE_BIN_ENV",
    "AzuriteNotInstalled",
    "AzuriteProcess",
    "azurite_binary",
    "connection_string",
]
