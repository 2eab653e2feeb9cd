"""What a source yields: one event for Event Hubs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    body: bytes | str
    partition_key: str | None = None
    properties: Mapping[str, str | int | float | bool] | None = None
