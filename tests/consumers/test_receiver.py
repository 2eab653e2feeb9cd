"""The receive loop's pure parts: starting positions and the checkpoint policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers import CheckpointPolicy
from consumers.__main__ import build_parser
from consumers.receiver import starting_position


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("start", ("-1", False)),
        ("end", ("@latest", False)),
        ("offset:4096", ("4096", True)),
        ("sequence:12", (12, True)),
        ("time:2026-01-31T12:00:00Z", (datetime(2026, 1, 31, 12, tzinfo=UTC), True)),
        ("time:2026-01-31T12:00:00", (datetime(2026, 1, 31, 12, tzinfo=UTC), True)),
    ],
)
def test_starting_positions(text: str, expected: tuple[object, bool]) -> None:
    assert starting_position(text) == expected


@pytest.mark.parametrize("text", ["", "beginning", "sequence:x", "offset:", "time:yesterday", "sequence"])
def test_a_bad_starting_position_lists_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"start, end, offset:<offset>, sequence:<number> or time:"):
        starting_position(text)


def test_the_command_line_refuses_a_bad_position(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--start-at", "yesterday"])
    assert "'yesterday' is not a starting position" in capsys.readouterr().err


def test_checkpoint_policy() -> None:
    both = CheckpointPolicy(every_events=10, every_s=5.0)
    assert not both.due(0, 100.0)  # nothing pending: nothing to write
    assert not both.due(9, 4.9)
    assert both.due(10, 0.0) and both.due(1, 5.0)
    assert not CheckpointPolicy(None, None).due(1000, 1000.0)  # only on a clean stop
    assert CheckpointPolicy(None, 1.0).due(1, 1.0) and not CheckpointPolicy(None, 1.0).due(1000, 0.5)
