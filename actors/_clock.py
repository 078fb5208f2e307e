"""Clocks: the ``Clock`` seam, the real clock, and a virtual clock for deterministic tests.

Durations (timeouts, backoff, timers) use ``monotonic()``; only timestamps shown to
people or compared with calendar boundaries (quota resets) use ``time()``, which may
jump. ``ManualClock`` moves the two independently so tests can simulate such jumps.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from events import get_logger

__all__ = ["Clock", "ManualClock", "RealClock", "TimerCallback", "TimerHandle"]

log = get_logger(__name__)

TimerCallback = Callable[[], object]
"""A timer callback: a plain function, or one returning an awaitable (run as a task)."""


class TimerHandle:
    """A scheduled callback; ``cancel()`` keeps it from running (again)."""

    __slots__ = ("_cancelled", "_canceller")

    def __init__(self) -> None:
        self._cancelled = False
        self._canceller: Callable[[], object] | None = None

    def cancel(self) -> None:
        """Cancel the timer; idempotent, and harmless after it has fired."""
        if self._cancelled:
            return
        self._cancelled = True
        if self._canceller is not None:
            self._canceller()

    @property
    def cancelled(self) -> bool:
        """Whether ``cancel()`` was called."""
        return self._cancelled

    def _set_canceller(self, canceller: Callable[[], object]) -> None:
        self._canceller = canceller


class Clock(Protocol):
    """Time as the actor system sees it; injected so tests can drive it."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; only differences are meaningful."""
        ...

    def time(self) -> float:
        """Wall-clock time, seconds since the Unix epoch; may jump."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` of monotonic time."""
        ...

    def schedule_once(self, delay: float, callback: TimerCallback) -> TimerHandle:
        """Call ``callback`` once, ``delay`` seconds from now."""
        ...

    def schedule_every(self, interval: float, callback: TimerCallback) -> TimerHandle:
        """Call ``callback`` every ``interval`` seconds, first after one interval."""
        ...


def _check_interval(interval: float) -> None:
    if not (math.isfinite(interval) and interval > 0):
        raise ValueError(f"interval must be a positive number of seconds, got {interval}")


def _callback_name(callback: TimerCallback) -> str:
    return getattr(callback, "__qualname__", repr(callback))


class _CallbackRunner:
    """Runs timer callbacks: sync ones inline, awaitable results as tracked tasks.

    A failing callback is logged (never lost, never allowed to kill the timer loop).
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    def run(self, callback: TimerCallback) -> None:
        try:
            result = callback()
        except Exception as exc:
            log.error("clock.callback.failed", callback=_callback_name(callback), exc_info=exc)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("clock.callback.failed", task=repr(task), exc_info=exc)

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


class RealClock:
    """The event loop's monotonic clock and the system's wall clock."""

    def __init__(self) -> None:
        self._runner = _CallbackRunner()

    def monotonic(self) -> float:
        """The running loop's time (``time.monotonic()`` outside a loop)."""
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    time = staticmethod(time.time)
    """``time.time()`` itself (no wrapper: it is read on every step of every request)."""

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(max(0.0, seconds))

    def schedule_once(self, delay: float, callback: TimerCallback) -> TimerHandle:
        """Call ``callback`` once after ``delay`` seconds (needs a running loop)."""
        handle = TimerHandle()
        loop = asyncio.get_running_loop()
        timer = loop.call_later(max(0.0, delay), self._runner.run, callback)
        handle._set_canceller(timer.cancel)
        return handle

    def schedule_every(self, interval: float, callback: TimerCallback) -> TimerHandle:
        """Call ``callback`` every ``interval`` seconds (needs a running loop).

        Deadlines follow a fixed rate so they do not drift; after a stall the next tick
        is not earlier than now, so missed ticks are skipped rather than bunched.
        """
        _check_interval(interval)
        handle = TimerHandle()
        loop = asyncio.get_running_loop()

        def tick(deadline: float) -> None:
            if handle.cancelled:
                return
            following = max(deadline + interval, loop.time())
            handle._set_canceller(loop.call_at(following, tick, following).cancel)
            self._runner.run(callback)

        first = loop.time() + interval
        handle._set_canceller(loop.call_at(first, tick, first).cancel)
        return handle

    async def aclose(self) -> None:
        """Cancel and await callback tasks still running."""
        await self._runner.aclose()


class _Entry:
    """One thing waiting on a ``ManualClock``: a sleeper or a timer."""

    __slots__ = ("callback", "handle", "interval", "waiter")

    def __init__(
        self,
        *,
        waiter: asyncio.Future[None] | None = None,
        handle: TimerHandle | None = None,
        callback: TimerCallback | None = None,
        interval: float | None = None,
    ) -> None:
        self.waiter = waiter
        self.handle = handle
        self.callback = callback
        self.interval = interval

    @property
    def dead(self) -> bool:
        if self.waiter is not None:
            return self.waiter.done()
        return self.handle is not None and self.handle.cancelled


class ManualClock:
    """A virtual clock that moves only when a test calls ``advance``.

    ``advance`` fires due timers and wakes sleepers one deadline at a time, in deadline
    order (ties in scheduling order), and yields to the event loop after each so the
    woken tasks run (and may schedule more) before the clock moves on.
    """

    def __init__(
        self,
        monotonic: float = 0.0,
        wall: float = 1_700_000_000.0,
        *,
        settle_rounds: int = 32,
    ) -> None:
        """Start at ``monotonic`` and wall time ``wall`` (epoch seconds).

        Args:
            monotonic: Initial monotonic reading.
            wall: Initial wall-clock reading.
            settle_rounds: Loop iterations yielded after each wake-up; enough for a
                woken task to run through a few awaits of already-done work.
        """
        self._now = monotonic
        self._wall_offset = wall - monotonic
        self._settle_rounds = settle_rounds
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = itertools.count()
        self._runner = _CallbackRunner()

    def monotonic(self) -> float:
        """The virtual monotonic time."""
        return self._now

    def time(self) -> float:
        """The virtual wall time: moves with ``advance`` and jumps with ``jump_wall``."""
        return self._now + self._wall_offset

    def set_wall_time(self, wall: float) -> None:
        """Set the wall clock to ``wall``; monotonic time does not move."""
        self._wall_offset = wall - self._now

    def jump_wall(self, delta: float) -> None:
        """Jump the wall clock by ``delta`` seconds (may be negative)."""
        self._wall_offset += delta

    async def sleep(self, seconds: float) -> None:
        """Suspend until ``advance`` reaches now + ``seconds`` (0 or less: just yield)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._push(self._now + seconds, _Entry(waiter=waiter))
        # Cancelling the sleeper cancels the future; advance then skips the entry.
        await waiter

    def schedule_once(self, delay: float, callback: TimerCallback) -> TimerHandle:
        """Call ``callback`` once when the clock reaches now + ``delay``."""
        handle = TimerHandle()
        self._push(self._now + max(0.0, delay), _Entry(handle=handle, callback=callback))
        return handle

    def schedule_every(self, interval: float, callback: TimerCallback) -> TimerHandle:
        """Call ``callback`` at now + k * ``interval`` for k = 1, 2, ..."""
        _check_interval(interval)
        handle = TimerHandle()
        entry = _Entry(handle=handle, callback=callback, interval=interval)
        self._push(self._now + interval, entry)
        return handle

    @property
    def pending(self) -> int:
        """Sleepers and timers still waiting (cancelled ones excluded)."""
        return sum(1 for _, _, entry in self._heap if not entry.dead)

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or ``None`` when nothing waits."""
        live = [deadline for deadline, _, entry in self._heap if not entry.dead]
        return min(live, default=None)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running everything that falls due on the way."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"advance needs a finite number of seconds >= 0, got {seconds}")
        target = self._now + seconds
        await self._settle()
        while self._heap and self._heap[0][0] <= target:
            deadline, _, entry = heapq.heappop(self._heap)
            if entry.dead:
                continue
            self._now = max(self._now, deadline)
            self._fire(deadline, entry)
            await self._settle()
        self._now = max(self._now, target)
        await self._settle()

    async def aclose(self) -> None:
        """Cancel and await callback tasks still running."""
        await self._runner.aclose()

    def _push(self, deadline: float, entry: _Entry) -> None:
        heapq.heappush(self._heap, (deadline, next(self._seq), entry))

    def _fire(self, deadline: float, entry: _Entry) -> None:
        if entry.waiter is not None:
            entry.waiter.set_result(None)
            return
        if entry.interval is not None:
            self._push(deadline + entry.interval, entry)
        if entry.callback is not None:
            self._runner.run(entry.callback)

    async def _settle(self) -> None:
        for _ in range(self._settle_rounds):
            await asyncio.sleep(0)
