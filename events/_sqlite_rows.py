"""What the SQLite log's writer and readers share: the row shape, and finding the rows
other writers committed (run in a connection's thread).

A row as read: ``(position, stream name, stream version, timestamp, type, schema
version, idempotency key, payload)``; ``type`` is the ``log_types`` id and ``payload``
packed (``events._sqlite_codec``) in format 2, the name and the JSON in format 1.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from events._appends import KEY_SEPARATOR
from events._sqlite_codec import TypeTable

__all__ = [
    "COLUMNS",
    "FROM",
    "KEY_SEPARATOR",
    "LAST_POSITION",
    "Row",
    "StreamCache",
    "foreign_rows",
]

Row = tuple[int, str, int, float, int | str, int, str | None, bytes]

COLUMNS = "e.position, s.name, e.version, e.timestamp, e.type, e.schema, e.key, e.payload"
FROM = "log_events AS e LEFT JOIN log_streams AS s ON s.id = e.stream"

LAST_POSITION = (
    "SELECT max(coalesce((SELECT max(position) FROM log_events), 0), "
    "coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'compacted_through'), 0))"
)
"""The highest position ever committed: compaction may have deleted its row."""

_FOREIGN = f"SELECT {COLUMNS} FROM {FROM} WHERE e.position > ? ORDER BY e.position LIMIT ?"
_CHUNK = 1_000


@dataclass(slots=True)
class StreamCache:
    """What the writer knows as of its last COMMIT (or tail poll).

    Owned by the writer connection's thread: only it reads or changes it, and a batch
    changes it only after COMMIT, so each batch plans against what the previous one
    committed and a failed batch leaves it as it was.
    """

    versions: dict[str, int] = field(default_factory=dict)
    """Stream versions as of ``last`` (a stream another writer appended to is dropped)."""
    ids: dict[str, int] = field(default_factory=dict)
    """Stream ids (``log_streams.id``; never change once assigned)."""
    last: int = 0
    """Every position up to this one was delivered to the hooks (or skipped: no hooks)."""
    data_version: int = -1
    """``PRAGMA data_version`` at the last tail poll: unchanged means no foreign commit."""


def foreign_rows(
    conn: sqlite3.Connection, cache: StreamCache, last: int, hooked: bool, types: TypeTable
) -> list[Row]:
    """Rows other writers committed after ``cache.last`` up to ``last``; forgets the
    cached versions of their streams (all of them if nobody needs the rows), and loads
    the type rows they refer to."""
    if last <= cache.last:
        return []
    if not hooked:
        cache.versions.clear()
        return []
    rows: list[Row] = []
    after = cache.last
    while True:
        chunk: list[Row] = conn.execute(_FOREIGN, (after, _CHUNK)).fetchall()
        rows += chunk
        if len(chunk) < _CHUNK or chunk[-1][0] >= last:
            break
        after = chunk[-1][0]
    versions = cache.versions
    for row in rows:
        versions.pop(row[1], None)
    types.ensure(conn, {row[4] for row in rows if type(row[4]) is int})
    return [row for row in rows if row[0] <= last]
