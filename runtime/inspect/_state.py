"""``inspect LOG state [--at TIME|POSITION]``: the runtime's state at any moment, replayed.

The shell: resolve ``--at`` to a log position, replay the runtime's own projections to
it (``HEALTH_PROJECTION``, ``QUOTA_PROJECTION``, ``performance_projection(window)``,
through ``Projector.state_at``, so the snapshots the runtime saved are reused), read the
quota period's events for the tallies the ledger does not keep, and print the pure
``StateReport`` as tables or JSON.
"""

from __future__ import annotations

import math
import time
from typing import TextIO, TypeVar

from actors.performance import performance_summary
from actors.quota import COUNTED_TYPES, LEDGER_TYPES, LedgerState
from events import (
    QUOTA_LEDGER_STREAM,
    AttemptSucceeded,
    Projection,
    Projector,
    QuotaPeriodStarted,
    SqliteEventLog,
    StoredEvent,
)
from runtime._build import HEALTH_PROJECTION, QUOTA_PROJECTION, performance_projection
from runtime.inspect._errors import InspectError
from runtime.inspect._range import compaction_note
from runtime.inspect._render import Style, dumps_json
from runtime.inspect._state_model import StateReport, health_rows, model_rows, usage_report
from runtime.inspect._state_render import render_state
from runtime.inspect._when import AtPosition, local_time, parse_at

__all__ = ["run_state"]

S = TypeVar("S")


async def run_state(
    log: SqliteEventLog,
    *,
    at: str | None,
    json: bool,
    style: Style,
    out: TextIO,
    window: int,
) -> int:
    """Print the state as of ``at`` (a position, a time; None: the end of the log, now).

    Raises:
        InspectError: Empty log, ``at`` unreadable, before the first event or past the
            last position, or ``window`` below 1.
    """
    if window < 1:
        raise InspectError(f"--window must be >= 1 sample, not {window}")
    last = await log.last_position()
    if last == 0:
        raise InspectError("the log is empty: there is no state to show yet")
    position, moment, asked = await _resolve(log, at, last)
    health = await _state_at(log, HEALTH_PROJECTION, position)
    ledger = await _state_at(log, QUOTA_PROJECTION, position)
    performance = await _state_at(log, performance_projection(window), position)
    report = StateReport(
        position=position,
        last_position=last,
        time=await _timestamp(log, position),
        moment=moment,
        asked=asked,
        health=health_rows(health, moment),
        models=model_rows(health),
        usage=usage_report(ledger, await _period_events(log, ledger, position), moment),
        performance=performance_summary(performance),
    )
    out.write((dumps_json(report) if json else render_state(report, style)) + "\n")
    return 0


async def _resolve(log: SqliteEventLog, at: str | None, last: int) -> tuple[int, float, str]:
    """``(position, moment, asked)`` for ``--at`` (see ``StateReport``)."""
    if at is None:
        return last, time.time(), "now"
    wanted = parse_at(at)
    if isinstance(wanted, AtPosition):
        if wanted.position > last:
            raise InspectError(
                f"--at {wanted.position} is past the end of the log (last position {last})"
            )
        stamp = await _timestamp(log, wanted.position)
        return wanted.position, stamp, f"position {wanted.position}"
    first = await _timestamp(log, 1)
    gone = await compaction_note(log)
    if wanted.at < first and gone:
        raise InspectError(f"--at {local_time(wanted.at)} is before the first event held; {gone}")
    if wanted.at < first:
        raise InspectError(
            f"--at {local_time(wanted.at)} is before the first event of the log "
            f"(recorded at {local_time(first)}); nothing had happened yet"
        )
    return await _position_at(log, wanted.at, last), wanted.at, local_time(wanted.at)


async def _timestamp(log: SqliteEventLog, position: int) -> float:
    """The log timestamp of the first event at or after ``position``."""
    async for stored in log.read(position, limit=1):
        return stored.timestamp
    raise InspectError(f"no event at position {position} (was the log compacted?)")


async def _position_at(log: SqliteEventLog, at: float, last: int) -> int:
    """The last position recorded at or before ``at``."""
    async for stored in log.read(since=_after(at), limit=1):
        return stored.position - 1
    return last


def _after(at: float) -> float:
    """The smallest float above ``at``: ``since`` is inclusive, "after" is wanted."""
    return math.nextafter(at, math.inf)


async def _state_at(log: SqliteEventLog, projection: Projection[S], position: int) -> S:
    """The projection as of ``position``: latest snapshot at or before it, then the tail."""
    projector: Projector[S] = Projector(log, projection, log, snapshot_every=1_000)
    return await projector.state_at(position=position)


_ATTEMPT = frozenset({AttemptSucceeded.__name__})
_USAGE_TYPES = sorted(LEDGER_TYPES - COUNTED_TYPES | _ATTEMPT)


async def _period_events(
    log: SqliteEventLog, ledger: LedgerState, position: int
) -> list[StoredEvent]:
    """The ``quota/ledger`` events and unreserved attempts of the period, to ``position``."""
    if not ledger.period:
        return []
    start = 1
    starts = log.read(
        stream=QUOTA_LEDGER_STREAM, types=[QuotaPeriodStarted.__name__], to_position=position
    )
    async for stored in starts:
        if isinstance(stored.event, QuotaPeriodStarted) and stored.event.period == ledger.period:
            start = stored.position
            break
    # A request made with no limit configured reserved nothing: its usage is on its own
    # ``AttemptSucceeded`` (see ``actors.quota._counting``).
    events = log.read(start, types=_USAGE_TYPES, to_position=position)
    return [e async for e in events]
