"""Read an event hub with Spark Structured Streaming: extract -> transform -> load.

    python -m jobs.read_events --max-events-per-trigger 5     # the tutorial: readable batches on the console
    python -m jobs.read_events --sink parquet --path out/events --checkpoint out/checkpoint
    spark-submit jobs/read_events.py --profile azure --trigger "processing-time:10 seconds"

Extract with hubstream's Event Hubs source (or the Scala connector when the profile sets use_connector),
transform with `jobs.transforms.readable` (`for_file_sink` for files), load into a sink.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if not __package__:
    # Run as a file (spark-submit jobs/read_events.py): make `conf` and `jobs` importable from this tree.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conf import Settings, SettingsError, add_settings_arguments, settings_from_arguments
from conf.arguments import positive_float, positive_int
from conf.settings import JobSettings
from eventhubs.connection_string import Secret, redact
from jobs.datasource import register
from jobs.datasource.connector import (
    CONNECTOR_FORMAT,
    POSITION_FORMS,
    ConnectorError,
    connector_options,
    starting_position_json,
)
from jobs.datasource.options import (
    CONNECTION_STRING,
    CONSUMER_GROUP,
    FAIL_ON_DATA_LOSS,
    MAX_EVENTS,
    MAX_TRIGGER_DELAY,
    MIN_EVENTS,
    NAME,
    NAMESPACE,
    STARTING_POSITION,
    EventHubsOptionError,
    parse_duration,
)
from jobs.transforms import for_file_sink, readable

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

__all__ = [
    "FILE_SINKS",
    "SINKS",
    "RunSummary",
    "Trigger",
    "build_stream",
    "main",
    "parse_trigger",
    "run",
    "start_query",
    "transform",
]

SINKS = ("console", "memory", "parquet", "json", "csv")
FILE_SINKS = frozenset({"parquet", "json", "csv"})
MEMORY_QUERY_NAME = "events"
# The last "SomeError: message" line of a Python traceback carried inside a Java exception's text.
_PYTHON_ERROR = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Trigger:
    """`available-now` (read what is there, in batches, then stop) or `processing-time:<interval>`."""

    interval: str | None = None  # None: available-now

    @property
    def available_now(self) -> bool:
        return self.interval is None

    def writer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for DataStreamWriter.trigger()."""
        return {"availableNow": True} if self.interval is None else {"processingTime": self.interval}

    def __str__(self) -> str:
        return "available-now" if self.interval is None else f"processing-time:{self.interval}"


def parse_trigger(text: str) -> Trigger:
    """`available-now`, or `processing-time:<interval>` (`0`, `500 ms`, `5 seconds`; a bare number is s)."""
    value = text.strip()
    if value.lower() in ("available-now", "availablenow"):
        return Trigger()
    kind, colon, interval = value.partition(":")
    if kind.strip().lower() == "processing-time" and colon:
        interval = interval.strip()
        if re.fullmatch(r"\d+(\.\d+)?", interval):
            interval = f"{interval} seconds"
        if re.fullmatch(r"\d+(\.\d+)?\s*[a-zA-Z]+", interval):
            return Trigger(interval)
    raise ValueError(
        f"trigger {text!r} is neither 'available-now' nor 'processing-time:<interval>' "
        "(e.g. processing-time:0 or 'processing-time:5 seconds')"
    )


def source_options(
    settings: Settings, *, max_events_per_trigger: int, starting_position: str
) -> dict[str, str]:
    """Options for hubstream's own source: the connector's names, the connection string as it is."""
    hub, job = settings.eventhub, settings.job
    options = {
        NAME: hub.name,
        CONSUMER_GROUP: hub.consumer_group,
        STARTING_POSITION: starting_position_json(starting_position),
        MAX_EVENTS: str(max_events_per_trigger),
        FAIL_ON_DATA_LOSS: str(job.fail_on_data_loss).lower(),
        MAX_TRIGGER_DELAY: job.max_trigger_delay,
    }
    if job.min_events_per_trigger is not None:
        options[MIN_EVENTS] = str(job.min_events_per_trigger)
    if hub.connection_string is not None:
        options[CONNECTION_STRING] = hub.connection_string.reveal()
    else:
        assert hub.fully_qualified_namespace is not None
        options[NAMESPACE] = hub.fully_qualified_namespace
    return options


def build_stream(
    spark: SparkSession,
    settings: Settings,
    *,
    max_events_per_trigger: int | None = None,
    starting_position: str | None = None,
) -> DataFrame:
    """Extract: the hub's events as a streaming DataFrame in the connector's schema.

    Unset arguments come from the profile's [job] section.
    """
    limit = (
        max_events_per_trigger if max_events_per_trigger is not None else settings.job.max_events_per_trigger
    )
    position = starting_position if starting_position is not None else settings.job.starting_position
    if settings.job.use_connector:
        _check_connector_settings(settings)
        fmt = CONNECTOR_FORMAT
        options = connector_options(settings, spark, max_events_per_trigger=limit, starting_position=position)
    else:
        fmt = register(spark)
        options = source_options(settings, max_events_per_trigger=limit, starting_position=position)
    return spark.readStream.format(fmt).options(**options).load()


def _check_connector_settings(settings: Settings) -> None:
    """The Scala connector has no failOnDataLoss, minEventsPerTrigger or maxTriggerDelay: say so."""
    job, default = settings.job, JobSettings()
    unsupported = [
        name
        for name, value, usual in (
            ("fail_on_data_loss", job.fail_on_data_loss, default.fail_on_data_loss),
            ("min_events_per_trigger", job.min_events_per_trigger, default.min_events_per_trigger),
            ("max_trigger_delay", job.max_trigger_delay, default.max_trigger_delay),
        )
        if value != usual
    ]
    if unsupported:
        raise ValueError(
            f"the Scala connector (use_connector = true) has no {', '.join(unsupported)}: remove "
            f"{'it' if len(unsupported) == 1 else 'them'} from the profile and the command line, or read "
            "with hubstream's own source (use_connector = false, Spark 4.2+)"
        )


def transform(events: DataFrame, sink: str) -> DataFrame:
    """Transform: the tutorial's readable columns; snake_case names for file sinks."""
    return for_file_sink(events) if sink in FILE_SINKS else readable(events)


def start_query(
    df: DataFrame,
    sink: str,
    path: str | Path | None,
    checkpoint: str | Path,
    trigger: Trigger | str,
    *,
    query_name: str | None = None,
) -> StreamingQuery:
    """Load: start writing `df` to `sink` (a file sink writes under `path`; memory registers `query_name`)."""
    if sink not in SINKS:
        raise ValueError(f"sink {sink!r} is not one of {', '.join(SINKS)}")
    if isinstance(trigger, str):
        trigger = parse_trigger(trigger)
    writer = (
        df.writeStream.outputMode("append")
        .option("checkpointLocation", str(checkpoint))
        .trigger(**trigger.writer_kwargs())
    )
    if sink in FILE_SINKS:
        if path is None:
            raise ValueError(f"the {sink} sink needs a path: give --path DIR")
        writer = writer.format(sink).option("path", str(path))
    elif sink == "console":
        writer = writer.format("console").option("truncate", False)
    else:
        writer = writer.format("memory").queryName(query_name or MEMORY_QUERY_NAME)
    if query_name and sink != "memory":
        writer = writer.queryName(query_name)
    return writer.start()


@dataclass
class RunSummary:
    """What one run read: (batch id, events) per non-empty batch."""

    batches: list[tuple[int, int]] = field(default_factory=list)
    timed_out: bool = False

    @property
    def events(self) -> int:
        return sum(n for _, n in self.batches)


class _BatchReporter:
    """Prints one line per finished micro-batch (its size), in batch order, from the query's progress."""

    def __init__(self, query: StreamingQuery, say: Callable[[str], None]) -> None:
        self.query = query
        self.say = say
        self.summary = RunSummary()
        self._seen: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Polling recentProgress, not a StreamingQueryListener: no py4j callback server to keep alive.
        self._thread = threading.Thread(target=self._poll, name="batch-reporter", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            self.report()

    def report(self) -> None:
        try:
            progress = self.query.recentProgress
        except Exception:
            return  # the query is going away; finish() reports what is left
        with self._lock:
            for p in progress:
                batch, rows = int(p["batchId"]), int(p["numInputRows"])
                if batch in self._seen:
                    continue
                self._seen.add(batch)
                if rows:
                    self.summary.batches.append((batch, rows))
                    self.say(f"Batch {batch}: {rows} event{'s' if rows != 1 else ''}")

    def finish(self) -> RunSummary:
        self._stop.set()
        self._thread.join()
        self.report()
        return self.summary


def _say(line: str) -> None:
    print(line, flush=True)


def run(
    spark: SparkSession,
    settings: Settings,
    *,
    sink: str = "console",
    path: str | Path | None = None,
    checkpoint: str | Path | None = None,
    trigger: Trigger | str | None = None,
    max_events_per_trigger: int | None = None,
    starting_position: str | None = None,
    timeout: float | None = None,
    say: Callable[[str], None] = _say,
) -> RunSummary:
    """Extract, transform, load, and wait: until available-now is done, `timeout` passes or Ctrl-C."""
    chosen = trigger if trigger is not None else settings.job.trigger
    trig = parse_trigger(chosen) if isinstance(chosen, str) else chosen
    with tempfile.TemporaryDirectory(prefix="hubstream-checkpoint-") as scratch:
        where = checkpoint or settings.job.checkpoint_dir or scratch
        events = build_stream(
            spark,
            settings,
            max_events_per_trigger=max_events_per_trigger,
            starting_position=starting_position,
        )
        query = start_query(transform(events, sink), sink, path, where, trig)
        reporter = _BatchReporter(query, say)
        try:
            if timeout is None:
                query.awaitTermination()  # returns None, not True
                finished = True
            else:
                # pyspark takes float seconds despite its "int" annotation.
                finished = bool(query.awaitTermination(timeout))  # type: ignore[arg-type]
        except KeyboardInterrupt:
            finished = True
            say("interrupted: stopping the query")
        finally:
            query.stop()
            summary = reporter.finish()
        summary.timed_out = not finished
        return summary


def readable_error(exc: BaseException, *secrets: Secret) -> str:
    """One line for a failed query: the Python error inside the Java one, never a key or a stack trace."""
    text = str(getattr(exc, "desc", None) or getattr(exc, "message", None) or exc)
    found = list(_PYTHON_ERROR.finditer(text))
    if found:
        # The error's own message may span lines; Spark appends its SQLSTATE and the Java frames.
        tail = text[found[-1].start(1) :]
        tail = re.split(r"\sSQLSTATE:|\n\s*at |\nJVM stacktrace", tail)[0]
        lines: list[str] = []
        for part in tail.splitlines():
            if part.strip() and part.strip() not in lines:
                lines.append(part.strip())
        line = " ".join(lines)
    else:
        line = next((part.strip() for part in text.splitlines() if part.strip()), type(exc).__name__)
    return redact(line, *secrets)


def _quiet_query_errors(spark: SparkSession) -> None:
    """Silence the query's own ERROR log: main prints the error as one line, without the Java stack trace."""
    try:
        jvm = spark._jvm
        assert jvm is not None
        level = jvm.org.apache.logging.log4j.Level.OFF
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
            "org.apache.spark.sql.execution.streaming", level
        )
    except Exception:
        pass  # only the log's verbosity depends on this


def _position(text: str) -> str:
    try:
        starting_position_json(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def with_job_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    """The profile's [job] settings with the source flags given on the command line in their place."""
    flags = {
        "fail_on_data_loss": args.fail_on_data_loss,
        "min_events_per_trigger": args.min_events_per_trigger,
        "max_trigger_delay": args.max_trigger_delay,
    }
    job = dataclasses.replace(settings.job, **{k: v for k, v in flags.items() if v is not None})
    return dataclasses.replace(settings, job=job)


def _duration(text: str) -> str:
    try:
        parse_duration("--max-trigger-delay", text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _trigger(text: str) -> Trigger:
    try:
        return parse_trigger(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.read_events",
        description="Read an event hub with Spark Structured Streaming and write its events, in readable\n"
        "columns (Offset, Time (readable), Timestamp, Body, Partition, SequenceNumber), to a sink.\n"
        "Also runs as `spark-submit jobs/read_events.py ...`.",
        epilog="examples:\n"
        "  python -m jobs.read_events --max-events-per-trigger 5\n"
        "  python -m jobs.read_events --starting-position @latest --trigger processing-time:0 --timeout 60\n"
        "  python -m jobs.read_events --sink parquet --path out/events --checkpoint out/checkpoint\n\n"
        "Unset options come from the profile's [job] section. Exit codes: 0 done, 1 the read failed "
        "(bad connection string, unknown hub, ...), 2 bad arguments.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        type=_position,
        metavar="POS",
        help=f"where a new query starts: {POSITION_FORMS}, e.g. 2024-05-01T12:00:00Z "
        "(default: the profile's, '-1'); a query restarted from a checkpoint resumes there instead",
    )
    read.add_argument(
        "--trigger",
        type=_trigger,
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
        type=_duration,
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
        if not (args.checkpoint or settings.job.checkpoint_dir):
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
    _quiet_query_errors(spark)
    connection = settings.eventhub.connection_string
    hidden = connection.secrets() if connection is not None else ()
    started = time.monotonic()
    try:
        summary = run(
            spark,
            settings,
            sink=args.sink,
            path=args.path,
            checkpoint=args.checkpoint,
            trigger=args.trigger,
            max_events_per_trigger=args.max_events_per_trigger,
            starting_position=args.starting_position,
            timeout=args.timeout,
        )
    except (StreamingQueryException, PySparkException, ConnectorError, EventHubsOptionError, ValueError) as e:
        print(
            f"error: reading event hub {settings.eventhub.name!r} failed: {readable_error(e, *hidden)}",
            file=sys.stderr,
        )
        return 1
    finally:
        spark.stop()
    note = " (stopped at --timeout)" if summary.timed_out else ""
    print(
        f"read {summary.events} events in {len(summary.batches)} batches from {settings.eventhub.name!r} "
        f"in {time.monotonic() - started:.1f} s{note}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
