"""The in-memory log's writer: its queue of background appends, lingering like SQLite's.

``MemoryEventLog`` writes an awaited ``append`` at once, but first commits everything
queued before it, so positions follow call order exactly as in the SQLite log. Background
appends (``append_nowait``) wait in this queue, linger, and are committed by a task,
so the contract suite sees the same timing rules (linger, urgent, room) on both logs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence

from events._base import Event
from events._errors import EventLogClosed
from events._pipeline import Alarm, Pipeline, settle

__all__ = ["MemoryWriter", "Queued"]

Queued = tuple[
    str,
    Sequence[tuple[str, int, bytes]],
    Sequence[Event],
    "asyncio.Future[tuple[int, ...]]",
    int | None,
]
"""``(stream, encoded events, events, the caller's future, expected version)``."""

Commit = Callable[[list[Queued]], None]
"""Writes queued appends, in order, and settles their futures."""


class MemoryWriter:
    """Holds background appends until their linger ends, then commits them in order."""

    def __init__(self, pipeline: Pipeline, commit: Commit) -> None:
        self.pipeline = pipeline
        self._commit = commit
        self._pending: deque[Queued] = deque()
        self._task: asyncio.Task[None] | None = None
        self._alarm = Alarm()
        self._wake = self._alarm.wake
        self._closed = False

    @property
    def depth(self) -> int:
        """Background appends waiting."""
        return len(self._pending)

    def queue(self, entry: Queued, *, urgent: bool) -> None:
        """Queue a background append; the writer task commits it after its linger."""
        if self._closed:
            raise EventLogClosed("the in-memory event log is closed; open a new one")
        pending = self._pending
        pending.append(entry)
        self.pipeline.queued(len(pending), hurry=urgent)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="memory-log")
        if len(pending) == 1 or self.pipeline.hurry:
            self._wake()

    def commit_now(self) -> None:
        """Commit everything queued at once (before an awaited append, or on close)."""
        if not self._pending:
            return
        batch = list(self._pending)
        self._pending.clear()
        self.pipeline.taken(0)
        self._commit(batch)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (cuts the linger)."""
        if not self._pending:
            return
        last = self._pending[-1][3]
        self.pipeline.hurry = True
        self._wake()
        await asyncio.wait([last])

    async def close(self) -> None:
        """Commit what is queued, stop the task, refuse later appends."""
        self.commit_now()
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.pipeline.release_all()

    def fail(self, exc_factory: Callable[[], BaseException]) -> None:
        """Fail every queued append (the storage refused them)."""
        while self._pending:
            stream, _, events, future, _ = self._pending.popleft()
            error = exc_factory()
            if not future.done():
                self.pipeline.background_failed(stream, len(events), error)
            settle(future, error)

    async def _run(self) -> None:
        while True:
            wait = self.pipeline.linger_left() if self._pending else None
            if wait == 0:
                self.commit_now()
                continue
            await self._alarm.sleep(wait)
