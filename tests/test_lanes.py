"""tests/lanes.py: the two lanes of `make test` cover the suite once, and their exit codes combine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lanes import LANE_ONE, NO_TESTS_COLLECTED, combined, lane_commands

TESTS = Path(__file__).resolve().parent


def test_lane_one_names_test_folders_and_lane_two_ignores_exactly_those() -> None:
    assert all((TESTS.parent / path).is_dir() for path in LANE_ONE)
    one, two = lane_commands(["-k", "selector"])
    assert one[-len(LANE_ONE) - 2 :] == [*LANE_ONE, "-k", "selector"]
    assert sorted(a.removeprefix("--ignore=") for a in two if a.startswith("--ignore=")) == sorted(LANE_ONE)
    assert two[-2:] == ["-k", "selector"]


@pytest.mark.parametrize(
    ("one", "two", "suite"),
    [
        (0, 0, 0),
        (1, 0, 1),
        (0, 1, 1),
        (NO_TESTS_COLLECTED, 0, 0),  # -k matched tests in lane two only
        (1, NO_TESTS_COLLECTED, 1),
        (NO_TESTS_COLLECTED, NO_TESTS_COLLECTED, NO_TESTS_COLLECTED),
        (2, 0, 2),  # interrupted or a usage error
    ],
)
def test_exit_codes_combine(one: int, two: int, suite: int) -> None:
    assert combined(one, two) == suite
