"""Event storage for the emulator: per-partition append-only logs in memory or on disk."""

from emulator.storage.disk import CorruptLogError, DiskPartitionLog, DiskStore
from emulator.storage.log import FsyncPolicy, PartitionLog, Retention, Store, StoredEvent
from emulator.storage.memory import MemoryPartitionLog, MemoryStore

__all__ = [
    "CorruptLogError",
    "DiskPartitionLog",
    "DiskStore",
    "FsyncPolicy",
    "MemoryPartitionLog",
    "MemoryStore",
    "PartitionLog",
    "Retention",
    "Store",
    "StoredEvent",
]
