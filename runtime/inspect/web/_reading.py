"""Reading a log into the web index at start: all of it, or only a retention window.

With a cut-off (``WebView(keep_s=...)``: ``now - keep_s``; or ``WebView(since=...)``)
the read starts near it rather than at the first event, found by ``inspect slow
--since``'s binary search over positions (``_requests_view.start_position``, which leaves
``MARGIN_S`` for long requests). Two things before that position still matter to the pages:

- the health changes and quota events (few, and read through the log's type index):
  they carry each deployment's status across the cut-off and tell which quota period is
  in force at it;
- the requests of that period: its burn-down counts every charge since it began, so the
  read starts at that period's start (at most a period before the cut-off).

After the read the index forgets what lies before the cut-off (``WebIndex.forget_before``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from events import EventLog, StoredEvent
from runtime.inspect._requests_view import MARGIN_S, start_position
from runtime.inspect.web._index import CONTEXT_TYPES, INDEX_TYPES, WebIndex

__all__ = ["BATCH", "read_log"]

BATCH = 2000
"""Events fed to the index at once."""

Progress = Callable[[int, int], None]


async def read_log(
    log: EventLog,
    index: WebIndex,
    *,
    cutoff: float | None,
    on_progress: Progress | None,
) -> tuple[int, int]:
    """Feed ``index`` the log up to its last event (only from ``cutoff`` on, when given:
    see the module docstring); returns the first position of the main read and the last."""
    bounds = await log.bounds()
    first, last = bounds.first_position, bounds.last_position
    context_end = first  # positions before it were read for their context events only
    if cutoff is not None and last >= first:
        reader: Any = log  # start_position takes any EventLog (typed as SQLite's)
        context_end = max(first, await start_position(reader, cutoff - MARGIN_S))
        await _read_context(log, index, first, context_end - 1)
        floor = index.quota_floor(cutoff)
        if floor < cutoff:
            first = max(first, await start_position(reader, floor - MARGIN_S))
        else:
            first = context_end
    total = max(last - first + 1, 0)
    batch: list[StoredEvent] = []
    context = frozenset(CONTEXT_TYPES)
    async for stored in log.read(first, to_position=last, types=INDEX_TYPES):
        if stored.position < context_end and stored.type in context:
            continue  # fed already
        batch.append(stored)
        if len(batch) >= BATCH:
            index.feed_many(batch)
            batch = []
            if on_progress is not None:
                on_progress(stored.position - first + 1, total)
    index.feed_many(batch)
    if on_progress is not None:
        on_progress(total, total)
    if cutoff is not None:
        index.forget_before(cutoff, running_s=MARGIN_S)
    return first, last


async def _read_context(log: EventLog, index: WebIndex, low: int, high: int) -> None:
    """Feed ``index`` the context events at ``low..high``."""
    if low > high:
        return
    reader: Any = log.read(low, to_position=high, types=CONTEXT_TYPES)  # closeable
    async with contextlib.aclosing(reader) as events:
        index.feed_many([stored async for stored in events])
