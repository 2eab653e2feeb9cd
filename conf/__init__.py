"""hubstream's settings: the TOML profiles (local, azure, databricks) and their loader."""

from eventhubs.connection_string import ConnectionString, Secret, parse_connection_string

from . import settings
from .settings import *  # noqa: F403  (the package's face: settings.__all__)

__all__ = [*settings.__all__, "ConnectionString", "Secret", "parse_connection_string"]
