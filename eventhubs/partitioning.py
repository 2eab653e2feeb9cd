"""Which partition a partition key lands on: the service's own function, so both ends agree.

The Event Hubs gateway hashes the key's UTF-8 bytes with Bob Jenkins' lookup3 (`hashlittle2`, both
seeds 0), folds the two 32-bit results into a signed 16-bit hash code (`c ^ b`, low 16 bits), and picks
`partitions[abs(hash_code % count)]` with the remainder truncated toward zero. The .NET and Java SDKs'
`PartitionResolver` carry this as "a direct port of the Event Hubs service code", and azure-eventhub's
buffered producer (`_buffered_producer/_partition_resolver.py`) has the same hash.

That Python resolver differs from the others in two ways, both only for some keys: it hashes the key's
code points rather than its UTF-8 bytes (the same for ASCII keys), and it takes Python's floored
remainder, so a negative hash code can pick another partition than .NET and Java pick
(`-3104 % 3` is 1 in Python, -2 in C#/Java, hence partition 2 there). We follow .NET and Java.
"""

from __future__ import annotations

_MASK = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    """lookup3's `mix`: six steps of the same shape, each on the triple rotated by one."""
    x, y, z = a, b, c
    for k in (4, 6, 8, 16, 19, 4):
        x = ((x - z) & _MASK) ^ _rot(z, k)
        z = (z + y) & _MASK
        x, y, z = y, z, x
    return x, y, z


def _final(a: int, b: int, c: int) -> tuple[int, int, int]:
    """lookup3's `final`: seven steps of the same shape, each on the triple rotated by one."""
    x, y, w = c, b, a
    for k in (14, 11, 25, 16, 4, 14, 24):
        x = ((x ^ y) - _rot(y, k)) & _MASK
        x, y, w = w, x, y
    return x, w, y  # seven rotations of three: (a, c, b)


def lookup3(data: bytes, seed1: int = 0, seed2: int = 0) -> tuple[int, int]:
    """Jenkins' `hashlittle2` over `data`: the two 32-bit hashes (c, b)."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + seed1) & _MASK
    c = (c + seed2) & _MASK
    pos = 0
    while length - pos > 12:
        a = (a + int.from_bytes(data[pos : pos + 4], "little")) & _MASK
        b = (b + int.from_bytes(data[pos + 4 : pos + 8], "little")) & _MASK
        c = (c + int.from_bytes(data[pos + 8 : pos + 12], "little")) & _MASK
        a, b, c = _mix(a, b, c)
        pos += 12
    tail = data[pos:]
    if not tail:
        return c, b
    # The last 1-12 bytes, zero-padded, added as three little-endian words.
    padded = tail + bytes(12 - len(tail))
    a = (a + int.from_bytes(padded[0:4], "little")) & _MASK
    b = (b + int.from_bytes(padded[4:8], "little")) & _MASK
    c = (c + int.from_bytes(padded[8:12], "little")) & _MASK
    a, b, c = _final(a, b, c)
    return c, b


def hash_code(partition_key: str) -> int:
    """The signed 16-bit hash code of a partition key, as the service computes it."""
    if not partition_key:
        return 0
    c, b = lookup3(partition_key.encode("utf-8"))
    code = (c ^ b) & 0xFFFF
    return code - 0x10000 if code >= 0x8000 else code


def partition_index(partition_key: str, partition_count: int) -> int:
    """The index (0-based) of the partition a key lands on among `partition_count` partitions."""
    if partition_count < 1:
        raise ValueError(f"partition_count must be at least 1, got {partition_count}")
    code = hash_code(partition_key)
    # C#'s and Java's % truncates toward zero; Python's floors: take the remainder of |code|.
    return abs(code) % partition_count
