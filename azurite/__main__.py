"""`python -m azurite`: Azurite's Blob service in the foreground, with its connection string printed."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .process import AzuriteNotInstalled, AzuriteProcess

DEFAULT_PORT = 10000  # Azurite's and the Azure SDKs' usual Blob port
DEFAULT_LOCATION = Path(".azurite-data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m azurite",
        description="Run Azurite's Blob service (the local Azure Blob Storage) on 127.0.0.1 in the "
        "foreground, and print the development account's connection string.",
        epilog="Install it first with `make azurite-install` (needs Node.js 18+). Stop it with Ctrl-C; "
        "its containers and blobs stay in --location.",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="Blob port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--location", type=Path, default=DEFAULT_LOCATION, help="folder for its data (default: %(default)s)"
    )
    parser.add_argument("--access-log", type=Path, help="append Azurite's output and a line per request here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"error: --port {args.port} is not a port: give 0..65535", file=sys.stderr)
        return 2
    azurite = AzuriteProcess(data_dir=args.location, log_file=args.access_log)
    try:
        azurite.start(port=args.port)
    except AzuriteNotInstalled as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: {exc}(is --port {args.port} taken? try --port 0)", file=sys.stderr)
        return 1
    print(f"Azurite Blob service: {azurite.blob_endpoint} (data in {args.location})", flush=True)
    print(f"Connection string: {azurite.connection_string}", flush=True)
    print("Ctrl-C stops it.", flush=True)
    # SIGTERM as Ctrl-C: stopping inside the handler would deadlock on the wait() it interrupted.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    assert azurite.process is not None
    try:
        azurite.process.wait()
    except KeyboardInterrupt:
        pass
    return azurite.stop()


if __name__ == "__main__":
    sys.exit(main())
