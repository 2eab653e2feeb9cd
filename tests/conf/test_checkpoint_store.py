"""[checkpoint_store]: read only when a consumer asks, overridable from the environment, no key in files."""

from __future__ import annotations

from pathlib import Path

import pytest

from conf import CheckpointStoreSettings, SettingsError, load_checkpoint_store, load_settings

AZURE_HUB = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b"
STORE = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net"


def store_of(profile: str | Path, environ: dict[str, str]) -> CheckpointStoreSettings:
    return load_checkpoint_store(load_settings(profile, environ=environ), environ=environ)


def test_local_is_azurites_development_account_on_its_usual_port() -> None:
    store = store_of("local", {})
    assert store.container == "checkpoints" and store.connection_string is not None
    text = store.connection_string.reveal()
    assert (
        "AccountName=devstoreaccount1" in text
        and "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1" in text
    )
    assert "Eby8" not in repr(store)


def test_the_environment_overrides_any_profile() -> None:
    store = store_of(
        "azure", {"EVENTHUB_CONNECTION_STRING": AZURE_HUB, "CHECKPOINT_STORE_CONNECTION_STRING": STORE}
    )
    assert store.connection_string is not None and store.connection_string.reveal() == STORE


def test_azure_without_a_store_says_how_to_configure_one() -> None:
    with pytest.raises(
        SettingsError, match=r"no checkpoint store configured.*CHECKPOINT_STORE_CONNECTION_STRING"
    ):
        store_of("azure", {"EVENTHUB_CONNECTION_STRING": AZURE_HUB})


def test_producers_never_need_the_store() -> None:
    """Loading the databricks profile off Databricks works with the hub override: the store is not read."""
    load_settings("databricks", environ={"EVENTHUB_CONNECTION_STRING": AZURE_HUB})
    with pytest.raises(SettingsError, match="override the value with CHECKPOINT_STORE_CONNECTION_STRING"):
        store_of("databricks", {"EVENTHUB_CONNECTION_STRING": AZURE_HUB})


def test_a_plain_text_key_outside_local_is_refused(tmp_path: Path) -> None:
    profile = tmp_path / "mine.toml"
    profile.write_text(
        f'[eventhub]\nname = "h"\nconnection_string = "{AZURE_HUB}"\n'.replace(
            "SharedAccessKey=b", "SharedAccessKey=${K}"
        )
    )
    profile.write_text(profile.read_text() + f'\n[checkpoint_store]\nconnection_string = "{STORE}"\n')
    with pytest.raises(SettingsError, match=r"AccountKey=\.\.\., a secret written in plain text") as caught:
        store_of(profile, {"K": "x"})
    assert "c2VjcmV0" not in str(caught.value)


def test_account_url_and_container_are_checked(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    hub = '[eventhub]\nname = "h"\nfully_qualified_namespace = "ns.servicebus.windows.net"\n'
    profile.write_text(hub + '[checkpoint_store]\naccount_url = "https://acct.blob.core.windows.net"\n')
    assert store_of(profile, {}) == CheckpointStoreSettings(account_url="https://acct.blob.core.windows.net")
    profile.write_text(hub + '[checkpoint_store]\naccount_url = "acct.blob.core.windows.net"\n')
    with pytest.raises(SettingsError, match="must be a URL"):
        store_of(profile, {})
    profile.write_text(hub + '[checkpoint_store]\ncontainer = "My_Checkpoints"\naccount_url = "https://a"\n')
    with pytest.raises(SettingsError, match="is not a Blob container name"):
        store_of(profile, {})
    profile.write_text(hub + '[checkpoint_store]\ncontainr = "x"\n')
    with pytest.raises(SettingsError, match="did you mean 'container'"):
        load_settings(profile, environ={})
