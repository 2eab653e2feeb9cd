"""Event Hubs Capture in the emulator: each enabled hub's partitions written, window by window, as the
service's Avro files, into a local folder or a Blob container.

`windows` decides where a window ends (time or size, whichever first), `positions` remembers per partition
what is captured, `destinations` delivers finished files, and `service` runs it beside the server.
"""

from emulator.capture.destinations import BlobDestination, Destination, FolderDestination, build_destination
from emulator.capture.positions import DiskPositions, MemoryPositions, Position, Positions
from emulator.capture.service import CaptureService

__all__ = [
    "BlobDestination",
    "CaptureService",
    "Destination",
    "DiskPositions",
    "FolderDestination",
    "MemoryPositions",
    "Position",
    "Positions",
    "build_destination",
]
