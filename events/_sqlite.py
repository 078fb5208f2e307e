"""``SqliteEventLog``: the embedded default ``EventLog`` and ``SnapshotStore``.

One SQLite file in WAL mode. One writer task commits appends in groups (see
``events._sqlite_committer``); readers use their own read-only connections, so reads
never block the writer.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import aiosqlite

from events._codec import EventRegistry, default_registry
from events._errors import EventLogError
from events._logger import get_logger
from events._pipeline import (
    DEFAULT_LINGER,
    DEFAULT_ROOM_TIMEOUT,
    Pipeline,
)
from events._queued_log import QueuedLog
from events._sqlite_codec import TypeTable
from events._sqlite_committer import CatchUpRequest, Committer, Entry, SnapshotRequest
from events._sqlite_immutable import connect_immutable
from events._sqlite_read import ReaderPool
from events._sqlite_reading import SqliteReading
from events._sqlite_schema import (
    SCHEMA_VERSION,
    Durability,
    connect,
    prepare_readonly,
    prepare_writer,
    run_sync,
)
from events._sqlite_writer import SqliteLogStatistics

__all__ = ["SqliteEventLog", "SqliteLogStatistics"]

log = get_logger(__name__)

DEFAULT_TAIL_INTERVAL = 0.02
"""Seconds between an idle log's looks for other writers' commits (while it has hooks)."""


class SqliteEventLog(SqliteReading, QueuedLog[Committer]):
    """An ``EventLog`` and ``SnapshotStore`` in one SQLite file.

    Durability (``open(..., durability=...)``): ``"normal"`` (``synchronous=NORMAL`` in
    WAL mode) keeps every acknowledged append through a crash of the process; the last
    commits before a power loss or OS crash may be lost. ``"full"`` (``synchronous=FULL``)
    syncs the WAL on every commit, so acknowledged appends survive power loss too, at the
    cost of one fsync per batch.

    Several writers (processes, or log objects in one process) may share the file:
    positions stay global, gap-free and in commit order, ``expected_version`` checks see
    every writer's commits, and each log's commit hooks get the others' commits as
    ``foreign`` batches (see ``events._sqlite_tail``).

    An ``append`` returns only after its batch has committed. If its caller is cancelled
    after the writer took the request, the append is *in flight*: it may still commit.
    Idempotency keys make a retry safe; a caller's key may not contain ``"\\x1f"``.
    """

    def __init__(
        self,
        path: Path,
        registry: EventRegistry,
        readers: ReaderPool,
        writer: tuple[aiosqlite.Connection, Committer] | None,
        v1: bool = False,
    ) -> None:
        """Use ``open`` or ``open_readonly``; this only wires already-open parts."""
        super().__init__(path, registry, readers, v1)
        self._writer = writer
        self._task: asyncio.Task[None] | None = None
        self._close_done = asyncio.Event()
        self._immutable = False
        if writer is not None:
            writer[1].after_commit = self._wake_subscribers
            writer[1].decode = self._decode
            self._task = asyncio.create_task(writer[1].run(), name=f"eventlog-writer:{path}")
            self._task.add_done_callback(self._writer_stopped)

    def _writer_stopped(self, task: asyncio.Task[None]) -> None:
        if self._closed or self._writer is None:
            return
        # Cancelled from outside (say, the loop shutting down): nobody will write the
        # queued requests, so fail them instead of leaving their callers waiting.
        error = None if task.cancelled() else task.exception()
        log.error("eventlog.writer.stopped", path=str(self._path), error=repr(error))
        self._writer[1].fail_pending()

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        durability: Durability = "normal",
        registry: EventRegistry = default_registry,
        queue_size: int = 10_000,
        max_batch: int = 1_000,
        linger: float = DEFAULT_LINGER,
        room_timeout: float = DEFAULT_ROOM_TIMEOUT,
        now: Callable[[], float] = time.time,
        busy_timeout: float = 5.0,
        max_page_count: int | None = None,
        tail_interval: float = DEFAULT_TAIL_INTERVAL,
    ) -> SqliteEventLog:
        """Open (creating if needed) the event log at ``path`` for reading and writing.

        Args:
            path: The database file; its directory must exist and be writable.
            durability: ``"normal"`` (survives a process crash) or ``"full"`` (survives
                power loss); see the class docstring.
            registry: Encodes appended events and decodes read ones.
            queue_size: Appends waiting for the writer above which ``append`` and
                ``wait_for_room`` wait for room (``append_nowait`` never waits).
            max_batch: Most requests committed in one transaction.
            linger: Seconds a routine ``append_nowait`` may wait to share a commit.
            room_timeout: Longest wait for room before ``EventLogBacklogged``.
            now: The clock stamping each batch's events (seconds since the epoch).
            busy_timeout: Seconds a write waits for another process's lock.
            max_page_count: Caps the file's size in pages (``PRAGMA max_page_count``);
                an append that would grow it past the cap fails with ``StorageFull``.
            tail_interval: Seconds between looks for other writers' commits while the
                log is idle and has commit hooks.

        A format-1 file (an older release's) is upgraded in place first.
        """
        if durability not in ("normal", "full"):
            raise ValueError(f"durability must be 'normal' or 'full', not {durability!r}")
        if queue_size < 1 or max_batch < 1:
            raise ValueError("queue_size and max_batch must be >= 1")
        if tail_interval <= 0:
            raise ValueError(f"tail_interval must be > 0, got {tail_interval}")
        where = _absolute(path)
        conn = await connect(where, readonly=False, busy_timeout=busy_timeout)
        try:
            await run_sync(conn, prepare_writer, where, durability, max_page_count)
        except BaseException:
            await conn.close()
            raise
        pipeline = Pipeline(capacity=queue_size, linger=linger, room_timeout=room_timeout)
        types = TypeTable()
        committer = Committer(
            conn,
            where,
            pipeline=pipeline,
            max_batch=max_batch,
            now=now,
            types=types,
            tail_interval=tail_interval,
            decode=lambda rows: [],
        )
        try:
            await committer.start()
        except BaseException:
            await conn.close()
            raise
        opened = cls(where, registry, ReaderPool(where, busy_timeout, types), (conn, committer))
        log.info("eventlog.opened", path=str(where), durability=durability)
        return opened

    @classmethod
    async def open_readonly(
        cls,
        path: str | Path,
        *,
        registry: EventRegistry = default_registry,
        busy_timeout: float = 5.0,
        immutable: bool = False,
    ) -> SqliteEventLog:
        """Open an existing log to read and subscribe only (a viewer beside a writer).

        ``append`` and ``save_snapshot`` raise ``EventLogError``; subscribers poll, so
        they see what another process appends. A format-1 file is read as it is.

        ``immutable``: read the file with SQLite's ``immutable=1`` (no lock, no
        ``-wal``/``-shm`` file created or read), for a directory SQLite cannot write to;
        ``events._sqlite_immutable.readonly_mode`` says when. Commits still in a
        ``-wal`` file and a running writer's later commits are not seen.
        """
        where = _absolute(path)
        if not await asyncio.to_thread(where.exists):
            raise EventLogError(f"no event log at {where}; check the path")
        if immutable:
            conn = await connect_immutable(where, busy_timeout=busy_timeout)
        else:
            conn = await connect(where, readonly=True, busy_timeout=busy_timeout)
        try:
            version = await run_sync(conn, prepare_readonly, where)
        finally:
            await conn.close()
        readers = ReaderPool(where, busy_timeout, TypeTable(), immutable=immutable)
        opened = cls(where, registry, readers, None, v1=version < SCHEMA_VERSION)
        opened._immutable = immutable
        return opened

    @property
    def immutable(self) -> bool:
        """Opened with ``open_readonly(..., immutable=True)``: no writer's commits seen."""
        return self._immutable

    async def catch_up(self) -> int:
        """Deliver to the commit hooks, now, what other writers committed and was not
        delivered yet (in order with this log's own batches); the position delivered up
        to. Read-only: the last committed position."""
        if self._writer is None:
            return await self.last_position()
        committer = self._writable_queue()
        future: asyncio.Future[tuple[int, ...]] = asyncio.get_running_loop().create_future()
        await committer.put((CatchUpRequest(), future, (), False))
        return (await future)[0]

    async def compact(self, through_position: int) -> int:
        """Delete every event at or before ``through_position``; how many were deleted.

        Stream versions and later positions are kept, snapshots before the position are
        deleted, idempotency keys of deleted events are forgotten; ``compacted_through``
        and ``compacted_at`` go to the ``meta`` table (see ``bounds()``). Runs on the
        writer's connection, between batches; other writers wait for it (busy timeout).

        Raises:
            ValueError: ``through_position`` is negative or beyond ``last_position()``.
        """
        deleted = await self._writable_queue().compact(through_position)
        log.info(
            "eventlog.compacted", path=str(self._path), through=through_position, events=deleted
        )
        return deleted

    def _watching(self, change: int) -> None:
        if self._writer is not None:
            committer = self._writer[1]
            committer.subscribers += change
            if change > 0:
                committer.hooks_changed()

    def _write_queue(self) -> Committer | None:
        return None if self._writer is None else self._writer[1]

    async def save_snapshot(self, name: str, position: int, state: bytes) -> None:
        """Store ``state`` of projection ``name`` as of ``position`` (in the next batch)."""
        committer = self._writable_queue()
        future: asyncio.Future[tuple[int, ...]] = asyncio.get_running_loop().create_future()
        entry: Entry = (SnapshotRequest(name, position, bytes(state)), future, (), False)
        await committer.put(entry)
        await future

    async def set_max_page_count(self, pages: int) -> int:
        """Cap (or raise the cap on) the file's size in pages; returns the cap in force.

        Runs on the writer connection between batches. SQLite never lowers the cap
        below the file's current size.
        """
        return await self._writable_queue().set_max_page_count(pages)

    async def close(self) -> None:
        """Stop accepting appends, flush the queue, checkpoint, close; idempotent."""
        if self._closed:
            await self._close_done.wait()
            return
        self._closed = True
        try:
            if self._writer is not None and self._task is not None:
                await self._writer[1].close_writer(self._task)
        finally:
            await self._readers.close()
            if self._writer is not None:
                await self._writer[0].close()
            self._wake_subscribers()
            self._close_done.set()
            log.info("eventlog.closed", path=str(self._path))


def _absolute(path: str | Path) -> Path:
    # Absolute once, at open: the log's path must not change with the working directory.
    return Path(os.path.abspath(path))
