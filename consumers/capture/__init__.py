"""Event Hubs Capture files (Avro) to one CSV per device: `python -m consumers.capture --help`.

For notebooks::

    from consumers.capture import FolderSource, read_captures, read_events
    report = read_captures(FolderSource("capture"), "csv")   # the CSVs, and what was read
    print(report.summary())
    events, files = read_events(FolderSource("capture"))     # the events, in enqueued order
"""

from .events import UnreadableFile, read_capture_file, received
from .reader import ReadReport, read_captures, read_events
from .sources import CaptureSource, ContainerSource, FolderSource, StoredFile, container_source

__all__ = [
    "CaptureSource",
    "ContainerSource",
    "FolderSource",
    "ReadReport",
    "StoredFile",
    "UnreadableFile",
    "container_source",
    "read_capture_file",
    "read_captures",
    "read_events",
    "received",
]
