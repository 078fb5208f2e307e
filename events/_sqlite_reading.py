"""The read side of ``SqliteEventLog``: filtered reads, subscriptions, positions, bounds.

Everything here reads storage through the reader pool (never the writer's cache), so
other writers' commits count. Format-1 files opened read-only are read as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Collection
from pathlib import Path

from events._base import StoredEvent
from events._codec import EventRegistry
from events._errors import EventLogClosed
from events._protocol import LogBounds
from events._sqlite_read import PAGE_SIZE, Filter, ReaderPool, decode_rows
from events._sqlite_rows import LAST_POSITION, Row
from events._sqlite_tail import log_bounds

__all__ = ["SqliteReading"]

_POLL_INTERVAL = 0.25
"""Subscribers re-query this often, to see rows another process commits even when no
tail delivers them (a read-only log, or a log without commit hooks)."""


class SqliteReading:
    """Reads of one SQLite log file; ``SqliteEventLog`` adds the writer."""

    def __init__(self, path: Path, registry: EventRegistry, readers: ReaderPool, v1: bool) -> None:
        self._path = path
        self._registry = registry
        self._readers = readers
        self._v1 = v1
        """A format-1 file (opened read-only: it is upgraded when opened for writing)."""
        self._closed = False
        self._signal = asyncio.Event()
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
        remaining = limit
        after, after_version = max(from_position, 1) - 1, None
        while remaining is None or remaining > 0:
            size = PAGE_SIZE if remaining is None else min(PAGE_SIZE, remaining)
            rows = await self._readers.page(*where.query(after, after_version, size, v1=self._v1))
            for event in self._decode(rows):
                yield event
            if len(rows) < size:
                return
            after, after_version = rows[-1][0], rows[-1][2]
            if remaining is not None:
                remaining -= len(rows)

    async def subscribe(
        self,
        from_position: int = 1,
        *,
        stream: str | None = None,
        types: Collection[str] | None = None,
    ) -> AsyncIterator[StoredEvent]:
        """Matching events from ``from_position``, then new ones as they commit.

        Woken by every delivery to the commit hooks (this log's commits and other
        writers' found by the tail) and polling every ``_POLL_INTERVAL`` seconds
        otherwise. Ends when the log closes.
        """
        after = max(from_position, 1) - 1
        self._watching(1)
        try:
            while not self._closed:
                signal = self._signal
                try:
                    async with contextlib.aclosing(
                        self.read(after + 1, stream=stream, types=types)
                    ) as events:
                        async for event in events:
                            yield event
                            after = event.position
                except EventLogClosed:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(signal.wait(), _POLL_INTERVAL)
        finally:
            self._watching(-1)

    def _watching(self, change: int) -> None:
        """A subscriber came (+1) or went (-1): a writer tails for it (overridden)."""

    def _wake_subscribers(self) -> None:
        signal, self._signal = self._signal, asyncio.Event()
        signal.set()

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
