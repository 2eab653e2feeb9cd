"""The emulator (with one hub per test, capitals in names to see the store lower-case them) and Azurite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from azurite import AzuriteProcess
from conf import CheckpointStoreSettings, Settings, load_settings
from conf.settings import load_checkpoint_store
from emulator.process import EmulatorProcess

HUBS = ("Sync-Resume", "Aio-Resume", "Sharing", "Outputs", "Positions")
GROUP = "Readers"
TIMED = "Timed"  # a second group on Positions, from a point in time

CONFIG = 'namespace = "emulator"\n\n[keys]\nRootManageSharedAccessKey = "SAS_KEY_VALUE"\n' + "".join(
    f'\n[[hubs]]\nname = "{hub}"\npartitions = 4\nconsumer_groups = ["{GROUP}", "{TIMED}"]\n' for hub in HUBS
)


@dataclass
class Servers:
    emulator: EmulatorProcess
    azurite: AzuriteProcess

    def environ(self, hub: str) -> dict[str, str]:
        return {
            "EVENTHUB_CONNECTION_STRING": self.emulator.connection_string,
            "EVENTHUB_NAME": hub,
            "CHECKPOINT_STORE_CONNECTION_STRING": self.azurite.connection_string,
        }

    def settings(self, hub: str) -> tuple[Settings, CheckpointStoreSettings]:
        env = self.environ(hub)
        settings = load_settings("local", environ=env)
        return settings, load_checkpoint_store(settings, environ=env)


@contextmanager
def servers(folder: Path) -> Iterator[Servers]:
    config = folder / "emulator.toml"
    config.write_text(CONFIG)
    with (
        EmulatorProcess(config=config, log_file=folder / "emulator.log") as emulator,
        AzuriteProcess(data_dir=folder / "azurite", log_file=folder / "azurite.log") as azurite,
    ):
        yield Servers(emulator, azurite)
