"""Other writers' commits, compaction and bounds: the SQLite log's many-writer parts.

Every function here runs synchronously in a connection's thread (``run_sync``).

Tail. ``PRAGMA data_version`` on the writer connection changes exactly when another
connection committed to the file, so an idle log with commit hooks polls it (one cheap
statement per ``tail_interval``) and reads rows only when it moved. Positions are given
under the write lock as ``max + 1``, so commits are position-ordered and a reader never
sees position n+1 before n: reading ``position > last delivered`` misses nothing.

Compaction deletes rows; stream versions live in ``log_streams`` and the last position
ever committed is also kept as ``meta.compacted_through``, so neither goes back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from events._protocol import LogBounds
from events._sqlite_codec import TypeTable
from events._sqlite_rows import LAST_POSITION, Row, StreamCache, foreign_rows

__all__ = ["Polled", "compact", "log_bounds", "poll_foreign"]


@dataclass(frozen=True, slots=True)
class Polled:
    """What a tail poll found."""

    rows: list[Row]
    """Other writers' rows after ``after`` (empty: nothing new, or nobody needs them)."""
    after: int
    """The position delivered up to before these rows."""
    last: int
    """The log's last position as of the poll."""


def poll_foreign(
    conn: sqlite3.Connection, cache: StreamCache, types: TypeTable, hooked: bool, force: bool
) -> Polled:
    """Read what other writers committed since the last look (``force``: even if
    ``data_version`` says nothing changed)."""
    data_version = conn.execute("PRAGMA data_version").fetchone()[0]
    after = cache.last
    if data_version == cache.data_version and not force:
        return Polled([], after, after)
    conn.execute("BEGIN")  # one read snapshot for the last position and the rows
    try:
        last = int(conn.execute(LAST_POSITION).fetchone()[0])
        rows = foreign_rows(conn, cache, last, hooked, types)
    finally:
        conn.execute("COMMIT")
    cache.data_version = data_version
    cache.last = max(last, after)
    return Polled(rows, after, cache.last)


def compact(conn: sqlite3.Connection, through: int, now: float) -> int:
    """Delete every event at or before ``through``, and snapshots before it; how many
    events were deleted. ``ValueError`` if ``through`` is beyond the last position."""
    if through < 0:
        raise ValueError(f"through_position must be >= 0, got {through}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        last = int(conn.execute(LAST_POSITION).fetchone()[0])
        if through > last:
            raise ValueError(
                f"through_position {through} is beyond the log's last position {last}; "
                "compact only what was committed"
            )
        deleted = conn.execute("DELETE FROM log_events WHERE position <= ?", (through,)).rowcount
        conn.execute("DELETE FROM snapshots WHERE position < ?", (through,))
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('compacted_through', ?) ON CONFLICT (key) "
            "DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            (str(through),),
        )
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted_at', ?)", (repr(now),)
        )
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    return int(deleted)


def log_bounds(conn: sqlite3.Connection, v1: bool) -> LogBounds:
    """The positions and times the log holds, in one read snapshot."""
    table = "events" if v1 else "log_events"
    conn.execute("BEGIN")
    try:
        span = f"SELECT min(position), max(position) FROM {table}"
        first, last_row = conn.execute(span).fetchone()
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        stamp = f"SELECT timestamp FROM {table} WHERE position = ?"
        first_ts = conn.execute(stamp, (first,)).fetchone() if first is not None else None
        last_ts = conn.execute(stamp, (last_row,)).fetchone() if last_row is not None else None
    finally:
        conn.execute("COMMIT")
    compacted = int(meta.get("compacted_through", 0))
    last = max(int(last_row or 0), compacted)
    at = meta.get("compacted_at")
    return LogBounds(
        first_position=int(first) if first is not None else last + 1,
        last_position=last,
        compacted_through=compacted,
        compacted_at=float(at) if at is not None else None,
        first_timestamp=float(first_ts[0]) if first_ts else None,
        last_timestamp=float(last_ts[0]) if last_ts else None,
    )
