"""Retention: compact old events away behind snapshots, so the log stops growing.

``event_log.retain: 30d`` (``runtime._retention_policy``) means request events older than
30 days are deleted. Health, quota, performance, catalog and router state is kept: every
projection of the runtime is snapshotted at its current position first
(``Projector.snapshot_now``), and the log is compacted through the last position older
than ``now - retain``, but never past the lowest of those snapshots, so each projection
restarts from a snapshot at or after the compacted prefix (``Projector.start`` refuses to
replay a compacted log from the beginning: ``LogCompacted``).

A running Runtime does it in a background task (``start_retention`` at the end of
start-up, ``stop_retention`` first at shutdown): once at start, then every
``RETENTION_INTERVAL`` seconds of its clock. ``python -m runtime.admin compact`` does it
offline (``runtime.admin._compact``). Without ``retain`` nothing is ever compacted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from actors import Clock
from events import EventLog, LogBounds, Projection, Projector, get_logger
from runtime._build import (
    CATALOG_PROJECTION,
    HEALTH_PROJECTION,
    QUOTA_PROJECTION,
    ROUTER_PROJECTION,
    performance_projection,
)
from runtime._retention_policy import parse_duration

if TYPE_CHECKING:
    from runtime._assembly import Parts

__all__ = [
    "RETENTION_INTERVAL",
    "Compaction",
    "Retention",
    "compact_behind_snapshots",
    "position_before",
    "retention_of",
    "runtime_projections",
    "start_retention",
    "stop_retention",
]

log = get_logger(__name__)

RETENTION_INTERVAL = 3_600.0
"""Seconds between two retention runs of a running Runtime (the first runs at start)."""


class Compaction(msgspec.Struct, frozen=True, kw_only=True):
    """What one compaction did (or, with ``dry_run``, would do)."""

    wanted: int
    """The position asked for (the last one older than the cutoff, or ``--through``)."""
    through: int
    """The log's ``compacted_through`` afterwards: ``wanted`` capped at the snapshots."""
    deleted: int
    """Events deleted (would be, with ``dry_run``)."""
    dry_run: bool
    snapshots: dict[str, int]
    """Projection name -> the position of its snapshot taken first (its state there)."""
    before: LogBounds
    after: LogBounds
    """The log's range afterwards (``before`` again with ``dry_run``)."""


def runtime_projections(window: int) -> tuple[Projection[Any], ...]:
    """The projections a Runtime keeps (as ``runtime._assembly`` starts them)."""
    return (
        HEALTH_PROJECTION,
        ROUTER_PROJECTION,
        CATALOG_PROJECTION,
        QUOTA_PROJECTION,
        performance_projection(window),
    )


async def position_before(event_log: EventLog, cutoff: float) -> int:
    """The last position whose timestamp is older than ``cutoff`` (0 if none).

    Timestamps do not decrease with position (the logs stamp each batch with at least
    the previous one's time), so it is the position before the first one at or after it.
    """
    async for stored in event_log.read(since=cutoff, limit=1):
        return stored.position - 1
    return await event_log.last_position()


async def compact_behind_snapshots(
    event_log: EventLog,
    projectors: Sequence[Projector[Any]],
    through: int,
    *,
    dry_run: bool = False,
) -> Compaction:
    """Snapshot every projector, then compact through ``through`` but never past them.

    Nothing is written when there is nothing to delete (``through`` is at or before the
    compacted prefix) or with ``dry_run``.
    """
    before = await event_log.bounds()
    snapshots = {p.projection.name: p.position for p in projectors}
    target = min([through, *snapshots.values()])
    if target <= before.compacted_through:
        return Compaction(
            wanted=through, through=before.compacted_through, deleted=0, dry_run=dry_run,
            snapshots=snapshots, before=before, after=before,
        )  # fmt: skip
    if dry_run:
        deleted = max(0, target - (before.first_position - 1))
        return Compaction(
            wanted=through, through=target, deleted=deleted, dry_run=True,
            snapshots=snapshots, before=before, after=before,
        )  # fmt: skip
    for projector in projectors:
        await projector.snapshot_now()
    # The snapshots were taken at the positions read above or later (feeds only advance).
    snapshots = {p.projection.name: p.position for p in projectors}
    deleted = await event_log.compact(target)
    after = await event_log.bounds()
    return Compaction(
        wanted=through, through=after.compacted_through, deleted=deleted, dry_run=False,
        snapshots=snapshots, before=before, after=after,
    )  # fmt: skip


class Retention:
    """A running Runtime's retention: compact what is older than ``retain`` seconds."""

    def __init__(
        self,
        event_log: EventLog,
        projectors: Sequence[Projector[Any]],
        retain: float,
        clock: Clock,
    ) -> None:
        self._log = event_log
        self._projectors = tuple(projectors)
        self._retain = retain
        self._clock = clock
        self.runs = 0
        """Runs finished (failed ones included)."""

    async def run_once(self) -> Compaction:
        """Compact now what is older than ``retain``; logs what it did."""
        cutoff = self._clock.time() - self._retain
        started = self._clock.monotonic()
        wanted = await position_before(self._log, cutoff)
        done = await compact_behind_snapshots(self._log, self._projectors, wanted)
        after = done.after
        log.info(
            "retention.run.complete",
            retain_s=self._retain,
            cutoff=cutoff,
            deleted=done.deleted,
            compacted_through=done.through,
            retained=after.last_position - after.first_position + 1,
            first_position=after.first_position,
            last_position=after.last_position,
            took_s=round(self._clock.monotonic() - started, 3),
        )
        return done

    async def run(self) -> None:
        """Run once now, then every ``RETENTION_INTERVAL`` until cancelled.

        A failed run (the log could not write, say) is logged and tried again an
        interval later: retention is housekeeping, never a reason to stop serving.
        """
        while True:
            try:
                await self.run_once()
            except Exception as exc:
                log.error("retention.run.failed", error=repr(exc))
            self.runs += 1
            await self._clock.sleep(RETENTION_INTERVAL)


class Running:
    """A Runtime's retention task (``Parts.retention``)."""

    def __init__(self, retention: Retention) -> None:
        self.retention = retention
        self._task = asyncio.get_running_loop().create_task(
            retention.run(), name="runtime:retention"
        )

    async def stop(self) -> None:
        """Stop the task (a run in progress is cancelled: compaction is atomic)."""
        self._task.cancel()
        await asyncio.wait([self._task])


def start_retention(parts: Parts) -> Running | None:
    """Start the background retention of a Runtime whose config sets ``retain``."""
    retain = parts.config.event_log.retain
    if retain is None:
        return None
    retention = Retention(parts.log, parts.projectors, parse_duration(retain), parts.clock)
    log.info("retention.started", retain=retain, interval_s=RETENTION_INTERVAL)
    return Running(retention)


def retention_of(parts: Parts) -> Retention | None:
    """The running retention of ``parts`` (None without ``retain``), for tests."""
    return None if parts.retention is None else parts.retention.retention


async def stop_retention(parts: Parts) -> None:
    """Stop the retention task, if one runs."""
    running, parts.retention = parts.retention, None
    if running is not None:
        await running.stop()
