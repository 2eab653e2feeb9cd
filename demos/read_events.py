"""`make run`: start an emulator, send the tutorial's test events, read them with Spark in readable batches.

The tutorial's ReadTweetsFromEventHub notebook, on a laptop: 25 events, at most 5 per micro-batch
(available-now), printed to the console as each batch arrives. `python -m emulator.roundtrip` is the
SDK-only round trip this target used to run.
"""

from __future__ import annotations

import sys
import time

from conf import load_settings
from emulator.process import EmulatorProcess
from producers import send_events
from producers.sources.test import test_messages

from . import verdict

EVENTS = 25
MAX_EVENTS_PER_TRIGGER = 5


def main() -> int:
    """Run the demo; 0 when every event sent was read back."""
    from jobs.local_spark import local_session
    from jobs.read_events import run

    started = time.monotonic()
    print("starting the Event Hubs emulator (in memory) ...", flush=True)
    with EmulatorProcess() as emulator:
        settings = load_settings("local", connection_string=emulator.connection_string)
        print(f"emulator on port {emulator.port}; hub {settings.eventhub.name!r}", flush=True)
        stats = send_events(settings, test_messages(), count=EVENTS)
        print(stats.summary(), flush=True)
        print("starting Spark ...", flush=True)
        spark = local_session("hubstream-demo", log_level="ERROR")
        try:
            summary = run(
                spark,
                settings,
                sink="console",
                trigger="available-now",
                max_events_per_trigger=MAX_EVENTS_PER_TRIGGER,
                starting_position="-1",
            )
        finally:
            spark.stop()
    ok = summary.events == EVENTS
    return verdict(
        ok,
        f"read {summary.events} of {EVENTS} events in {len(summary.batches)} "
        f"batches of at most {MAX_EVENTS_PER_TRIGGER} ({time.monotonic() - started:.0f} s)",
    )


if __name__ == "__main__":
    sys.exit(main())
