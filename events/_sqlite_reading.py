"""The read side of ``SqliteEventLog``: filtered reads, subscriptions, positions, bounds.

Everything here reads storage through the reader pool (never the writer's cache), so
other writers' commits count. Format-1 files opened read-only are read as they are.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection
from pathlib import Path

from events._base import StoredEvent
from events._codec import EventRegistry
from events._errors import EventLogClosed
from events._protocol import LogBounds
from events._read_filter import Pages
from events._sqlite_read import Filter, ReaderPool, decode_rows
from events._sqlite_rows import LAST_POSITION, Row
from events._sqlite_tail import log_bounds
from events._subscribing import Subscribable

__all__ = ["SqliteReading"]

_POLL_INTERVAL = 0.25
"""Subscribers re-query this often, to see rows another process commits even when no
tail delivers them (a read-only log, or a log without commit hooks)."""


class SqliteReading(Subscribable):
    """Reads of one SQLite log file; ``SqliteEventLog`` adds the writer."""

    def __init__(self, path: Path, registry: EventRegistry, readers: ReaderPool, v1: bool) -> None:
        self._path = path
        self._registry = registry
        self._readers = readers
        self._v1 = v1
        """A format-1 file (opened read-only: it is upgraded when opened for writing)."""
        super().__init__()
        self._unknown = 0

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def unknown_count(self) -> int:
        """Events this log has handed out as ``UnknownEvent`` (unknown, newer, corrupt)."""
        return self._unknown

    def _decode(self, rows: list[Row]) -> list[StoredEvent]:
        registry = self._registry
        before = registry.unknown_count
        page = decode_rows(rows, registry, self._readers.types)
        self._unknown += registry.unknown_count - before
        return page

    async def read(
        self,
        from_position: int = 1,
        *,
        to_position: int | None = None,
        stream: str | None = None,
        types: Collection[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> AsyncGenerator[StoredEvent, None]:
        """Committed events in position order, filtered; bounds are inclusive.

        Fetched in pages of ``PAGE_SIZE`` rows, so memory stays bounded. A row that
        cannot be decoded is yielded as a counted ``UnknownEvent``. Compacted positions
        are simply not there: a read from below the first retained position starts at it.
        """
        if self._closed:
            raise EventLogClosed(f"event log {self._path} is closed")
        where = Filter.of(to_position, stream, types, since, until)
        if types is not None and not self._v1:
            await self._readers.load_types(types)
            where = where.with_type_ids(self._readers.types)
        pages = Pages(from_position, limit)
        while size := pages.size():
            query = where.query(pages.after, pages.after_version, size, v1=self._v1)
            rows = await self._readers.page(*query)
            for event in self._decode(rows):
                yield event
            if not pages.advance(rows):
                return

    def _subscriber_poll(self) -> float:
        return _POLL_INTERVAL

    async def last_position(self) -> int:
        """The highest committed position, by any writer (0 for an empty log)."""
        if self._v1:
            return await self._readers.scalar("SELECT coalesce(max(position), 0) FROM events", ())
        return await self._readers.scalar(LAST_POSITION, ())

    async def stream_version(self, stream: str) -> int:
        """The stream's current version, by any writer (0 if it has no events); kept
        when its events are compacted away."""
        if self._v1:
            sql = "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream = ?"
        else:
            sql = "SELECT coalesce((SELECT version FROM log_streams WHERE name = ?), 0)"
        return await self._readers.scalar(sql, (stream,))

    async def bounds(self) -> LogBounds:
        """The positions (and times) the log holds, and what was compacted before them."""
        if self._closed:
            raise EventLogClosed(f"event log {self._path} is closed")
        return await self._readers.run(log_bounds, self._v1)

    async def load_snapshot(
        self, name: str, *, at_or_before: int | None = None
    ) -> tuple[int, bytes] | None:
        """The latest snapshot of ``name`` (at or before a position); ``None`` if none."""
        if self._closed:
            raise EventLogClosed(f"event log {self._path} is closed")
        return await self._readers.snapshot(name, at_or_before)
