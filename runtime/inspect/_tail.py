"""``tail``: the last matching events, then (``--follow``) new ones as they are appended.

The last N are found by reading windows of positions backwards from the end, each
window forwards in pages, so a short tail of a log of millions of events reads only its
end, and memory stays bounded by N. ``--follow`` uses ``subscribe``, which polls the
file and so sees what another process appends.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TextIO

from events import REQUEST_STREAM_PREFIX, RequestStarted, SqliteEventLog, StoredEvent
from runtime.inspect._filters import Matcher
from runtime.inspect._render import Style, dumps_json, event_record, format_event_line

__all__ = ["run_tail"]

_FIRST_WINDOW = 1_000
"""Positions read in the first backward window; each further window doubles."""
_MAX_WINDOW = 1_000_000


async def run_tail(
    log: SqliteEventLog,
    matcher: Matcher,
    *,
    json: bool,
    follow: bool,
    style: Style,
    out: TextIO,
) -> int:
    """Write the matching events to ``out``; with ``follow``, keep going until cancelled.

    Returns:
        The exit code: 0.
    """
    last = await log.last_position()
    emit = _emitter(json=json, style=style, out=out, last=last)
    if matcher.filter.limit is None:
        async for stored in _matching(log, matcher, matcher.filter.from_position, last):
            emit(stored)
    else:
        for stored in await _last_matching(log, matcher, matcher.filter.limit, last):
            emit(stored)
    out.flush()
    if follow:
        await _follow(log, matcher, emit, out, after=last)
    return 0


def _emitter(*, json: bool, style: Style, out: TextIO, last: int) -> Callable[[StoredEvent], None]:
    """A function writing one event as a JSON line or as a terminal line."""
    width = max(6, len(str(last)))

    def emit(stored: StoredEvent) -> None:
        if json:
            out.write(dumps_json(event_record(stored)) + "\n")
        else:
            out.write(format_event_line(stored, style, position_width=width) + "\n")

    return emit


async def _role_of(log: SqliteEventLog, request_id: str) -> str | None:
    """The role ``request_id`` asked for, from its ``RequestStarted`` (None if none)."""
    stream = f"{REQUEST_STREAM_PREFIX}{request_id}"
    async with contextlib.aclosing(
        log.read(stream=stream, types=("RequestStarted",), limit=1)
    ) as events:
        async for stored in events:
            if isinstance(stored.event, RequestStarted):
                return stored.event.role
    return None


async def _resolve_role(log: SqliteEventLog, matcher: Matcher, stored: StoredEvent) -> None:
    """Teach ``matcher`` the role of the request of ``stored`` if it does not know it."""
    request_id = matcher.pending_role(stored)
    if request_id is not None:
        matcher.remember(request_id, await _role_of(log, request_id))


async def _matching(
    log: SqliteEventLog, matcher: Matcher, low: int, high: int
) -> AsyncIterator[StoredEvent]:
    """Matching events with positions in ``[low, high]``, in order; filters pushed down."""
    where = matcher.filter
    reader = log.read(
        low,
        to_position=high,
        stream=where.stream,
        types=where.types,
        since=where.since,
        until=where.until,
    )
    roles = where.role is not None  # only then can a lookup be needed (a hot loop)
    async with contextlib.aclosing(reader) as events:
        async for stored in events:
            if roles:
                await _resolve_role(log, matcher, stored)
            if matcher.matches(stored):
                yield stored


async def _last_matching(
    log: SqliteEventLog, matcher: Matcher, count: int, last: int
) -> list[StoredEvent]:
    """The last ``count`` matching events up to position ``last``, oldest first."""
    found: deque[StoredEvent] = deque()
    high, window = last, max(_FIRST_WINDOW, 4 * count)
    low_bound = matcher.filter.from_position
    while high >= low_bound and len(found) < count:
        low = max(low_bound, high - window + 1)
        # Keep only the latest of this window that are still needed: bounded by count.
        chunk: deque[StoredEvent] = deque(maxlen=count - len(found))
        async for stored in _matching(log, matcher, low, high):
            chunk.append(stored)
        found.extendleft(reversed(chunk))
        high, window = low - 1, min(window * 2, _MAX_WINDOW)
    return list(found)


async def _follow(
    log: SqliteEventLog,
    matcher: Matcher,
    emit: Callable[[StoredEvent], None],
    out: TextIO,
    *,
    after: int,
) -> None:
    """Emit matching events appended after position ``after`` until cancelled."""
    where = matcher.filter
    start = max(after + 1, where.from_position)
    events = log.subscribe(start, stream=where.stream, types=where.types)
    try:
        async for stored in events:
            await _resolve_role(log, matcher, stored)
            if matcher.matches(stored):
                emit(stored)
                out.flush()
    finally:
        close = getattr(events, "aclose", None)  # an async generator: end it promptly
        if close is not None:
            await close()
