"""What a storage log (SQLite, PostgreSQL) answers from its writer's ``WriteQueue``.

``SqliteEventLog`` and ``PostgresEventLog`` each own a committer (a ``WriteQueue``)
while open for writing, and none when opened read-only. Appending (an entry checked and
encoded at once, then queued), room, flushing, commit hooks and the counters are the
committer's, so both logs answer them the same way here; each log says what its writer
is (``_write_queue``), its writer task (``_task``) and ``path``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from events._base import Event
from events._codec import EventRegistry
from events._errors import EventLogClosed, EventLogError
from events._pipeline import CommitHook, Pipeline, PipelineStatistics
from events._sqlite_writer import SqliteLogStatistics
from events._write_queue import WriteQueue, append_entry

__all__ = ["QueuedLog"]

Q = TypeVar("Q", bound=WriteQueue[Any])


class QueuedLog(Generic[Q]):
    """The ``EventLog`` methods a log with a ``WriteQueue`` writer shares (a mixin)."""

    _closed: bool
    _registry: EventRegistry
    _task: asyncio.Task[None] | None
    """The writer task (``None`` if read-only)."""

    @property
    def path(self) -> object:
        """Where the log lives, for messages."""
        raise NotImplementedError

    @property
    def unknown_count(self) -> int:
        """Events this log has handed out as ``UnknownEvent``."""
        raise NotImplementedError

    def _write_queue(self) -> Q | None:
        """The writer's queue; ``None`` if the log was opened read-only."""
        raise NotImplementedError

    def _writable_queue(self) -> Q:
        """The writer's queue, or the error saying why this log cannot write now."""
        if self._closed:
            raise EventLogClosed(f"event log {self.path} is closed")
        queue = self._write_queue()
        if queue is None:
            raise EventLogError(
                f"event log {self.path} was opened read-only; open it with "
                f"{type(self).__name__}.open to append"
            )
        if self._task is not None and self._task.done():
            raise EventLogClosed(f"event log {self.path}: its writer has stopped; reopen it")
        return queue

    async def close(self) -> None:
        """Commit what is queued, stop the writer, release the storage; idempotent."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def append(
        self,
        stream: str,
        events: Sequence[Event],
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, ...]:
        """Append ``events`` to ``stream`` atomically; see ``EventLog.append``.

        Raises:
            EventLogClosed: The log is closed (or closed while this was in flight).
            ConcurrencyConflict: ``expected_version`` did not match.
            StorageFull: The storage could not grow; nothing of the batch was written.
            StorageUnavailable: Locked by another process, read-only, unreachable, or an
                I/O error.
        """
        queue = self._writable_queue()
        entry = append_entry(
            self._registry, stream, events, expected_version, idempotency_key, False
        )
        await queue.put(entry)  # waits for room only if the queue is full
        return await entry[1]

    def append_nowait(
        self,
        stream: str,
        events: Sequence[Event],
        *,
        urgent: bool = False,
        expected_version: int | None = None,
    ) -> asyncio.Future[tuple[int, ...]]:
        """Queue ``events`` and return at once; see ``EventLog.append_nowait``.

        With ``expected_version``, a mismatch at commit time fails only this future
        (``ConcurrencyConflict``); it is not counted as a failed background append.

        Raises:
            EventLogClosed: The log is closed; nothing was queued.
        """
        queue = self._writable_queue()
        entry = append_entry(self._registry, stream, events, expected_version, None, True)
        queue.queue(entry, hurry=urgent)
        return entry[1]

    async def wait_for_room(self) -> None:
        """Return once fewer than ``queue_size`` appends wait for the writer.

        Raises:
            EventLogBacklogged: Still full after ``room_timeout`` seconds.
        """
        queue = self._writable_queue()
        await queue.pipeline.wait_for_room(lambda: queue.depth)

    async def flush(self) -> None:
        """Wait until every append queued so far is committed (or failed)."""
        queue = self._write_queue()
        if queue is not None and not self._closed:
            await queue.flush()

    def on_commit(self, hook: CommitHook) -> Callable[[], None]:
        """Call ``hook(batch)`` with every committed batch, this log's and (``foreign``)
        other writers'; returns a function removing it."""
        queue = self._writable_queue()
        remove = queue.pipeline.add_hook(hook)
        queue.hooks_changed()
        return remove

    def pipeline_statistics(self) -> PipelineStatistics:
        """The queue and the background appends' counters (zeros if read-only)."""
        queue = self._write_queue()
        if queue is None:
            return Pipeline(capacity=1, linger=0, room_timeout=1).statistics(0)
        return queue.pipeline.statistics(queue.depth)

    def statistics(self) -> SqliteLogStatistics:
        """The writer's counters (cheap; no I/O); all zero but ``unknown_count`` if
        read-only."""
        queue = self._write_queue()
        if queue is None:
            return SqliteLogStatistics(unknown_count=self.unknown_count)
        return queue.statistics(self.unknown_count)
