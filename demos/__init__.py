"""Demonstrations that run the whole pipeline on this machine: a local emulator, the producer, Spark."""


def verdict(ok: bool, summary: str) -> int:
    """Print a demo's last line, `done: <summary>` or `FAILED: <summary>`, and return its exit code."""
    print(f"{'done' if ok else 'FAILED'}: {summary}", flush=True)
    return 0 if ok else 1
