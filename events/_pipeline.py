"""What every ``EventLog``'s writer shares: background appends, commit hooks, room.

The log is the runtime's only event queue (DESIGN.md, "One event pipeline, many
writers"). Two ways in, one order:

- ``await log.append(...)``: the caller goes on only once the events are committed
  (quota reservations; anything that must be durable first);
- ``log.append_nowait(..., urgent=False)``: queued at once, committed in the
  background. Routine events *linger* (``linger`` seconds, measured from the oldest
  waiting append) so the requests finishing meanwhile share one commit; ``urgent``
  (a state transition), an awaited append, ``flush()`` or a full queue cut the linger.

Both kinds take their place in the order when called, so positions follow call order.

Nothing is dropped. ``append_nowait`` always queues; a producer that can wait (a new
request, say) first awaits ``wait_for_room()``, which returns at once while fewer than
``capacity`` appends wait for the writer and otherwise waits — bounded by its timeout,
after which it raises ``EventLogBacklogged`` — for the writer to catch up. Waits are
counted and timed (``PipelineStatistics``).

Failures. A failed commit fails the awaited appends' callers; for background appends
nobody waits, so the failure is logged and counted (``failed_appends``,
``last_error``). Committed batches go, in position order, to the commit hooks
(``on_commit``): that is how the live projections are fed. A hook runs in the writer
task, so it must be cheap and must not await the log; its exceptions are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable

import msgspec

from events._base import StoredEvent
from events._errors import EventLogBacklogged
from events._logger import get_logger

__all__ = [
    "Alarm",
    "CommitHook",
    "CommittedBatch",
    "Pipeline",
    "PipelineStatistics",
]

log = get_logger(__name__)

DEFAULT_LINGER = 0.05
"""Seconds a routine background append may wait for others to share its commit."""
DEFAULT_ROOM_TIMEOUT = 30.0
"""Seconds ``wait_for_room`` waits for the writer before raising ``EventLogBacklogged``."""


class CommittedBatch(msgspec.Struct, frozen=True, kw_only=True):
    """One committed transaction's events, as readers will see them."""

    events: tuple[StoredEvent, ...]
    """In position order (idempotent repeats and conflicts wrote nothing: not here)."""
    appends: int
    """Append calls the transaction resolved."""
    seconds: float
    """From handing the batch to storage to seeing its commit (monotonic clock)."""
    foreign: bool = False
    """Committed by another writer (another process, machine or log object on the same
    storage), delivered by the tail; ``appends`` and ``seconds`` are 0 then."""


CommitHook = Callable[[CommittedBatch], None]
"""Called with every committed batch (see the module docstring)."""


class PipelineStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """The log's queue and its background appends (every implementation)."""

    queued: int
    """Appends (both kinds) waiting for the writer now."""
    capacity: int
    """Queued appends above which ``wait_for_room`` waits."""
    background_appends: int
    """``append_nowait`` calls committed."""
    background_events: int
    """Events those calls carried."""
    failed_appends: int
    """``append_nowait`` calls whose commit failed (their events are not in the log)."""
    failed_events: int
    """Events those calls carried."""
    last_error: str | None
    """The last failed commit's error."""
    room_waits: int
    """``wait_for_room`` calls that found the queue full and waited."""
    room_wait_seconds: float
    """Their total wait."""
    longest_room_wait: float
    """The longest single wait."""
    failing_since: float | None = None
    """Wall-clock time of the first failed commit since the last good one; ``None``
    while commits succeed (the log is *failing* when this is set)."""


class Alarm:
    """What an idle writer sleeps on: woken by ``wake()``, or by itself after a while."""

    __slots__ = ("_future",)

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    async def sleep(self, seconds: float | None) -> None:
        """Sleep until ``wake()`` is called, or ``seconds`` pass (None: no limit)."""
        loop = asyncio.get_running_loop()
        self._future = future = loop.create_future()
        timer = loop.call_later(seconds, self.wake) if seconds is not None else None
        try:
            await future
        finally:
            if timer is not None:
                timer.cancel()

    def wake(self, _: object = None) -> None:
        """End the current sleep, if any (a done callback's argument is ignored)."""
        future, self._future = self._future, None
        if future is not None and not future.done():
            future.set_result(None)


class Pipeline:
    """Linger timing, room, hooks and counters; the log's writer owns the queue itself."""

    def __init__(self, *, capacity: int, linger: float, room_timeout: float) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if linger < 0 or room_timeout <= 0:
            raise ValueError("linger must be >= 0 and room_timeout > 0")
        self.capacity = capacity
        self.linger = linger
        self.room_timeout = room_timeout
        self.hurry = False
        """Something queued must not linger (urgent, awaited, flushed, or the queue full)."""
        self.oldest = 0.0
        """When the oldest waiting append was queued (monotonic)."""
        self.background_appends = self.background_events = 0
        self.failed_appends = self.failed_events = 0
        self.last_error: str | None = None
        self.room_waits = 0
        self.room_wait_seconds = self.longest_room_wait = 0.0
        self.failing_since: float | None = None
        self._hooks: list[CommitHook] = []
        self._room: deque[asyncio.Future[None]] = deque()

    # --- the queue's timing ------------------------------------------------------------

    def queued(self, depth: int, *, hurry: bool) -> None:
        """Note an append joining a queue now ``depth`` long."""
        if depth == 1:
            self.oldest = time.monotonic()
        if hurry or depth >= self.capacity:
            self.hurry = True

    def linger_left(self) -> float:
        """Seconds the writer should still wait before taking a batch (0: take it now)."""
        if self.hurry or self.linger <= 0:
            return 0.0
        return max(0.0, self.oldest + self.linger - time.monotonic())

    def taken(self, depth: int) -> None:
        """The writer took a batch; ``depth`` appends are still queued."""
        self.hurry = depth >= self.capacity or bool(self._room)
        if depth:
            self.oldest = time.monotonic()
        room, free = self._room, self.capacity - depth
        while room and free > 0:
            waiter = room.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    # --- room --------------------------------------------------------------------------

    async def wait_for_room(self, depth: Callable[[], int]) -> None:
        """Wait while ``depth()`` is at capacity, at most ``room_timeout`` seconds.

        First come, first served: while anyone waits, a newcomer queues behind them
        (else producers that never had to wait would take every freed place and starve
        the waiters), and a waiter the writer wakes has been given its place.
        """
        if depth() < self.capacity and not self._room:
            return
        started = time.monotonic()
        self.hurry = True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._room.append(waiter)
        try:
            async with asyncio.timeout(self.room_timeout):
                await waiter
        except TimeoutError:
            raise EventLogBacklogged(
                f"the event log's queue stayed full ({self.capacity} appends) for "
                f"{self.room_timeout:g} s: storage is slower than the load; check the disk"
            ) from None
        finally:
            if not waiter.done():
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._room.remove(waiter)
            waited = time.monotonic() - started
            self.room_waits += 1
            self.room_wait_seconds += waited
            self.longest_room_wait = max(self.longest_room_wait, waited)

    def release_all(self) -> None:
        """Wake every room waiter (the log closed: their next append will say so)."""
        while self._room:
            waiter = self._room.popleft()
            if not waiter.done():
                waiter.set_result(None)

    # --- outcomes ----------------------------------------------------------------------

    def add_hook(self, hook: CommitHook) -> Callable[[], None]:
        """Register ``hook``; returns a function removing it."""
        self._hooks.append(hook)

        def remove() -> None:
            if hook in self._hooks:
                self._hooks.remove(hook)

        return remove

    @property
    def hooked(self) -> bool:
        """Whether any commit hook is registered (else committed batches need not be built)."""
        return bool(self._hooks)

    def committed(self, batch: CommittedBatch) -> None:
        """Hand a committed batch to every hook; a hook's failure is logged, not raised."""
        for hook in tuple(self._hooks):
            try:
                hook(batch)
            except Exception as exc:
                log.error("eventlog.hook.failed", hook=repr(hook), error=repr(exc))

    def commit_failed(self, error: BaseException) -> None:
        """A commit failed (storage full, locked, read-only...): the log is failing."""
        self.last_error = f"{type(error).__name__}: {error}"
        if self.failing_since is None:
            self.failing_since = time.time()

    def commit_succeeded(self) -> None:
        """A commit went through: the log is not failing (any more)."""
        self.failing_since = None

    def background_committed(self, appends: int, events: int) -> None:
        """Count background appends a commit resolved."""
        self.background_appends += appends
        self.background_events += events

    def background_failed(self, stream: str, events: int, error: BaseException) -> None:
        """Count (and log) a background append whose commit failed."""
        self.failed_appends += 1
        self.failed_events += events
        self.last_error = f"{type(error).__name__}: {error}"
        log.error(
            "eventlog.append_nowait.failed", stream=stream, events=events, error=self.last_error
        )

    def statistics(self, depth: int) -> PipelineStatistics:
        """The counters as a frozen record."""
        return PipelineStatistics(
            queued=depth,
            capacity=self.capacity,
            background_appends=self.background_appends,
            background_events=self.background_events,
            failed_appends=self.failed_appends,
            failed_events=self.failed_events,
            last_error=self.last_error,
            room_waits=self.room_waits,
            room_wait_seconds=self.room_wait_seconds,
            longest_room_wait=self.longest_room_wait,
            failing_since=self.failing_since,
        )


def settle(
    future: asyncio.Future[tuple[int, ...]], outcome: tuple[int, ...] | BaseException
) -> None:
    """Resolve an append's future; a failure nobody may await is marked as seen."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
        future.exception()  # retrieved: no "never retrieved" warning for background ones
    else:
        future.set_result(outcome)
