"""Reading the PostgreSQL event log: filtered keyset pages, bounds, snapshots, compaction.

Each page is one query on a pooled connection; nothing is held while a consumer sits at
a ``yield``. Rows decode exactly as the SQLite log's (``events._sqlite_read.decode_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from events._postgres_schema import COMMIT_LOCK
from events._postgres_write import COLUMNS, LAST_POSITION
from events._protocol import LogBounds
from events._read_filter import PAGE_SIZE, ReadFilter

__all__ = ["PAGE_SIZE", "PgFilter", "compact", "read_bounds"]


@dataclass(frozen=True, slots=True)
class PgFilter(ReadFilter):
    """A read's filters (``ReadFilter``), as PostgreSQL queries."""

    def query(self, after: int, after_version: int | None, limit: int) -> tuple[str, list[Any]]:
        """SQL and parameters for the next page after position ``after``.

        A stream read pages on ``stream_version`` (the same order as position within a
        stream) so it walks the ``(stream, stream_version)`` index.
        """
        params: list[Any] = [after]
        where = ["position > $1"]

        def add(condition: str, value: Any) -> None:
            params.append(value)
            where.append(condition.replace("?", f"${len(params)}"))

        if self.to_position is not None:
            add("position <= ?", self.to_position)
        order = "position"
        if self.stream is not None:
            add("stream = ?", self.stream)
            add("stream_version > ?", after_version or 0)
            order = "stream_version"
        if self.types is not None:
            add("type = ANY(?::text[])", list(self.types))
        if self.since is not None:
            add("timestamp >= ?", self.since)
        if self.until is not None:
            add("timestamp <= ?", self.until)
        params.append(limit)
        sql = (
            f"SELECT {COLUMNS} FROM llmrt_events WHERE {' AND '.join(where)} "
            f"ORDER BY {order} LIMIT ${len(params)}"
        )
        return sql, params


_BOUNDS = (
    "SELECT (SELECT position FROM llmrt_events ORDER BY position LIMIT 1), "
    "(SELECT timestamp FROM llmrt_events ORDER BY position LIMIT 1), "
    "(SELECT timestamp FROM llmrt_events ORDER BY position DESC LIMIT 1), "
    f"({LAST_POSITION}), "
    "(SELECT value::bigint FROM llmrt_meta WHERE key = 'compacted_through'), "
    "(SELECT value::float8 FROM llmrt_meta WHERE key = 'compacted_at')"
)


async def read_bounds(conn: Any) -> LogBounds:
    """What the log holds, in one statement (one snapshot)."""
    first, first_time, last_time, last, through, at = await conn.fetchrow(_BOUNDS)
    return LogBounds(
        first_position=int(first) if first is not None else int(last) + 1,
        last_position=int(last),
        compacted_through=int(through or 0),
        compacted_at=float(at) if at is not None else None,
        first_timestamp=first_time,
        last_timestamp=last_time,
    )


_FLOORS = (
    "INSERT INTO llmrt_stream_floors (stream, version) "
    "SELECT stream, max(stream_version) FROM llmrt_events WHERE position <= $1 GROUP BY stream "
    "ON CONFLICT (stream) DO UPDATE "
    "SET version = greatest(llmrt_stream_floors.version, excluded.version)"
)
_MARK = (
    "INSERT INTO llmrt_meta (key, value) VALUES ($1, $2) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


async def compact(conn: Any, through: int, now: float) -> int:
    """Delete every event at or before ``through`` under the commit lock; how many.

    Stream versions survive in ``llmrt_stream_floors``; the mark ``compacted_through``
    keeps the last position (and so the numbering) even when every event goes.
    """
    if through < 0:
        raise ValueError(f"through_position must be >= 0, got {through}")
    async with conn.transaction():
        await conn.execute(f"SELECT pg_advisory_xact_lock({COMMIT_LOCK})")
        last = int(await conn.fetchval(LAST_POSITION))
        if through > last:
            raise ValueError(f"through_position {through} is beyond the log's last position {last}")
        earlier = await conn.fetchval(
            "SELECT value::bigint FROM llmrt_meta WHERE key = 'compacted_through'"
        )
        await conn.execute(_FLOORS, through)
        status = await conn.execute("DELETE FROM llmrt_events WHERE position <= $1", through)
        await conn.execute("DELETE FROM llmrt_snapshots WHERE position < $1", through)
        await conn.execute(_MARK, "compacted_through", str(max(int(earlier or 0), through)))
        await conn.execute(_MARK, "compacted_at", repr(now))
    return int(str(status).rsplit(" ", 1)[-1])
