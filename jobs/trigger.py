"""When the read job starts a micro-batch: `available-now` or `processing-time:<interval>`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Trigger", "parse_trigger"]


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
