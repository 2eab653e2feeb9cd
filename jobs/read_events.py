"""Read an event hub with Spark Structured Streaming: extract -> transform -> load.

    python -m jobs.read_events --max-events-per-trigger 5     # the tutorial: readable batches on the console
    python -m jobs.read_events --sink parquet --path out/events --checkpoint out/checkpoint
    spark-submit jobs/read_events.py --profile azure --trigger "processing-time:10 seconds"

Extract with hubstream's Event Hubs source (or the Scala connector when the profile sets use_connector),
transform with `jobs.transforms.readable` (`for_file_sink` for files), load into a sink. The command line
is jobs/read_events_cli.py; `run` reports batches with jobs/batch_reporter.py.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if not __package__:
    # Run as a file (spark-submit jobs/read_events.py): make `conf` and `jobs` importable from this tree.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conf import Settings
from conf.settings import JobSettings
from jobs.batch_reporter import BatchReporter, RunSummary, print_line
from jobs.datasource.connector import CONNECTOR_FORMAT, connector_options, starting_position_json
from jobs.datasource.options import (
    CONNECTION_STRING,
    CONNECTION_VERIFY,
    CONSUMER_GROUP,
    CUSTOM_ENDPOINT_ADDRESS,
    FAIL_ON_DATA_LOSS,
    MAX_EVENTS,
    MAX_TRIGGER_DELAY,
    MIN_EVENTS,
    NAME,
    NAMESPACE,
    STARTING_POSITION,
    TRANSPORT_TYPE,
)
from jobs.transforms import for_file_sink, readable
from jobs.trigger import Trigger, parse_trigger

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

__all__ = [
    "FILE_SINKS",
    "SINKS",
    "build_stream",
    "main",
    "run",
    "source_options",
    "start_query",
    "transform",
]

SINKS = ("console", "memory", "parquet", "json", "csv")
FILE_SINKS = frozenset({"parquet", "json", "csv"})
MEMORY_QUERY_NAME = "events"


def source_options(
    settings: Settings, *, max_events_per_trigger: int, starting_position: str
) -> dict[str, str]:
    """Options for hubstream's own source: the connector's names, the connection string as it is, and
    the profile's [eventhub] transport, connection_verify and custom_endpoint_address."""
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
    if hub.transport == "websocket":
        options[TRANSPORT_TYPE] = "AmqpWebSockets"
    if hub.connection_verify:
        options[CONNECTION_VERIFY] = hub.connection_verify
    if hub.custom_endpoint_address:
        options[CUSTOM_ENDPOINT_ADDRESS] = hub.custom_endpoint_address
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
        from jobs.datasource import register

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


def _one_batch_per_run(settings: Settings) -> str | None:
    """Why an available-now run reads one capped batch here, or None when it reads everything.

    Spark wraps a source without admission control for available-now: it asks for the latest offset once,
    which the cap limits, and reads up to it in one batch. The Scala connector's source is such a source
    (a Spark 3 `Source`); ours is on Spark 4.0/4.1.
    """
    one = "available-now reads one batch of at most maxEventsPerTrigger per run"
    drain = "run again for the next, or use processing-time:0 with --timeout to drain the hub"
    if settings.job.use_connector:
        return f"note: with the Scala connector {one}; {drain}"
    from jobs.datasource.read_limits import ADMISSION_CONTROL

    if ADMISSION_CONTROL:
        return None
    return f"note: on Spark 4.0/4.1 {one}; {drain}"


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
    say: Callable[[str], None] = print_line,
) -> RunSummary:
    """Extract, transform, load, and wait: until available-now is done, `timeout` passes or Ctrl-C."""
    chosen = trigger if trigger is not None else settings.job.trigger
    trig = parse_trigger(chosen) if isinstance(chosen, str) else chosen
    if trig.available_now and (note := _one_batch_per_run(settings)):
        say(note)
    with tempfile.TemporaryDirectory(prefix="hubstream-checkpoint-") as scratch:
        where = checkpoint or settings.job.checkpoint_dir or scratch
        events = build_stream(
            spark,
            settings,
            max_events_per_trigger=max_events_per_trigger,
            starting_position=starting_position,
        )
        query = start_query(transform(events, sink), sink, path, where, trig)
        reporter = BatchReporter(query, say)
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


def main(argv: list[str] | None = None) -> int:
    """The command line (jobs/read_events_cli.py), under the name the wheel's entry point and `-m` use."""
    from jobs.read_events_cli import main as command_line

    return command_line(argv)


if __name__ == "__main__":
    sys.exit(main())
