"""The start-up check of the event log: cheap, so it runs at every start.

A full check (``python -m runtime.inspect LOG verify``) reads every row and replays every
snapshot; at start-up that would cost what snapshots save. So the runtime checks:

- the last ``TAIL`` events: each decodes (an unknown type from a newer release is
  fine; a corrupt row or an undecodable payload is not), positions are gap-free, and
  timestamps are numbers between 2000-01-01 and one day after now;
- every projection's snapshot: its checksum (a snapshot that fails it was already
  discarded by its ``Projector`` and the events replayed instead; it is still damage).

On damage, ``event_log.on_damage`` decides: ``refuse`` (the default) raises
``InvalidLogFile`` naming the problems; ``warn`` logs them and starts.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from typing import Any, Literal

from events import EventLog, InvalidLogFile, Projector, UnknownEvent, get_logger

__all__ = [
    "EARLIEST",
    "FUTURE_SLACK",
    "TAIL",
    "check_at_start",
    "problems_at_start",
    "snapshot_problems",
    "tail_problems",
]

TAIL = 1_000
"""Events checked at the end of the log at every start."""
EARLIEST = 946_684_800.0
"""2000-01-01T00:00:00Z: no event of this runtime is older."""
FUTURE_SLACK = 86_400.0
"""How far past now a timestamp may be (clock differences between hosts)."""
_SHOW = 3
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
"""A well-formed event type name (``42`` in the type column is damage, not a new type)."""

logger = get_logger(__name__)


async def tail_problems(log: EventLog, now: float) -> list[str]:
    """What is wrong with the last ``TAIL`` events (empty when nothing is)."""
    last = await log.last_position()
    if last <= 0:
        return []
    # Positions up to ``compacted_through`` were deleted on purpose (retention).
    first = max(1, last - TAIL + 1, (await log.bounds()).compacted_through + 1)
    expected, problems = first, []
    corrupt: list[int] = []
    bad_time: list[int] = []
    async for stored in log.read(first, to_position=last):  # read to the end
        if stored.position != expected:
            problems.append(f"positions {expected}..{stored.position - 1} are missing")
        expected = stored.position + 1
        event = stored.event
        if (isinstance(event, UnknownEvent) and not _newer(event.reason)) or not _NAME.fullmatch(
            stored.type
        ):
            corrupt.append(stored.position)
        stamp = stored.timestamp
        if not (math.isfinite(stamp) and EARLIEST <= stamp <= now + FUTURE_SLACK):
            bad_time.append(stored.position)
    if expected != last + 1:
        problems.append(f"positions {expected}..{last} are missing")
    if corrupt:
        problems.append(f"{len(corrupt)} corrupt events (at {_at(corrupt)})")
    if bad_time:
        problems.append(f"{len(bad_time)} absurd timestamps (at {_at(bad_time)})")
    return problems


def _newer(reason: str) -> bool:
    """Whether an ``UnknownEvent`` comes from a newer release (not damage)."""
    return reason.startswith(("unknown type", "schema version"))


def _at(positions: list[int]) -> str:
    shown = ", ".join(str(p) for p in positions[:_SHOW])
    return shown + (", ..." if len(positions) > _SHOW else "")


def snapshot_problems(projectors: Sequence[Projector[Any]]) -> list[str]:
    """The projections whose stored snapshot failed its checksum."""
    return [
        f"a snapshot of {p.projection.name} failed its checksum (discarded, events replayed)"
        for p in projectors
        if p.discarded_snapshots
    ]


async def problems_at_start(
    log: EventLog, projectors: Sequence[Projector[Any]], *, tail: bool
) -> list[str]:
    """The snapshot checks, and the tail checks when ``tail`` (a log the runtime opened)."""
    found = await tail_problems(log, time.time()) if tail else []
    return found + snapshot_problems(projectors)


def check_at_start(where: str, problems: list[str], on_damage: Literal["refuse", "warn"]) -> None:
    """Refuse (``InvalidLogFile``) or warn about ``problems`` found in the log at ``where``."""
    if not problems:
        return
    found = "; ".join(problems)
    if on_damage == "warn":
        logger.warning("eventlog.damaged", path=where, problems=found, on_damage="warn")
        return
    raise InvalidLogFile(
        f"event log {where} is damaged: {found}. Run `python -m runtime.inspect {where} "
        "verify` for a full check and restore the log from a backup, or set "
        "event_log.on_damage: warn to start anyway"
    )
