"""hubstream's settings: the TOML profiles (local, azure, databricks) and their loader."""

from eventhubs.connection_string import ConnectionString, Secret, parse_connection_string

from .settings import (
    CONNECTION_STRING_ENV,
    DEFAULT_PROFILE,
    NAME_ENV,
    PROFILE_DIR,
    PROFILE_ENV,
    EventHubSettings,
    JobSettings,
    ProducerSettings,
    SecretResolver,
    Settings,
    SettingsError,
    add_settings_arguments,
    available_profiles,
    databricks_secrets,
    load_settings,
    settings_from_arguments,
)

__all__ = [
    "CONNECTION_STRING_ENV",
    "DEFAULT_PROFILE",
    "NAME_ENV",
    "PROFILE_DIR",
    "PROFILE_ENV",
    "ConnectionString",
    "EventHubSettings",
    "JobSettings",
    "ProducerSettings",
    "Secret",
    "SecretResolver",
    "Settings",
    "SettingsError",
    "add_settings_arguments",
    "available_profiles",
    "databricks_secrets",
    "load_settings",
    "parse_connection_string",
    "settings_from_arguments",
]
