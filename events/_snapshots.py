"""Live projections with snapshots: start-up = latest snapshot + tail replay.

A ``Projector`` holds the current state of one ``Projection``. It starts from the latest
snapshot that still decodes (else from the projection's initial state) and replays the
tail of the log; then it is advanced event by event with ``apply`` (or a committed batch
at a time with ``feed``) and saves a snapshot every ``snapshot_every`` log positions. A
projection with a batch ``fold`` folds each committed batch, and its replay in chunks,
with it (the same state as ``evolve`` event by event, cheaper).

Snapshots are an optimisation only: failing to save or decode one is logged and never
changes or loses state. Each is stored with a checksum (``events._snapshot_seal``); one
that fails it is discarded, never trusted.

After ``compact`` the events up to ``compacted_through`` are gone: the state can only be
rebuilt from a sound snapshot at or after that position. Without one, ``start`` (and
``state_at`` a point before it) raises ``LogCompacted`` rather than replaying what is
left from the initial state, which would be silently wrong.
"""

from __future__ import annotations

import asyncio
import datetime
import math
from collections.abc import Sequence
from typing import Any, Generic, TypeGuard, TypeVar

import msgspec

from events._base import Event, StoredEvent, UnknownEvent
from events._errors import LogCompacted
from events._logger import get_logger
from events._protocol import EventLog, LogBounds, SnapshotStore
from events._replay import Projection, replay
from events._snapshot_seal import MAGIC, seal, unseal

__all__ = ["Projector"]

S = TypeVar("S")

logger = get_logger(__name__)

_encoder = msgspec.json.Encoder()

_TRIES = 8
"""Snapshots tried, newest first, before falling back to a full replay."""
_REPLAY_BATCH = 1_000
"""Events folded at once when a projection with a batch fold replays the log."""


class Projector(Generic[S]):
    """The live state of a projection over a log, snapshotted every N positions.

    Create it with ``await Projector.start(...)``.
    """

    def __init__(
        self,
        log: EventLog,
        projection: Projection[S],
        store: SnapshotStore,
        snapshot_every: int,
    ) -> None:
        if snapshot_every < 1:
            raise ValueError(f"snapshot_every must be >= 1, got {snapshot_every}")
        self._log = log
        self._projection = projection
        self._store = store
        self._snapshot_every = snapshot_every
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(projection.state_type)
        self._state = projection.initial
        self._position = 0
        self._snapshot_position = 0
        self._saving: asyncio.Task[None] | None = None
        self.snapshot_failures = 0
        """How many snapshot saves failed (each was logged; state was kept)."""
        self.discarded_snapshots = 0
        """How many stored snapshots failed their checksum and were not used (one without
        a checksum, from an older release, is ignored too, but not counted: not damage)."""

    @classmethod
    async def start(
        cls,
        log: EventLog,
        projection: Projection[S],
        *,
        snapshot_every: int = 1_000,
        store: SnapshotStore | None = None,
    ) -> Projector[S]:
        """Build the current state: the latest usable snapshot, then the log's tail.

        Args:
            log: The event log to read.
            projection: What to compute.
            snapshot_every: Save a snapshot when the position has advanced this much
                since the last one.
            store: Where snapshots live; defaults to ``log`` (which must then be a
                ``SnapshotStore`` too, as every built-in log is).
        """
        if store is None:
            if not _is_snapshot_store(log):
                raise TypeError("log is not a SnapshotStore; pass store=... explicitly")
            store = log
        projector = cls(log, projection, store, snapshot_every)
        for _ in range(2):  # a compaction between restore and replay: once more
            state, position = await projector._restore(None)
            if position < (await _bounds(log)).compacted_through:
                continue
            # Everything committed up to ``end`` is covered, even events the filters skip.
            end = await log.last_position()
            state, _ = await projector._tail(state, position, end)
            if position >= (await _bounds(log)).compacted_through:
                break
        else:
            raise _no_snapshot(projection.name, await _bounds(log))
        projector._state, projector._position = state, max(position, end)
        projector._snapshot_position = position
        logger.info(
            "projection.started",
            projection=projection.name,
            snapshot_position=position,
            position=projector._position,
        )
        return projector

    @property
    def state(self) -> S:
        """The current state."""
        return self._state

    @property
    def position(self) -> int:
        """The log position the state is up to date with."""
        return self._position

    @property
    def projection(self) -> Projection[S]:
        """The projection this projector computes."""
        return self._projection

    async def apply(self, stored: StoredEvent) -> bool:
        """Advance with one committed event; snapshot when ``snapshot_every`` is reached.

        Events at or before ``position`` (already applied) and events the projection's
        filters reject are skipped; the position still advances past the latter.

        Returns:
            Whether the event changed the fold (was new and accepted).
        """
        if stored.position <= self._position:
            return False
        self._position = stored.position
        applied = self._projection.accepts(stored)
        if applied:
            self._state = self._projection.evolve(self._state, stored.event)
        if self._position - self._snapshot_position >= self._snapshot_every:
            await self._try_snapshot()
        return applied

    def feed(self, committed: Sequence[StoredEvent]) -> None:
        """Fold committed events now (a commit hook: synchronous); a snapshot that falls
        due is saved by a task (``drain`` waits for it), one at a time."""
        projection, position = self._projection, self._position
        stream, types = projection.stream, projection.types  # accepts(), inlined
        accepted: list[Event | UnknownEvent] = []
        for stored in committed:
            if stored.position <= position:
                continue
            position = stored.position
            if (stream is None or stored.stream == stream) and (
                types is None or stored.type in types
            ):
                accepted.append(stored.event)
        if accepted:  # folded together: a batch fold is cheaper than event by event
            self._state = projection.fold_batch(self._state, accepted)
        self._position = position
        due = self._position - self._snapshot_position >= self._snapshot_every
        if due and self._saving is None:
            self._saving = asyncio.get_running_loop().create_task(self._save_in_background())

    async def drain(self) -> None:
        """Wait for a snapshot ``feed`` started (its failure was logged and counted)."""
        saving = self._saving
        if saving is not None:
            await asyncio.wait([saving])

    async def _save_in_background(self) -> None:
        try:
            await self._try_snapshot()
        finally:
            self._saving = None

    async def follow(self) -> None:
        """Apply every new committed event until the log closes (run it as a task)."""
        events = self._log.subscribe(
            self._position + 1, stream=self._projection.stream, types=self._projection.types
        )
        async for stored in events:
            await self.apply(stored)

    async def snapshot_now(self) -> None:
        """Save a snapshot of the current state; errors propagate (nothing is lost)."""
        name, position = self._projection.name, self._position
        state = seal(name, position, _encoder.encode(self._state))
        await self._store.save_snapshot(name, position, state)
        self._snapshot_position = self._position

    async def state_at(self, *, position: int | None = None, at: float | None = None) -> S:
        """The state as of a past ``position`` or wall-clock time ``at`` (inclusive).

        Uses the nearest snapshot at or before the point, then replays the tail. A time
        is turned into the last position whose timestamp is at or before it, assuming
        the log's timestamps do not decrease with position.
        """
        if (position is None) == (at is None):
            raise ValueError("give exactly one of position= or at=")
        bounds = await _bounds(self._log)
        if at is not None:
            position = await self._position_at(at)
            # Compacted events are older than ``compacted_at``; a time before it that
            # maps to the first retained position may lie among them.
            gone = bounds.compacted_through and position <= bounds.compacted_through
            if gone and at < (bounds.compacted_at or math.inf):
                raise _before_retained(self._projection.name, bounds, f"time {_iso(at)}")
        assert position is not None  # for mypy: exactly one was given
        if position < bounds.compacted_through:
            raise _before_retained(self._projection.name, bounds, f"position {position}")
        state, start = await self._restore(position)
        if start < bounds.compacted_through:
            raise _no_snapshot(self._projection.name, bounds)
        state, _ = await self._tail(state, start, position)
        return state

    async def _restore(self, at_or_before: int | None) -> tuple[S, int]:
        """The newest sound snapshot (at or before a position), else the initial state.

        A snapshot whose checksum fails (or that has none) is discarded with a warning
        and the one before it is tried; the events are replayed from there.
        """
        name = self._projection.name
        bound = at_or_before
        for _ in range(_TRIES):
            found = await self._store.load_snapshot(name, at_or_before=bound)
            if found is None:
                break
            position, data = found
            state, problem = unseal(name, position, data)
            if state is None:
                if data.startswith(MAGIC):  # sealed, yet changed: damage, not age
                    self.discarded_snapshots += 1
                logger.warning(
                    "projection.snapshot.discarded",
                    projection=name,
                    snapshot_position=position,
                    reason=problem,
                )
                bound = position - 1
                continue
            try:
                return self._decoder.decode(state), position
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                # The state type changed since the snapshot was written: a full replay
                # is slower but gives the right answer, so that is what we do.
                logger.warning(
                    "projection.snapshot.undecodable",
                    projection=name,
                    snapshot_position=position,
                    error=str(exc),
                )
                break
        return self._projection.initial, 0

    async def _tail(self, state: S, after: int, to_position: int) -> tuple[S, int]:
        if to_position <= after:
            return state, after
        projection = self._projection
        if projection.fold is None:
            return await replay(
                self._log,
                projection.evolve,
                state,
                stream=projection.stream,
                types=projection.types,
                from_position=after + 1,
                to_position=to_position,
            )
        last, batch = after, []
        events = self._log.read(
            after + 1, to_position=to_position, stream=projection.stream, types=projection.types
        )
        async for stored in events:
            batch.append(stored.event)
            last = stored.position
            if len(batch) >= _REPLAY_BATCH:
                state, batch = projection.fold_batch(state, batch), []
        return projection.fold_batch(state, batch), last

    async def _position_at(self, at: float) -> int:
        """The last position with a timestamp at or before ``at`` (0 if none)."""
        async for stored in self._log.read(since=_after(at), limit=1):
            return stored.position - 1
        return await self._log.last_position()

    async def _try_snapshot(self) -> None:
        try:
            await self.snapshot_now()
        except Exception as exc:
            # A failed snapshot only costs a longer replay at the next start; the live
            # state is intact, so log it, count it, and try again N positions later.
            self.snapshot_failures += 1
            self._snapshot_position = self._position
            logger.warning(
                "projection.snapshot.failed",
                projection=self._projection.name,
                position=self._position,
                error=repr(exc),
            )


async def _bounds(log: EventLog) -> LogBounds:
    return await log.bounds()


def _iso(at: float | None) -> str:
    if at is None:
        return "an unknown time"
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat(timespec="seconds")


def _no_snapshot(name: str, bounds: LogBounds) -> LogCompacted:
    through = bounds.compacted_through
    return LogCompacted(
        f"cannot rebuild projection {name!r}: the event log was compacted through position "
        f"{through} (at {_iso(bounds.compacted_at)}) and holds no usable snapshot of it at "
        f"or after that position, so a replay would start without events 1..{through}. "
        "Use the release and settings that took the snapshots when the log was compacted "
        "(changing performance.window renames that projection), or start on a new log"
    )


def _before_retained(name: str, bounds: LogBounds, point: str) -> LogCompacted:
    return LogCompacted(
        f"the state of {name!r} as of {point} is gone: the event log was compacted through "
        f"position {bounds.compacted_through} (at {_iso(bounds.compacted_at)}); it holds "
        f"positions {bounds.first_position}..{bounds.last_position} (from "
        f"{_iso(bounds.first_timestamp)}): ask for a point at or after position "
        f"{bounds.compacted_through}"
    )


def _after(at: float) -> float:
    """The smallest float greater than ``at``, so ``since`` (inclusive) means "after"."""
    return math.nextafter(at, math.inf)


def _is_snapshot_store(obj: object) -> TypeGuard[SnapshotStore]:
    return callable(getattr(obj, "save_snapshot", None)) and callable(
        getattr(obj, "load_snapshot", None)
    )
