"""The benchmarks' plain-text tables: the columns they share (speed, CPU) and the layout."""

from __future__ import annotations

from collections.abc import Sequence

from . import EVENT_SIZE

SPEED_HEADER = ("events/s", "MB/s", "wall s")
CPU_HEADER = ("client CPU s", "client CPU %", "server CPU s", "server CPU %")


def speed_cells(events: int, wall_s: float) -> tuple[str, str, str]:
    """Table cells under SPEED_HEADER: events/s, MB/s of EVENT_SIZE-byte bodies, the wall time."""
    return f"{events / wall_s:,.0f}", f"{events * EVENT_SIZE / 1e6 / wall_s:.1f}", f"{wall_s:.2f}"


def cpu_cells(client_s: float, server_s: float, wall_s: float) -> tuple[str, str, str, str]:
    """Cells under CPU_HEADER: client CPU s, its share of one core over the wall time (%); the server's."""
    return (
        f"{client_s:.2f}",
        f"{100 * client_s / wall_s:.0f}",
        f"{server_s:.2f}",
        f"{100 * server_s / wall_s:.0f}",
    )


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain-text table with columns padded to their widest cell."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)
