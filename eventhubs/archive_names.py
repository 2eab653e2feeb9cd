"""Capture archive names read back: which partition (and window) a capture file's name says it holds.

The inverse of `eventhubs.capture.archive_name`, as a regular expression that Python's `re` and Java's
`java.util.regex` (Spark's regexp_extract) read alike, and as a glob for Spark's file sources.
"""

from __future__ import annotations

import re

from eventhubs.capture import ARCHIVE_SUFFIX, check_archive_name_format

__all__ = ["archive_glob", "archive_name_pattern", "archive_name_tokens", "parse_archive_name"]

_TOKEN = re.compile(r"\{([A-Za-z]+)\}")
# Date parts are zero-padded digits; names and partition ids are anything within one path segment.
_TOKEN_PATTERNS = {"Year": r"(\d{4})", "Month": r"(\d{2})", "Day": r"(\d{2})", "Hour": r"(\d{2})",
                   "Minute": r"(\d{2})", "Second": r"(\d{2})"}  # fmt: skip
_SEGMENT = r"([^/]+)"


def archive_name_tokens(name_format: str) -> list[str]:
    """The format's tokens in the order they appear (the order of `archive_name_pattern`'s groups)."""
    check_archive_name_format(name_format)
    return _TOKEN.findall(name_format)


def archive_name_pattern(name_format: str) -> str:
    """A regex matching the end of a path named by `name_format` (+ `.avro`); group i+1 is token i.

    Unnamed groups and plain escapes only, so Spark's regexp_extract reads it as Python does.
    """
    check_archive_name_format(name_format)
    parts, at = [], 0
    for match in _TOKEN.finditer(name_format):
        parts.append(re.escape(name_format[at : match.start()]))
        parts.append(_TOKEN_PATTERNS.get(match.group(1), _SEGMENT))
        at = match.end()
    parts.append(re.escape(name_format[at:] + ARCHIVE_SUFFIX))
    return "(?:^|/)" + "".join(parts) + "$"


def parse_archive_name(name_format: str, name: str) -> dict[str, str] | None:
    """The token values in a file's name (or path), None when it is not named by `name_format`."""
    match = re.search(archive_name_pattern(name_format), name)
    if match is None:
        return None
    return dict(zip(archive_name_tokens(name_format), match.groups(), strict=True))


def archive_glob(name_format: str) -> str:
    """A glob of every file `name_format` names, relative to the container or folder root."""
    check_archive_name_format(name_format)
    return _TOKEN.sub("*", name_format) + ARCHIVE_SUFFIX
