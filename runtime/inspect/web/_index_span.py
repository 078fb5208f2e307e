"""The time range a page shows, its buckets, and the percentiles of its charts.

A page's range (``Span``) is cut into buckets of a round width (1 s ... 1 day) so that a
chart has at most ``MAX_BUCKETS`` points; bucket ``i`` covers
``[since + i * bucket_s, since + (i + 1) * bucket_s)`` and the last one ends at ``until``
(inclusive), so an event exactly at ``until`` is counted.

Pure: no I/O, no clock (``now`` is passed in).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from runtime.inspect._errors import InspectError
from runtime.inspect._when import local_time
from runtime.inspect.web._views import Span

__all__ = [
    "BUCKET_WIDTHS",
    "EMPTY_RANGE_S",
    "END_MARGIN_S",
    "MAX_BUCKETS",
    "bucket_count",
    "bucket_index",
    "bucket_starts",
    "bucket_width",
    "make_span",
    "percentile",
]

MAX_BUCKETS = 120
"""The most points a chart has."""
BUCKET_WIDTHS = (
    *(1.0, 2.0, 5.0, 10.0, 15.0, 30.0),
    *(60.0, 120.0, 300.0, 600.0, 900.0, 1800.0),
    *(3600.0, 7200.0, 10800.0, 21600.0, 43200.0),
    86400.0,
)
"""Round bucket widths, seconds: 1 s to 30 s, 1 min to 30 min, 1 h to 12 h, 1 day."""
EMPTY_RANGE_S = 3600.0
"""The range shown for an empty log: the hour up to ``now``."""
END_MARGIN_S = 1.0
"""The least margin after the last event of a replayed log (``until`` not given, not
live): a change at the very last event still shows as a band (about a bucket wide)."""
_DAY = 86400.0


def bucket_width(seconds: float) -> float:
    """The smallest round width that cuts ``seconds`` into at most ``MAX_BUCKETS``
    buckets (whole days beyond 120 days)."""
    for width in BUCKET_WIDTHS:
        if seconds <= width * MAX_BUCKETS:
            return width
    return _DAY * math.ceil(seconds / (_DAY * MAX_BUCKETS))


def make_span(
    since: float | None,
    until: float | None,
    *,
    first_at: float | None,
    last_at: float | None,
    now: float,
    live: bool,
) -> Span:
    """The page's range: the given ends, or the log's (see ``WebIndex.span``).

    Not live and without ``until``, the range ends a margin after the last event
    (``END_MARGIN_S``, or a 120th of the range if more), so that a status that changed at
    the last event shows.

    Raises:
        InspectError: ``since`` is after ``until``.
    """
    end = until if until is not None else now if live or last_at is None else last_at
    if since is not None:
        start = since
    elif first_at is not None:
        start = min(first_at, end)
    else:
        start = end - EMPTY_RANGE_S
    if until is None and not live and last_at is not None and start <= end:
        end += max(END_MARGIN_S, (end - start) / MAX_BUCKETS)
    if start > end:
        raise InspectError(
            f"the range starts at {local_time(start, dt.UTC)} UTC, after its end at "
            f"{local_time(end, dt.UTC)} UTC: give a since before the until"
        )
    if end == start:  # a log of one instant: a one-second range keeps the charts drawable
        end = start + 1.0
    return Span(since=start, until=end, bucket_s=bucket_width(end - start), live=live)


def bucket_count(span: Span) -> int:
    """How many buckets ``span`` has (at least one)."""
    return max(1, math.ceil((span.until - span.since) / span.bucket_s - 1e-9))


def bucket_index(span: Span, at: float, count: int) -> int:
    """The bucket ``at`` falls in, or -1 outside ``[since, until]``."""
    if at < span.since or at > span.until:
        return -1
    return min(int((at - span.since) // span.bucket_s), count - 1)


def bucket_starts(span: Span, count: int) -> list[float]:
    """The start of each of ``count`` buckets."""
    return [span.since + i * span.bucket_s for i in range(count)]


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of sorted ``ordered``; None if
    empty. Example: ``percentile([1, 2, 3, 4], 50) == 2``; ``95`` of 20 values is the 19th."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]
