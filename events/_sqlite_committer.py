"""The SQLite event log's writer task: drains the queue, commits batches, resolves callers.

This is the I/O shell around :func:`events._sqlite_writer.write_batch`: it owns the
log's queue (the runtime's only event queue: ``events._pipeline``), lingers for
background appends, and updates the statistics only after a successful COMMIT, so a
failed batch (disk full, locked database) leaves them as they were and the writer keeps
serving later appends.

The queue itself (``queue``, ``put``, ``flush``, ``stop``, ``fail_pending``) is
``events._write_queue.WriteQueue``, shared with the PostgreSQL log's committer.

Batches go to the connection's thread as tasks (``_IN_FLIGHT`` at once); each batch's
callers are resolved, in order, only after its COMMIT; then the commit hooks get the
batch's events as ``StoredEvent``s (built only when a hook is registered).

Other writers. Each batch reads, under the write lock, what others committed since the
last look; those rows reach the hooks first, as a ``foreign`` batch. While nothing is
queued and a hook is registered, the writer polls for them every ``tail_interval``
(``events._sqlite_tail``): the poll is a flight like a batch, so own and foreign
deliveries land in one order.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import aiosqlite

from events._base import StoredEvent
from events._errors import EventLogClosed, StorageFull
from events._logger import get_logger
from events._pipeline import CommittedBatch, Pipeline, settle
from events._sqlite_checkpoint import Checkpointed, Checkpointer, passive_checkpoint
from events._sqlite_close import close_writer
from events._sqlite_codec import TypeTable
from events._sqlite_entries import (
    CatchUpRequest,
    Entry,
    SnapshotRequest,
    Waiter,
    copy_error,
    fail,
    split,
    stream_of,
    wrap_error,
)
from events._sqlite_rows import LAST_POSITION, Row
from events._sqlite_schema import run_sync, translate
from events._sqlite_tail import Polled, compact, poll_foreign
from events._sqlite_writer import (
    AppendRequest,
    BatchResult,
    StreamCache,
    stored_events,
    write_batch,
)
from events._write_queue import WriteQueue

__all__ = [
    "CatchUpRequest",
    "Committer",
    "Entry",
    "SnapshotRequest",
    "Waiter",
]

log = get_logger(__name__)

_IN_FLIGHT = 1
"""Batches handed to the connection's thread at once. 2 would let the thread start the
next batch while the loop resolves the last one, but measured no gain: appenders that
await their ack arrive all together after a commit, so there is rarely a second batch,
and when there is (smaller batches, forced), the thread's per-row GIL hand-offs in
``executemany`` wait on the busy loop and each commit got slower (~1.3x the thread time)."""


@dataclass(slots=True)
class _Flight:
    """A batch handed to the connection's thread, and the callers waiting for it."""

    task: asyncio.Task[BatchResult] | asyncio.Task[Polled] | asyncio.Task[Checkpointed]
    appends: list[Entry]
    append_futures: list[Waiter]
    snapshot_futures: list[Waiter]
    started: float
    catch_ups: list[Waiter]
    """``catch_up()`` callers, resolved with the last position once this lands."""
    checkpoint: bool = False
    """A passive checkpoint (``events._sqlite_checkpoint``), not a batch or a poll."""


class Committer(WriteQueue[AppendRequest | SnapshotRequest | CatchUpRequest]):
    """Owns the write queue and commits everything queued as one transaction per batch."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: Path,
        *,
        pipeline: Pipeline,
        max_batch: int,
        now: Callable[[], float],
        types: TypeTable,
        tail_interval: float,
        decode: Callable[[list[Row]], list[StoredEvent]],
    ) -> None:
        super().__init__(pipeline, name=str(path), max_batch=max_batch)
        self.after_commit: Callable[[], None] = lambda: None
        """Called after every commit (the log wakes its subscribers)."""
        self._conn = conn
        self._path = path
        self.now = now
        self._flights: deque[_Flight] = deque()
        self._cache = StreamCache()  # read and changed only in the connection's thread
        self._types = types
        self._tail_interval = tail_interval
        self.decode = decode
        """Rows to stored events (the log sets it: it knows the registry)."""
        self._next_poll = 0.0
        self.subscribers = 0
        """Live ``subscribe()`` iterators: they are woken by the tail too."""
        self._abort = threading.Event()
        self.checkpointer = Checkpointer(path)
        """Keeps the WAL small (``events._sqlite_checkpoint``); told of every commit."""

    def _stream_of(self, request: AppendRequest | SnapshotRequest | CatchUpRequest) -> str:
        return stream_of(request)

    @property
    def _tailing(self) -> bool:
        return self.pipeline.hooked or self.subscribers > 0

    async def start(self) -> None:
        """Note the log's last position: hooks get every batch committed after it."""
        self._cache.last = await run_sync(self._conn, _last_position)
        self.checkpointer.start()

    async def close_writer(self, task: asyncio.Task[None]) -> None:
        """Stop the writer task after it flushed the queue, then checkpoint the WAL
        (see ``events._sqlite_close``)."""
        await close_writer(self, task, self._conn, self._path)

    async def set_max_page_count(self, pages: int) -> int:
        """``PRAGMA max_page_count`` on the writer connection; the cap in force."""
        try:
            async with self._conn.execute(f"PRAGMA max_page_count={int(pages)}") as cursor:
                row = await cursor.fetchone()
        except sqlite3.Error as exc:
            raise translate(exc, self._path, "resize") from exc
        return int(row[0]) if row is not None else int(pages)

    async def compact(self, through_position: int) -> int:
        """``events._sqlite_tail.compact`` on the writer connection; how many were deleted."""
        try:
            return await run_sync(self._conn, compact, through_position, self.now())
        except sqlite3.Error as exc:
            raise translate(exc, self._path, "compact") from exc

    async def run(self) -> None:
        """The writer task's body: launch batches, land them in order, until stopped;
        while idle with hooks, poll for other writers' commits."""
        flights = self._flights
        try:
            while self._pending or flights or not self._stopping:
                if self._pending and len(flights) < _IN_FLIGHT:
                    wait = 0.0 if self._stopping else self.pipeline.linger_left()
                    if wait > 0:
                        await self._alarm.sleep(wait)
                    else:
                        self._launch(self._take())
                elif flights and flights[0].task.done():
                    self._land(flights.popleft())
                elif not flights and self._tailing and not self._stopping:
                    wait = self._next_poll - time.monotonic()
                    if wait > 0:
                        await self._alarm.sleep(wait)
                    else:
                        self._launch_poll([])
                else:
                    await self._alarm.sleep(None)
        except asyncio.CancelledError:
            self._abandon()
            raise
        finally:
            self.stopped = True

    def _launch(self, batch: list[Entry]) -> None:
        """Hand ``batch`` to the connection's thread (behind any batch already there)."""
        entries, snapshots, snapshot_futures, catch_ups = split(batch)
        if not entries and not snapshot_futures:
            if catch_ups:
                self._launch_poll(catch_ups)
            return
        requests: list[AppendRequest] = [entry[0] for entry in entries]  # type: ignore[misc]
        write = run_sync(
            self._conn,
            write_batch,
            requests,
            snapshots,
            self._cache,
            self._types,
            self.now(),
            self._abort,
            self.pipeline.hooked,
        )
        task = asyncio.get_running_loop().create_task(write)
        task.add_done_callback(self._wake)
        futures = [entry[1] for entry in entries]
        started = time.perf_counter()
        self._flights.append(_Flight(task, entries, futures, snapshot_futures, started, catch_ups))

    def _launch_poll(self, catch_ups: list[Waiter]) -> None:
        """Look for other writers' commits (a flight, so it lands in order)."""
        self._next_poll = time.monotonic() + self._tail_interval
        poll = run_sync(
            self._conn,
            poll_foreign,
            self._cache,
            self._types,
            self.pipeline.hooked,
            bool(catch_ups),
        )
        task = asyncio.get_running_loop().create_task(poll)
        task.add_done_callback(self._wake)
        self._flights.append(_Flight(task, [], [], [], time.perf_counter(), catch_ups))

    def _launch_checkpoint(self) -> None:
        """Checkpoint between two batches (a flight: the next batch waits for it)."""
        task = asyncio.get_running_loop().create_task(run_sync(self._conn, passive_checkpoint))
        task.add_done_callback(self._wake)
        self._flights.append(_Flight(task, [], [], [], time.perf_counter(), [], checkpoint=True))

    def _land(self, flight: _Flight) -> None:
        """Tell a finished batch's callers how it went (the task is done)."""
        if flight.checkpoint:
            error = flight.task.exception()
            outcome = flight.task.result() if error is None else error
            self.checkpointer.passive_done(outcome)  # type: ignore[arg-type]
            return
        try:
            result = cast("BatchResult | Polled", flight.task.result())
        except Exception as exc:
            if not flight.appends and not flight.snapshot_futures:  # a tail poll
                error = exc
                log.warning("eventlog.tail.failed", path=str(self._path), error=repr(error))
                fail(flight.catch_ups, lambda: wrap_error(error, self._path))
                return
            self._failed(exc, flight)
            return
        self._next_poll = time.monotonic() + self._tail_interval
        foreign = result.foreign if isinstance(result, BatchResult) else result.rows
        self._deliver_foreign(foreign, result.after)
        if not foreign and result.last > result.after:  # others committed; nobody hooked
            self.after_commit()
        for future in flight.catch_ups:
            settle(future, (result.last,))
        if isinstance(result, BatchResult):
            self._landed(flight, result)

    def _deliver_foreign(self, rows: list[Row], after: int) -> None:
        if not rows:
            return
        if rows[0][0] != after + 1:
            log.error(
                "eventlog.tail.compacted",
                path=str(self._path),
                expected=after + 1,
                continuing_from=rows[0][0],
            )
        self.after_commit()
        if self.pipeline.hooked:
            events = tuple(self.decode(rows))
            self.pipeline.committed(
                CommittedBatch(events=events, appends=0, seconds=0.0, foreign=True)
            )

    def _landed(self, flight: _Flight, result: BatchResult) -> None:
        seconds = time.perf_counter() - flight.started
        self._count_commit(flight.appends, result.outcomes, result.rows, seconds)
        if (result.rows or flight.snapshot_futures) and self.checkpointer.committed():
            self._launch_checkpoint()
        for future in flight.snapshot_futures:
            settle(future, ())
        pipeline = self.pipeline
        self.after_commit()
        if pipeline.hooked and result.rows:
            stored = stored_events(
                [(e[0], e[2]) for e in flight.appends],  # type: ignore[misc]
                result.outcomes,
                result.versions,
                result.timestamp,
            )
            batch = CommittedBatch(events=stored, appends=len(flight.appends), seconds=seconds)
            pipeline.committed(batch)

    def _failed(self, exc: Exception, flight: _Flight) -> None:
        self.batches_failed += 1
        appends = len(flight.appends)
        log.error("eventlog.batch.failed", path=str(self._path), appends=appends, error=str(exc))
        if isinstance(exc, sqlite3.Error):
            error = translate(exc, self._path, "append")
            if isinstance(error, StorageFull):
                self.checkpointer.storage_full()
            make: Callable[[], BaseException] = lambda: copy_error(error, exc)  # noqa: E731
        else:
            make = lambda: wrap_error(exc, self._path)  # noqa: E731
        self.pipeline.commit_failed(make())
        self._fail_entries(flight.appends, make)
        fail(flight.snapshot_futures + flight.catch_ups, make)

    def _abandon(self) -> None:
        """The writer was cancelled: roll back what has not committed, fail its callers."""
        self._abort.set()  # a batch not yet past COMMIT rolls back instead of committing
        while self._flights:
            flight = self._flights.popleft()
            flight.task.cancel()
            fail(
                flight.append_futures + flight.snapshot_futures,
                lambda: EventLogClosed(
                    f"event log {self._path} was closed while this append was in flight; it "
                    "was most likely rolled back: check with its idempotency key before retrying"
                ),
            )


def _last_position(conn: sqlite3.Connection) -> int:
    return int(conn.execute(LAST_POSITION).fetchone()[0])
