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
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Sequence
from types import TracebackType
from typing import Any

from events._base import Event, StoredEvent
from events._codec import EventRegistry, default_registry
from events._errors import EventLogClosed, EventLogError
from events._logger import get_logger
from events._pipeline import (
    DEFAULT_LINGER,
    DEFAULT_ROOM_TIMEOUT,
    CommitHook,
    Pipeline,
    PipelineStatistics,
)
from events._postgres_committer import PgCommitter, make_entry
from events._postgres_conn import Listener, Reader, connect, create_pool, finish, guard, open_writer
from events._postgres_plan import KEY_SEPARATOR
from events._postgres_read import PgFilter, compact, read_bounds
from events._postgres_schema import (
    mask_url,
    prepare,
    remember_password,
)
from events._postgres_write import LAST_POSITION, STREAM_VERSION
from events._protocol import LogBounds
from events._sqlite_writer import SqliteLogStatistics

__all__ = ["PostgresEventLog"]

log = get_logger(__name__)

DEFAULT_POLL_INTERVAL = 1.0
"""Seconds between fallback polls for other writers' commits (notifications wake sooner)."""


class PostgresEventLog:
    """An ``EventLog`` and ``SnapshotStore`` in a PostgreSQL database (see the module doc).

    Durability is the server's: with PostgreSQL's default ``synchronous_commit=on`` an
    acknowledged append survives a crash of the server machine too.
    """

    def __init__(
        self, url: str, registry: EventRegistry, pool: Any, committer: PgCommitter | None
    ) -> None:
        """Use ``open`` or ``open_readonly``; this only wires already-open parts."""
        self._url = url
        self._registry = registry
        self._reader = Reader(url, pool, registry)
        self._committer = committer
        self._task: asyncio.Task[None] | None = None
        self._listener = Listener(url, self._notified)
        self._closed = False
        self._closing = False
        self._close_done = asyncio.Event()
        self._signal = asyncio.Event()
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

    async def __aenter__(self) -> PostgresEventLog:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

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

    async def append(
        self,
        stream: str,
        events: Sequence[Event],
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, ...]:
        """Append ``events`` to ``stream`` atomically; see ``EventLog.append``."""
        committer = self._writable()
        if idempotency_key is not None and KEY_SEPARATOR in idempotency_key:
            raise ValueError("an idempotency key may not contain '\\x1f' (reserved)")
        entry = make_entry(self._registry, stream, events, expected_version, idempotency_key, False)
        await committer.put(entry)
        return await entry[1]

    def append_nowait(
        self,
        stream: str,
        events: Sequence[Event],
        *,
        urgent: bool = False,
        expected_version: int | None = None,
    ) -> asyncio.Future[tuple[int, ...]]:
        """Queue ``events`` and return at once; see ``EventLog.append_nowait``."""
        committer = self._writable()
        entry = make_entry(self._registry, stream, events, expected_version, None, True)
        committer.queue(entry, hurry=urgent)
        return entry[1]

    async def catch_up(self) -> int:
        """Deliver what other writers committed to the hooks now; the position reached."""
        return await self._writable().catch_up()

    async def wait_for_room(self) -> None:
        """Return once fewer than ``queue_size`` appends wait for the writer."""
        committer = self._writable()
        await committer.pipeline.wait_for_room(lambda: committer.depth)

    async def flush(self) -> None:
        """Wait until every append queued so far is committed (or failed)."""
        if self._committer is not None and not self._closed:
            await self._committer.flush()

    def on_commit(self, hook: CommitHook) -> Callable[[], None]:
        """Call ``hook(batch)`` with every committed batch, own and foreign; returns undo."""
        committer = self._writable()
        undo = committer.pipeline.add_hook(hook)
        committer.hooks_changed()
        return undo

    def pipeline_statistics(self) -> PipelineStatistics:
        """The queue and the background appends' counters (zeros if read-only)."""
        if self._committer is None:
            return Pipeline(capacity=1, linger=0, room_timeout=1).statistics(0)
        return self._committer.pipeline.statistics(self._committer.depth)

    def statistics(self) -> SqliteLogStatistics:
        """The writer's counters (the same record as the SQLite log's)."""
        if self._committer is None:
            return SqliteLogStatistics(unknown_count=self.unknown_count)
        return self._committer.statistics(self.unknown_count)

    def _writable(self) -> PgCommitter:
        if self._closed:
            raise EventLogClosed(f"event log {self.url} is closed")
        if self._committer is None:
            raise EventLogError(
                f"event log {self.url} was opened read-only; open it with "
                "PostgresEventLog.open to append"
            )
        if self._task is not None and self._task.done():
            raise EventLogClosed(f"event log {self.url}: its writer has stopped; reopen it")
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

    async def subscribe(
        self,
        from_position: int = 1,
        *,
        stream: str | None = None,
        types: Collection[str] | None = None,
    ) -> AsyncIterator[StoredEvent]:
        """Matching events from ``from_position``, then new ones as anyone commits them.

        Woken by this log's commits and deliveries and by notifications; polls every
        ``poll_interval`` seconds in case a notification was lost. Ends when the log closes.
        """
        after = max(from_position, 1) - 1
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
                await asyncio.wait_for(signal.wait(), self.poll_interval)

    def _wake_subscribers(self) -> None:
        signal, self._signal = self._signal, asyncio.Event()
        signal.set()

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
        now = self._writable().now()
        deleted = await self._reader.run(
            "compact", lambda conn: compact(conn, through_position, now)
        )
        log.info("eventlog.compacted", url=self.url, through=through_position, deleted=deleted)
        return deleted

    async def save_snapshot(self, name: str, position: int, state: bytes) -> None:
        """Store ``state`` of projection ``name`` as of ``position`` (replacing one there)."""
        now = self._writable().now()
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
