"""The read job's command line: `python -m jobs.read_events`, `spark-submit jobs/read_events.py`, the wheel's
`hubstream-read-events`. Flags over the profile's [job] settings, one line per batch, one line per error."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

from conf import Settings, SettingsError, add_settings_arguments, settings_from_arguments
from conf.arguments import argument_type, command_parser, positive_float, positive_int
from conf.settings import JobSettings
from jobs.datasource.connector import (
    POSITION_FORMS,
    ConnectorError,
    starting_position_json,
    stop_connector_threads,
)
from jobs.datasource.options import EventHubsOptionError, parse_duration
from jobs.query_errors import quiet_query_errors, readable_error
from jobs.read_events import FILE_SINKS, SINKS, run
from jobs.trigger import parse_trigger

__all__ = ["build_parser", "main", "with_job_flags"]


def _position(text: str) -> str:
    starting_position_json(text)  # a ValueError names the forms it takes
    return text


def _duration(text: str) -> str:
    parse_duration("--max-trigger-delay", text)
    return text


def _trigger(text: str) -> str:
    parse_trigger(text)
    return text


def with_job_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    """The profile's [job] settings with the flags given on the command line in their place: each flag is
    stored under the name of the setting it replaces (`--checkpoint` as `checkpoint_dir`)."""
    given = {
        setting.name: value
        for setting in dataclasses.fields(JobSettings)
        if (value := getattr(args, setting.name, None)) not in (None, "")  # --checkpoint "": the profile's
    }
    return dataclasses.replace(settings, job=dataclasses.replace(settings.job, **given))


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        prog="python -m jobs.read_events",
        description="Read an event hub with Spark Structured Streaming and write its events, in readable\n"
        "columns (Offset, Time (readable), Timestamp, Body, Partition, SequenceNumber), to a sink.\n"
        "Also runs as `spark-submit jobs/read_events.py ...`.",
        examples="examples:\n"
        "  python -m jobs.read_events --max-events-per-trigger 5\n"
        "  python -m jobs.read_events --starting-position @latest --trigger processing-time:0 --timeout 60\n"
        "  python -m jobs.read_events --sink parquet --path out/events --checkpoint out/checkpoint\n\n"
        "Unset options come from the profile's [job] section. Exit codes: 0 done, 1 the read failed "
        "(bad connection string, unknown hub, ...), 2 bad arguments.",
    )
    add_settings_arguments(parser)
    read = parser.add_argument_group("reading")
    read.add_argument(
        "--max-events-per-trigger",
        type=positive_int,
        metavar="N",
        help="at most N events per micro-batch (default: the profile's max_events_per_trigger)",
    )
    read.add_argument(
        "--starting-position",
        type=argument_type(_position),
        metavar="POS",
        help=f"where a new query starts: {POSITION_FORMS}, e.g. 2024-05-01T12:00:00Z "
        "(default: the profile's, '-1'); a query restarted from a checkpoint resumes there instead",
    )
    read.add_argument(
        "--trigger",
        type=argument_type(_trigger),
        metavar="TRIGGER",
        help="available-now: read what is in the hub, then stop; processing-time:<interval>: keep reading, "
        "a batch every interval (processing-time:0, 'processing-time:5 seconds') "
        "(default: the profile's, available-now)",
    )
    read.add_argument(
        "--fail-on-data-loss",
        action=argparse.BooleanOptionalAction,
        help="fail when events the query should read are gone (retention), or with --no-fail-on-data-loss "
        "warn and go on with the events that exist (default: the profile's fail_on_data_loss, true)",
    )
    read.add_argument(
        "--min-events-per-trigger",
        type=positive_int,
        metavar="N",
        help="with processing-time: wait until N events are there, but no longer than --max-trigger-delay "
        "(default: the profile's min_events_per_trigger, none)",
    )
    read.add_argument(
        "--max-trigger-delay",
        type=argument_type(_duration),
        metavar="DURATION",
        help="the longest --min-events-per-trigger waits, e.g. 30s or 15m "
        "(default: the profile's max_trigger_delay, 15m)",
    )
    read.add_argument(
        "--timeout",
        type=positive_float,
        metavar="SECONDS",
        help="stop the query after this long (default: when available-now is done; with processing-time, "
        "never: Ctrl-C stops it)",
    )
    write = parser.add_argument_group("writing")
    write.add_argument(
        "--sink",
        choices=SINKS,
        default="console",
        help="console: print each batch like the tutorial (default); memory: an in-memory table 'events'; "
        "parquet/json/csv: files under --path, snake_case columns",
    )
    write.add_argument("--path", metavar="DIR", help="output directory, required for parquet, json and csv")
    write.add_argument(
        "--checkpoint",
        dest="checkpoint_dir",
        metavar="DIR",
        help="checkpoint directory: a restarted query resumes where it stopped, so files get every event "
        "exactly once; required for file sinks (or the profile's checkpoint_dir); "
        "default for console and memory: a temporary directory",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the job, print one line per batch and a closing summary."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_arguments(args)
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    settings = with_job_flags(settings, args)
    if args.max_trigger_delay is None:  # the flag was checked by argparse; the profile's value is here
        try:
            parse_duration("max_trigger_delay", settings.job.max_trigger_delay)
        except ValueError as e:
            print(f"error: {settings.path or settings.profile} [job] {e}", file=sys.stderr)
            return 1
    if args.sink in FILE_SINKS:
        if not args.path:
            parser.error(f"--sink {args.sink} needs --path DIR: the directory to write the files to")
        if not settings.job.checkpoint_dir:
            parser.error(
                f"--sink {args.sink} needs --checkpoint DIR (or checkpoint_dir in the profile's [job]): "
                "without one a restart would write every event again"
            )
    # Python workers must run this interpreter, which has hubstream and its dependencies installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.errors import PySparkException
    from pyspark.errors.exceptions.captured import StreamingQueryException
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.appName("hubstream-read-events")
        .config("spark.ui.showConsoleProgress", "false")  # its progress bars would garble the batches
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    quiet_query_errors(spark)
    connection = settings.eventhub.connection_string
    hidden = connection.secrets() if connection is not None else ()
    started = time.monotonic()
    try:
        summary = run(spark, settings, sink=args.sink, path=args.path, timeout=args.timeout)
    except (StreamingQueryException, PySparkException, ConnectorError, EventHubsOptionError, ValueError) as e:
        print(
            f"error: reading event hub {settings.eventhub.name!r} failed: {readable_error(e, *hidden)}",
            file=sys.stderr,
        )
        return 1
    finally:
        if settings.job.use_connector:
            # Else its client threads keep a spark-submit driver's JVM alive after the job ends.
            stop_connector_threads(spark)
        spark.stop()
    note = " (stopped at --timeout)" if summary.timed_out else ""
    print(
        f"read {summary.events} events in {len(summary.batches)} batches from {settings.eventhub.name!r} "
        f"in {time.monotonic() - started:.1f} s{note}"
    )
    return 0
