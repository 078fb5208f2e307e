"""The SQLite event log's writer task: drains the queue, commits batches, resolves callers.

This is the I/O shell around :func:`events._sqlite_writer.write_batch`: it owns the
log's queue (the runtime's only event queue: ``events._pipeline``), lingers for
background appends, and updates the statistics only after a successful COMMIT, so a
failed batch (disk full, locked database) leaves them as they were and the writer keeps
serving later appends.

The queue is a plain deque plus one future the idle writer sleeps on: an append costs a
``deque.append`` and, only when the writer sleeps (or must hurry), one ``set_result``.
An awaited ``append`` waits for room past ``queue_size``; ``append_nowait`` never
waits and never drops (producers that can wait call ``wait_for_room`` first).

Batches go to the connection's thread as tasks (``_IN_FLIGHT`` at once); each batch's
callers are resolved, in order, only after its COMMIT; then the commit hooks get the
batch's events as ``StoredEvent``s (built only when a hook is registered).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import aiosqlite

from events._base import Event
from events._errors import EventLogClosed, EventLogError
from events._logger import get_logger
from events._pipeline import Alarm, CommittedBatch, Pipeline, settle
from events._sqlite_schema import run_sync, translate
from events._sqlite_writer import (
    AppendRequest,
    BatchResult,
    SqliteLogStatistics,
    StreamCache,
    stored_events,
    write_batch,
)

__all__ = ["Committer", "Entry", "SnapshotRequest", "SqliteLogStatistics", "Waiter"]

log = get_logger(__name__)

_IN_FLIGHT = 1
"""Batches handed to the connection's thread at once. 2 would let the thread start the
next batch while the loop resolves the last one, but measured no gain: appenders that
await their ack arrive all together after a commit, so there is rarely a second batch,
and when there is (smaller batches, forced), the thread's per-row GIL hand-offs in
``executemany`` wait on the busy loop and each commit got slower (~1.3x the thread time)."""
"""Batches handed to the connection's thread at once (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """A snapshot to store in the next batch's transaction."""

    name: str
    position: int
    state: bytes


Waiter: TypeAlias = asyncio.Future[tuple[int, ...]]
"""The future an ``append`` (or ``save_snapshot``) caller awaits."""

Entry = tuple[AppendRequest | SnapshotRequest, Waiter, Sequence[Event], bool]
"""A request, the future its caller awaits, the domain events (empty for a snapshot;
handed to commit hooks) and whether it is a background (``append_nowait``) append."""


@dataclass(slots=True)
class _Flight:
    """A batch handed to the connection's thread, and the callers waiting for it."""

    task: asyncio.Task[BatchResult]
    appends: list[Entry]
    append_futures: list[Waiter]
    snapshot_futures: list[Waiter]
    started: float


_STALL = 2.0
"""Seconds without a commit after which closing gives up on the writer."""


class Committer:
    """Owns the write queue and commits everything queued as one transaction per batch."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: Path,
        *,
        pipeline: Pipeline,
        max_batch: int,
        now: Callable[[], float],
    ) -> None:
        self.batches_committed = 0
        self.batches_failed = 0
        self.appends_committed = 0
        self.events_committed = 0
        self.last_batch_size = 0
        self.last_commit_latency = 0.0
        self.stopped = False
        """The writer has finished: nobody will take requests any more."""
        self.after_commit: Callable[[], None] = lambda: None
        """Called after every commit (the log wakes its subscribers)."""
        self.pipeline = pipeline
        self._conn = conn
        self._path = path
        self._max_batch = max_batch
        self._now = now
        self._pending: deque[Entry] = deque()
        self._alarm = Alarm()
        """Woken by a request that must not wait, stop(), a finished batch, the linger."""
        self._wake = self._alarm.wake
        self._flights: deque[_Flight] = deque()
        self._cache = StreamCache()  # read and changed only in the connection's thread
        self._stopping = False
        self._abort = threading.Event()
        self._last: Waiter | None = None

    @property
    def depth(self) -> int:
        """Requests waiting for the writer."""
        return len(self._pending)

    def statistics(self, unknown_count: int) -> SqliteLogStatistics:
        """The writer's counters as a frozen record."""
        batches = self.batches_committed
        return SqliteLogStatistics(
            queue_depth=len(self._pending),
            batches_committed=batches,
            batches_failed=self.batches_failed,
            appends_committed=self.appends_committed,
            events_committed=self.events_committed,
            average_batch_size=self.appends_committed / batches if batches else 0.0,
            last_batch_size=self.last_batch_size,
            last_commit_latency=self.last_commit_latency,
            unknown_count=unknown_count,
        )

    def queue(self, entry: Entry, *, hurry: bool) -> None:
        """Queue ``entry`` now, room or not (callers that must wait for room did).

        Raises:
            EventLogClosed: The writer has stopped.
        """
        if self.stopped or self._stopping:
            raise EventLogClosed(f"event log {self._path} is closed")
        pending = self._pending
        pending.append(entry)
        self._last = entry[1]
        pipeline = self.pipeline
        pipeline.queued(len(pending), hurry=hurry)
        if len(pending) == 1 or pipeline.hurry:
            self._wake()

    async def put(self, entry: Entry) -> None:
        """Queue an awaited request, first waiting for room (bounded, see ``Pipeline``)."""
        if len(self._pending) >= self.pipeline.capacity:
            await self.pipeline.wait_for_room(lambda: len(self._pending))
        self.queue(entry, hurry=True)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed or failed (cuts the linger)."""
        last = self._last
        if last is None or last.done():
            return
        self.pipeline.hurry = True
        self._wake()
        await asyncio.wait([last])

    def stop(self) -> None:
        """Ask the writer to finish: it flushes everything queued, then returns."""
        self._stopping = True
        self._wake()

    def fail_pending(self) -> None:
        """After the writer stopped: fail what is still queued, release who waits for room."""
        self.stopped = True
        message = f"event log {self._path} closed before this append"
        while self._pending:
            request, future, events, background = self._pending.popleft()
            if background and not future.done():
                self.pipeline.background_failed(
                    _stream(request), len(events), EventLogClosed(message)
                )
            settle(future, EventLogClosed(message))
        self.pipeline.release_all()

    async def close_writer(self, task: asyncio.Task[None]) -> None:
        """Stop the writer task after it flushed the queue, then checkpoint the WAL.

        A writer that commits nothing for ``_STALL`` seconds (a locked or broken file)
        is given up on: what is still queued fails with ``EventLogClosed`` (counted),
        and no checkpoint is tried, so closing never hangs on a stuck log.
        """
        self.stop()
        stalled = False
        try:
            while not task.done():  # else it was cancelled from outside: nothing to flush
                before = self.batches_committed
                await asyncio.wait([task], timeout=_STALL)  # never raises the task's error
                if not task.done() and self.batches_committed == before:
                    stalled = True
                    log.error("eventlog.close.stalled", path=str(self._path), queued=self.depth)
                    break
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.fail_pending()
        if stalled:
            return
        try:
            await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            # The data is committed; a failed checkpoint only leaves a larger -wal file.
            log.warning("eventlog.checkpoint.failed", path=str(self._path), error=str(exc))

    async def set_max_page_count(self, pages: int) -> int:
        """``PRAGMA max_page_count`` on the writer connection; the cap in force."""
        try:
            async with self._conn.execute(f"PRAGMA max_page_count={int(pages)}") as cursor:
                row = await cursor.fetchone()
        except sqlite3.Error as exc:
            raise translate(exc, self._path, "resize") from exc
        return int(row[0]) if row is not None else int(pages)

    async def run(self) -> None:
        """The writer task's body: launch batches, land them in order, until stopped."""
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
                else:
                    await self._alarm.sleep(None)
        except asyncio.CancelledError:
            self._abandon()
            raise
        finally:
            self.stopped = True

    def _take(self) -> list[Entry]:
        pending = self._pending
        count = min(len(pending), self._max_batch)
        batch = [pending.popleft() for _ in range(count)]
        self.pipeline.taken(len(pending))
        return batch

    def _launch(self, batch: list[Entry]) -> None:
        """Hand ``batch`` to the connection's thread (behind any batch already there)."""
        entries, snapshots, snapshot_futures = _split(batch)
        if not entries and not snapshot_futures:
            return
        requests: list[AppendRequest] = [entry[0] for entry in entries]  # type: ignore[misc]
        write = run_sync(
            self._conn, write_batch, requests, snapshots, self._cache, self._now(), self._abort
        )
        task = asyncio.get_running_loop().create_task(write)
        task.add_done_callback(self._wake)
        futures = [entry[1] for entry in entries]
        flight = _Flight(task, entries, futures, snapshot_futures, time.perf_counter())
        self._flights.append(flight)

    def _land(self, flight: _Flight) -> None:
        """Tell a finished batch's callers how it went (the task is done)."""
        try:
            result = flight.task.result()
        except Exception as exc:
            self._failed(exc, flight)
            return
        seconds = time.perf_counter() - flight.started
        self.batches_committed += 1
        self.events_committed += result.rows
        self.appends_committed += len(flight.appends)
        self.last_batch_size = len(flight.appends)
        self.last_commit_latency = seconds
        background = events = 0
        for entry, outcome in zip(flight.appends, result.outcomes, strict=True):
            if entry[3]:
                background += 1
                events += len(entry[2])
            settle(entry[1], outcome)  # a cancelled caller's append stands: nothing to tell
        for future in flight.snapshot_futures:
            settle(future, ())
        pipeline = self.pipeline
        pipeline.commit_succeeded()
        pipeline.background_committed(background, events)
        self.after_commit()
        if pipeline.hooked:
            stored = stored_events([(e[0], e[2]) for e in flight.appends], result)  # type: ignore[misc]
            batch = CommittedBatch(events=stored, appends=len(flight.appends), seconds=seconds)
            pipeline.committed(batch)

    def _failed(self, exc: Exception, flight: _Flight) -> None:
        self.batches_failed += 1
        appends = len(flight.appends)
        log.error("eventlog.batch.failed", path=str(self._path), appends=appends, error=str(exc))
        if isinstance(exc, sqlite3.Error):
            error = translate(exc, self._path, "append")
            make: Callable[[], BaseException] = lambda: _copy(error, exc)  # noqa: E731
        else:
            make = lambda: _wrap(exc, self._path)  # noqa: E731
        self.pipeline.commit_failed(make())
        for request, future, events, background in flight.appends:
            failure = make()
            if background and not future.done():
                self.pipeline.background_failed(_stream(request), len(events), failure)
            settle(future, failure)
        _fail(flight.snapshot_futures, make)

    def _abandon(self) -> None:
        """The writer was cancelled: roll back what has not committed, fail its callers."""
        self._abort.set()  # a batch not yet past COMMIT rolls back instead of committing
        while self._flights:
            flight = self._flights.popleft()
            flight.task.cancel()
            _fail(
                flight.append_futures + flight.snapshot_futures,
                lambda: EventLogClosed(
                    f"event log {self._path} was closed while this append was in flight; it "
                    "was most likely rolled back: check with its idempotency key before retrying"
                ),
            )


def _split(batch: list[Entry]) -> tuple[list[Entry], list[tuple[str, int, bytes]], list[Waiter]]:
    """Appends and snapshots of a batch, without those whose caller already gave up."""
    appends: list[Entry] = []
    snapshots: list[tuple[str, int, bytes]] = []
    snapshot_futures: list[Waiter] = []
    for entry in batch:
        request, future = entry[0], entry[1]
        if future.done():  # its caller was cancelled before we took it: not written
            continue
        if isinstance(request, SnapshotRequest):
            snapshots.append((request.name, request.position, request.state))
            snapshot_futures.append(future)
        else:
            appends.append(entry)
    return appends, snapshots, snapshot_futures


def _stream(request: AppendRequest | SnapshotRequest) -> str:
    return request.name if isinstance(request, SnapshotRequest) else request[0]


def _fail(futures: list[Waiter], make: Callable[[], BaseException]) -> None:
    # One exception instance per caller: a shared one would collect every caller's
    # traceback frames. ``settle`` marks it seen: a background append has no awaiter.
    for future in futures:
        settle(future, make())


def _copy(error: EventLogError, cause: BaseException) -> EventLogError:
    copy = type(error)(str(error))
    copy.__cause__ = cause
    return copy


def _wrap(exc: Exception, path: Path) -> EventLogError:
    error = EventLogError(f"event log {path}: the batch failed and was rolled back: {exc!r}")
    error.__cause__ = exc
    return error
