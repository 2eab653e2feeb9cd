"""A full filesystem for tests, without root: a small tmpfs in a user and mount namespace of its own."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path


def unshare_can_mount(path: Path) -> bool:
    """True if this user may mount a tmpfs in a user and mount namespace of its own (no root needed)."""
    probe = ["unshare", "-Urm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {path}"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except FileNotFoundError:
        return False


def tmpfs_prefix(path: Path, size: str) -> list[str]:
    """The command prefix that runs a command (with exec) where a `size` tmpfs is mounted on `path`."""
    return ["unshare", "-Urm", "sh", "-c", f'mount -t tmpfs -o size={size} tmpfs {path} && exec "$@"', "sh"]


def fill(filler: Path, page: int = 4096) -> int:
    """Write `filler` until its filesystem has no page left; the bytes written."""
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    written = 0
    try:
        while True:
            written += os.write(fd, b"\0" * page)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)
    return written
