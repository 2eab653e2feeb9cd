"""`python -m consumers`: receive from Event Hubs with checkpoints in Blob Storage, sharing partitions."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
from pathlib import Path

from azure.eventhub.exceptions import EventHubError

from conf import SettingsError, add_settings_arguments, settings_from_arguments
from conf.arguments import (
    add_log_level_argument,
    argument_type,
    command_parser,
    positive_float,
    positive_int,
    start_logging,
)
from conf.progress import make_progress
from conf.settings import load_checkpoint_store

from . import receive_events
from .outputs import ConsoleOutput, DeviceCsvOutput, JsonLinesOutput
from .receiver import CheckpointPolicy, Output, starting_position
from .store import CheckpointStoreError

EXAMPLES = """examples:
  python -m consumers --profile local --count 100
  python -m consumers --profile local --consumer-group analytics --start-at end --duration 60
  python -m consumers --profile local --output csv --path readings/     (telemetry: a CSV per device)
  python -m consumers --profile azure --output jsonl --path events.jsonl --checkpoint-every 1000

Several processes with the same --consumer-group and checkpoint store share the hub's partitions; when
one stops or dies, the others take its partitions over (after --ownership-expiry when it died).
At-least-once: a clean stop (--count, --duration, Ctrl-C, SIGTERM) checkpoints every event it output, so
a restart repeats nothing; a crash repeats what came after each partition's last checkpoint.
"""


def not_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(f"must be 0 or more, got {text}")
    return value


def checkpoint_every(text: str) -> int:
    value = int(text) if text.isdigit() else -1
    if value < 0:
        raise ValueError(f"{text!r} is not a whole number of events (0: not by count)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        prog="python -m consumers",
        description="Receive events from Azure Event Hubs (or the local emulator) with the SDK's "
        "EventHubConsumerClient, checkpointing in Blob Storage (Azurite locally).",
        examples=EXAMPLES,
    )
    add_settings_arguments(parser)
    reading = parser.add_argument_group("what to read")
    reading.add_argument("--consumer-group", help="consumer group (default: the profile's [eventhub] one)")
    reading.add_argument(
        "--start-at",
        default="start",
        type=argument_type(lambda text: starting_position(text) and text),
        metavar="POSITION",
        help="where partitions without a checkpoint start: start, end, offset:<offset>, sequence:<n> or "
        "time:<ISO 8601> (default: %(default)s); a checkpoint always wins",
    )
    reading.add_argument("--count", type=positive_int, help="stop after this many events")
    reading.add_argument("--duration", type=positive_float, metavar="SECONDS", help="stop after this long")
    store = parser.add_argument_group("checkpoints (the profile's [checkpoint_store])")
    store.add_argument("--container", help="Blob container for checkpoints (default: the profile's)")
    store.add_argument(
        "--checkpoint-every",
        type=argument_type(checkpoint_every),
        default=100,
        metavar="EVENTS",
        help="checkpoint a partition after this many events, 0: not by count (default: %(default)s)",
    )
    store.add_argument(
        "--checkpoint-interval",
        type=argument_type(not_negative),
        default=5.0,
        metavar="SECONDS",
        help="and at most this long after its last event, 0: not by time (default: %(default)s)",
    )
    sharing = parser.add_argument_group("sharing partitions with other consumers of the group")
    sharing.add_argument(
        "--load-balancing-interval",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="how often each consumer renews its claims and claims its share (default: %(default)s)",
    )
    sharing.add_argument(
        "--ownership-expiry",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="a claim not renewed for this long lapses and others take the partition; shorter: a dead "
        "consumer's partitions resume sooner, but a slow one loses them more often (default: %(default)s)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--output",
        choices=("console", "jsonl", "csv"),
        default="console",
        help="console: the tutorial's lines; jsonl: a JSON object per event; csv: telemetry readings, "
        "one CSV file per device (default: %(default)s)",
    )
    out.add_argument("--path", type=Path, help="jsonl: file to append to (default: stdout); csv: folder")
    parser.add_argument("--quiet", action="store_true", help="no progress, only the final summary")
    add_log_level_argument(parser)
    return parser


def make_output(args: argparse.Namespace) -> Output:
    if args.output == "csv":
        if args.path is None:
            raise SettingsError("--output csv needs --path FOLDER (a CSV file per device goes there)")
        return DeviceCsvOutput(args.path)
    if args.output == "jsonl":
        return JsonLinesOutput(args.path if args.path is not None else sys.stdout)
    return ConsoleOutput()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start_logging(args.log_level)
    log = logging.getLogger("consumers")
    stop = threading.Event()
    # SIGTERM stops like Ctrl-C: what was output is checkpointed, then the totals are printed.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        settings = settings_from_arguments(args)
        store = load_checkpoint_store(settings)
        if args.container:
            store = dataclasses.replace(store, container=args.container)
        policy = CheckpointPolicy(args.checkpoint_every or None, args.checkpoint_interval or None)
        output = make_output(args)
        log.info("receiving from event hub %r, group %r (profile %s), checkpoints in container %r",
                 settings.eventhub.name, args.consumer_group or settings.eventhub.consumer_group,
                 settings.profile, store.container)  # fmt: skip
        # The console output is its own progress; a bar would tear its lines.
        quiet = args.quiet or (args.output == "console" or (args.output == "jsonl" and args.path is None))
        stats = receive_events(
            settings,
            store,
            output,
            consumer_group=args.consumer_group,
            start=args.start_at,
            policy=policy,
            count=args.count,
            duration_s=args.duration,
            stop=stop,
            progress=None if quiet else make_progress(args.count, "received", sys.stderr),
            load_balancing_interval_s=args.load_balancing_interval,
            ownership_expiry_s=args.ownership_expiry,
        )
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CheckpointStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except EventHubError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(
            f"error: Event Hubs refused or failed: {reason} (check the profile's [eventhub] or "
            "$EVENTHUB_CONNECTION_STRING; locally, is the emulator running? `make emulator`)",
            file=sys.stderr,
        )
        return 1
    print(stats.summary(), file=sys.stderr)
    return 130 if stats.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
