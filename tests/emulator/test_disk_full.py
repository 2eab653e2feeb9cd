"""A full disk under a running emulator, with the azure-eventhub SDK producing (issue 11, the gap case 6
left): each refused send gets `amqp:resource-limit-exceeded` naming the problem, the folder and the fix,
the log gets one line per 10 s instead of a traceback per send, and sends are stored again once space
returns, nothing acknowledged lost."""

from __future__ import annotations

import re
import resource
from pathlib import Path

import pytest
from azure.eventhub import EventData, EventHubProducerClient
from azure.eventhub.exceptions import EventDataSendError

from emulator.process import EmulatorProcess
from emulator.roundtrip import read_events
from tests.emulator.full_disk import fill, tmpfs_prefix, unshare_can_mount

pytestmark = pytest.mark.timeout(120)
HUB = "tweets"
REFUSED = 12
BODY = "x" * 8192  # more than a page: a full tmpfs cannot take it in a partly used page


def send(producer: EventHubProducerClient, name: str) -> None:
    batch = producer.create_batch(partition_id="0")
    batch.add(EventData(name + BODY))
    producer.send_batch(batch)


def test_a_full_disk_refuses_each_send_by_name_logs_once_and_stores_again_once_space_returns(
    tmp_path: Path,
) -> None:
    """On a 2 MiB tmpfs filled up (in a user and mount namespace: no root needed), or where user
    namespaces are not allowed, with RLIMIT_FSIZE lowered under the emulator's segment."""
    disk = tmp_path / "disk"
    disk.mkdir()
    on_tmpfs = unshare_can_mount(disk)
    emu = EmulatorProcess(
        data_dir=disk / "data",
        log_file=tmp_path / "emulator.log",
        command_prefix=tmpfs_prefix(disk, "2m") if on_tmpfs else (),
    )
    refusals: list[EventDataSendError] = []
    with (
        emu,
        EventHubProducerClient.from_connection_string(emu.connection_string, eventhub_name=HUB) as producer,
    ):
        send(producer, "before")
        # The emulator's own view of the folder: the tmpfs is mounted in its namespace only.
        seen_by_emulator = Path(f"/proc/{emu.pid}/root") / disk.relative_to("/")
        limit = resource.prlimit(emu.pid, resource.RLIMIT_FSIZE)
        if on_tmpfs:
            fill(seen_by_emulator / "filler")
        else:
            segment = max((disk / "data").rglob("*.log"), key=lambda p: p.stat().st_size)
            resource.prlimit(emu.pid, resource.RLIMIT_FSIZE, (segment.stat().st_size, limit[1]))
        for i in range(REFUSED):
            with pytest.raises(EventDataSendError) as refused:
                send(producer, f"refused-{i}")
            refusals.append(refused.value)
        if on_tmpfs:
            (seen_by_emulator / "filler").unlink()
        else:
            resource.prlimit(emu.pid, resource.RLIMIT_FSIZE, limit)
        send(producer, "after")
        stored = producer.get_partition_properties("0")["last_enqueued_sequence_number"] + 1
        events = read_events(emu.connection_string, count=2, hub=HUB, starting_position="-1")
    assert stored == 2, f"{stored} events stored: refused sends were stored"
    assert [e.body_as_str()[: -len(BODY)] for e in events] == ["before", "after"]
    for error in refusals:
        assert error.error == "resource-limit-exceeded", error
        text = str(error)
        assert str(disk / "data") in text and "Free disk space" in text, text
        assert ("No space left on device" if on_tmpfs else "File too large") in text, text
    output = "".join(emu.output)
    assert "Traceback" not in output and "internal error" not in output
    assert output.count("refusing sends: ") == 1, output
    # The SDK's producer client sends a refused batch once more on a new link before it raises: counted.
    again = re.search(r"storing events again \((\d+) more sends were refused", output)
    assert again is not None and int(again.group(1)) >= REFUSED - 1, output
