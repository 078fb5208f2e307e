"""An in-memory ``EventLog`` and ``SnapshotStore`` for unit tests.

It keeps exactly what the SQLite log would store (the envelope plus the encoded payload)
and decodes through the registry on every read, so round-trips, upcasting and unknown
types behave as they do against real storage. It passes the same contract suite.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence

import msgspec

from events._base import Event, StoredEvent, UnknownEvent
from events._codec import EventRegistry, default_registry
from events._errors import ConcurrencyConflict, EventLogClosed, StorageFull
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

__all__ = ["MemoryEventLog"]


class _Row(msgspec.Struct, frozen=True):
    """One stored event: the envelope and the encoded payload, as a table row would be."""

    position: int
    stream: str
    stream_version: int
    timestamp: float
    type: str
    schema_version: int
    idempotency_key: str | None
    payload: bytes


class _Storage:
    """What a database file would hold; shared by every log opened on it."""

    def __init__(self) -> None:
        self.rows: list[_Row] = []
        self.versions: dict[str, int] = {}
        self.idempotency: dict[str, tuple[int, ...]] = {}
        # Per projection name: snapshot positions (sorted) and the states saved at them.
        self.snapshot_positions: dict[str, list[int]] = {}
        self.snapshot_states: dict[str, list[bytes]] = {}
        self.signal = asyncio.Event()
        self.last_timestamp = float("-inf")

    def wake(self) -> None:
        """Wake every subscriber waiting for new rows."""
        signal, self.signal = self.signal, asyncio.Event()
        signal.set()

    def write(
        self,
        stream: str,
        encoded: Sequence[tuple[str, int, bytes]],
        now: float,
        idempotency_key: str | None,
    ) -> tuple[int, ...]:
        """Store already-checked, encoded events; return their positions."""
        # Timestamps never go backwards, so time bounds and position bounds agree.
        timestamp = max(now, self.last_timestamp)
        current = self.versions.get(stream, 0)
        first = len(self.rows) + 1
        for offset, (name, version, payload) in enumerate(encoded):
            row = _Row(
                first + offset,
                stream,
                current + 1 + offset,
                timestamp,
                name,
                version,
                idempotency_key,
                payload,
            )
            self.rows.append(row)
        positions = tuple(range(first, first + len(encoded)))
        self.versions[stream] = current + len(encoded)
        self.last_timestamp = timestamp
        if idempotency_key is not None:
            self.idempotency[idempotency_key] = positions
        return positions


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
        self._storage = _Storage()
        self._closed = False
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
        self, stream: str, events: Sequence[Event], *, urgent: bool = False
    ) -> asyncio.Future[tuple[int, ...]]:
        """Queue ``events`` and return at once; see ``SqliteEventLog.append_nowait``."""
        self._check_open()
        if not events:
            raise ValueError(f"append to {stream!r} needs at least one event")
        encoded = [self._registry.encode(event) for event in events]
        future: asyncio.Future[tuple[int, ...]] = asyncio.get_running_loop().create_future()
        self._writer.queue((stream, encoded, events, future), urgent=urgent)
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
        for stream, encoded, events, future in batch:
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
        """Wake subscribers and feed the commit hooks."""
        self._storage.wake()
        pipeline = self._writer.pipeline
        if written:
            pipeline.commit_succeeded()
        if not pipeline.hooked or not written:
            return
        rows = self._storage.rows
        stored = tuple(
            _stored(rows[position - 1], event)
            for _, positions, events in written
            for position, event in zip(positions, events, strict=True)
        )
        pipeline.committed(CommittedBatch(events=stored, appends=appends, seconds=0.0))

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
        rows = self._storage.rows
        end = len(rows) if to_position is None else min(to_position, len(rows))
        yielded = 0
        for index in range(max(from_position, 1) - 1, end):
            if limit is not None and yielded >= limit:
                return
            row = rows[index]
            if not _matches(row, stream, wanted, since, until):
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
        index = max(from_position, 1) - 1
        while True:
            while index < len(self._storage.rows):
                row = self._storage.rows[index]
                index += 1
                if _matches(row, stream, wanted, None, None):
                    yield self._decode(row)
            if self._closed:
                return
            signal = self._storage.signal
            if len(self._storage.rows) <= index:
                await signal.wait()

    async def last_position(self) -> int:
        """The highest committed position (0 for an empty log)."""
        self._check_open()
        return len(self._storage.rows)

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
        self._storage.wake()

    async def save_snapshot(self, name: str, position: int, state: bytes) -> None:
        """Store ``state`` of projection ``name`` as of ``position`` (replacing one there)."""
        self._check_open()
        if position < 0:
            raise ValueError(f"snapshot position must be >= 0, got {position}")
        positions = self._storage.snapshot_positions.setdefault(name, [])
        states = self._storage.snapshot_states.setdefault(name, [])
        index = bisect.bisect_left(positions, position)
        if index < len(positions) and positions[index] == position:
            states[index] = bytes(state)
        else:
            positions.insert(index, position)
            states.insert(index, bytes(state))

    async def load_snapshot(
        self, name: str, *, at_or_before: int | None = None
    ) -> tuple[int, bytes] | None:
        """The latest snapshot of ``name`` (at or before a position); ``None`` if none."""
        self._check_open()
        positions = self._storage.snapshot_positions.get(name)
        if not positions:
            return None
        if at_or_before is None:
            index = len(positions) - 1
        else:
            index = bisect.bisect_right(positions, at_or_before) - 1
            if index < 0:
                return None
        return positions[index], self._storage.snapshot_states[name][index]

    def _decode(self, row: _Row) -> StoredEvent:
        event = self._registry.decode(row.type, row.schema_version, row.payload)
        if isinstance(event, UnknownEvent):
            self.unknown_count += 1
        return _stored(row, event)

    def _check_open(self) -> None:
        if self._closed:
            raise EventLogClosed("the in-memory event log is closed; open a new one")


def _stored(row: _Row, event: Event | UnknownEvent) -> StoredEvent:
    """A row as a reader gets it, with its decoded (or just-written) event."""
    return StoredEvent(
        position=row.position,
        stream=row.stream,
        stream_version=row.stream_version,
        timestamp=row.timestamp,
        type=row.type,
        schema_version=row.schema_version,
        idempotency_key=row.idempotency_key,
        event=event,
    )


def _matches(
    row: _Row,
    stream: str | None,
    types: frozenset[str] | None,
    since: float | None,
    until: float | None,
) -> bool:
    """Whether ``row`` passes every given filter (``None`` = no filter)."""
    return (
        (stream is None or row.stream == stream)
        and (types is None or row.type in types)
        and (since is None or row.timestamp >= since)
        and (until is None or row.timestamp <= until)
    )
