"""One capture file's records as the events consumers see (`consumers.receiver.Received`).

A file is read whole before any of its events is handed on, so a file that breaks half-way contributes
nothing (no half file to count twice once it is repaired). A file with a header and no blocks (what
Capture writes for an empty window) is simply a file with no events, whatever its size.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import IO, Any

from eventhubs.capture import CaptureFileError, parse_archive_name, parse_enqueued_time_utc, read_archive

from ..receiver import Received

__all__ = [
    "ENQUEUED_TIME_PROPERTY",
    "PARTITION_KEY_PROPERTY",
    "UnreadableFile",
    "read_capture_file",
    "received",
]

# The service's SystemProperties: the enqueued time to the millisecond (EnqueuedTimeUtc has whole
# seconds), and the partition key.
ENQUEUED_TIME_PROPERTY = "x-opt-enqueued-time"
PARTITION_KEY_PROPERTY = "x-opt-partition-key"


class UnreadableFile(ValueError):
    """A capture file that cannot be read: `name` says which, `reason` what is wrong."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def received(record: dict[str, Any], partition_id: str) -> Received:
    """A capture record as a received event (a body that is not UTF-8 gets U+FFFD, as the SDK's would)."""
    system = record["SystemProperties"]
    millis = system.get(ENQUEUED_TIME_PROPERTY)
    enqueued = (
        datetime.fromtimestamp(millis / 1000, UTC)
        if type(millis) is int
        else parse_enqueued_time_utc(record["EnqueuedTimeUtc"])
    )
    key = system.get(PARTITION_KEY_PROPERTY)
    body = record["Body"]
    return Received(
        partition_id=partition_id,
        sequence_number=record["SequenceNumber"],
        offset=record["Offset"],
        enqueued_time=enqueued,
        partition_key=key if isinstance(key, str) else None,
        body="" if body is None else body.decode("utf-8", errors="replace"),
    )


def read_capture_file(stream: IO[bytes], name: str, name_format: str) -> list[Received]:
    """Every event of one capture file (null or deflate codec), in the file's order.

    The partition comes from the file's name, read with `name_format` ("" when the name does not
    follow it). Raises UnreadableFile naming `name` when the file is not Avro, is truncated or corrupt,
    is not in Capture's schema, or holds a record that is not a capture record.
    """
    tokens = parse_archive_name(name_format, name)
    partition_id = tokens["PartitionId"] if tokens else ""
    try:
        return [received(record, partition_id) for record in read_archive(stream)]
    except CaptureFileError as e:
        raise UnreadableFile(name, str(e)) from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise UnreadableFile(name, f"not a capture record: {type(e).__name__}: {e}") from None
