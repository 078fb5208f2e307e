"""Group commit and the tail for the PostgreSQL event log: one task, one connection.

The committer task owns the queue (timing rules: ``events._pipeline``). It takes
everything queued (up to ``max_batch``) and commits it in one locked transaction
(``events._postgres_write``), then settles the callers' futures and calls the commit
hooks in the same loop turn: first the rows other writers committed before this batch
(``foreign=True``), then its own batch.

While it has nothing to commit and a hook is registered, it tails: woken by the LISTEN
connection's notifications (``hint()``) or, as a fallback, every ``poll_interval``
seconds, it delivers what others committed since its last delivered position.
``catch_up()`` does the same on demand. Commits, tails and catch-ups take turns
(``_step``), so ``delivered`` only ever moves forward, without gaps or repeats.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from events._codec import EventRegistry
from events._errors import EventLogClosed, EventLogError
from events._logger import get_logger
from events._pipeline import CommittedBatch, Pipeline, settle
from events._postgres_plan import AppendRequest, StreamCache, decode, stored_events
from events._postgres_read import PAGE_SIZE
from events._postgres_schema import mask_url, translate
from events._postgres_write import COLUMNS, LAST_POSITION, write_batch
from events._write_queue import QueueEntry, WriteQueue

__all__ = ["Entry", "PgCommitter"]

log = get_logger(__name__)

Entry = QueueEntry[AppendRequest]
"""A request, its future, its domain events (for the hooks), and whether it is a
background (``append_nowait``) append."""


_RANGE = (
    f"SELECT {COLUMNS} FROM llmrt_events WHERE position > $1 AND position <= $2 "
    "ORDER BY position LIMIT $3"
)


class PgCommitter(WriteQueue[AppendRequest]):
    """Owns the write queue, the writer connection and the delivered position."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        url: str,
        *,
        pipeline: Pipeline,
        registry: EventRegistry,
        max_batch: int,
        now: Callable[[], float],
        poll_interval: float,
        delivered: int,
    ) -> None:
        super().__init__(pipeline, name=mask_url(url), max_batch=max_batch)
        self.delivered = delivered
        """Every position up to this one went to the hooks (or nobody was hooked)."""
        self.after_commit: Callable[[], None] = lambda: None
        """Called after every commit and foreign delivery (the log wakes subscribers)."""
        self.on_poll: Callable[[], Awaitable[None]] | None = None
        """Awaited before each fallback poll (the log re-opens a lost LISTEN)."""
        self.unknown = 0
        self._connect = connect
        self._url = url
        self._registry = registry
        self.now = now
        """The clock stamping each batch."""
        self._poll_interval = poll_interval
        self._conn: Any = None
        self._flight: list[Entry] | None = None
        self._cache = StreamCache()
        self._step = asyncio.Lock()
        self._hinted = False
        self._next_poll = 0.0
        self._abort = threading.Event()

    def _stream_of(self, request: AppendRequest) -> str:
        return request[0]

    # --- the queue (``WriteQueue``) and the tail -----------------------------------------

    def hint(self) -> None:
        """Another writer committed (a notification): tail soon."""
        self._hinted = True
        self._wake()

    async def catch_up(self) -> int:
        """Deliver what others committed, now; the position delivered up to."""
        async with self._step:
            await self._tail()
            return self.delivered

    # --- the task ----------------------------------------------------------------------

    async def run(self) -> None:
        """The writer task's body: commit batches, tail while idle, until stopped."""
        try:
            while self._pending or not self._stopping:
                if self._pending:
                    wait = 0.0 if self._stopping else self.pipeline.linger_left()
                    if wait > 0:
                        await self._alarm.sleep(wait)
                        continue
                    batch = self._take()
                    async with self._step:
                        await self._commit(batch)
                elif self.pipeline.hooked and (self._hinted or time.monotonic() >= self._next_poll):
                    await self._poll()
                else:
                    hooked = self.pipeline.hooked
                    wait_for = max(0.0, self._next_poll - time.monotonic()) if hooked else None
                    await self._alarm.sleep(wait_for)
        except asyncio.CancelledError:
            self._abandon()
            raise
        finally:
            self.stopped = True
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.terminate()

    async def close_connection(self) -> None:
        """Close the writer connection gracefully (after the task finished)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close(timeout=10)

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            self._conn = None
            self._conn = await self._connect()
        return self._conn

    async def _poll(self) -> None:
        self._hinted = False
        self._next_poll = time.monotonic() + self._poll_interval
        if self.on_poll is not None:
            await self.on_poll()
        try:
            async with self._step:
                await self._tail()
        except EventLogError as exc:  # the server is away: try again at the next poll
            log.warning("eventlog.tail.failed", url=mask_url(self._url), error=str(exc))

    # --- committing --------------------------------------------------------------------

    async def _commit(self, batch: list[Entry]) -> None:
        entries = [entry for entry in batch if not entry[1].done()]  # a caller gave up
        if not entries:
            return
        hooked = self.pipeline.hooked
        started = time.perf_counter()
        self._flight = entries
        try:
            conn = await self._connection()
            requests = [entry[0] for entry in entries]
            delivered = self.delivered if hooked else None
            timestamp = self.now()
            plan, foreign = await write_batch(
                conn, requests, self._cache, timestamp, delivered, self._abort
            )
        except Exception as exc:
            self._flight = None
            self._failed(exc, entries)
            return
        self._flight = None
        seconds = time.perf_counter() - started
        self._count_commit(entries, plan.outcomes, len(plan.rows), seconds)
        if foreign:
            self._deliver(foreign, last=foreign[-1][0])
        self.delivered = plan.last
        self.after_commit()
        if hooked:
            stored = stored_events(
                [(e[0], e[2]) for e in entries], plan.outcomes, plan.first_versions, timestamp
            )
            committed = CommittedBatch(events=stored, appends=len(entries), seconds=seconds)
            self.pipeline.committed(committed)

    def _failed(self, exc: Exception, entries: list[Entry]) -> None:
        self.batches_failed += 1
        log.error(
            "eventlog.batch.failed", url=mask_url(self._url), appends=len(entries), error=str(exc)
        )
        if self._conn is not None and self._conn.is_closed():
            self._conn = None
        make = self._error_maker(exc, "append")
        self.pipeline.commit_failed(make())
        self._fail_entries(entries, make)

    def _error_maker(self, exc: Exception, doing: str) -> Callable[[], EventLogError]:
        error = exc if isinstance(exc, EventLogError) else translate(exc, self._url, doing)

        def make() -> EventLogError:  # one instance per caller (tracebacks stay apart)
            copy = type(error)(str(error))
            copy.__cause__ = exc
            return copy

        return make

    def _abandon(self) -> None:
        """Cancelled: the transaction is rolled back (connection terminated); tell callers."""
        self._abort.set()
        flight, self._flight = self._flight, None
        for _, future, _, _ in flight or ():
            settle(
                future,
                EventLogClosed(
                    f"event log {mask_url(self._url)} was closed while this append was in "
                    "flight; it was most likely rolled back: check with its idempotency key "
                    "before retrying"
                ),
            )

    # --- the tail ----------------------------------------------------------------------

    async def _tail(self) -> None:
        """Deliver every row others committed above ``delivered`` (runs under ``_step``)."""
        try:
            conn = await self._connection()
            last = int(await conn.fetchval(LAST_POSITION))
            while last > self.delivered:
                if not self.pipeline.hooked:
                    self.delivered = last
                    break
                rows = await conn.fetch(_RANGE, self.delivered, last, PAGE_SIZE)
                self._deliver(rows, last=last if len(rows) < PAGE_SIZE else rows[-1][0])
        except EventLogError:
            raise
        except Exception as exc:
            if self._conn is not None and self._conn.is_closed():
                self._conn = None
            raise self._error_maker(exc, "tail")() from exc

    def _deliver(self, rows: list[Any], *, last: int) -> None:
        """Hand others' rows to the hooks as one foreign batch; ``delivered = last``."""
        expected = self.delivered + 1
        if not rows or rows[0][0] != expected:
            found = rows[0][0] if rows else last + 1
            log.error(
                "eventlog.tail.compacted",
                url=mask_url(self._url),
                expected=expected,
                continues_at=found,
            )
        self.delivered = last
        if rows:
            before = self._registry.unknown_count
            events = tuple(decode(rows, self._registry))
            self.unknown += self._registry.unknown_count - before
            self.pipeline.committed(
                CommittedBatch(events=events, appends=0, seconds=0.0, foreign=True)
            )
        self.after_commit()
