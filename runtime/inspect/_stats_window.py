"""``stats --since/--until``: the positions a time window covers, found without an index.

The table has no index on ``timestamp``, but positions are assigned in commit order, so
timestamps grow with positions, up to small skews between processes appending to one
file. A binary search over positions (about 20 point lookups by primary key for a
million events) finds the first position stamped at or after ``since - SKEW_S`` and the
last stamped at or before ``until + SKEW_S``; the aggregates then scan only that range
and test the timestamps exactly. A row out of order by more than ``SKEW_S`` at the edge
of the window could be missed: writers on one machine share a clock, so that does not
happen.

Runs inside ``_stats.in_snapshot``'s read transaction (blocking ``sqlite3`` calls).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import msgspec

__all__ = ["SKEW_S", "Window", "window_where"]

SKEW_S = 60.0
"""How far out of time order two commits may be (seconds): the search widens by it."""

_AT = "SELECT position, timestamp FROM events WHERE position >= ? ORDER BY position LIMIT 1"


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """A time window on the log's commit times (epoch seconds; None: open)."""

    since: float | None = None
    until: float | None = None


def window_where(conn: sqlite3.Connection, window: Window) -> tuple[str, list[float | int]]:
    """A ``WHERE`` clause (and its parameters) selecting the window's events."""
    first, last = conn.execute("SELECT min(position), max(position) FROM events").fetchone()
    if first is None:
        return "1 = 1", []
    low, high = int(first), int(last)
    clauses: list[str] = []
    params: list[float | int] = []
    if window.since is not None:
        low = _first_at_or_after(conn, window.since - SKEW_S, low, high)
        clauses.append("timestamp >= ?")
        params.append(window.since)
    if window.until is not None:
        high = _first_after(conn, window.until + SKEW_S, low, high) - 1
        clauses.append("timestamp <= ?")
        params.append(window.until)
    return " AND ".join(["position BETWEEN ? AND ?", *clauses]), [low, high, *params]


def _stamp(conn: sqlite3.Connection, position: int) -> tuple[int, float] | None:
    row = conn.execute(_AT, (position,)).fetchone()
    return None if row is None else (int(row[0]), float(row[1]))


def _first_at_or_after(conn: sqlite3.Connection, moment: float, low: int, high: int) -> int:
    """The first position in ``[low, high]`` stamped at or after ``moment`` (``high + 1``
    if none)."""
    return _search(conn, low, high, lambda stamp: stamp >= moment)


def _first_after(conn: sqlite3.Connection, moment: float, low: int, high: int) -> int:
    """The first position in ``[low, high]`` stamped after ``moment`` (``high + 1`` if none)."""
    return _search(conn, low, high, lambda stamp: stamp > moment)


def _search(conn: sqlite3.Connection, low: int, high: int, late: Callable[[float], bool]) -> int:
    """The first position in ``[low, high]`` whose stamp is ``late`` (``high + 1``: none).

    Positions may be missing (compacted, or a row deleted by hand): a lookup lands on
    the next existing one, which is still in order.
    """
    end = high + 1
    while low < end:
        middle = (low + end) // 2
        found = _stamp(conn, middle)
        if found is None or found[0] >= end or late(found[1]):
            end = middle
        else:
            low = found[0] + 1
    return low
