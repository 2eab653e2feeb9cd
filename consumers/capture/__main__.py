"""`python -m consumers.capture`: Event Hubs Capture files from a folder or a Blob container to CSVs."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TextIO

from azure.core.exceptions import AzureError
from tqdm import tqdm

from conf.arguments import command_parser
from eventhubs.capture import DEFAULT_ARCHIVE_NAME_FORMAT, check_archive_name_format

from .reader import read_captures
from .sources import CaptureSource, FolderSource, container_source

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
EXAMPLES = f"""examples:
  python -m consumers.capture --folder capture --out csv
  python -m consumers.capture --container capture          (connection string in ${CONNECTION_STRING_ENV})
  python -m consumers.capture --container capture --account-url https://ACCOUNT.blob.core.windows.net
  python -m consumers.capture --container capture --prefix ns/hub/0/ --delete-after-read

Each run rewrites the CSVs from every capture file it finds, so nothing is ever deleted by default.
With --delete-after-read the readings are appended to the CSVs, then the files read are deleted
(files that could not be read are kept)."""


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        prog="python -m consumers.capture",
        description="Read Event Hubs Capture files (Avro) and write one CSV file per device, every reading "
        "in enqueued order.",
        examples=EXAMPLES,
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--folder", metavar="DIR", help="read capture files under this local folder")
    where.add_argument("--container", metavar="NAME", help="read capture files from this Blob container")
    parser.add_argument(
        "--connection-string",
        metavar="TEXT",
        help=f"the storage account's connection string (default: ${CONNECTION_STRING_ENV})",
    )
    parser.add_argument(
        "--account-url",
        metavar="URL",
        help="the account's blob endpoint, signed in with DefaultAzureCredential (instead of a connection "
        "string)",
    )
    parser.add_argument("--prefix", default="", help="only blobs whose names start with this")
    parser.add_argument(
        "--archive-name-format",
        default=DEFAULT_ARCHIVE_NAME_FORMAT,
        metavar="FORMAT",
        help="the hub's Capture file name format, to tell each file's partition (default: %(default)s)",
    )
    parser.add_argument("--out", default="capture-csv", metavar="DIR", help="where the CSVs go (%(default)s)")
    parser.add_argument(
        "--delete-after-read",
        action="store_true",
        help="append to the CSVs, then delete the files read (never done without this flag)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress, only the summary")
    return parser


class _Progress:
    """A bar on a terminal; otherwise a line every few seconds."""

    def __init__(self, stream: TextIO, every_s: float = 5.0) -> None:
        self.stream, self.every_s = stream, every_s
        self.bar: tqdm | None = None
        self.last = time.monotonic()

    def __call__(self, done: int, total: int, events: int) -> None:
        if self.stream.isatty():
            if self.bar is None:
                self.bar = tqdm(total=total, unit=" files", file=self.stream, dynamic_ncols=True)
            self.bar.set_postfix_str(f"{events:,} events", refresh=False)
            self.bar.update(1)
            return
        now = time.monotonic()
        if now - self.last >= self.every_s or done == total:
            self.last = now
            print(
                f"read {done:,} of {total:,} capture files, {events:,} events", file=self.stream, flush=True
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def source_from_arguments(args: argparse.Namespace) -> CaptureSource:
    check_archive_name_format(args.archive_name_format)
    if args.folder:
        return FolderSource(args.folder)
    connection_string = args.connection_string or os.environ.get(CONNECTION_STRING_ENV)
    if args.account_url and args.connection_string:
        raise ValueError("give --connection-string or --account-url, not both")
    if not connection_string and not args.account_url:
        raise ValueError(
            f"--container {args.container!r} needs the account: set ${CONNECTION_STRING_ENV}, or give "
            "--connection-string or --account-url"
        )
    return container_source(
        args.container,
        connection_string=None if args.account_url else connection_string,
        account_url=args.account_url,
        prefix=args.prefix,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        source = source_from_arguments(args)
    except ValueError as e:  # ArchiveNameFormatError included
        print(f"error: {e}", file=sys.stderr)
        return 2
    except AzureError as e:  # a wrong key, an unreachable account: the SDK's message, without the key
        reason = (str(e).splitlines() or [type(e).__name__])[0]
        print(
            f"error: cannot read container {args.container!r}: {reason}; check the connection string "
            "(its account key) or the credential of --account-url",
            file=sys.stderr,
        )
        return 2
    progress = None if args.quiet else _Progress(sys.stderr)
    print(f"reading capture files from {source.description} into {args.out}", file=sys.stderr)
    try:
        report = read_captures(
            source,
            args.out,
            name_format=args.archive_name_format,
            delete_after_read=args.delete_after_read,
            progress=progress,
        )
    except AzureError as e:
        print(f"error: reading {source.description}: {e}; nothing was deleted", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted: each CSV written is whole; files are deleted only after all are written",
            file=sys.stderr,
        )
        return 130
    finally:
        if progress:
            progress.close()
    for error in report.skipped:
        print(f"skipped {error}", file=sys.stderr)
    print(report.summary())
    return 1 if report.skipped else 0


if __name__ == "__main__":
    sys.exit(main())
