"""``range``: which positions and times the log holds, and what was compacted before them.

A log under retention (``event_log.retain``, ``python -m runtime.admin compact``) no
longer starts at position 1: the events up to ``compacted_through`` were deleted behind
snapshots. ``range`` says so, and ``compaction_note`` gives the one line ``stats``,
``verify`` and ``explain`` add when it matters.
"""

from __future__ import annotations

from typing import TextIO

import msgspec

from events import EventLogError, LogBounds, SqliteEventLog
from runtime.inspect._errors import InspectError
from runtime.inspect._render import Style, colorize, dumps_json, utc_iso

__all__ = ["LogRange", "collect_range", "compaction_note", "describe_compaction", "run_range"]


class LogRange(msgspec.Struct, frozen=True, kw_only=True):
    """What ``range`` reports (also its ``--json`` output)."""

    path: str
    first_position: int
    """The lowest position held (``last_position + 1`` when none is)."""
    last_position: int
    events: int
    """Events held: ``last_position - first_position + 1``."""
    first_time: str | None
    """Time of the first event held, ISO-8601 UTC."""
    last_time: str | None
    compacted_through: int
    """Events 1..this were deleted by compaction (0: never compacted)."""
    compacted_at: str | None
    """When the last compaction ran, ISO-8601 UTC."""


def _iso(at: float | None) -> str | None:
    return None if at is None else utc_iso(at)


async def collect_range(log: SqliteEventLog) -> LogRange:
    """The range of the (open) log."""
    bounds = await log.bounds()
    return LogRange(
        path=str(log.path),
        first_position=bounds.first_position,
        last_position=bounds.last_position,
        events=max(0, bounds.last_position - bounds.first_position + 1),
        first_time=_iso(bounds.first_timestamp),
        last_time=_iso(bounds.last_timestamp),
        compacted_through=bounds.compacted_through,
        compacted_at=_iso(bounds.compacted_at),
    )


def describe_compaction(bounds: LogBounds) -> str | None:
    """``older events were compacted: ...`` for a compacted log, None for another."""
    if not bounds.compacted_through:
        return None
    at = _iso(bounds.compacted_at) or "an unknown time"
    held = (
        f"the log holds positions {bounds.first_position}..{bounds.last_position}"
        if bounds.first_position <= bounds.last_position
        else "the log holds no events"
    )
    return (
        f"older events were compacted: positions 1..{bounds.compacted_through} were deleted "
        f"at {at} (retention); {held}"
    )


async def compaction_note(log: SqliteEventLog) -> str | None:
    """``describe_compaction`` of the (open) log."""
    return describe_compaction(await log.bounds())


def render_range(found: LogRange, style: Style) -> str:
    """The terminal form of ``range``."""
    if found.events:
        positions = f"{found.first_position}..{found.last_position} ({found.events} events)"
        times = f"{found.first_time} .. {found.last_time}"
    else:
        positions, times = "none (no events held)", "-"
    if found.compacted_through:
        compacted = (
            f"positions 1..{found.compacted_through} at {found.compacted_at or '?'} "
            "(older events were compacted away behind snapshots)"
        )
    else:
        compacted = "never (every event since the log was created is held)"
    pairs = [("positions", positions), ("times", times), ("compacted", compacted)]
    width = max(len(label) for label, _ in pairs)
    lines = [colorize(f"Event log {found.path}", "bold", style)]
    lines += [f"  {colorize(label.ljust(width), 'dim', style)}  {v}" for label, v in pairs]
    return "\n".join(lines)


async def run_range(log: SqliteEventLog, *, json: bool, style: Style, out: TextIO) -> int:
    """Write the log's range (a JSON object with ``json``); returns 0.

    Raises:
        InspectError: The log could not be read.
    """
    try:
        found = await collect_range(log)
    except EventLogError as exc:
        raise InspectError(str(exc)) from exc
    out.write((dumps_json(found) if json else render_range(found, style)) + "\n")
    return 0
