"""``Recorder``: appends routing, health and catalog events in the background.

Durability choice. These events are *not* awaited by the request that produced them:
``record`` only queues (bounded, order preserved) and a writer task appends in
batches — every queued stream's events go to the log at once, so they share the log's
group commit — and a request never waits for a disk commit. For routine events (a
request's events, health outcomes) the writer lingers ``linger`` seconds (50 ms) so that
the requests finishing meanwhile share one commit; a state transition (quarantine,
recovery, reset, a changed model list) cuts the linger short. What that costs:

- a crash loses what was still queued (routine events of the last ~50 ms), and the events
  of requests still in flight (a request's events are appended when it ends);
- if the log fails (disk full, locked, closed), the error is logged and counted
  (``statistics().failures``) and the runtime keeps serving; the in-memory state is
  ahead of the log until the next restart rebuilds it from what was committed;
- a full queue drops new events (counted in ``dropped``) rather than blocking requests.

Awaited commits (``submit``). Quota events fail closed, so they are not left to this
background path: ``submit`` queues them in the same ordered queue (so positions, and
the projectors fed from them, stay in order) but cuts any linger short and returns a
future that resolves once their batch is committed — or fails with the log's error,
so the caller can refuse the request. A closed recorder or a full queue fails the
future at once.

After each batch commits, the recorder feeds the committed events, in position order,
to the live ``Projector``s, which snapshot every N positions: that keeps start-up cost
bounded by the snapshot interval instead of the log's length.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from events import (
    Event,
    EventLog,
    HealthOutcomeRecorded,
    Projector,
    QuotaReleased,
    QuotaReserved,
    QuotaSettled,
    RoutingEvent,
    SqliteEventLog,
    StoredEvent,
    get_logger,
)

__all__ = ["Recorder", "RecorderClosed", "RecorderStatistics"]

log = get_logger(__name__)

_ROUTINE = (RoutingEvent, HealthOutcomeRecorded, QuotaReserved, QuotaSettled, QuotaReleased)
"""Events that may linger before their commit; any other (a health transition, a
catalog change) is written at once, so a restart right after it still sees it. The
quota events here are the unlimited ledger's usage counting (limited ones are
``submit``ted and never linger)."""

_Entry = tuple[str, Sequence[Event], "asyncio.Future[None] | None"]


class RecorderClosed(Exception):
    """The recorder is closed or its queue is full: the events were not queued."""


class RecorderStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of the background appender."""

    queued: int
    """Appends waiting for the writer now."""
    appended: int
    """Events committed."""
    appends: int
    """Append calls committed (about one per request)."""
    failures: int
    """Append calls that failed (their events are not in the log)."""
    dropped: int
    """Appends dropped because the queue was full."""
    last_error: str | None
    """The last append error, if any."""
    log_queued: int = 0
    """Appends waiting in the event log's own writer queue (SQLite logs; 0 otherwise)."""


class Recorder:
    """Queues events and appends them in the background; see the module docstring."""

    def __init__(
        self,
        log_: EventLog,
        *,
        projectors: Sequence[Projector[Any]] = (),
        capacity: int = 100_000,
        max_batch: int = 1_000,
        linger: float = 0.05,
    ) -> None:
        self._log = log_
        self._linger = linger
        self._cut: asyncio.Future[None] | None = None
        self._projectors = tuple(projectors)
        self._capacity = capacity
        self._max_batch = max_batch
        self._queue: deque[_Entry] = deque()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._enqueued = 0
        self._done = 0
        self._appended = self._appends = self._failures = self._dropped = 0
        self._last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._observers: list[Callable[[float, int], None]] = []

    def start(self) -> None:
        """Start the writer task on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="recorder")

    def record(self, stream: str, events: Sequence[Event]) -> None:
        """Queue ``events`` for ``stream``; never blocks, never raises."""
        if not events:
            return
        if len(self._queue) >= self._capacity or self._closing:
            self._dropped += 1
            log.error("runtime.events.dropped", stream=stream, events=len(events))
            return
        self._queue.append((stream, events, None))
        self._enqueued += 1
        self._wake.set()
        if self._cut is not None and not all(isinstance(e, _ROUTINE) for e in events):
            _resolve(self._cut)  # a transition: commit it now, do not linger

    def submit(self, stream: str, events: Sequence[Event]) -> asyncio.Future[None]:
        """Queue ``events`` for a commit now; the future resolves when it is committed.

        Ordered with everything recorded before and after (the queue is synchronous).
        The future fails with the log's error if the append failed, or with
        ``RecorderClosed`` at once if the recorder is closing or full. Await it with
        ``asyncio.shield`` if the waiter may be cancelled: cancelling the future does
        not stop the commit.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        running = self._task is not None and not self._task.done()
        if self._closing or not running or len(self._queue) >= self._capacity:
            self._dropped += 1
            state = "full" if running and not self._closing else "closed"
            future.set_exception(RecorderClosed(f"the event recorder is {state}"))
            return future
        self._queue.append((stream, events, future))
        self._enqueued += 1
        self._wake.set()
        if self._cut is not None:
            _resolve(self._cut)  # somebody waits for this commit: do not linger
        return future

    async def flush(self) -> None:
        """Wait until everything queued before this call is committed (or failed)."""
        target = self._enqueued
        while self._done < target and self._task is not None and not self._task.done():
            progress = self._progress
            await progress.wait()

    async def aclose(self) -> None:
        """Flush, then stop the writer task (the log itself is closed by its owner)."""
        await self.flush()
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        while self._queue:  # only if the writer died: nobody may wait forever
            _, _, waiter = self._queue.popleft()
            if waiter is not None and not waiter.done():
                waiter.set_exception(RecorderClosed("the event recorder closed"))

    def on_append(self, callback: Callable[[float, int], None]) -> Callable[[], None]:
        """Call ``callback(seconds, events)`` after each committed append; returns an undo.

        ``seconds`` runs from handing the append to the log to its commit (monotonic
        clock); ``events`` is how many events it carried. The callback runs in the
        writer task: keep it cheap. Its exceptions are logged, never raised.
        """
        self._observers.append(callback)

        def remove() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return remove

    def statistics(self) -> RecorderStatistics:
        """A frozen snapshot of the counters."""
        log_queued = (
            self._log.statistics().queue_depth if isinstance(self._log, SqliteEventLog) else 0
        )
        return RecorderStatistics(
            queued=len(self._queue),
            appended=self._appended,
            appends=self._appends,
            failures=self._failures,
            dropped=self._dropped,
            last_error=self._last_error,
            log_queued=log_queued,
        )

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if (
                self._linger > 0
                and len(self._queue) < self._max_batch
                and all(
                    waiter is None and all(isinstance(e, _ROUTINE) for e in events)
                    for _, events, waiter in self._queue
                )
            ):
                await self._wait_linger()
            self._wake.clear()
            while self._queue:
                size = min(len(self._queue), self._max_batch)
                batch = [self._queue.popleft() for _ in range(size)]
                await self._write(batch)
                self._done += size
                progress, self._progress = self._progress, asyncio.Event()
                progress.set()

    async def _wait_linger(self) -> None:
        # Let more requests finish so they share one commit: each commit costs the event
        # loop a thread hop and the SQLite thread GIL time, more than routing itself.
        loop = asyncio.get_running_loop()
        self._cut = cut = loop.create_future()
        timer = loop.call_later(self._linger, _resolve, cut)
        try:
            await cut
        finally:
            timer.cancel()
            self._cut = None

    async def _write(self, batch: list[_Entry]) -> None:
        # All appends are started before any is awaited, in order, so they queue up in
        # the log's writer together and commit in one transaction, in this order.
        # Neighbouring entries of one stream that nobody waits for (the unlimited
        # ledger's reserve and settle) share one append: same positions, same order,
        # one coroutine and one writer request fewer.
        groups: list[_Group] = []
        for stream, events, waiter in batch:
            last = groups[-1] if groups else None
            if waiter is None and last is not None and last.open and last.stream == stream:
                last.events.extend(events)
                last.sizes.append(len(events))
            else:
                groups.append(_Group(stream, list(events), [len(events)], waiter is None))
        # The clock is read only when somebody observes append latency.
        started = time.monotonic() if self._observers else 0.0
        results = await asyncio.gather(
            *(self._log.append(group.stream, group.events) for group in groups),
            return_exceptions=True,
        )
        if self._observers:
            self._observe(time.monotonic() - started, groups, results)
        if len(groups) != len(batch):
            results = _split(groups, results)
        committed: list[StoredEvent] = []
        now = time.time()
        for (stream, events, waiter), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                self._failed(stream, events, result)
                if waiter is not None and not waiter.done():
                    waiter.set_exception(result)
                continue
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            self._appends += 1
            self._appended += len(events)
            committed.extend(
                _stored(stream, position, event, now)
                for position, event in zip(result, events, strict=True)
            )
        if committed and self._projectors:
            committed.sort(key=lambda stored: stored.position)
            await self._project(committed)

    def _observe(
        self,
        seconds: float,
        groups: list[_Group],
        results: list[tuple[int, ...] | BaseException],
    ) -> None:
        # The appends of one batch share one commit, so each took the batch's time.
        for group, result in zip(groups, results, strict=True):
            if isinstance(result, BaseException):
                continue
            for observer in tuple(self._observers):
                try:
                    observer(seconds, len(group.events))
                except Exception as exc:
                    log.error("runtime.events.observer_failed", error=repr(exc))

    def _failed(self, stream: str, events: Sequence[Event], exc: BaseException) -> None:
        if isinstance(exc, asyncio.CancelledError):
            raise exc
        self._failures += 1
        self._last_error = f"{type(exc).__name__}: {exc}"
        log.error(
            "runtime.events.append_failed",
            stream=stream,
            events=len(events),
            error=self._last_error,
        )

    async def _project(self, committed: list[StoredEvent]) -> None:
        for projector in self._projectors:
            try:
                await projector.apply_all(committed)
            except Exception as exc:
                # Projections only speed up the next start; a failure here must not
                # stop the recorder (the log has the events, replay will redo it).
                log.error("runtime.projection.failed", error=repr(exc))


class _Group:
    """Neighbouring queue entries appended together (one entry unless ``open``)."""

    __slots__ = ("events", "open", "sizes", "stream")

    def __init__(self, stream: str, events: list[Event], sizes: list[int], open_: bool) -> None:
        self.stream = stream
        self.events = events
        self.sizes = sizes
        """Events of each entry, in order."""
        self.open = open_
        """Whether later entries may join (nobody waits for this one's commit)."""


def _split(
    groups: list[_Group], grouped: list[tuple[int, ...] | BaseException]
) -> list[tuple[int, ...] | BaseException]:
    """Each entry's positions (or its group's error) from its group's append result."""
    results: list[tuple[int, ...] | BaseException] = []
    for group, result in zip(groups, grouped, strict=True):
        start = 0
        for size in group.sizes:
            if isinstance(result, BaseException):
                results.append(result)
            else:
                results.append(result[start : start + size])
            start += size
    return results


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _stored(stream: str, position: int, event: Event, now: float) -> StoredEvent:
    """The committed event as a reader would get it (projectors need no stream version)."""
    name = str(type(event).__struct_config__.tag)
    return StoredEvent(
        position=position,
        stream=stream,
        stream_version=0,
        timestamp=now,
        type=name,
        schema_version=type(event).schema_version,
        idempotency_key=None,
        event=event,
    )
