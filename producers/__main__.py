"""`python -m producers`: send test strings, tweets, device telemetry or a file's lines to Event Hubs."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from azure.eventhub.exceptions import EventHubError

from conf import Settings, SettingsError, add_settings_arguments, settings_from_arguments
from conf.arguments import add_log_level_argument, command_parser, positive_float, positive_int, start_logging
from conf.progress import make_progress
from eventhubs.errors import EventHubsError

from . import send_events
from .events import Event
from .sender import OversizeEvent

SOURCES = ("test", "twitter", "telemetry", "file")
EXAMPLES = """examples:
  python -m producers --profile local --source test --count 100
  python -m producers --profile local --source telemetry --devices 20 --rate 500 --duration 60
  python -m producers --profile azure --source twitter --query "#Azure lang:en"   (needs X_BEARER_TOKEN)
  python -m producers --profile local --source file --file events.jsonl --key-field id
  python -m producers --profile local --engine hubstream --source test --count 1000000   (a load test)

engines:
  sdk        the azure-eventhub SDK's EventHubProducerClient (default): what Azure's docs show, with the
             SDK's retries; it waits for each batch's acknowledgement before sending the next.
  hubstream  hubstream's own AMQP client (hubclient/sender.py): the same batches, byte for byte, with
             several in flight and a few microseconds of Python per event, for load tests faster than the
             SDK can go. No retries: a refused batch stops the run with the service's error. An event
             counts as sent once the service has acknowledged its batch.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        prog="python -m producers",
        description="Send events to Azure Event Hubs (or the local emulator) in full batches.",
        examples=EXAMPLES,
    )
    add_settings_arguments(parser)
    parser.add_argument(
        "--source", choices=SOURCES, default="test", help="what to send (default: %(default)s)"
    )
    limits = parser.add_argument_group("how much and how fast")
    limits.add_argument("--count", type=positive_int, help="stop after this many events")
    limits.add_argument("--duration", type=positive_float, metavar="SECONDS", help="stop after this long")
    limits.add_argument(
        "--rate", type=positive_float, metavar="EVENTS_PER_S", help="at most this many events/s"
    )
    limits.add_argument(
        "--partition-id", help="send every event to this partition (default: by key, or spread)"
    )
    sending = parser.add_argument_group(
        "sending (defaults from the profile's [producer] table; --transport, --connection-verify and "
        "--custom-endpoint-address from its [eventhub] table)"
    )
    sending.add_argument(
        "--engine",
        choices=("sdk", "hubstream"),
        default="sdk",
        help="the client that sends: the azure-eventhub SDK, or hubstream's own (see engines below; "
        "default: %(default)s)",
    )
    sending.add_argument(
        "--linger", type=positive_float, metavar="SECONDS", help="send a partly filled batch after"
    )
    sending.add_argument("--oversize", choices=("skip", "fail"), help="an event larger than the hub accepts")
    sending.add_argument("--retry-total", type=int, metavar="N", help="SDK retries per failed send")
    sending.add_argument(
        "--transport",
        choices=("amqp", "websocket"),
        help="amqp: TLS on 5671; websocket: AMQP over WebSockets (wss, 443), where only 443 is open",
    )
    sending.add_argument(
        "--connection-verify",
        metavar="CA_FILE",
        help="trust this CA bundle instead of certifi's (the emulator's: see `python -m emulator ca`)",
    )
    sending.add_argument(
        "--custom-endpoint-address",
        metavar="sb://HOST:PORT",
        help="dial here instead of the namespace's port 5671 (or 443): an emulator's --tls-port/--ws-port",
    )
    sources = parser.add_argument_group("sources")
    sources.add_argument("--message", help="test: send this text repeatedly instead of the tutorial's three")
    sources.add_argument("--devices", type=positive_int, help="telemetry: number of simulated devices")
    sources.add_argument("--interval", type=float, metavar="SECONDS", help="telemetry: pause between rounds")
    sources.add_argument("--file", type=Path, help="file: the JSON-lines or text file to replay")
    sources.add_argument("--key-field", help="file: JSON field whose value is the partition key")
    sources.add_argument("--query", help="twitter: recent-search query (default from the profile)")
    sources.add_argument(
        "--poll-interval", type=positive_float, metavar="SECONDS", help="twitter: between polls"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress, only the final summary")
    add_log_level_argument(parser)
    return parser


def apply_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    """Flags given on the command line win over the profile's [producer] values."""
    overrides: dict[str, Any] = {
        "rate": args.rate,
        "linger_s": args.linger,
        "on_oversize": args.oversize,
        "retry_total": args.retry_total,
        "telemetry_devices": args.devices,
        "telemetry_interval_s": args.interval,
        "twitter_query": args.query,
        "twitter_poll_interval_s": args.poll_interval,
    }
    connection: dict[str, Any] = {
        "transport": args.transport,
        "connection_verify": args.connection_verify,
        "custom_endpoint_address": args.custom_endpoint_address,
    }
    given = {name: value for name, value in overrides.items() if value is not None}
    reach = {name: value for name, value in connection.items() if value is not None}
    return dataclasses.replace(
        settings,
        producer=dataclasses.replace(settings.producer, **given),
        eventhub=dataclasses.replace(settings.eventhub, **reach),
    )


def make_source(
    name: str, settings: Settings, args: argparse.Namespace, stop: threading.Event
) -> Iterable[Event]:
    options = settings.producer
    if name == "test":
        from .sources.test import test_messages

        return test_messages(args.message)
    if name == "telemetry":
        from .sources.telemetry import telemetry

        return telemetry(options.telemetry_devices, interval_s=options.telemetry_interval_s, stop=stop)
    if name == "file":
        from .sources.file import replay

        if args.file is None:
            raise SettingsError("--source file needs --file PATH (a JSON-lines or text file)")
        return replay(args.file, key_field=args.key_field)
    from .sources.twitter import bearer_token_from_env, tweets

    return tweets(
        bearer_token=bearer_token_from_env(os.environ, options.twitter_bearer_token_env),
        query=options.twitter_query,
        poll_interval_s=options.twitter_poll_interval_s,
        stop=stop,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start_logging(args.log_level)
    log = logging.getLogger("producers")
    stop = threading.Event()
    # SIGTERM stops like Ctrl-C: what was read is sent, then the totals are printed.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        settings = apply_flags(settings_from_arguments(args), args)
        events = make_source(args.source, settings, args, stop)
        log.info("sending %s events to event hub %r (profile %s, engine %s)", args.source,
                 settings.eventhub.name, settings.profile, args.engine)  # fmt: skip
        progress = None if args.quiet else make_progress(args.count, "sent")
        stats = send_events(
            settings,
            events,
            count=args.count,
            duration_s=args.duration,
            partition_id=args.partition_id,
            stop=stop,
            progress=progress,
            engine=args.engine,
        )
    except OversizeEvent as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (EventHubError, EventHubsError) as exc:
        print(f"error: Event Hubs refused or failed: {exc}", file=sys.stderr)
        return 1
    print(stats.summary(), file=sys.stderr)
    return 130 if stats.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
