"""``inspect LOG slow`` and ``inspect LOG failed``: the requests an on-call person looks for.

The shell: read only the routing events (``REQUEST_TYPES``), fold them into request rows
(``_requests_model.RequestFold``), pick the slowest finished requests or the failed and
cancelled ones that match the filters, and print them (``_requests_render``).

``--since`` (on the time a request started, its ``RequestStarted.at``) does not read the
log from the start: the log has no index on time, but a request's events are appended
together when it ends, so the routing events' times grow with their positions up to the
longest request (and small skews between writers). A binary search over positions, one
``read(position, types=..., limit=1)`` per step (about 20 for a million events), finds
the first routing event at or after ``since - MARGIN_S``; the fold reads from there.
Every request that started at or after ``since`` has all its events after that position
while no request lasts longer than ``MARGIN_S``. Requests whose ``RequestStarted`` lies
before the position (started before the window) are left out, and so is every row
that starts before ``since``. ``--until`` stops the read at the first routing event
later than ``until + MARGIN_S``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TextIO

from events import RequestStarted, SqliteEventLog
from runtime.inspect._errors import InspectError
from runtime.inspect._render import Style
from runtime.inspect._requests_model import (
    REQUEST_TYPES,
    Kind,
    RequestFold,
    RequestQuery,
    RequestRow,
    count_matching,
    failed,
    slowest,
)
from runtime.inspect._requests_render import Listing, listing_json, render_listing

__all__ = [
    "MARGIN_S",
    "REQUEST_TYPE_NAMES",
    "collect_rows",
    "run_requests",
    "start_position",
]

MARGIN_S = 900.0
"""How long a request may take, at most, for ``--since`` to find all of it (seconds)."""

REQUEST_TYPE_NAMES = tuple(cls.__name__ for cls in REQUEST_TYPES)


@dataclass(frozen=True, kw_only=True)
class Collected:
    """The rows a search folded, and what it read."""

    rows: list[RequestRow]
    first_at: float | None
    """Start of the earliest request read (None: none)."""
    last_at: float | None
    """Start of the latest request read."""


async def run_requests(
    log: SqliteEventLog,
    query: RequestQuery,
    kind: Kind,
    *,
    json: bool,
    style: Style,
    out: TextIO,
    name: str | None = None,
) -> int:
    """Print the requests matching ``query``: the slowest finished ones (``slow``) or
    the failed and cancelled ones, newest first (``failed``); returns 0.

    Args:
        name: How the hint names the log (default: its path; a URL without password).

    Raises:
        InspectError: The log is empty, or the filters contradict each other.
    """
    if query.limit < 1:
        raise InspectError(f"-n/--limit must be >= 1, not {query.limit}")
    if query.since is not None and query.until is not None and query.until < query.since:
        raise InspectError("--until is before --since: no request can start in that window")
    if await log.last_position() == 0:
        raise InspectError("the log is empty: no request has been recorded yet")
    found = await collect_rows(log, query)
    chosen = slowest(found.rows, query) if kind == "slow" else failed(found.rows, query)
    listing = Listing(
        kind=kind,
        log=name if name is not None else str(log.path),
        query=query,
        rows=tuple(chosen),
        matching=count_matching(found.rows, query, kind=kind),
        searched=len(found.rows),
        first_at=found.first_at,
        last_at=found.last_at,
    )
    out.write((listing_json(listing) if json else render_listing(listing, style)) + "\n")
    return 0


async def collect_rows(log: SqliteEventLog, query: RequestQuery) -> Collected:
    """The requests that started in ``query``'s window (every one without a window);
    its other criteria are not applied."""
    start = 1 if query.since is None else await start_position(log, query.since - MARGIN_S)
    stop = None if query.until is None else query.until + MARGIN_S
    fold = RequestFold()
    begun: set[str] = set()
    reader = log.read(start, types=REQUEST_TYPE_NAMES)
    async with contextlib.aclosing(reader) as events:
        async for stored in events:
            event = stored.event
            if stop is not None and getattr(event, "at", 0.0) > stop:
                break
            if isinstance(event, RequestStarted):
                begun.add(event.request_id)
            fold.feed(stored)
    rows = fold.rows()
    if start > 1:  # rows whose RequestStarted came before the start began before --since
        rows = [row for row in rows if row.request_id in begun]
    if query.since is not None or query.until is not None:
        window = RequestQuery(since=query.since, until=query.until)
        rows = [row for row in rows if window.matches(row)]
    return Collected(
        rows=rows,
        first_at=rows[0].started if rows else None,
        last_at=rows[-1].started if rows else None,
    )


async def _routing_at(log: SqliteEventLog, position: int, end: int) -> tuple[int, float] | None:
    """The first routing event at ``position..end - 1``: its position and ``at``."""
    reader = log.read(position, to_position=end - 1, types=REQUEST_TYPE_NAMES, limit=1)
    async with contextlib.aclosing(reader) as events:
        async for stored in events:
            return stored.position, float(getattr(stored.event, "at", stored.timestamp))
    return None


async def start_position(log: SqliteEventLog, moment: float) -> int:
    """The first position from which routing events are at or after ``moment``."""
    low, end = 1, await log.last_position() + 1
    while low < end:
        middle = (low + end) // 2
        found = await _routing_at(log, middle, end)
        if found is None or found[0] >= end or found[1] >= moment:
            end = middle
        else:
            low = found[0] + 1
    return low
