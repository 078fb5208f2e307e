"""The ``EventLog`` interface every implementation satisfies (one contract test suite)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import Protocol

import msgspec

from events._base import Event, StoredEvent
from events._pipeline import CommitHook, PipelineStatistics

__all__ = ["EventLog", "LogBounds", "SnapshotStore"]


class LogBounds(msgspec.Struct, frozen=True, kw_only=True):
    """The range of positions a log holds, and what was compacted away before it."""

    first_position: int
    """The lowest retained position (``last_position + 1`` when nothing is retained)."""
    last_position: int
    """The highest committed position (0 for a log never written)."""
    compacted_through: int = 0
    """Every event at or before this position was deleted by ``compact`` (0: never)."""
    compacted_at: float | None = None
    """When the last compaction ran (seconds since the epoch)."""
    first_timestamp: float | None = None
    """Timestamp of the first retained event (None when nothing is retained)."""
    last_timestamp: float | None = None
    """Timestamp of the last event (None when nothing is retained)."""


class EventLog(Protocol):
    """An append-only, totally ordered log of events, and the runtime's only event queue.

    ``append`` and ``append_nowait`` take their place in the order when called; see
    ``events._pipeline`` for lingering, room and failure counting.

    Many writers. Several log objects may write to one storage (processes on one SQLite
    file, machines on one PostgreSQL database). Positions stay global, gap-free and
    commit-ordered across all of them: no reader sees position n+1 before n. The commit
    hooks of each log object receive, in position order, without gaps or repeats, every
    batch committed after it opened: its own (``foreign=False``) and the other writers'
    (``foreign=True``, found by the tail: before each own commit, and while idle every
    ``tail_interval``; ``catch_up`` forces it).
    """

    async def append(
        self,
        stream: str,
        events: Sequence[Event],
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, ...]:
        """Append ``events`` to ``stream`` atomically; return their global positions.

        Returns only once the events are committed (durable per the log's setting).

        Args:
            stream: The stream name.
            events: One or more events, appended together or not at all.
            expected_version: If given, the stream must currently be at exactly this
                version (0 = empty), else ``ConcurrencyConflict`` and nothing is written.
            idempotency_key: If an append with this key was already committed, nothing
                is written and the positions of that earlier append are returned.
        """
        ...

    def append_nowait(
        self,
        stream: str,
        events: Sequence[Event],
        *,
        urgent: bool = False,
        expected_version: int | None = None,
    ) -> asyncio.Future[tuple[int, ...]]:
        """Queue ``events`` for a background commit and return at once; never drops.

        Routine appends linger to share a commit; ``urgent`` cuts the linger. The future
        resolves to the positions once committed (awaiting it is optional: a failure
        is logged and counted in ``pipeline_statistics()`` either way). With
        ``expected_version`` the stream must be at exactly that version when this append
        commits (every writer's commits count); otherwise only this future fails with
        ``ConcurrencyConflict`` and nothing of it is written.
        """
        ...

    async def catch_up(self) -> int:
        """Deliver to the commit hooks, now, what other writers committed and the tail
        has not delivered yet; return the position delivered up to."""
        ...

    async def bounds(self) -> LogBounds:
        """The positions (and times) the log holds, and what was compacted before them."""
        ...

    async def compact(self, through_position: int) -> int:
        """Delete every event at or before ``through_position``; return how many.

        Stream versions and later positions are kept; snapshots before the position are
        deleted; idempotency keys of deleted events are forgotten. ``ValueError`` if the
        position is negative or beyond ``last_position()``.
        """
        ...

    async def wait_for_room(self) -> None:
        """Return once the queue is below its capacity; ``EventLogBacklogged`` if it
        is still full after the log's ``room_timeout``."""
        ...

    async def flush(self) -> None:
        """Wait until every append queued so far is committed (or failed)."""
        ...

    def on_commit(self, hook: CommitHook) -> Callable[[], None]:
        """Call ``hook(batch)`` after every commit, in position order; returns an undo."""
        ...

    def pipeline_statistics(self) -> PipelineStatistics:
        """The queue's depth, background appends and failures, waits for room."""
        ...

    def read(
        self,
        from_position: int = 1,
        *,
        to_position: int | None = None,
        stream: str | None = None,
        types: Collection[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[StoredEvent]:
        """Committed events in position order, filtered; bounds are inclusive."""
        ...

    def subscribe(
        self,
        from_position: int = 1,
        *,
        stream: str | None = None,
        types: Collection[str] | None = None,
    ) -> AsyncIterator[StoredEvent]:
        """Like ``read`` from ``from_position``, then waits for and yields new events."""
        ...

    async def last_position(self) -> int:
        """The highest committed position (0 for an empty log)."""
        ...

    async def stream_version(self, stream: str) -> int:
        """The stream's current version (0 if it has no events)."""
        ...

    async def close(self) -> None:
        """Flush pending appends, release resources; idempotent."""
        ...


class SnapshotStore(Protocol):
    """Stores serialized projection states at a log position (every implementation)."""

    async def save_snapshot(self, name: str, position: int, state: bytes) -> None:
        """Store ``state`` of projection ``name`` as of global ``position``."""
        ...

    async def load_snapshot(
        self, name: str, *, at_or_before: int | None = None
    ) -> tuple[int, bytes] | None:
        """The latest snapshot of ``name`` (at or before a position); ``None`` if none."""
        ...
