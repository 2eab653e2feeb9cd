"""`python -m bench`: run the benchmarks and print their figures, then a summary table."""

from __future__ import annotations

import argparse
import sys
import time

from . import Figure
from .tables import table

# Each measurement `--only` can pick, with what it measures; all of them run by default.
MEASUREMENTS = {
    "ingest": "the SDK's sends into the emulator",
    "egress": "the SDK's reads of stored events",
    "memory": "the emulator's memory as it stores, serves and restarts",
    "producer": "the producers' engines",
    "job": "the Spark job through our source",
    "sink": "our sender, the producers' engines and the Spark sink",
    "tls": "ingest and egress over TLS and WebSockets beside plain AMQP",
    "capture": "ingest with and without Capture",
    "connector": "the Scala connector on Spark 3.5 beside our source on Spark 4 (needs .venv-spark3)",
    "hostile": "a well-behaved client beside never-reading receivers, idle sockets and an attach burst",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the emulator, our Spark source and sink, the producers, and the Scala "
        "connector beside our source; --only picks one. Figures are printed and compared with targets; "
        "nothing is asserted.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (30,000 ingested, 100,000 stored events): ~1-2 minutes",
    )
    parser.add_argument(
        "--only",
        choices=MEASUREMENTS,
        help="run one measurement: " + "; ".join(f"{name}: {what}" for name, what in MEASUREMENTS.items()),
    )
    parser.add_argument(
        "--ingest-events", type=int, help="events per ingest run (default 300,000; quick 30,000)"
    )
    parser.add_argument(
        "--sink-rows", type=int, help="rows the Spark sink writes (default 1,000,000; quick 100,000)"
    )
    parser.add_argument(
        "--connector-events",
        type=int,
        help="events the connector and our source each read (default: --stored-events)",
    )
    parser.add_argument(
        "--stored-events",
        type=int,
        help="events stored for egress and memory (default 1,000,000; quick 100,000)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ingest_events = args.ingest_events or (30_000 if args.quick else 300_000)
    stored_events = args.stored_events or (100_000 if args.quick else 1_000_000)
    sink_rows = args.sink_rows or (100_000 if args.quick else 1_000_000)
    wanted = {args.only} if args.only else set(MEASUREMENTS)
    started = time.monotonic()
    figures: list[Figure] = []

    if "ingest" in wanted:
        from . import ingest

        figures += ingest.run(ingest_events)

    if "producer" in wanted:
        from . import producer

        figures += producer.run(30_000 if args.quick else 200_000)

    if wanted & {"egress", "memory"}:
        from . import egress, memory

        with egress.filled_emulator(stored_events) as filled:
            figures.append(egress.describe_fill(filled))
            if "memory" in wanted:
                memory.header(filled)
                figures.append(memory.after_fill(filled))
            if "egress" in wanted:
                figures += egress.run(filled)
            if "memory" in wanted:
                print()
                if "egress" in wanted:
                    figures.append(memory.after_reads(filled))
                figures += memory.after_restart(filled)

    if "sink" in wanted:
        from . import sink

        figures += sink.run(ingest_events, sink_rows)

    if "job" in wanted:
        from . import job

        figures += job.run(stored_events)

    if "tls" in wanted:
        from . import tls

        figures += tls.run(ingest_events, stored_events)

    if "capture" in wanted:
        from . import capture

        figures += capture.run(ingest_events)

    if "connector" in wanted:
        from . import connector

        figures += connector.run(args.connector_events or stored_events)

    if "hostile" in wanted:
        from . import hostile

        figures += hostile.run()

    print(f"\n== summary ({time.monotonic() - started:.0f} s, {'quick' if args.quick else 'full'} sizes)")
    print(table([f.row() for f in figures], ("bench", "figure", "value", "target", "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
