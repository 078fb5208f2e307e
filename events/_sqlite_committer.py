"""The SQLite event log's writer task: drains the queue, commits batches, resolves callers.

This is the I/O shell around :func:`events._sqlite_writer.write_batch`: it owns the
bounded queue and the commit statistics, and updates the statistics only after a
successful COMMIT, so a failed batch (disk full, locked database) leaves them as they
were and the writer keeps serving later appends.

The queue is a plain deque plus one future the idle writer sleeps on: an append costs a
``deque.append`` and, only when the writer sleeps, one ``set_result`` (an
``asyncio.Queue`` costs a wake-up attempt and several method calls per put and get).
Backpressure stays: past ``queue_size`` callers wait, first come first served, for room.

Batches go to the connection's thread as tasks (``_IN_FLIGHT`` at once); each batch's
callers are resolved, in order, only after its COMMIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import aiosqlite
import msgspec

from events._errors import EventLogClosed, EventLogError
from events._logger import get_logger
from events._sqlite_schema import run_sync, translate
from events._sqlite_writer import AppendRequest, BatchResult, StreamCache, write_batch

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


class SqliteLogStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the log's counters (read by ``runtime.inspect`` and ``/metrics``)."""

    queue_depth: int = 0
    """Requests waiting for the writer."""
    batches_committed: int = 0
    """Transactions committed since open."""
    batches_failed: int = 0
    """Batches rolled back by a storage error since open."""
    appends_committed: int = 0
    """``append`` calls resolved by a commit (idempotent repeats and conflicts included)."""
    events_committed: int = 0
    """Event rows written since open."""
    average_batch_size: float = 0.0
    """Appends per committed batch, on average."""
    last_batch_size: int = 0
    """Appends in the last committed batch."""
    last_commit_latency: float = 0.0
    """Seconds from handing the last batch to the connection's thread to its COMMIT being
    seen by the event loop (thread hops and any wait behind the batch before it included)."""
    unknown_count: int = 0
    """Events this log handed out as ``UnknownEvent``."""


Waiter: TypeAlias = asyncio.Future[tuple[int, ...]]
"""The future an ``append`` (or ``save_snapshot``) caller awaits."""

Entry = tuple[AppendRequest | SnapshotRequest, Waiter]
"""A request and the future its caller awaits."""


@dataclass(slots=True)
class _Flight:
    """A batch handed to the connection's thread, and the callers waiting for it."""

    task: asyncio.Task[BatchResult]
    append_futures: list[Waiter]
    snapshot_futures: list[Waiter]
    started: float


class Committer:
    """Owns the write queue and commits everything queued as one transaction per batch."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: Path,
        *,
        queue_size: int,
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
        self.on_commit: Callable[[], None] = lambda: None
        """Called after every commit (the log wakes its subscribers)."""
        self._conn = conn
        self._path = path
        self._capacity = queue_size
        self._max_batch = max_batch
        self._now = now
        self._pending: deque[Entry] = deque()
        self._room: deque[asyncio.Future[None]] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._flights: deque[_Flight] = deque()
        self._cache = StreamCache()  # read and changed only in the connection's thread
        self._stopping = False
        self._abort = threading.Event()

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

    def offer(self, entry: Entry) -> bool:
        """Queue ``entry`` if there is room (the fast path); ``False`` if not."""
        if len(self._pending) >= self._capacity or self.stopped:
            return False
        self._pending.append(entry)
        self._wake()
        return True

    async def put(self, entry: Entry) -> None:
        """Queue ``entry``, first waiting (first come, first served) for room.

        Raises:
            EventLogClosed: The writer stopped before there was room; nothing was queued.
        """
        loop = asyncio.get_running_loop()
        while len(self._pending) >= self._capacity and not self.stopped:
            room: asyncio.Future[None] = loop.create_future()
            self._room.append(room)
            try:
                await room
            except asyncio.CancelledError:
                with contextlib.suppress(ValueError):
                    self._room.remove(room)
                if room.done() and not room.cancelled():
                    self._make_room(1)  # we were given room we will not use: pass it on
                raise
        if self.stopped:
            raise EventLogClosed(f"event log {self._path} closed before this append")
        self._pending.append(entry)
        self._wake()

    def stop(self) -> None:
        """Ask the writer to finish: it flushes everything queued, then returns."""
        self._stopping = True
        self._wake()

    def fail_pending(self) -> None:
        """After the writer stopped: fail what is still queued, release who waits for room."""
        self.stopped = True
        while self._pending:
            future = self._pending.popleft()[1]
            if not future.done():
                future.set_exception(
                    EventLogClosed(f"event log {self._path} closed before this append")
                )
        self._make_room(len(self._room))

    async def run(self) -> None:
        """The writer task's body: launch batches, land them in order, until stopped."""
        flights = self._flights
        try:
            while self._pending or flights or not self._stopping:
                if self._pending and len(flights) < _IN_FLIGHT:
                    self._launch(self._take())
                elif flights and flights[0].task.done():
                    self._land(flights.popleft())
                else:
                    await self._sleep()
        except asyncio.CancelledError:
            self._abandon()
            raise
        finally:
            self.stopped = True

    async def _sleep(self) -> None:
        # Woken by a new request, stop(), or a batch finishing in the thread.
        self._wakeup = asyncio.get_running_loop().create_future()
        await self._wakeup

    def _wake(self, _: object = None) -> None:
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            if not wakeup.done():
                wakeup.set_result(None)

    def _make_room(self, count: int) -> None:
        room = self._room
        while count > 0 and room:
            waiter = room.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count -= 1

    def _take(self) -> list[Entry]:
        pending = self._pending
        count = min(len(pending), self._max_batch)
        batch = [pending.popleft() for _ in range(count)]
        if self._room:
            self._make_room(count)
        return batch

    def _launch(self, batch: list[Entry]) -> None:
        """Hand ``batch`` to the connection's thread (behind any batch already there)."""
        appends, append_futures, snapshots, snapshot_futures = _split(batch)
        if not append_futures and not snapshot_futures:
            return
        write = run_sync(
            self._conn, write_batch, appends, snapshots, self._cache, self._now(), self._abort
        )
        task = asyncio.get_running_loop().create_task(write)
        task.add_done_callback(self._wake)
        flight = _Flight(task, append_futures, snapshot_futures, time.perf_counter())
        self._flights.append(flight)

    def _land(self, flight: _Flight) -> None:
        """Tell a finished batch's callers how it went (the task is done)."""
        try:
            result = flight.task.result()
        except Exception as exc:
            self._failed(exc, flight)
            return
        self.batches_committed += 1
        self.events_committed += result.rows
        self.appends_committed += len(flight.append_futures)
        self.last_batch_size = len(flight.append_futures)
        self.last_commit_latency = time.perf_counter() - flight.started
        for future, outcome in zip(flight.append_futures, result.outcomes, strict=True):
            if future.done():  # its caller was cancelled while in flight; the write stands
                continue
            if isinstance(outcome, tuple):
                future.set_result(outcome)
            else:
                future.set_exception(outcome)
        for future in flight.snapshot_futures:
            if not future.done():
                future.set_result(())
        self.on_commit()

    def _failed(self, exc: Exception, flight: _Flight) -> None:
        self.batches_failed += 1
        appends = len(flight.append_futures)
        log.error("eventlog.batch.failed", path=str(self._path), appends=appends, error=str(exc))
        if isinstance(exc, sqlite3.Error):
            error = translate(exc, self._path, "append")
            make: Callable[[], BaseException] = lambda: _copy(error, exc)  # noqa: E731
        else:
            make = lambda: _wrap(exc, self._path)  # noqa: E731
        _fail(flight.append_futures + flight.snapshot_futures, make)

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


def _split(
    batch: list[Entry],
) -> tuple[list[AppendRequest], list[Waiter], list[tuple[str, int, bytes]], list[Waiter]]:
    """Appends and snapshots of a batch, without those whose caller already gave up."""
    appends: list[AppendRequest] = []
    append_futures: list[Waiter] = []
    snapshots: list[tuple[str, int, bytes]] = []
    snapshot_futures: list[Waiter] = []
    for request, future in batch:
        if future.done():  # its caller was cancelled before we took it: not written
            continue
        if isinstance(request, SnapshotRequest):
            snapshots.append((request.name, request.position, request.state))
            snapshot_futures.append(future)
        else:
            appends.append(request)
            append_futures.append(future)
    return appends, append_futures, snapshots, snapshot_futures


def _fail(futures: list[Waiter], make: Callable[[], BaseException]) -> None:
    # One exception instance per caller: a shared one would collect every caller's
    # traceback frames.
    for future in futures:
        if not future.done():
            future.set_exception(make())


def _copy(error: EventLogError, cause: BaseException) -> EventLogError:
    copy = type(error)(str(error))
    copy.__cause__ = cause
    return copy


def _wrap(exc: Exception, path: Path) -> EventLogError:
    error = EventLogError(f"event log {path}: the batch failed and was rolled back: {exc!r}")
    error.__cause__ = exc
    return error
