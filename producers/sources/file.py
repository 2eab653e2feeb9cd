"""Replay a file, one event per line: JSON lines keep their text; `--key-field` keys them by a field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ..events import Event


class ReplayError(ValueError):
    """A line that cannot become an event; says the file and line number."""


def replay(path: Path, *, key_field: str | None = None, skip_blank: bool = True) -> Iterator[Event]:
    """Each line (without its newline) becomes one event's body, in file order.

    With `key_field`, every line must be a JSON object and that field's value is the partition key.
    """
    if not path.is_file():
        raise ReplayError(f"{path}: no such file (give --file a JSON-lines or text file)")
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            line = raw.rstrip(b"\r\n")
            if skip_blank and not line.strip():
                continue
            try:
                text: bytes | str = line.decode("utf-8")
            except UnicodeDecodeError:
                text = line  # not text: sent as the bytes it is
            key = None
            if key_field is not None:
                key = _key_of(line, key_field, f"{path}:{number}")
            yield Event(text, partition_key=key)


def _key_of(line: bytes, field: str, where: str) -> str:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise ReplayError(f"{where}: not a JSON object, so it has no {field!r} to key by ({exc})") from None
    if not isinstance(record, dict) or field not in record:
        raise ReplayError(f"{where}: the JSON has no field {field!r} (--key-field names the partition key)")
    return str(record[field])
