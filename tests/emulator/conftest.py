"""The well-behaved client the hostile tests run beside each attack, on the module's own `emu`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.process import EmulatorProcess
from tests.emulator.hostile_peers import Neighbour


@pytest.fixture(scope="module")
def neighbour(emu: EmulatorProcess) -> Iterator[Neighbour]:
    client = Neighbour(emu, "1")
    yield client
    client.close()
