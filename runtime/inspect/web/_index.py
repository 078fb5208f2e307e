"""The web view's index: the log's events folded once, each page's view model on demand.

``WebIndex.feed`` keeps what the pages need and nothing more: the request fold
(``RequestFold``, shared with ``inspect slow``/``failed``), one record per attempt and per
charge to the quota, the health status changes (``inspect timeline``'s projection), the
quota periods and marks. A page then reads the span it shows: ``overview``, ``latency``,
``quotas`` and ``flow`` are O(records in the span), records kept in time order (see
``_index_store``) and found by bisection.

Times are the events' own ``at`` (wall-clock epoch seconds when it happened), not the
append time: a request's events are appended together when it ends, and a test's virtual
clock is not the machine's. ``first_at``/``last_at`` are the earliest and latest such
times fed (an event without ``at`` counts with its append time).

The shell reads the log with ``types=INDEX_TYPES``; ``Totals.events`` then counts the
events of those types in the span (every fed event, whatever its type, counts).

Pure: no I/O, no clock (``now`` is passed in).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from sys import intern
from typing import Any

from actors.quota._counting import attempt_tokens
from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    DeploymentPanicProbe,
    Event,
    FallbackSwitched,
    QuotaExceededRecorded,
    QuotaPeriodStarted,
    QuotaWarningIssued,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    StoredEvent,
    StreamInterrupted,
)
from runtime.inspect._requests_model import REQUEST_TYPES, RequestFold, RequestRow
from runtime.inspect._timeline_model import CHANGE_TYPES, DeploymentTimeline, build_timeline
from runtime.inspect.web._index_bands import Carry, carry_at, deployment_bands, stretches
from runtime.inspect.web._index_flow import flow_view
from runtime.inspect.web._index_latency import Attempt, latency_view
from runtime.inspect.web._index_quota import (
    ALIASES,
    Charge,
    Period,
    QuotaMark,
    period_intervals,
    quota_view,
)
from runtime.inspect.web._index_rates import request_rates
from runtime.inspect.web._index_retain import keep_periods, quota_floor
from runtime.inspect.web._index_span import make_span
from runtime.inspect.web._index_store import TimeOrdered
from runtime.inspect.web._views import (
    DeploymentBands,
    FlowView,
    LatencyView,
    Overview,
    QuotaView,
    Span,
    Totals,
)

__all__ = ["CONTEXT_TYPES", "INDEX_TYPES", "WebIndex"]


def _tag(cls: type[Event]) -> str:
    return str(cls.__struct_config__.tag)


_QUOTA_TYPES: tuple[type[Event], ...] = (
    QuotaPeriodStarted,
    QuotaWarningIssued,
    QuotaExceededRecorded,
)
INDEX_TYPES: tuple[str, ...] = tuple(
    _tag(cls) for cls in (*REQUEST_TYPES, *CHANGE_TYPES, *_QUOTA_TYPES)
)
"""The event types the index reads (``log.read(types=INDEX_TYPES)``): the routing events,
the health status changes and the quota periods, warnings and refusals."""
CONTEXT_TYPES: tuple[str, ...] = tuple(_tag(cls) for cls in (*CHANGE_TYPES, *_QUOTA_TYPES))
"""The health changes and quota events: what a retention window needs from before its
start (``_reading``)."""

_ENDS = (RequestSucceeded, RequestFailed, RequestCancelled)


class WebIndex:
    """Everything the web view's pages show, folded from the log's events."""

    def __init__(self, *, limits: Mapping[str, int] | None = None) -> None:
        """Args:
        limits: The configured quota limits by the names the quota events use
            (``global.tokens``, ``model:llama3.requests``; ``daily_tokens`` and
            ``daily_requests`` name the global ones); None when unknown (``inspect
            web``): limits are then known from the warnings and refusals that name them.
        """
        self.position = 0
        """The last position fed (0 before any)."""
        self.events = 0
        """Events fed."""
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.requests = RequestFold()
        self._configured = {ALIASES.get(k, k): v for k, v in (limits or {}).items()}
        self._times: array[float] = array("d")
        self._times_sorted = True
        self._attempts: TimeOrdered[Attempt] = TimeOrdered()
        self._charges: TimeOrdered[Charge] = TimeOrdered()
        self._first_tried: dict[str, float] = {}
        self._prompt_chars: dict[str, int] = {}
        self._fallbacks: dict[str, list[tuple[str, str]]] = {}
        self._health: list[StoredEvent] = []
        self._carried: dict[str, Carry] = {}
        self._deadlines: dict[int, float] = {}
        self._timeline: dict[str, DeploymentTimeline] | None = {}
        self._periods: list[Period] = []
        self._marks: list[tuple[str, QuotaMark]] = []
        self._limit_values: dict[str, int | None] = {}
        self._row_keys: tuple[list[RequestRow], list[float]] = ([], [])
        self.kept_since: float | None = None
        """The last cut-off of ``forget_before`` (None: everything fed is kept)."""

    def feed(self, stored: StoredEvent) -> None:
        """Fold one stored event (any type; those outside ``INDEX_TYPES`` only count)."""
        event = stored.event
        if stored.position > self.position:
            self.position = stored.position
        self.events += 1
        at = getattr(event, "at", None)
        if not isinstance(at, float):
            at = stored.timestamp
        times = self._times
        if times and at < times[-1]:
            self._times_sorted = False
        times.append(at)
        if self.first_at is None or at < self.first_at:
            self.first_at = at
        if self.last_at is None or at > self.last_at:
            self.last_at = at
        step = _STEPS.get(type(event))
        if step is not None:
            step(self, stored, event)

    def feed_many(self, batch: Iterable[StoredEvent]) -> None:
        """``feed`` each of ``batch`` in order."""
        feed = self.feed
        for stored in batch:
            feed(stored)

    def forget_before(self, cutoff: float, *, running_s: float = 0.0) -> None:
        """Forget what lies before ``cutoff`` (see ``_index_retain``): requests that
        started before it (not those still running that started less than ``running_s``
        before it), their attempts and charges, the times counted, health events but
        the status at the cut-off, quota periods and marks before the period in force.
        Pages then show from ``kept_since`` on. O(everything kept)."""
        if self.kept_since is not None and cutoff <= self.kept_since:
            return
        self.kept_since = cutoff
        for row in self.requests.forget_started_before(cutoff, running_since=cutoff - running_s):
            self._prompt_chars.pop(row.request_id, None)
            self._fallbacks.pop(row.request_id, None)
        self._attempts.drop_before(cutoff)
        if not self._times_sorted:
            self._times = array("d", sorted(self._times))
            self._times_sorted = True
        del self._times[: bisect_left(self._times, cutoff)]
        floor = quota_floor(self._periods, cutoff)
        self._charges.drop_before(floor)
        self._periods = keep_periods(self._periods, floor)
        self._marks = [mark for mark in self._marks if mark[1][0] >= floor]
        timelines, carried = self._timelines(), self._carried
        for did in timelines.keys() | carried.keys():
            found = (timelines.get(did), self._first_tried.get(did), self._deadlines)
            carried[did] = carry_at(*found, carried.get(did), cutoff)
        self._health = [s for s in self._health if _at(s) >= cutoff]
        kept = {stored.position for stored in self._health}
        self._deadlines = {p: t for p, t in self._deadlines.items() if p in kept}
        self._timeline = None
        if self.first_at is not None and self.first_at < cutoff:
            self.first_at = cutoff

    def quota_floor(self, cutoff: float) -> float:
        """Where the quota period in force at ``cutoff`` began (at most ``cutoff``), by
        the periods fed so far: ``forget_before(cutoff)`` keeps the charges from there."""
        return quota_floor(self._periods, cutoff)

    def span(self, since: float | None, until: float | None, *, now: float, live: bool) -> Span:
        """The range a page shows: ``since`` defaults to the log's first event, ``until`` to
        ``now`` when ``live`` else to a margin after its last event (about one bucket, at
        least a second: a change at the last event still shows); an empty log shows the
        hour to ``now``. Buckets of a round width, at most 120.

        Raises:
            InspectError: ``since`` is after ``until``.
        """
        return make_span(
            since, until, first_at=self.first_at, last_at=self.last_at, now=now, live=live
        )

    def overview(self, span: Span) -> Overview:
        """Status bands per deployment, request rates and totals over ``span``."""
        rows = self._rows_in(span)
        return Overview(
            span=span,
            first_at=self.first_at,
            last_at=self.last_at,
            position=self.position,
            totals=self._totals(span, rows),
            deployments=self._bands(span),
            rate=request_rates(span, rows, self.last_at),
            kept_since=self.kept_since,
        )

    def latency(self, span: Span) -> LatencyView:
        """Latency percentiles, error rates and failures per deployment over ``span``."""
        return latency_view(span, self._attempts.between(span.since, span.until))

    def quotas(self, span: Span) -> QuotaView:
        """Each quota limit's burn-down in every period ``span`` overlaps."""
        intervals = period_intervals(span, self._periods)
        start = min((i[0] for i in intervals), default=span.since)
        values = dict(self._limit_values)
        values.update(self._configured)
        return quota_view(
            span, self._charges.between(start, span.until), self._periods, self._marks, values
        )

    def flow(self, span: Span) -> FlowView:
        """Role -> model -> deployment counts of the requests started in ``span``."""
        return flow_view(span, self._rows_in(span), self._fallbacks)

    def _rows_in(self, span: Span) -> Sequence[RequestRow]:
        rows = self.requests.rows()
        if rows is not self._row_keys[0]:
            self._row_keys = (rows, [r.started for r in rows])
        keys = self._row_keys[1]
        return rows[bisect_left(keys, span.since) : bisect_right(keys, span.until)]

    def _totals(self, span: Span, rows: Sequence[RequestRow]) -> Totals:
        outcomes = {"succeeded": 0, "failed": 0, "cancelled": 0, "running": 0}
        fallbacks = 0
        for row in rows:
            outcomes[row.outcome] += 1
            fallbacks += row.fallbacks
        if not self._times_sorted:
            self._times = array("d", sorted(self._times))
            self._times_sorted = True
        times = self._times
        return Totals(
            requests=len(rows),
            fallbacks=fallbacks,
            events=bisect_right(times, span.until) - bisect_left(times, span.since),
            **outcomes,
        )

    def _timelines(self) -> dict[str, DeploymentTimeline]:
        if self._timeline is None:
            built = build_timeline(self._health)
            self._timeline = {t.deployment: t for t in built.deployments}
        return self._timeline

    def _bands(self, span: Span) -> tuple[DeploymentBands, ...]:
        timelines, carried, tried = self._timelines(), self._carried, self._first_tried
        return tuple(
            deployment_bands(
                did,
                stretches(timelines.get(did), tried.get(did), self._deadlines, carried.get(did)),
                timelines.get(did),
                span,
            )
            for did in sorted(timelines.keys() | tried.keys() | carried.keys())
        )

    # -- feeding, one function per event class ------------------------------------------

    def _tried(self, deployment: str, at: float) -> None:
        first = self._first_tried.get(deployment)
        if first is None or at < first:
            self._first_tried[deployment] = at

    def _charge(self, stored: StoredEvent, event: AttemptSucceeded | StreamInterrupted) -> None:
        rid = event.request_id
        row = self.requests.get(rid)
        tokens = attempt_tokens(event, self._prompt_chars.get(rid, 0))
        model = _model_of(event.deployment)
        role = row.role if row is not None else None
        self._charges.add((event.at, stored.position, model, role, tokens))


def _started(index: WebIndex, stored: StoredEvent, event: RequestStarted) -> None:
    index.requests.feed(stored)
    index._prompt_chars[event.request_id] = event.prompt_chars


def _attempt(index: WebIndex, stored: StoredEvent, event: AttemptStarted) -> None:
    index.requests.feed(stored)
    index._tried(event.deployment, event.at)


def _succeeded_attempt(index: WebIndex, stored: StoredEvent, event: AttemptSucceeded) -> None:
    index.requests.feed(stored)
    index._tried(event.deployment, event.at - event.latency_s)
    deployment = intern(event.deployment)
    index._attempts.add((event.at, stored.position, deployment, event.latency_s, None))
    index._charge(stored, event)


def _failed_attempt(
    index: WebIndex, stored: StoredEvent, event: AttemptFailed | StreamInterrupted
) -> None:
    index.requests.feed(stored)
    index._tried(event.deployment, event.at - event.latency_s)
    deployment, failure = intern(event.deployment), intern(event.failure)
    index._attempts.add((event.at, stored.position, deployment, None, failure))
    if isinstance(event, StreamInterrupted):
        index._charge(stored, event)


def _fallback(index: WebIndex, stored: StoredEvent, event: FallbackSwitched) -> None:
    index.requests.feed(stored)
    switch = (event.from_model, event.to_model)
    index._fallbacks.setdefault(event.request_id, []).append(switch)


def _ended(index: WebIndex, stored: StoredEvent, event: Any) -> None:
    index.requests.feed(stored)
    index._prompt_chars.pop(event.request_id, None)


def _routing(index: WebIndex, stored: StoredEvent, event: Any) -> None:
    index.requests.feed(stored)


def _health(index: WebIndex, stored: StoredEvent, event: Any) -> None:
    index._health.append(stored)
    index._timeline = None
    if isinstance(event, DeploymentPanicProbe):
        index._deadlines[stored.position] = event.out_until


def _period(index: WebIndex, stored: StoredEvent, event: QuotaPeriodStarted) -> None:
    index._periods.append((event.at, stored.position, event.period, event.resets_at))


def _warning(index: WebIndex, stored: StoredEvent, event: QuotaWarningIssued) -> None:
    label = f"{event.limit}: {event.used:,} of {event.limit_value:,} used ({event.ratio:.0%})"
    index._marks.append(("warning", (event.at, stored.position, event.limit, label)))
    index._limit_values[event.limit] = event.limit_value


def _exceeded(index: WebIndex, stored: StoredEvent, event: QuotaExceededRecorded) -> None:
    label = f"{event.limit}: refused at {event.used:,} of {event.limit_value:,}"
    if event.request_id:
        label += f" (request {event.request_id})"
    index._marks.append(("exceeded", (event.at, stored.position, event.limit, label)))
    index._limit_values[event.limit] = event.limit_value


def _at(stored: StoredEvent) -> float:
    at = getattr(stored.event, "at", None)
    return at if isinstance(at, float) else stored.timestamp


@lru_cache(maxsize=4096)
def _model_of(deployment: str) -> str:
    """The model of ``model@endpoint``, one shared string per deployment."""
    return intern(deployment.rpartition("@")[0] or deployment)


_Step = Callable[[WebIndex, StoredEvent, Any], None]
_STEPS: dict[type, _Step] = {
    **{cls: _routing for cls in REQUEST_TYPES},
    RequestStarted: _started,
    AttemptStarted: _attempt,
    AttemptSucceeded: _succeeded_attempt,
    AttemptFailed: _failed_attempt,
    StreamInterrupted: _failed_attempt,
    FallbackSwitched: _fallback,
    **{cls: _ended for cls in _ENDS},
    **{cls: _health for cls in CHANGE_TYPES},
    QuotaPeriodStarted: _period,
    QuotaWarningIssued: _warning,
    QuotaExceededRecorded: _exceeded,
}
