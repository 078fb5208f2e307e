"""The write queue both storage logs' committers share (SQLite and PostgreSQL).

Timing rules live in ``events._pipeline``; this is the queue in front of them: a plain
deque plus an ``Alarm`` the idle writer sleeps on, so an append costs a
``deque.append`` and, only when the writer sleeps (or must hurry), one wake-up. An
awaited request waits for room past ``queue_size`` (``put``); ``queue`` never waits and
never drops. ``flush`` waits for the last request queued; ``stop`` asks the writer to
commit what is queued and return; ``fail_pending`` fails what is left after it did.

The committers (``events._sqlite_committer``, ``events._postgres_committer``) subclass
``WriteQueue`` and keep their own batches, flights and tails; they count a batch's
outcome with ``_count_commit`` / ``_fail_entries`` so both logs keep the same
``SqliteLogStatistics`` and background-append counters.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeAlias, TypeVar

from events._appends import KEY_SEPARATOR, AppendRequest
from events._base import Event
from events._codec import EventRegistry
from events._errors import EventLogClosed
from events._pipeline import Alarm, Pipeline, settle
from events._sqlite_writer import SqliteLogStatistics

__all__ = ["QueueEntry", "Waiter", "WriteQueue", "append_entry"]

R = TypeVar("R")

Waiter: TypeAlias = asyncio.Future[tuple[int, ...]]
"""The future a request's caller awaits."""

QueueEntry: TypeAlias = tuple[R, Waiter, Sequence[Event], bool]
"""A request, the future its caller awaits, the domain events (handed to commit hooks;
empty for a request that is not an append) and whether it is a background
(``append_nowait``) append."""


def append_entry(
    registry: EventRegistry,
    stream: str,
    events: Sequence[Event],
    expected_version: int | None,
    key: str | None,
    background: bool,
) -> QueueEntry[AppendRequest]:
    """An append's queue entry, its events encoded (a bad append raises here, not later)."""
    if not events:
        raise ValueError(f"append to {stream!r} needs at least one event")
    if expected_version is not None and expected_version < 0:
        raise ValueError(f"expected_version must be >= 0, got {expected_version}")
    if key is not None and KEY_SEPARATOR in key:
        raise ValueError("an idempotency key may not contain '\\x1f' (reserved)")
    encode = registry.encode
    encoded = [encode(event) for event in events]
    future: Waiter = asyncio.get_running_loop().create_future()
    return (stream, encoded, expected_version, key), future, events, background


class WriteQueue(Generic[R]):
    """The queue in front of a writer task, and the writer's counters."""

    def __init__(self, pipeline: Pipeline, *, name: str, max_batch: int) -> None:
        self.pipeline = pipeline
        self.stopped = False
        """The writer has finished: nobody will take requests any more."""
        self.batches_committed = self.batches_failed = 0
        self.appends_committed = self.events_committed = 0
        self.last_batch_size = 0
        self.last_commit_latency = 0.0
        self._name = name
        """Where the log lives, for messages (a path, or a URL with its password masked)."""
        self._max_batch = max_batch
        self._pending: deque[QueueEntry[R]] = deque()
        self._alarm = Alarm()
        """Woken by a request that must not wait, stop(), a finished batch, the linger."""
        self._wake = self._alarm.wake
        self._stopping = False
        self._last: Waiter | None = None

    def _stream_of(self, request: R) -> str:
        """The stream (or what else) a request is about, for error reports."""
        raise NotImplementedError

    @property
    def depth(self) -> int:
        """Requests waiting for the writer."""
        return len(self._pending)

    def statistics(self, unknown_count: int) -> SqliteLogStatistics:
        """The writer's counters (the same record for every storage)."""
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

    def queue(self, entry: QueueEntry[R], *, hurry: bool) -> None:
        """Queue ``entry`` now, room or not (callers that must wait for room did).

        Raises:
            EventLogClosed: The writer has stopped.
        """
        if self.stopped or self._stopping:
            raise EventLogClosed(f"event log {self._name} is closed")
        pending = self._pending
        pending.append(entry)
        self._last = entry[1]
        pipeline = self.pipeline
        pipeline.queued(len(pending), hurry=hurry)
        if len(pending) == 1 or pipeline.hurry:
            self._wake()

    async def put(self, entry: QueueEntry[R]) -> None:
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

    def hooks_changed(self) -> None:
        """A hook (or a subscriber) came: an idle writer starts tailing (it may have
        slept without a timeout)."""
        self._wake()

    def stop(self) -> None:
        """Ask the writer to finish: it commits everything queued, then returns."""
        self._stopping = True
        self._wake()

    def fail_pending(self) -> None:
        """After the writer stopped: fail what is still queued, release who waits for room."""
        self.stopped = True
        message = f"event log {self._name} closed before this append"
        pending = list(self._pending)
        self._pending.clear()
        self._fail_entries(pending, lambda: EventLogClosed(message))
        self.pipeline.release_all()

    def _take(self) -> list[QueueEntry[R]]:
        """The next batch: up to ``max_batch`` requests, oldest first."""
        pending = self._pending
        batch = [pending.popleft() for _ in range(min(len(pending), self._max_batch))]
        self.pipeline.taken(len(pending))
        return batch

    def _count_commit(
        self,
        entries: Sequence[QueueEntry[R]],
        outcomes: Sequence[tuple[int, ...] | BaseException],
        rows: int,
        seconds: float,
    ) -> None:
        """A batch committed: count it, settle its appends' futures, count background ones."""
        self.batches_committed += 1
        self.events_committed += rows
        self.appends_committed += len(entries)
        self.last_batch_size = len(entries)
        self.last_commit_latency = seconds
        background = events = 0
        for entry, outcome in zip(entries, outcomes, strict=True):
            if entry[3]:
                background += 1
                events += len(entry[2])
            settle(entry[1], outcome)  # a cancelled caller's append stands: nothing to tell
        pipeline = self.pipeline
        pipeline.commit_succeeded()
        pipeline.background_committed(background, events)

    def _fail_entries(
        self, entries: Sequence[QueueEntry[R]], make: Callable[[], BaseException]
    ) -> None:
        # One exception instance per caller: a shared one would collect every caller's
        # traceback frames. ``settle`` marks it seen: a background append has no awaiter.
        for request, future, events, background in entries:
            failure = make()
            if background and not future.done():
                self.pipeline.background_failed(self._stream_of(request), len(events), failure)
            settle(future, failure)
