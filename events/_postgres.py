"""``PostgresEventLog``: the ``EventLog`` and ``SnapshotStore`` several machines share.

One PostgreSQL database holds the log (tables ``llmrt_*``, created on the first open);
any number of runtimes, on any number of machines, open it with the same URL.

Positions: global, gap-free and in commit order across every writer. Each committing
transaction first takes ``pg_advisory_xact_lock(COMMIT_LOCK)`` and then numbers its rows
``max(position) + 1 …`` inside it. A sequence would not do: ``nextval`` is not
transactional (a rolled-back append leaves a gap forever) and numbers are handed out
when rows are inserted, not when they commit, so position 8 may commit before 7 and a
reader (a tail that then moves past 8) would miss 7 for good. With the lock there is
one commit at a time, and PostgreSQL marks a transaction committed before it releases
the lock, so no reader can ever see n+1 while n is not visible. The cost is that
commits from all writers are serialized; group commit (one transaction per batch of
appends, 50 ms linger for routine events) keeps that cheap.

Other writers' events: the committing transaction reads the rows committed since this
log object's last delivered position and hands them to the commit hooks
(``foreign=True``) before its own batch. While idle, a log with hooks tails: every commit
``NOTIFY``s its last position on channel ``llmrt_events``; a LISTEN connection wakes the
tail at once, and a poll every ``poll_interval`` (1 s) covers lost notifications.
``catch_up()`` delivers on demand. Snapshots live in the same database (``llmrt_snapshots``).

asyncpg is an optional dependency (``pip install 'llm-reliability-runtime[postgres]'``),
imported only when a log is opened. Passwords never appear in logs or error messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Collection
from typing import Any

from events._base import StoredEvent
from events._codec import EventRegistry, default_registry
from events._errors import EventLogClosed
from events._logger import get_logger
from events._pipeline import (
    DEFAULT_LINGER,
    DEFAULT_ROOM_TIMEOUT,
    Pipeline,
)
from events._postgres_committer import PgCommitter
from events._postgres_conn import Listener, Reader, connect, create_pool, finish, guard, open_writer
from events._postgres_read import PgFilter, compact, read_bounds
from events._postgres_schema import (
    mask_url,
    prepare,
    remember_password,
)
from events._postgres_write import LAST_POSITION, STREAM_VERSION
from events._protocol import LogBounds
from events._queued_log import QueuedLog
from events._subscribing import Subscribable

__all__ = ["PostgresEventLog"]

log = get_logger(__name__)

DEFAULT_POLL_INTERVAL = 1.0
"""Seconds between fallback polls for other writers' commits (notifications wake sooner)."""


class PostgresEventLog(Subscribable, QueuedLog[PgCommitter]):
    """An ``EventLog`` and ``SnapshotStore`` in a PostgreSQL database (see the module doc).

    Durability is the server's: with PostgreSQL's default ``synchronous_commit=on`` an
    acknowledged append survives a crash of the server machine too.
    """

    def __init__(
        self, url: str, registry: EventRegistry, pool: Any, committer: PgCommitter | None
    ) -> None:
        """Use ``open`` or ``open_readonly``; this only wires already-open parts."""
        super().__init__()
        self._url = url
        self._registry = registry
        self._reader = Reader(url, pool, registry)
        self._committer = committer
        self._task: asyncio.Task[None] | None = None
        self._listener = Listener(url, self._notified)
        self._closing = False
        self._close_done = asyncio.Event()
        self.poll_interval = DEFAULT_POLL_INTERVAL
        if committer is not None:
            committer.after_commit = self._wake_subscribers
            committer.on_poll = self._listener.ensure
            self._task = asyncio.create_task(committer.run(), name="eventlog-writer:postgres")
            self._task.add_done_callback(self._writer_stopped)

    def _writer_stopped(self, task: asyncio.Task[None]) -> None:
        if self._closing or self._committer is None:
            return
        error = None if task.cancelled() else task.exception()
        log.error("eventlog.writer.stopped", url=self.url, error=repr(error))
        self._committer.fail_pending()

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        registry: EventRegistry = default_registry,
        queue_size: int = 10_000,
        max_batch: int = 1_000,
        linger: float = DEFAULT_LINGER,
        room_timeout: float = DEFAULT_ROOM_TIMEOUT,
        now: Callable[[], float] = time.time,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        pool_size: int = 4,
    ) -> PostgresEventLog:
        """Open (creating the tables if needed) the log in the database at ``url``.

        Args:
            url: ``postgresql://user:password@host:port/database``.
            registry: Encodes appended events and decodes read ones.
            queue_size: Appends waiting for the writer above which ``wait_for_room`` waits.
            max_batch: Most appends committed in one transaction.
            linger: Seconds a routine ``append_nowait`` may wait to share a commit.
            room_timeout: Longest wait for room before ``EventLogBacklogged``.
            now: The clock stamping each batch's events (seconds since the epoch).
            poll_interval: Seconds between fallback polls for other writers' commits.
            pool_size: Connections for reads (the writer and LISTEN have their own).
        """
        if queue_size < 1 or max_batch < 1 or pool_size < 1 or poll_interval <= 0:
            raise ValueError("queue_size, max_batch, pool_size and poll_interval must be > 0")
        remember_password(url)
        conn, delivered = await open_writer(url)
        pool = await create_pool(url, pool_size, readonly=False)
        pipeline = Pipeline(capacity=queue_size, linger=linger, room_timeout=room_timeout)
        committer = PgCommitter(
            lambda: connect(url),
            url,
            pipeline=pipeline,
            registry=registry,
            max_batch=max_batch,
            now=now,
            poll_interval=poll_interval,
            delivered=delivered,
        )
        committer._conn = conn  # the writer connection: already open and checked
        opened = cls(url, registry, pool, committer)
        opened.poll_interval = poll_interval
        await opened._listener.ensure()
        log.info("eventlog.opened", url=opened.url)
        return opened

    @classmethod
    async def open_readonly(
        cls, url: str, *, registry: EventRegistry = default_registry
    ) -> PostgresEventLog:
        """Open an existing log to read and subscribe only (sessions are read-only)."""
        remember_password(url)
        pool = await create_pool(url, 2, readonly=True)
        try:
            async with pool.acquire() as conn:
                await guard(prepare(conn, url, create=False), url, "open")
        except BaseException:
            await pool.close()
            raise
        opened = cls(url, registry, pool, None)
        await opened._listener.ensure()
        return opened

    @property
    def url(self) -> str:
        """The database URL, password masked."""
        return mask_url(self._url)

    @property
    def path(self) -> str:
        """Where the log lives, for messages: the URL, password masked."""
        return self.url

    @property
    def unknown_count(self) -> int:
        """Events this log has handed out as ``UnknownEvent``."""
        return self._reader.unknown + (self._committer.unknown if self._committer else 0)

    # --- appending ---------------------------------------------------------------------

    async def catch_up(self) -> int:
        """Deliver what other writers committed to the hooks now; the position reached."""
        return await self._writable_queue().catch_up()

    def _write_queue(self) -> PgCommitter | None:
        return self._committer

    # --- reading -----------------------------------------------------------------------

    def read(
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
        """Committed events in position order, filtered; bounds are inclusive."""
        self._check_open()
        where = PgFilter.of(to_position, stream, types, since, until)
        return self._reader.events(from_position, where, limit)

    def _subscriber_poll(self) -> float:
        # Notifications wake subscribers at once; the poll covers a lost one.
        return self.poll_interval

    async def last_position(self) -> int:
        """The highest committed position by any writer (0 for an empty log)."""
        self._check_open()
        return int(await self._reader.fetchval(LAST_POSITION))

    async def stream_version(self, stream: str) -> int:
        """The stream's current version (0 if it never had events)."""
        self._check_open()
        sql = f"SELECT {STREAM_VERSION.format(s='$1')}"
        return int(await self._reader.fetchval(sql, stream))

    async def bounds(self) -> LogBounds:
        """The positions (and times) the log holds, and what was compacted before them."""
        self._check_open()
        return await self._reader.run("read", read_bounds)

    async def compact(self, through_position: int) -> int:
        """Delete every event at or before ``through_position``; how many were deleted."""
        now = self._writable_queue().now()
        deleted = await self._reader.run(
            "compact", lambda conn: compact(conn, through_position, now)
        )
        log.info("eventlog.compacted", url=self.url, through=through_position, deleted=deleted)
        return deleted

    async def save_snapshot(self, name: str, position: int, state: bytes) -> None:
        """Store ``state`` of projection ``name`` as of ``position`` (replacing one there)."""
        now = self._writable_queue().now()
        if position < 0:
            raise ValueError(f"snapshot position must be >= 0, got {position}")
        await self._reader.save_snapshot(name, position, now, bytes(state))

    async def load_snapshot(
        self, name: str, *, at_or_before: int | None = None
    ) -> tuple[int, bytes] | None:
        """The latest snapshot of ``name`` (at or before a position); ``None`` if none."""
        self._check_open()
        return await self._reader.load_snapshot(name, at_or_before)

    def _check_open(self) -> None:
        if self._closed:
            raise EventLogClosed(f"event log {self.url} is closed")

    def _notified(self, payload: str) -> None:
        committer = self._committer
        if committer is not None and (not payload.isdigit() or int(payload) > committer.delivered):
            committer.hint()
        self._wake_subscribers()

    async def close(self) -> None:
        """Commit what is queued, stop the writer, close every connection; idempotent."""
        if self._closing:
            await self._close_done.wait()
            return
        self._closing = True
        committer, task = self._committer, self._task
        try:
            if committer is not None and task is not None:
                committer.stop()
                await finish(task)
                committer.fail_pending()
                await committer.close_connection()
        finally:
            self._closed = True
            self._listener.close()
            await self._reader.close()
            self._wake_subscribers()
            self._close_done.set()
            log.info("eventlog.closed", url=self.url)
