"""Every request of a log as one row: the fold behind ``inspect slow``/``failed`` and the web view.

Input: the routing events (``REQUEST_TYPES``) in log order; ``RequestFold.feed`` ignores
every other event, so a caller may feed a whole log. Output: one ``RequestRow`` per
request id, updated in place as its events arrive, and the queries over them
(``slowest``, ``failed``, ``count_matching``) with a ``RequestQuery`` filter.

A request's events are folded by ``request_id`` alone: a request whose ``RequestStarted``
was compacted away still gets a row (``started`` is then its first event's ``at``), and a
log written by several processes folds the same. The runtime appends a request's events as
one batch when it ends, so a row is usually complete after its batch; a row without a
terminal event is ``running``.

The fold is on the start-up path of the web view (a million-event log holds about 250,000
requests), so ``feed`` dispatches on the event's exact class through a dict and touches
only the row's slots: no per-event allocation beyond the row itself and its tuples.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from sys import intern
from typing import Any, Literal, cast

from events import (
    ROUTING_TYPES,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CandidateSkipped,
    Event,
    FallbackSwitched,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    RoutingEvent,
    StoredEvent,
    StreamInterrupted,
)
from runtime.inspect._requests_row import RequestRow

__all__ = [
    "OUTCOMES",
    "REQUEST_TYPES",
    "RequestFold",
    "RequestQuery",
    "RequestRow",
    "count_matching",
    "failed",
    "slowest",
]

REQUEST_TYPES: tuple[type[Event], ...] = ROUTING_TYPES
"""The routing events the fold reads (``log.read(types=[t.__name__ for t in ...])``)."""

OUTCOMES = ("succeeded", "failed", "cancelled", "running")
"""Values of ``RequestRow.outcome``."""


def _name(text: str | None) -> str | None:
    """``text`` interned: a name (role, model, deployment, failure class) repeats in every
    row, and one shared string is 50-80 bytes less per row than a decoded copy."""
    return None if text is None else intern(text)


@lru_cache(maxsize=4096)
def _appended(names: tuple[str, ...], name: str) -> tuple[str, ...]:
    """``(*names, name)``, shared: most rows try the same few deployments in the same
    order, so their ``tried``/``skipped`` tuples are one object each."""
    return (*names, intern(name))


@lru_cache(maxsize=4096)
def _deployment(model: str, endpoint: str) -> str:
    return intern(f"{model}@{endpoint}")


def _started(row: RequestRow, event: RequestStarted) -> None:
    row.started = event.at
    row.role = _name(event.role)
    row.model = _name(event.model)
    primary = event.model if event.model is not None or not event.chain else event.chain[0]
    row.primary = _name(primary)
    row.stream = event.stream
    row.operation = intern(event.operation)


def _skipped(row: RequestRow, event: CandidateSkipped) -> None:
    row.skipped = _appended(row.skipped, event.deployment)


def _attempt(row: RequestRow, event: AttemptStarted) -> None:
    _tried(row, event.attempt, event.deployment)


def _tried(row: RequestRow, attempt: int, deployment: str) -> None:
    """Count attempt ``attempt`` once, whether its ``AttemptStarted`` was seen or not."""
    if attempt != row._last_attempt or (attempt == 0 and row.deployment != deployment):
        row._last_attempt = attempt
        row.tried = _appended(row.tried, deployment)
        row.attempts += 1
    if row.served_model is None:
        row.deployment = intern(deployment)


def _succeeded_attempt(row: RequestRow, event: AttemptSucceeded) -> None:
    _tried(row, event.attempt, event.deployment)
    row.deployment = intern(event.deployment)
    row.ttft_s = event.ttft_s
    row.prompt_tokens = event.prompt_tokens
    row.completion_tokens = event.completion_tokens


def _failed_attempt(row: RequestRow, event: AttemptFailed | StreamInterrupted) -> None:
    _tried(row, event.attempt, event.deployment)
    row.failed_attempts += 1
    row.failure = intern(event.failure)
    if event.message:
        row.error = event.message


def _fallback(row: RequestRow, event: FallbackSwitched) -> None:
    row.fallbacks += 1
    if row.primary is None:
        row.primary = intern(event.from_model)


def _succeeded(row: RequestRow, event: RequestSucceeded) -> None:
    row.outcome = "succeeded"
    row.ended = event.at
    row.latency_s = event.latency_s
    row.served_model = intern(event.model)
    row.deployment = _deployment(event.model, event.endpoint)
    row.attempts = max(row.attempts, event.attempts)


def _failed(row: RequestRow, event: RequestFailed) -> None:
    row.outcome = "failed"
    row.ended = event.at
    row.latency_s = event.latency_s
    row.error = event.error
    if event.failure is not None:
        row.failure = intern(event.failure)
    row.attempts = max(row.attempts, event.attempts)


def _cancelled(row: RequestRow, event: RequestCancelled) -> None:
    row.outcome = "cancelled"
    row.ended = event.at
    row.latency_s = event.latency_s
    row.attempts = max(row.attempts, event.attempts)


_Step = Callable[[RequestRow, Any], None]
_STEPS: dict[type, _Step] = {
    RequestStarted: _started,
    CandidateSkipped: _skipped,
    AttemptStarted: _attempt,
    AttemptSucceeded: _succeeded_attempt,
    AttemptFailed: _failed_attempt,
    StreamInterrupted: _failed_attempt,
    FallbackSwitched: _fallback,
    RequestSucceeded: _succeeded,
    RequestFailed: _failed,
    RequestCancelled: _cancelled,
}


class RequestFold:
    """Request rows by id, folded from routing events fed in log order."""

    __slots__ = ("_ordered", "_rows")

    def __init__(self) -> None:
        self._rows: dict[str, RequestRow] = {}
        self._ordered: list[RequestRow] | None = []

    def feed(self, stored: StoredEvent) -> None:
        """Fold one stored event; events other than ``REQUEST_TYPES`` are ignored."""
        event = stored.event
        step = _STEPS.get(type(event))
        if step is None:
            return
        routing = cast(RoutingEvent, event)  # every class in _STEPS is one
        rows = self._rows
        row = rows.get(routing.request_id)
        if row is None:
            rid = routing.request_id
            row = rows[rid] = RequestRow(rid, stored.position, routing.at)
            self._ordered = None
        elif type(event) is RequestStarted:  # came after another of its events: moves it
            self._ordered = None
        step(row, routing)

    def forget_started_before(self, cutoff: float, *, running_since: float) -> list[RequestRow]:
        """Forget the rows that started before ``cutoff``, except those still running
        that started at or after ``running_since`` (their ending may yet come); returns
        the rows forgotten. O(rows): the web view's retention calls it now and then."""
        gone = [
            row
            for row in self._rows.values()
            if row.started < cutoff and (row.outcome != "running" or row.started < running_since)
        ]
        if not gone:
            return gone
        rows = self._rows
        for row in gone:
            del rows[row.request_id]
        if self._ordered is not None:
            self._ordered = [row for row in self._ordered if row.request_id in rows]
        return gone

    def get(self, request_id: str) -> RequestRow | None:
        """The row of ``request_id``, if any of its events was fed."""
        return self._rows.get(request_id)

    def rows(self) -> list[RequestRow]:
        """Every request seen, by ``started`` (ties by position).

        The log's order is the order requests *ended* in (a request's events are
        appended together when it ends), hence the sort; it is cached until a new
        request arrives, and cheap then because the rows are nearly in order already.
        The list is shared: do not modify it.
        """
        if self._ordered is None:
            self._ordered = sorted(self._rows.values(), key=_start_key)
        return self._ordered

    def __iter__(self) -> Iterator[RequestRow]:
        return iter(self.rows())

    def __len__(self) -> int:
        return len(self._rows)


def _start_key(row: RequestRow) -> tuple[float, int]:
    return (row.started, row.position)


@dataclass(frozen=True)
class RequestQuery:
    """Which requests a listing shows; every criterion given must hold."""

    since: float | None = None
    """Only requests that started at or after this (epoch seconds)."""
    until: float | None = None
    """Only requests that started at or before this."""
    role: str | None = None
    model: str | None = None
    """Matches the model asked for, the role's primary model or the model that answered."""
    deployment: str | None = None
    """Matches any deployment the request tried."""
    failure: str | None = None
    """The failure class (``RequestRow.failure``)."""
    outcome: str | None = None
    """One of ``OUTCOMES``."""
    limit: int = 20
    """How many rows ``slowest``/``failed`` return at most."""

    def matches(self, row: RequestRow) -> bool:
        """Whether ``row`` passes every criterion given."""
        if self.since is not None and row.started < self.since:
            return False
        if self.until is not None and row.started > self.until:
            return False
        if self.role is not None and row.role != self.role:
            return False
        if self.model is not None and self.model not in (
            row.model,
            row.primary,
            row.served_model,
        ):
            return False
        if self.deployment is not None and self.deployment not in row.tried:
            return False
        if self.failure is not None and row.failure != self.failure:
            return False
        return self.outcome is None or row.outcome == self.outcome


Kind = Literal["slow", "failed"]
"""What a listing shows: finished requests (``slowest``) or failed/cancelled ones."""


def _kind_matches(row: RequestRow, kind: Kind | None) -> bool:
    if kind == "slow":
        return row.latency_s is not None and row.ended is not None
    if kind == "failed":
        return row.outcome == "failed" or row.outcome == "cancelled"
    return True


def slowest(rows: Iterable[RequestRow], query: RequestQuery) -> list[RequestRow]:
    """The finished requests matching ``query``, slowest first, at most ``query.limit``."""
    found = (r for r in rows if _kind_matches(r, "slow") and query.matches(r))
    return heapq.nlargest(max(query.limit, 0), found, key=_latency_key)


def failed(rows: Iterable[RequestRow], query: RequestQuery) -> list[RequestRow]:
    """The failed and cancelled requests matching ``query``, newest first, at most
    ``query.limit``. A request that succeeded after failed attempts is not among them."""
    found = (r for r in rows if _kind_matches(r, "failed") and query.matches(r))
    return heapq.nlargest(max(query.limit, 0), found, key=_start_key)


def count_matching(
    rows: Iterable[RequestRow], query: RequestQuery, *, kind: Kind | None = None
) -> int:
    """How many rows match ``query`` (and are of ``kind``: what ``slowest`` or ``failed``
    would choose from), for "showing 20 of 312"."""
    return sum(1 for r in rows if _kind_matches(r, kind) and query.matches(r))


def _latency_key(row: RequestRow) -> tuple[float, float]:
    return (row.latency_s or 0.0, -row.started)
