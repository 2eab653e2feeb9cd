"""`make run-consumers`: two checkpointing consumers share a hub; one is killed, the other takes over.

The third tutorial's receiver (EventHubConsumerClient + BlobCheckpointStore) made real, on the emulator and
Azurite: telemetry flows while consumers A and B share its partitions; A gets SIGKILL midway and B takes
A's partitions once A's claims lapse, from A's last checkpoints (so B re-delivers what A output after
them: at-least-once); B stops cleanly; more telemetry is sent; consumer C (a restart) must then read
exactly the new events: no duplicates, nothing missing.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from azurite import AzuriteProcess
from conf import load_settings
from consumers.process import ConsumerProcess, EventId
from emulator.process import EmulatorProcess
from producers import producer_client, send_events
from producers.sources.telemetry import telemetry

HUB = "telemetry"
FIRST, SECOND = 3000, 1000  # events before and after the clean stop
RATE = 500.0  # events/s while A and B run, so A dies mid-stream
# Short intervals keep the demo fast: a dead consumer's partitions are taken within ~3 s.
SHARING = ["--load-balancing-interval", "1", "--ownership-expiry", "3", "--checkpoint-every", "50",
           "--checkpoint-interval", "0.5"]  # fmt: skip


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def hub_event_ids(settings_env: dict[str, str]) -> set[EventId]:
    """Every event the hub holds, from each partition's last sequence number."""
    settings = load_settings("local", environ=settings_env)
    ids: set[EventId] = set()
    with producer_client(settings.eventhub, settings.producer) as client:
        for partition in client.get_partition_ids():
            last = client.get_partition_properties(partition)["last_enqueued_sequence_number"]
            ids |= {(partition, n) for n in range(last + 1)}
    return ids


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hubstream-consumers-") as tmp:
        folder = Path(tmp)
        say("starting the Event Hubs emulator and Azurite (Blob Storage) ...")
        with EmulatorProcess() as emulator, AzuriteProcess(data_dir=folder / "azurite") as azurite:
            env = {
                "EVENTHUB_CONNECTION_STRING": emulator.connection_string,
                "EVENTHUB_NAME": HUB,
                "CHECKPOINT_STORE_CONNECTION_STRING": azurite.connection_string,
            }
            settings = load_settings("local", environ=env)
            say(f"emulator on port {emulator.port}, Azurite on {azurite.blob_endpoint}; hub {HUB!r}")

            consumers: list[ConsumerProcess] = []
            try:
                a = _started(consumers, ConsumerProcess("A", folder, env, SHARING))
                b = _started(consumers, ConsumerProcess("B", folder, env, SHARING))
                b.wait_until("sharing the partitions", lambda: len(a.owned()) == len(b.owned()) == 2)
                say(f"consumers A (pid {a.pid}) and B (pid {b.pid}), same group and checkpoint store: A owns "
                    f"partitions {_listed(a.owned())}, B owns {_listed(b.owned())}")  # fmt: skip

                sending = threading.Thread(target=_send, args=(settings, FIRST, RATE), daemon=True)
                sending.start()
                a.wait_until("receiving", lambda: len(a.events()) >= 200)
                a_parts = a.owned()
                a.kill()
                killed = time.monotonic()
                say(f"kill -9 A midway, after {len(a.events())} events in its output: nothing checkpointed "
                    "since its last checkpoint")  # fmt: skip
                b.wait_until("taking A's partitions", lambda: a_parts <= b.owned(), timeout=60)
                say(f"B took over partitions {_listed(a_parts)} {time.monotonic() - killed:.1f} s later "
                    "(ownership expiry 3 s), from A's last checkpoints")  # fmt: skip
                sending.join()
                expected = hub_event_ids(env)
                b.wait_until("receiving every event", lambda: set(a.events()) | set(b.events()) >= expected)
                code = b.stop()
                say(f"stopped B cleanly (exit {code}): {b.tail(1).strip()}")

                first = Counter(a.events() + b.events())
                redelivered = sum(n - 1 for n in first.values() if n > 1)
                missing_first = len(expected - set(first))

                _send(settings, SECOND, None)
                after = hub_event_ids(env)
                new = after - expected
                c = _started(consumers, ConsumerProcess("C", folder, env, SHARING))
                say(f"sent {SECOND} more events; restarted the consumer (C, pid {c.pid}) with the same group")
                c.wait_until("reading the new events", lambda: set(c.events()) >= new)
                time.sleep(1.0)  # room for any event it would wrongly read twice to show up
                c.stop()
                again = Counter(c.events())
                duplicates = sum(n - 1 for n in again.values() if n > 1) + len(set(again) & set(first))
                missing = len(new - set(again))
            finally:
                for consumer in consumers:
                    consumer.kill()  # only those still running after a failure

    ok = missing_first == 0 and duplicates == 0 and missing == 0
    print(
        f"{'done' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s: consumed {len(first)} of "
        f"{len(expected)} events; after kill -9: {redelivered} re-delivered, {missing_first} missing; "
        f"after a clean restart: {duplicates} duplicates, {missing} missing",
        flush=True,
    )
    return 0 if ok else 1


def _started(consumers: list[ConsumerProcess], consumer: ConsumerProcess) -> ConsumerProcess:
    consumers.append(consumer)
    return consumer.start()


def _listed(partitions: set[str]) -> str:
    return ", ".join(sorted(partitions, key=int))


def _send(settings: object, count: int, rate: float | None) -> None:
    import dataclasses

    from conf import Settings

    assert isinstance(settings, Settings)
    paced = dataclasses.replace(settings, producer=dataclasses.replace(settings.producer, rate=rate))
    stats = send_events(paced, telemetry(devices=12, seed=7), count=count)
    say(stats.summary())


if __name__ == "__main__":
    sys.exit(main())
