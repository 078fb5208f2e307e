"""Latency, error rate and failures per deployment over a span, from attempt records.

An attempt record is ``(at, position, deployment, latency_s, failure)``: an
``AttemptSucceeded`` has a latency and no failure, an ``AttemptFailed`` or
``StreamInterrupted`` a failure class (and no latency: only successful attempts make the
latency figures). ``at`` is when the attempt ended. Percentiles are exact (nearest rank
over the sorted samples); the error rate is failed attempts over attempts.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.inspect.web._index_span import (
    bucket_count,
    bucket_starts,
    percentile,
)
from runtime.inspect.web._views import (
    DeploymentLatency,
    FailureCell,
    LatencyView,
    Series,
    Span,
)

__all__ = ["Attempt", "latency_view"]

Attempt = tuple[float, int, str, float | None, str | None]
"""``(at, position, deployment, latency_s, failure)``."""


class _Tally:
    """One deployment's attempts in the span, per bucket."""

    __slots__ = ("attempts", "errors", "samples")

    def __init__(self, count: int) -> None:
        self.samples: list[list[float]] = [[] for _ in range(count)]
        self.attempts = [0] * count
        self.errors = [0] * count


def latency_view(span: Span, attempts: Sequence[Attempt]) -> LatencyView:
    """The latency page's figures for ``attempts`` (those inside ``span``, in time order).

    Each deployment's series are named after it, so a chart of several lines can use them
    as they are.
    """
    count = bucket_count(span)
    starts = bucket_starts(span, count)
    tallies: dict[str, _Tally] = {}
    failures: dict[tuple[str, str], int] = {}
    failure_buckets: dict[str, list[int]] = {}
    since, until, width, top = span.since, span.until, span.bucket_s, count - 1
    for at, _, deployment, latency, failure in attempts:
        if not since <= at <= until:
            continue
        i = int((at - since) // width)  # bucket_index, inlined: this loop is the page's cost
        if i > top:
            i = top
        tally = tallies.get(deployment)
        if tally is None:
            tally = tallies[deployment] = _Tally(count)
        tally.attempts[i] += 1
        if failure is not None:
            tally.errors[i] += 1
            failures[(failure, deployment)] = failures.get((failure, deployment), 0) + 1
            per_class = failure_buckets.get(failure)
            if per_class is None:
                per_class = failure_buckets[failure] = [0] * count
            per_class[i] += 1
        elif latency is not None:
            tally.samples[i].append(latency)
    return LatencyView(
        span=span,
        deployments=tuple(_deployment(d, tallies[d], starts) for d in sorted(tallies)),
        failures=tuple(
            FailureCell(failure=f, deployment=d, count=n)
            for (f, d), n in sorted(failures.items(), key=lambda item: (-item[1], item[0]))
        ),
        failure_series=tuple(
            Series(name=f, points=tuple(zip(starts, map(float, failure_buckets[f]), strict=True)))
            for f in sorted(failure_buckets)
        ),
    )


def _deployment(deployment: str, tally: _Tally, starts: list[float]) -> DeploymentLatency:
    p50: list[float | None] = []
    p95: list[float | None] = []
    rate: list[float | None] = []
    every: list[float] = []
    for samples, attempts, errors in zip(tally.samples, tally.attempts, tally.errors, strict=True):
        samples.sort()
        every.extend(samples)
        p50.append(percentile(samples, 50))
        p95.append(percentile(samples, 95))
        rate.append(errors / attempts if attempts else None)
    every.sort()
    return DeploymentLatency(
        deployment=deployment,
        requests=sum(tally.attempts),
        errors=sum(tally.errors),
        p50_s=percentile(every, 50),
        p95_s=percentile(every, 95),
        p50=Series(name=deployment, points=tuple(zip(starts, p50, strict=True))),
        p95=Series(name=deployment, points=tuple(zip(starts, p95, strict=True))),
        error_rate=Series(name=deployment, points=tuple(zip(starts, rate, strict=True))),
    )
