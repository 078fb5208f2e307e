"""The overview's request rates: requests per second per bucket, per deployment.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.inspect._requests_row import RequestRow
from runtime.inspect.web._index_span import bucket_count, bucket_starts
from runtime.inspect.web._views import Series, Span

__all__ = ["request_rates"]


def request_rates(
    span: Span, rows: Sequence[RequestRow], last_at: float | None
) -> tuple[Series, ...]:
    """Requests per second per bucket, by ``RequestRow.deployment`` and over all.

    A replayed log is known up to its last event: a bucket is divided by the part of it
    the log covers (at least a quarter of a bucket, so one request in a sliver of a
    bucket is no spike), and one wholly after the last event has no value (not a false 0).
    """
    count = bucket_count(span)
    starts = bucket_starts(span, count)
    known = span.until if span.live or last_at is None else min(span.until, last_at)
    widths = [min(span.bucket_s, known - s) for s in starts]
    least = span.bucket_s / 4
    every = [0] * count
    per: dict[str, list[int]] = {}
    since, until, width, top = span.since, span.until, span.bucket_s, count - 1
    for row in rows:
        at = row.started
        if not since <= at <= until:
            continue
        i = int((at - since) // width)  # bucket_index, inlined: a row at a time
        if i > top:
            i = top
        every[i] += 1
        if row.deployment is not None:
            counts = per.get(row.deployment)
            if counts is None:
                counts = per[row.deployment] = [0] * count
            counts[i] += 1
    named = [("all", every), *sorted(per.items())]
    return tuple(
        Series(
            name=name,
            points=tuple(
                (s, n / max(w, least) if w > 0 or n else None)
                for s, n, w in zip(starts, counts, widths, strict=True)
            ),
        )
        for name, counts in named
    )
