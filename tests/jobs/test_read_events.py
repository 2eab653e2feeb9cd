"""The read job against a real emulator: in-process with memory and parquet sinks, and its command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from conf import Secret, Settings, load_settings
from emulator.process import EmulatorProcess
from jobs.query_errors import readable_error
from jobs.read_events import build_stream, main, run, source_options, start_query, transform
from jobs.read_events_cli import build_parser, with_job_flags
from tests.sdk_events import round_robin, send_to_partitions
from tests.streams import run_to_end

CONNECTION = "Endpoint=sb://localhost/;SharedAccessKeyName=k;SharedAccessKey=v"
REPO = Path(__file__).resolve().parents[2]


def settings_for(emulator: EmulatorProcess) -> Settings:
    return load_settings("local", connection_string=emulator.connection_string, environ={})


def read_memory(
    spark: SparkSession, settings: Settings, tmp: Path, name: str, max_events: int, position: str = "-1"
) -> tuple[list[str], list[int]]:
    """One available-now run into a memory table: the bodies read and each batch's size."""
    events = build_stream(spark, settings, max_events_per_trigger=max_events, starting_position=position)
    query = start_query(
        transform(events, "memory"), "memory", None, tmp / name, "available-now", query_name=name
    )
    sizes = run_to_end(query)
    bodies = [r.Body for r in spark.table(name).collect()]
    return bodies, sizes


def test_memory_sink_every_event_once_in_bounded_batches(
    spark: SparkSession, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    send_to_partitions(emulator.connection_string, round_robin(0, 13))
    settings = settings_for(emulator)
    bodies, sizes = read_memory(spark, settings, tmp_path, "all_events", max_events=5)
    assert sorted(map(int, bodies)) == list(range(13))
    assert sum(sizes) == 13 and max(sizes) <= 5
    columns = spark.table("all_events").columns
    assert columns == [
        "Offset",
        "Time (readable)",
        "Timestamp",
        "Body",
        "Partition",
        "SequenceNumber",
        "Offset (string)",
    ]

    # @latest skips what is already there; seq:N starts every partition at that sequence number.
    latest, _ = read_memory(spark, settings, tmp_path, "latest_events", max_events=5, position="@latest")
    assert latest == []
    from_seq, _ = read_memory(spark, settings, tmp_path, "seq_events", max_events=50, position="seq:2")
    # Partition p holds bodies p, p+4, p+8, ...: sequence numbers >= 2 are bodies >= 8.
    assert sorted(map(int, from_seq)) == list(range(8, 13))


def test_parquet_restart_no_duplicate_no_gap(
    spark: SparkSession, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    cs = emulator.connection_string
    settings = settings_for(emulator)
    out, checkpoint = tmp_path / "out", tmp_path / "checkpoint"
    send_to_partitions(cs, round_robin(0, 9))
    first = run(
        spark, settings, sink="parquet", path=out, checkpoint=checkpoint, max_events_per_trigger=5, say=print
    )
    assert first.events == 9 and max(n for _, n in first.batches) <= 5
    send_to_partitions(cs, round_robin(9, 4))
    second = run(
        spark, settings, sink="parquet", path=out, checkpoint=checkpoint, max_events_per_trigger=5, say=print
    )
    assert second.events == 4
    rows = spark.read.parquet(str(out)).collect()
    assert sorted(int(r.body) for r in rows) == list(range(13))
    assert set(spark.read.parquet(str(out)).columns) >= {"offset", "time_readable", "body", "sequence_number"}


def test_wrong_key_is_one_readable_line(
    spark: SparkSession, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    wrong = emulator.connection_string.replace("SAS_KEY_VALUE", "d3Jvbmcta2V5")
    settings = load_settings("local", connection_string=wrong, environ={})
    with pytest.raises(Exception) as raised:
        run(spark, settings, sink="memory", checkpoint=tmp_path / "cp", say=print)
    line = readable_error(raised.value, Secret("d3Jvbmcta2V5"))
    assert line.startswith("EventHubsReadError: ") and "refused the token" in line and "(401)" in line
    assert "\n" not in line and "d3Jvbmcta2V5" not in line and "\tat " not in line


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTHUB_", "HUBSTREAM_"))}
    return subprocess.run(
        [sys.executable, "-m", "jobs.read_events", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for flag in ("--max-events-per-trigger", "--starting-position", "--trigger", "--sink", "--checkpoint"):
        assert flag in result.stdout
    assert "seq:N" in result.stdout and "processing-time" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--connection-string", "Endpoint=sb://x;SharedAccessKey=s3cr3tvalue"], 1, "SharedAccessKeyName"),
        (["--sink", "parquet"], 2, "--path"),
        (["--sink", "json", "--path", "out"], 2, "--checkpoint"),
        (["--trigger", "sometimes"], 2, "processing-time"),
        (["--starting-position", "latest"], 2, "seq:N"),
        (["--max-events-per-trigger", "0"], 2, "positive"),
    ],
)
def test_bad_arguments_one_line(args: list[str], code: int, needle: str) -> None:
    result = cli(*args)
    assert result.returncode == code
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(("error:", "python -m jobs.read_events: error:")) and needle in last
    assert "s3cr3tvalue" not in result.stderr and "Traceback" not in result.stderr


def test_console_run_shows_readable_batches(emulator: EmulatorProcess) -> None:
    send_to_partitions(emulator.connection_string, round_robin(0, 12, partitions="0"))
    result = cli("--connection-string", emulator.connection_string, "--max-events-per-trigger", "5")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "Batch: 0" in out and "Batch: 2" in out and "Batch: 3" not in out
    for column in ("Offset", "Time (readable)", "Timestamp", "Body", "Partition", "SequenceNumber"):
        assert f"|{column}" in out
    assert "Batch 0: 5 events" in out and "Batch 2: 2 events" in out
    assert "read 12 events in 3 batches" in out
    assert "SAS_KEY_VALUE" not in out


def test_source_flags_come_from_the_profile_or_the_command_line(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(
        '[eventhub]\nname = "tweets"\n'
        '[job]\nfail_on_data_loss = false\nmin_events_per_trigger = 10\nmax_trigger_delay = "30s"\n'
    )
    settings = load_settings(str(profile), connection_string=CONNECTION, environ={})
    options = source_options(settings, max_events_per_trigger=5, starting_position="-1")
    assert (options["failOnDataLoss"], options["minEventsPerTrigger"], options["maxTriggerDelay"]) == (
        "false",
        "10",
        "30s",
    )
    args = build_parser().parse_args(["--fail-on-data-loss", "--min-events-per-trigger", "3"])
    flagged = source_options(with_job_flags(settings, args), max_events_per_trigger=5, starting_position="-1")
    assert (flagged["failOnDataLoss"], flagged["minEventsPerTrigger"], flagged["maxTriggerDelay"]) == (
        "true",
        "3",
        "30s",
    )
    defaults = source_options(
        load_settings("local", environ={}), max_events_per_trigger=5, starting_position="-1"
    )
    assert defaults["failOnDataLoss"] == "true" and "minEventsPerTrigger" not in defaults


def test_every_reading_flag_replaces_its_job_setting_and_an_absent_one_keeps_the_profiles() -> None:
    settings = load_settings("local", connection_string=CONNECTION, environ={})
    reading = "--max-events-per-trigger 7 --starting-position @latest --trigger processing-time:5".split()
    args = build_parser().parse_args([*reading, "--checkpoint", "chk", "--no-fail-on-data-loss"])
    job = with_job_flags(settings, args).job
    assert (job.max_events_per_trigger, job.starting_position) == (7, "@latest")
    assert (job.trigger, job.checkpoint_dir, job.fail_on_data_loss) == ("processing-time:5", "chk", False)
    assert with_job_flags(settings, build_parser().parse_args([])).job == settings.job


def test_the_connector_refuses_source_only_settings(spark: SparkSession, tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(
        '[eventhub]\nname = "tweets"\n[job]\nuse_connector = true\nfail_on_data_loss = false\n'
    )
    settings = load_settings(str(profile), connection_string=CONNECTION, environ={})
    with pytest.raises(ValueError, match=r"Scala connector .* has no fail_on_data_loss"):
        build_stream(spark, settings)


def test_a_bad_delay_in_the_profile_names_the_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text('[eventhub]\nname = "tweets"\n[job]\nmax_trigger_delay = "5x"\n')
    assert main(["--profile", str(profile), "--connection-string", CONNECTION]) == 1
    err = capsys.readouterr().err
    assert f"{profile} [job] max_trigger_delay '5x' is not a duration" in err
