"""The Databricks notebooks in notebooks/, run cell by cell with a local Spark session against the emulator.

A notebook is read in Databricks' source format (`# Databricks notebook source`, cells separated by
`# COMMAND ----------`, `# MAGIC %md` prose cells) and its Python cells run in order in one namespace that
holds only what Databricks predefines, here as local stand-ins:

- `spark`: the tests' local session (tests/conftest.py).
- `dbutils.widgets`: text, dropdown, combobox, multiselect, get, getAll, remove, removeAll. A value a job
  (or the test) passes for a widget replaces its default, as notebook job parameters do.
- `dbutils.secrets.get(scope, key)`: the environment variable `HUBSTREAM_SECRET_<SCOPE>_<KEY>`, scope and key
  upper-cased and every character other than a letter or digit turned into `_`; so the `databricks`
  profile's `{{secrets/hubstream/eventhub-connection-string}}` reads
  `HUBSTREAM_SECRET_HUBSTREAM_EVENTHUB_CONNECTION_STRING`.
- `display(df)`: Databricks keeps a displayed stream running; here it runs into a memory sink with
  Trigger.AvailableNow, so it stops once it has read what is in the hub, and its rows and micro-batch sizes
  are kept for the test. A batch DataFrame is collected.

`%md` cells are prose and `%pip` cells are skipped (hubstream is installed here already); any other magic
command fails the run, as does anything else a cell needs that Databricks would not predefine.
"""

from __future__ import annotations

import ast
import math
import os
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, Row, SparkSession

from conf import SettingsError
from emulator.process import EmulatorProcess
from producers.sources.test import TUTORIAL_MESSAGES
from producers.sources.twitter import MissingBearerToken
from tests.streams import run_to_end

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
SEND = NOTEBOOKS / "SendTweetsToEventHub.py"
READ = NOTEBOOKS / "ReadTweetsFromEventHub.py"

HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"
MAGIC = "# MAGIC"
# Magic commands the runner knows: prose, and package installs (skipped: hubstream is installed here).
RUNNABLE_MAGICS = {"md", "pip"}
# What a notebook may import: hubstream's packages and the standard library, nothing the cluster lacks.
PACKAGES = {"conf", "producers", "jobs"}
SECRET_PREFIX = "HUBSTREAM_SECRET_"
# Variables that would override the profile the notebooks are given.
OVERRIDES = ("EVENTHUB_CONNECTION_STRING", "EVENTHUB_NAME", "HUBSTREAM_PROFILE", "X_BEARER_TOKEN")
# Statements that would be logic of the notebook's own rather than a call into the package.
NOT_THIN = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.Try,
    ast.With,
)


# -- Databricks' source format ------------------------------------------------------------------------------


class NotebookFormatError(ValueError):
    """The file is not a well-formed Databricks source notebook; the message names the cell."""


@dataclass(frozen=True)
class Cell:
    number: int  # 1-based, in file order
    first_line: int  # the cell's first line in the file, 1-based
    lines: tuple[str, ...]
    magic: str | None  # "md", "pip", ...: the command of a `# MAGIC %...` cell; None for Python

    @property
    def source(self) -> str:
        return "\n".join(self.lines) + "\n"


def parse_notebook(text: str, name: str = "notebook") -> list[Cell]:
    """Split a Databricks source notebook into cells, checking the format as Databricks writes it.

    The header line, then cells separated by a `# COMMAND ----------` line with one blank line on each side;
    a cell is either Python or, every line starting with `# MAGIC`, a magic command (`# MAGIC %md`, ...).
    """
    if not text.endswith("\n") or text.endswith("\n\n"):
        raise NotebookFormatError(f"{name}: must end with exactly one newline")
    lines = text.split("\n")[:-1]
    if not lines or lines[0] != HEADER:
        raise NotebookFormatError(f"{name}: the first line must be {HEADER!r}")
    cells: list[Cell] = []
    start = 1  # index of the current cell's first line in `lines`
    for index in range(1, len(lines) + 1):
        if index < len(lines) and lines[index] != SEPARATOR:
            if lines[index].startswith("# COMMAND"):
                raise NotebookFormatError(f"{name} line {index + 1}: a separator is exactly {SEPARATOR!r}")
            continue
        cells.append(_cell(len(cells) + 1, start, lines[start:index], name, last=index == len(lines)))
        start = index + 1
    return cells


def _cell(number: int, start: int, body: list[str], name: str, *, last: bool) -> Cell:
    where = f"{name} cell {number}"
    # Databricks writes a blank line after each separator and before the next one.
    if number > 1:
        if not body or body[0] != "":
            raise NotebookFormatError(f"{where}: a blank line must follow {SEPARATOR!r}")
        body, start = body[1:], start + 1
    if not last:
        if not body or body[-1] != "":
            raise NotebookFormatError(f"{where}: a blank line must precede {SEPARATOR!r}")
        body = body[:-1]
    if not body or not any(line.strip() for line in body):
        raise NotebookFormatError(f"{where} is empty")
    if body[0] == "" or body[-1] == "":
        raise NotebookFormatError(f"{where}: one blank line around a separator, no more")
    magic_lines = [line.startswith(MAGIC) for line in body]
    if not any(magic_lines):
        return Cell(number, start + 1, tuple(body), None)
    if not all(magic_lines):
        raise NotebookFormatError(f"{where} mixes `{MAGIC}` lines with Python: every line or none")
    for offset, line in enumerate(body):
        if line != MAGIC and not line.startswith(MAGIC + " "):
            raise NotebookFormatError(
                f"{where} line {start + offset + 1}: {MAGIC!r} then a space, got {line!r}"
            )
    command = re.fullmatch(r"# MAGIC %([a-z][a-z-]*)(?: .*)?", body[0])
    if command is None:
        raise NotebookFormatError(f"{where}: a magic cell starts with `{MAGIC} %<command>`, got {body[0]!r}")
    if command.group(1) == "md" and len(body) < 2 and body[0] == f"{MAGIC} %md":
        raise NotebookFormatError(f"{where}: an empty %md cell")
    return Cell(number, start + 1, tuple(body), command.group(1))


def check_thin(cells: Sequence[Cell], name: str) -> None:
    """Every Python cell parses, follows a %md cell that explains it, and only calls into the package."""
    for previous, cell in zip([None, *cells], cells, strict=False):
        if cell.magic is not None:
            if cell.magic not in RUNNABLE_MAGICS:
                raise NotebookFormatError(
                    f"{name} cell {cell.number}: %{cell.magic} cannot run off Databricks"
                )
            continue
        where = f"{name} cell {cell.number}"
        if previous is None or previous.magic != "md":
            raise NotebookFormatError(f"{where}: a Python cell must follow a %md cell saying what it does")
        tree = ast.parse(cell.source, filename=where)
        for node in ast.walk(tree):
            if isinstance(node, NOT_THIN):
                raise NotebookFormatError(
                    f"{where} line {node.lineno}: {type(node).__name__} is logic the package should own"
                )
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""] if node.level == 0 else ["(relative)"]
            for module in modules:
                root = module.split(".")[0]
                if root not in PACKAGES and root not in sys.stdlib_module_names:
                    raise NotebookFormatError(
                        f"{where}: imports {module!r}; a notebook imports hubstream "
                        f"({', '.join(sorted(PACKAGES))}) and the standard library only"
                    )


# -- what Databricks predefines, locally --------------------------------------------------------------------


class InputWidgetNotDefined(LookupError):
    pass


def _choice_widget(*, free_text: bool = False, multiple: bool = False) -> Callable[..., None]:
    """A `dbutils.widgets` method taking (name, defaultValue, choices, label=None)."""

    def define(
        self: Widgets, name: str, defaultValue: str, choices: Sequence[str], label: str | None = None
    ) -> None:
        if multiple:
            self.multiple.add(name)
        self._define(name, defaultValue, choices, check_default=not free_text)

    return define


class Widgets:
    """`dbutils.widgets`: values passed as job parameters replace the defaults; all values are strings."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self.params = dict(params)
        self.defaults: dict[str, str] = {}
        self.choices: dict[str, list[str] | None] = {}
        self.multiple: set[str] = set()

    def _define(self, name: str, default: str, choices: Sequence[str] | None, *, check_default: bool) -> None:
        # On Databricks these are JVM String arguments: anything else fails there.
        if not isinstance(name, str) or not isinstance(default, str):
            raise TypeError(f"widget {name!r}: name and default value must be strings, got {default!r}")
        if choices is not None:
            if not all(isinstance(c, str) for c in choices):
                raise TypeError(f"widget {name!r}: choices must be strings, got {choices!r}")
            values = default.split(",") if name in self.multiple else [default]
            if check_default and any(v not in choices for v in values):
                raise ValueError(f"widget {name!r}: default value {default!r} is not one of {list(choices)}")
        self.defaults[name] = default
        self.choices[name] = list(choices) if choices is not None and check_default else None

    def text(self, name: str, defaultValue: str, label: str | None = None) -> None:
        self._define(name, defaultValue, None, check_default=False)

    # dropdown, combobox and multiselect take the same arguments; a combobox also takes free text (its
    # choices are suggestions), a multiselect a comma-separated list of choices.
    dropdown = _choice_widget()
    combobox = _choice_widget(free_text=True)
    multiselect = _choice_widget(multiple=True)

    def get(self, name: str) -> str:
        if name not in self.defaults:
            raise InputWidgetNotDefined(f"No input widget named {name} is defined")
        value = self.params.get(name, self.defaults[name])
        choices = self.choices[name]
        values = value.split(",") if name in self.multiple else [value]
        if choices is not None and any(v not in choices for v in values):
            raise ValueError(f"widget {name!r}: {value!r} is not one of {choices}")
        return value

    def getAll(self) -> dict[str, str]:
        return {name: self.get(name) for name in self.defaults}

    def remove(self, name: str) -> None:
        if name not in self.defaults:
            raise InputWidgetNotDefined(f"No input widget named {name} is defined")
        del self.defaults[name], self.choices[name]

    def removeAll(self) -> None:
        self.defaults.clear()
        self.choices.clear()


def secret_variable(scope: str, key: str) -> str:
    """The environment variable the local `dbutils.secrets.get(scope, key)` reads."""
    return SECRET_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", f"{scope}_{key}").upper()


class SecretNotFound(LookupError):
    pass


class Secrets:
    """`dbutils.secrets.get`, reading HUBSTREAM_SECRET_<SCOPE>_<KEY> from the environment."""

    def __init__(self) -> None:
        self.read: list[tuple[str, str]] = []

    def get(self, scope: str, key: str) -> str:
        self.read.append((scope, key))
        variable = secret_variable(scope, key)
        value = os.environ.get(variable)
        if value is None:
            raise SecretNotFound(
                f"Secret does not exist with scope: {scope} and key: {key} (locally: set {variable})"
            )
        return value


@dataclass
class DBUtils:
    widgets: Widgets
    secrets: Secrets


@dataclass
class Displayed:
    columns: list[str]
    rows: list[Row]
    batch_sizes: list[int]  # the non-empty micro-batches of a stream, in order; [] for a batch DataFrame


class Display:
    """`display(df)`: a stream runs into a memory sink until it has read what is available."""

    def __init__(self, spark: SparkSession, checkpoints: Path, timeout_s: int = 240) -> None:
        self.spark = spark
        self.checkpoints = checkpoints
        self.timeout_s = timeout_s
        self.shown: list[Displayed] = []

    def __call__(self, df: Any, *args: Any, **kwargs: Any) -> None:
        if not isinstance(df, DataFrame):
            raise TypeError(f"display() here takes a DataFrame, got {type(df).__name__}")
        if not df.isStreaming:
            self.shown.append(Displayed(df.columns, df.collect(), []))
            return
        name = f"display_{uuid.uuid4().hex[:12]}"
        query = (
            df.writeStream.format("memory")
            .queryName(name)
            .outputMode("append")
            .option("checkpointLocation", str(self.checkpoints / name))
            .trigger(availableNow=True)
            .start()
        )
        sizes = run_to_end(query, self.timeout_s)
        table = self.spark.table(name)
        table.show(truncate=False)
        self.shown.append(Displayed(table.columns, table.collect(), sizes))


@dataclass
class Run:
    namespace: dict[str, Any]
    dbutils: DBUtils
    display: Display
    ran: list[int] = field(default_factory=list)  # the numbers of the Python cells that ran


def run_notebook(
    path: Path,
    spark: SparkSession,
    checkpoints: Path,
    params: Mapping[str, str],
) -> Run:
    """Run every Python cell of the notebook in order in one namespace, as Databricks would."""
    cells = parse_notebook(path.read_text(encoding="utf-8"), path.name)
    check_thin(cells, path.name)
    dbutils = DBUtils(Widgets(params), Secrets())
    display = Display(spark, checkpoints)
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "spark": spark,
        "display": display,
        "dbutils": dbutils,
    }
    run = Run(namespace, dbutils, display)
    for cell in cells:
        if cell.magic is not None:
            continue  # %md prose, %pip (check_thin refused the rest)
        # Padded so that a traceback names the notebook's own line numbers.
        code = compile("\n" * (cell.first_line - 1) + cell.source, str(path), "exec")
        exec(code, namespace)
        run.ran.append(cell.number)
    unknown = set(params) - set(dbutils.widgets.defaults)
    assert not unknown, f"{path.name} defines no widget {sorted(unknown)}"
    return run


# -- tests -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [SEND, READ], ids=lambda p: p.stem)
def test_notebook_is_databricks_source(path: Path) -> None:
    cells = parse_notebook(path.read_text(encoding="utf-8"), path.name)
    check_thin(cells, path.name)
    assert cells[0].magic == "md" and cells[0].lines[1] == f"{MAGIC} # {path.stem}", "a title cell first"
    assert sum(cell.magic is None for cell in cells) >= 3
    text = path.read_text(encoding="utf-8")
    for predefined in ("dbutils.widgets.", "dbutils.secrets.get"):
        assert predefined in text


GOOD = f"{HEADER}\n# MAGIC %md\n# MAGIC # Title\n\n{SEPARATOR}\n\nx = 1\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace(HEADER, "# Databricks notebook"), "first line"),
        (GOOD + "\n", "exactly one newline"),
        (GOOD.replace(f"\n\n{SEPARATOR}\n\n", f"\n{SEPARATOR}\n\n"), "blank line must precede"),
        (GOOD.replace(f"\n\n{SEPARATOR}\n\n", f"\n\n{SEPARATOR}\nx = 0\n"), "blank line must follow"),
        (GOOD.replace(f"\n\n{SEPARATOR}\n\n", "\n\n# COMMAND ------\n\n"), "exactly"),
        (GOOD.replace("# MAGIC # Title", "# MAGIC # Title\ny = 2"), "mixes"),
        (GOOD.replace("# MAGIC # Title", "# MAGIC# Title"), "then a space"),
        (GOOD.replace("# MAGIC %md", "# MAGIC md"), "starts with"),
        (GOOD.replace("x = 1", "\n\nx = 1"), "no more"),
    ],
)
def test_format_check_rejects(text: str, message: str) -> None:
    with pytest.raises(NotebookFormatError, match=message):
        parse_notebook(text)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def helper():\n    return 1", "FunctionDef"),
        ("for i in range(3):\n    pass", "For"),
        ("import pandas", "imports 'pandas'"),
    ],
)
def test_thin_check_rejects(code: str, message: str) -> None:
    cells = parse_notebook(GOOD.replace("x = 1", code))
    with pytest.raises(NotebookFormatError, match=message):
        check_thin(cells, "notebook")


def test_thin_check_wants_prose_before_code() -> None:
    cells = parse_notebook(f"{HEADER}\nx = 1\n")
    with pytest.raises(NotebookFormatError, match="must follow a %md cell"):
        check_thin(cells, "notebook")


def test_secret_variable() -> None:
    assert secret_variable("hubstream", "eventhub-connection-string") == (
        "HUBSTREAM_SECRET_HUBSTREAM_EVENTHUB_CONNECTION_STRING"
    )


SECRET = secret_variable("hubstream", "eventhub-connection-string")  # the databricks profile's reference
EVENTS = 11
MAX_EVENTS_PER_TRIGGER = 4


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment without overrides: the profile and its secret reference decide."""
    for name in OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(SECRET, raising=False)
    return monkeypatch


def test_send_then_read(
    spark: SparkSession,
    emulator: EmulatorProcess,
    env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The `databricks` profile, its {{secrets/hubstream/eventhub-connection-string}} read through dbutils.
    env.setenv(SECRET, emulator.connection_string)
    key = "SAS_KEY_VALUE"
    assert key in emulator.connection_string

    sent_from = time.time()
    # The source widget keeps its default: the tutorial's test strings.
    send = run_notebook(SEND, spark, tmp_path, {"profile": "databricks", "count": str(EVENTS)})
    sent_until = time.time()
    assert send.dbutils.secrets.read == [("hubstream", "eventhub-connection-string")]
    out = capsys.readouterr().out
    assert f"sent {EVENTS} events" in out and "event hub 'tweets'" in out

    # starting_position keeps its default, -1: the start of the hub.
    params = {"profile": "databricks", "max_events_per_trigger": str(MAX_EVENTS_PER_TRIGGER)}
    read = run_notebook(READ, spark, tmp_path, params)
    assert read.dbutils.secrets.read == [("hubstream", "eventhub-connection-string")]
    out = capsys.readouterr().out
    assert key not in out, "a notebook printed the key"
    assert "|-- body: binary" in out, "the raw stream's schema was not printed"

    [shown] = read.display.shown
    assert shown.columns[:4] == ["Offset", "Time (readable)", "Timestamp", "Body"]  # the tutorial's
    assert {"Partition", "SequenceNumber"} <= set(shown.columns)
    expected = [TUTORIAL_MESSAGES[i % len(TUTORIAL_MESSAGES)] for i in range(EVENTS)]
    assert Counter(row["Body"] for row in shown.rows) == Counter(expected)
    assert len(shown.rows) == EVENTS

    by_partition: dict[str, list[int]] = {}
    for row in shown.rows:
        assert isinstance(row["Offset"], int) and row["Offset"] >= 0
        enqueued = row["Time (readable)"]
        assert isinstance(enqueued, datetime)
        assert row["Timestamp"] == int(enqueued.timestamp())
        assert sent_from - 2 <= row["Timestamp"] <= sent_until + 2
        by_partition.setdefault(row["Partition"], []).append(row["SequenceNumber"])
    for numbers in by_partition.values():  # a fresh hub: each partition from 0, none twice, no gap
        assert sorted(numbers) == list(range(len(numbers)))

    # The widget reached the source: micro-batches of at most 4 (the tutorial's setMaxEventsPerTrigger).
    assert sum(shown.batch_sizes) == EVENTS
    assert max(shown.batch_sizes) <= MAX_EVENTS_PER_TRIGGER
    assert len(shown.batch_sizes) >= math.ceil(EVENTS / MAX_EVENTS_PER_TRIGGER)


def test_send_tweets_needs_a_bearer_token(
    spark: SparkSession, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv(
        SECRET,
        "Endpoint=sb://localhost:1;SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true",
    )
    with pytest.raises(MissingBearerToken, match="X_BEARER_TOKEN is not set"):
        run_notebook(SEND, spark, tmp_path, {"profile": "databricks", "source": "twitter"})


def test_missing_secret_names_the_variable(
    spark: SparkSession, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match=SECRET):
        run_notebook(READ, spark, tmp_path, {"profile": "databricks"})
