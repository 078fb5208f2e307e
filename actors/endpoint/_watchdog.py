"""One timer for all the waits of a call (I/O: asyncio).

A call awaits many steps (a slot, the response headers, every body read), each by its
own deadline. ``asyncio.timeout_at`` per step would put a new timer on the event loop
for every read; a ``Watchdog`` keeps one loop timer per call and moves it lazily:

* a deadline that moves *later* (the idle deadline after each read) only updates a
  number; when the timer fires early it re-arms itself for the new deadline;
* a deadline that moves *earlier* (the first-byte clock restarting when the request
  goes out) re-arms the timer once.

The watchdog cancels the calling task only while it is inside ``wait``: between waits
(a stream's consumer holding a chunk) nothing is cancelled, so no deadline ever spans
a ``yield`` to the consumer. A step that overran is reported as ``TimeoutError``, the
same contract as ``asyncio.timeout_at``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["Watchdog"]

_T = TypeVar("_T")


class Watchdog:
    """A reusable deadline for one task's successive awaits (see the module docstring)."""

    __slots__ = ("_cancelling", "_deadline", "_expired", "_handle", "_loop", "_task", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._deadline = math.inf
        """The binding deadline of the current wait (loop time)."""
        self._handle: asyncio.TimerHandle | None = None
        self._when = math.inf
        """When ``_handle`` fires (inf: no timer armed)."""
        self._task: asyncio.Task[object] | None = None
        """The task inside ``wait`` (None between waits)."""
        self._cancelling = 0
        self._expired = False

    @property
    def deadline(self) -> float:
        """The binding deadline of the current (or last) wait, in loop time."""
        return self._deadline

    @property
    def expired(self) -> bool:
        """Whether the last wait ran out of time (it raised ``TimeoutError``)."""
        return self._expired

    def move(self, deadline: float) -> None:
        """Change the current wait's deadline (earlier or later)."""
        self._deadline = deadline
        if deadline < self._when:
            self._arm(deadline)

    def wake_by(self, when: float) -> None:
        """Make the timer fire no later than ``when`` (loop time).

        For a caller that knows no deadline of its coming waits can fall before
        ``when``: arming the timer once here makes every later move to a deadline at
        or after ``when`` a mere number update. A timer that fires before the binding
        deadline re-arms itself for it, so an early wake costs one more timer.
        """
        if when < self._when:
            self._arm(when)

    async def wait(self, step: Awaitable[_T], deadline: float) -> _T:
        """Await ``step``; raise ``TimeoutError`` if ``deadline`` passes first.

        Raises:
            TimeoutError: the deadline passed while waiting (``step`` was cancelled).
        """
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Watchdog.wait must run inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._expired = False
        self.move(deadline)
        try:
            result = await step
        except asyncio.CancelledError as exc:
            self._task = None
            if self._expired and task.uncancel() <= self._cancelling:
                raise TimeoutError from exc
            raise
        except BaseException:
            self._withdraw(task)
            raise
        self._withdraw(task)
        return result

    def stop(self) -> None:
        """Drop the loop timer (the call is over); ``wait`` may still be used later."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._when = math.inf

    def _withdraw(self, task: asyncio.Task[object]) -> None:
        """End a wait that did not end in a cancellation."""
        self._task = None
        if self._expired:
            # It expired, but the step ended another way: take our cancel request back
            # (as ``asyncio.Timeout`` does).
            task.uncancel()

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._when = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._when = math.inf
        task = self._task
        if task is None:
            return  # between waits: the next wait arms the timer again
        if self._deadline > self._loop.time():
            self._arm(self._deadline)  # the deadline moved later meanwhile
            return
        self._expired = True
        task.cancel()
