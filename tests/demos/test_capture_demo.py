"""`make run-capture` (demos/capture.py): its closing line is computed from the CSVs, and the whole run ends
with nothing missing or duplicated."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from demos.capture import FIELDS, compare
from demos.capture import main as run_demo

SENT: list[dict[str, object]] = [
    {"id": device, "timestamp": f"t{n}", "uv": n / 10, "temperature": 70 + n, "humidity": 80}
    for n in range(3)
    for device in ("a", "b")
]


def write_csv(folder: Path, device: str, readings: list[dict[str, object]]) -> None:
    with (folder / f"{device}.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(FIELDS)
        writer.writerows([reading[name] for name in FIELDS] for reading in readings)


def test_compare_counts_missing_duplicated_and_out_of_order(tmp_path: Path) -> None:
    a = [r for r in SENT if r["id"] == "a"]
    b = [r for r in SENT if r["id"] == "b"]
    write_csv(tmp_path, "a", a)
    write_csv(tmp_path, "b", b)
    assert compare(SENT, tmp_path) == (2, 6, 0, 0, [])

    write_csv(tmp_path, "a", [*a[1:], a[1]])  # the tutorial's bug, and a reading twice
    write_csv(tmp_path, "b", [b[1], b[0], b[2]])
    assert compare(SENT, tmp_path) == (2, 6, 1, 1, ["b"])


@pytest.mark.timeout(120)
def test_the_demo_captures_and_reads_every_reading(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run_demo(["--out", str(tmp_path)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("done: 200 events captured in ")
    assert last.endswith("; CSV: 10 devices, 200 rows, 0 missing, 0 duplicated")
    assert len(list(tmp_path.glob("*.csv"))) == 10
