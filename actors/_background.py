"""``BackgroundTasks``: the tasks an actor runs outside its turns (its I/O).

They belong to the actor, not to one instance: they outlive a restart (and report to
the new instance through the ref) and are cancelled when the actor stops. A task's
exception is logged, never raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from events import KeywordLogger

__all__ = ["BackgroundTasks"]


class BackgroundTasks:
    """The running background tasks of one actor."""

    def __init__(self, owner: str, log: KeywordLogger) -> None:
        self._owner = owner
        self._log = log
        self._tasks: set[asyncio.Task[object]] = set()

    def start(self, work: Coroutine[Any, Any, object], *, name: str) -> asyncio.Task[object]:
        """Run ``work`` in a task of its own."""
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(
            self._guarded(work), name=f"actor:{self._owner}:{name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel(self) -> list[asyncio.Task[object]]:
        """Cancel every task; returns them (to await)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    async def cancel_and_wait(self) -> None:
        """Cancel every task and wait until they have ended."""
        tasks = self.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _guarded(self, work: Coroutine[Any, Any, object]) -> object:
        try:
            return await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log.error("actor.background.failed", exc_info=exc)
            return None
