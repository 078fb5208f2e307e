"""An in-memory ``EventLog`` and ``SnapshotStore`` for unit tests.

It keeps exactly what the SQLite log would store (the envelope plus the encoded payload)
and decodes through the registry on every read, so round-trips, upcasting and unknown
types behave as they do against real storage. It passes the same contract suite.

Several writers: ``peer()`` opens another log object on the same storage (another
"process"). Each object delivers the others' commits to its hooks as foreign batches:
before each own commit, and (standing in for SQLite's polling tail) soon after the other
object committed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence

from events._base import Event, StoredEvent, UnknownEvent
from events._codec import EventRegistry, default_registry
from events._errors import ConcurrencyConflict, EventLogClosed, StorageFull
from events._logger import get_logger
from events._memory_storage import Row, Storage, matches, stored
from events._memory_writer import MemoryWriter, Queued
from events._pipeline import (
    DEFAULT_LINGER,
    DEFAULT_ROOM_TIMEOUT,
    CommitHook,
    CommittedBatch,
    Pipeline,
    PipelineStatistics,
    settle,
)
from events._protocol import LogBounds

__all__ = ["MemoryEventLog"]

log = get_logger(__name__)


class MemoryEventLog:
    """An event log and snapshot store held in memory (lost when the process exits).

    Args:
        registry: Encodes appended events and decodes them again on read.
        now: Wall clock for the envelope's timestamp (inject a fake one in tests).
        queue_size: Background appends waiting above which ``wait_for_room`` waits.
        linger: Seconds a routine ``append_nowait`` may wait to share a commit.
        room_timeout: Longest wait for room before ``EventLogBacklogged``.
        max_events: Storage "full" past this many events: appends that would pass it
            fail with ``StorageFull`` (the in-memory stand-in for a full disk).
    """

    def __init__(
        self,
        registry: EventRegistry = default_registry,
        now: Callable[[], float] = time.time,
        *,
        queue_size: int = 10_000,
        linger: float = DEFAULT_LINGER,
        room_timeout: float = DEFAULT_ROOM_TIMEOUT,
        max_events: int | None = None,
    ) -> None:
        self._registry = registry
        self._now = now
        self._storage = Storage()
        self._closed = False
        self._delivered = 0
        """Position up to which commits (own and foreign) went to the hooks."""
        self._peers: list[MemoryEventLog] = [self]
        """Every open log object on this storage (one list, shared by all of them)."""
        self.max_events = max_events
        """Appends that would store more events than this fail with ``StorageFull``."""
        self.unknown_count = 0
        """How many ``UnknownEvent`` placeholders reads of this log have handed out."""
        pipeline = Pipeline(capacity=queue_size, linger=linger, room_timeout=room_timeout)
        self._writer = MemoryWriter(pipeline, self._commit_queued)

    @classmethod
    async def open(
        cls,
        registry: EventRegistry = default_registry,
        now: Callable[[], float] = time.time,
        **options: float | int | None,
    ) -> MemoryEventLog:
        """Create a log; the async constructor mirrors ``SqliteEventLog.open``."""
        return cls(registry=registry, now=now, **options)  # type: ignore[arg-type]

    def with_registry(self, registry: EventRegistry) -> MemoryEventLog:
        """Another log on the same storage, decoding with ``registry``.

        This is what opening the same database file with another release does: tests
        use it to write with one set of event types and read with another.
        """
        other = MemoryEventLog(registry=registry, now=self._now, max_events=self.max_events)
        other._storage = self._storage
        other._delivered = self._storage.last
        return other

    def peer(
        self, registry: EventRegistry | None = None, now: Callable[[], float] | None = None
    ) -> MemoryEventLog:
        """Another open log object on the same storage, as another process would have:
        each one's hooks get the other's commits as foreign batches."""
        other = self.with_registry(registry or self._registry)
        if now is not None:
            other._now = now
        other._peers = self._peers
        self._peers.append(other)
        return other

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._closed

    async def append(
        self,
        stream: str,
        events: Sequence[Event],
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, ...]:
        """Append ``events`` to ``stream`` atomically; see ``EventLog.append``."""
        self._check_open()
        if not events:
            raise ValueError(f"append to {stream!r} needs at least one event")
        self._writer.commit_now()  # what was queued before this call goes first
        # The key is checked first: a retried append that already succeeded must get its
        # positions back even though its expected_version is now stale.
        if idempotency_key is not None and idempotency_key in self._storage.idempotency:
            return self._storage.idempotency[idempotency_key]
        current = self._storage.versions.get(stream, 0)
        if expected_version is not None and expected_version != current:
            raise ConcurrencyConflict(stream, expected_version, current)
        # Encode everything before touching any state, so a bad event writes nothing.
        encoded = [self._registry.encode(event) for event in events]
        try:
            self._check_room(stream, len(encoded))
        except StorageFull as exc:
            self._writer.pipeline.commit_failed(exc)
            raise
        positions = self._storage.write(stream, encoded, self._now(), idempotency_key)
        self._committed([(stream, positions, events)], 1)
        return positions

    def append_nowait(
        self,
        stream: str,
        events: Sequence[Event],
        *,
        urgent: bool = False,
        expected_version: int | None = None,
    ) -> asyncio.Future[tuple[int, ...]]:
        """Queue ``events`` and return at once; see ``EventLog.append_nowait``."""
        self._check_open()
        if not events:
            raise ValueError(f"append to {stream!r} needs at least one event")
        encoded = [self._registry.encode(event) for event in events]
        future: asyncio.Future[tuple[int, ...]] = asyncio.get_running_loop().create_future()
        self._writer.queue((stream, encoded, events, future, expected_version), urgent=urgent)
        return future

    async def wait_for_room(self) -> None:
        """Return once fewer than ``queue_size`` background appends wait."""
        self._check_open()
        writer = self._writer
        await writer.pipeline.wait_for_room(lambda: writer.depth)

    async def flush(self) -> None:
        """Wait until every background append queued so far is committed (or failed)."""
        await self._writer.flush()

    def on_commit(self, hook: CommitHook) -> Callable[[], None]:
        """Call ``hook(batch)`` with every committed batch; returns a function removing it."""
        return self._writer.pipeline.add_hook(hook)

    def pipeline_statistics(self) -> PipelineStatistics:
        """The queue and the background appends' counters."""
        return self._writer.pipeline.statistics(self._writer.depth)

    def _check_room(self, stream: str, count: int) -> None:
        limit = self.max_events
        if limit is not None and len(self._storage.rows) + count > limit:
            raise StorageFull(
                f"the in-memory event log is full ({limit} events); appending {count} to "
                f"{stream!r} was refused and nothing was written"
            )

    def _commit_queued(self, batch: list[Queued]) -> None:
        written: list[tuple[str, tuple[int, ...], Sequence[Event]]] = []
        pipeline = self._writer.pipeline
        for stream, encoded, events, future, expected in batch:
            current = self._storage.versions.get(stream, 0)
            if expected is not None and expected != current:
                settle(future, ConcurrencyConflict(stream, expected, current))
                continue
            try:
                self._check_room(stream, len(encoded))
            except StorageFull as exc:
                pipeline.commit_failed(exc)
                pipeline.background_failed(stream, len(events), exc)
                settle(future, exc)
                continue
            positions = self._storage.write(stream, encoded, self._now(), None)
            settle(future, positions)
            written.append((stream, positions, events))
        pipeline.background_committed(len(written), sum(len(w[2]) for w in written))
        self._committed(written, len(batch))

    def _committed(
        self, written: list[tuple[str, tuple[int, ...], Sequence[Event]]], appends: int
    ) -> None:
        """Wake subscribers, feed the commit hooks (others' commits first), tell peers."""
        storage = self._storage
        storage.wake()
        pipeline = self._writer.pipeline
        if not written:
            return
        pipeline.commit_succeeded()
        self._deliver_foreign(written[0][1][0] - 1)
        self._delivered = written[-1][1][-1]
        if pipeline.hooked:
            own = tuple(
                stored(storage.row(position), event)
                for _, positions, events in written
                for position, event in zip(positions, events, strict=True)
            )
            pipeline.committed(CommittedBatch(events=own, appends=appends, seconds=0.0))
        loop = asyncio.get_running_loop()
        for peer in self._peers:
            if peer is not self and not peer._closed:
                loop.call_soon(peer._tail)

    def _deliver_foreign(self, through: int) -> None:
        """Hand the hooks the others' commits after ``_delivered`` up to ``through``."""
        storage = self._storage
        start = self._delivered + 1
        if through < start:
            return
        self._delivered = through
        if start <= storage.base:
            log.error("eventlog.tail.compacted", missed_through=storage.base)
            start = storage.base + 1
        pipeline = self._writer.pipeline
        if not pipeline.hooked or through < start:
            return
        foreign = tuple(self._decode(storage.row(p)) for p in range(start, through + 1))
        pipeline.committed(CommittedBatch(events=foreign, appends=0, seconds=0.0, foreign=True))

    def _tail(self) -> None:
        if not self._closed:
            self._deliver_foreign(self._storage.last)

    async def catch_up(self) -> int:
        """Deliver the others' commits to the hooks now; the position delivered up to."""
        self._check_open()
        self._tail()
        return self._delivered

    async def bounds(self) -> LogBounds:
        """The retained positions and times, and what compaction removed."""
        self._check_open()
        storage = self._storage
        rows = storage.rows
        return LogBounds(
            first_position=storage.base + 1,
            last_position=storage.last,
            compacted_through=storage.compacted_through,
            compacted_at=storage.compacted_at,
            first_timestamp=rows[0].timestamp if rows else None,
            last_timestamp=rows[-1].timestamp if rows else None,
        )

    async def compact(self, through_position: int) -> int:
        """Delete the events at or before ``through_position``; see ``EventLog.compact``."""
        self._check_open()
        self._writer.commit_now()
        return self._storage.compact(through_position, self._now())

    async def read(
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
        self._check_open()
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        wanted = frozenset(types) if types is not None else None
        # Only what was committed when the read started: later appends are not seen.
        storage = self._storage
        last = storage.last
        end = last if to_position is None else min(to_position, last)
        yielded = 0
        for position in range(max(from_position, storage.base + 1, 1), end + 1):
            if limit is not None and yielded >= limit:
                return
            row = storage.row(position)
            if not matches(row, stream, wanted, since, until):
                continue
            yielded += 1
            yield self._decode(row)

    async def subscribe(
        self,
        from_position: int = 1,
        *,
        stream: str | None = None,
        types: Collection[str] | None = None,
    ) -> AsyncIterator[StoredEvent]:
        """Existing events from ``from_position``, then new ones; ends when the log closes."""
        self._check_open()
        wanted = frozenset(types) if types is not None else None
        storage = self._storage
        position = max(from_position, 1)
        while True:
            position = max(position, storage.base + 1)
            while position <= storage.last:
                row = storage.row(position)
                position += 1
                if matches(row, stream, wanted, None, None):
                    yield self._decode(row)
            if self._closed:
                return
            signal = storage.signal
            if storage.last < position:
                await signal.wait()

    async def last_position(self) -> int:
        """The highest committed position (0 for an empty log)."""
        self._check_open()
        return self._storage.last

    async def stream_version(self, stream: str) -> int:
        """The stream's current version (0 if it has no events)."""
        self._check_open()
        return self._storage.versions.get(stream, 0)

    async def close(self) -> None:
        """Mark the log closed and wake subscribers so they end; idempotent."""
        if self._closed:
            return
        await self._writer.close()
        self._closed = True
        if self in self._peers:
            self._peers.remove(self)
        self._storage.wake()

    async def save_snapshot(self, name: str, position: int, state: bytes) -> None:
        """Store ``state`` of projection ``name`` as of ``position`` (replacing one there)."""
        self._check_open()
        if position < 0:
            raise ValueError(f"snapshot position must be >= 0, got {position}")
        self._storage.save_snapshot(name, position, state)

    async def load_snapshot(
        self, name: str, *, at_or_before: int | None = None
    ) -> tuple[int, bytes] | None:
        """The latest snapshot of ``name`` (at or before a position); ``None`` if none."""
        self._check_open()
        return self._storage.load_snapshot(name, at_or_before)

    def _decode(self, row: Row) -> StoredEvent:
        event = self._registry.decode(row.type, row.schema_version, row.payload)
        if isinstance(event, UnknownEvent):
            self.unknown_count += 1
        return stored(row, event)

    def _check_open(self) -> None:
        if self._closed:
            raise EventLogClosed("the in-memory event log is closed; open a new one")
