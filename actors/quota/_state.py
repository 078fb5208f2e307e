"""The ledger's state and its fold (``evolve``).

The state is limit-independent: it counts every scope (every model and role seen), not
only the limited ones, so that replay needs no policy and a limit added after a restart
applies to the usage already made in the period.

Accounting rules:

- A reservation counts its estimate (1 request, ``tokens`` tokens) in every scope of its
  request until it is settled or released.
- Settling moves the request into the *settled* counts with the tokens it really used,
  in the period current at settlement: reservations outstanding at a reset carry over,
  so each admitted request is counted exactly once.
- Releasing drops it: a failed or cancelled request consumes nothing (not even a
  request), so an outage does not burn quota.
- A request that reserved nothing (no limit was configured) is counted from its own
  events instead (``_counting``): once, whichever events a log holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from actors.quota._counting import (
    ENDS,
    HELD_FOR,
    OpenRequest,
    attempt_tokens,
    recent,
)
from actors.quota._limits import Unit, scopes_of
from actors.quota._rate import Bucket, RateLimit
from events._base import Event, UnknownEvent
from events._quota import (
    QuotaEvent,
    QuotaPeriodStarted,
    QuotaReleased,
    QuotaReserved,
    QuotaSettled,
    QuotaWarningIssued,
)
from events._routing import (
    AttemptSucceeded,
    RequestStarted,
    RoutingEvent,
    StreamInterrupted,
    split_deployment,
)

__all__ = [
    "LedgerState",
    "QuotaUsage",
    "Reservation",
    "count_request",
    "evolve",
    "fold_ledger",
    "forget",
    "take",
]


class QuotaUsage(msgspec.Struct, frozen=True, kw_only=True):
    """Requests and tokens counted against the quotas (``Reply.usage`` is ``Usage``)."""

    requests: int = 0
    tokens: int = 0

    def plus(self, requests: int, tokens: int) -> QuotaUsage:
        """This usage with ``requests`` and ``tokens`` added."""
        return QuotaUsage(requests=self.requests + requests, tokens=self.tokens + tokens)

    def get(self, unit: Unit) -> int:
        """The count in ``unit``."""
        return self.requests if unit == "requests" else self.tokens


_NONE = QuotaUsage()


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    """An admitted request's outstanding estimate."""

    request_id: str
    model: str
    role: str | None = None
    endpoint: str | None = None
    requests: int = 1
    tokens: int = 0
    period: str = ""
    """The period it was admitted in (informational: it is charged when settled)."""
    rated: bool = False
    """It took from its deployment's rate buckets (settling corrects them)."""
    at: float = 0.0
    """When it was reserved (0: by a release that did not record it)."""

    @property
    def deployment(self) -> str | None:
        """``model@endpoint``, if the endpoint was known when reserving."""
        return None if self.endpoint is None else f"{self.model}@{self.endpoint}"

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes it counts in."""
        return scopes_of(self.model, self.role)


class LedgerState(msgspec.Struct, frozen=True, kw_only=True):
    """The quota ledger: a pure fold of the ``quota/ledger`` stream.

    Treat the dicts as immutable: ``evolve`` copies them on every change.
    """

    period: str = ""
    """The current period's key (``YYYY-MM-DD``); ``""`` before the first period."""
    resets_at: float = 0.0
    """When the current period ends (from its ``QuotaPeriodStarted``), epoch seconds."""
    settled: dict[str, QuotaUsage] = msgspec.field(default_factory=dict)
    """Scope (``global``, ``model:x``, ``role:y``) -> usage settled in this period."""
    endpoints: dict[str, QuotaUsage] = msgspec.field(default_factory=dict)
    """Endpoint -> usage settled in this period (requests settled without one: absent)."""
    reservations: dict[str, Reservation] = msgspec.field(default_factory=dict)
    """Reservation id -> outstanding reservation (carried across periods)."""
    warned: frozenset[str] = frozenset()
    """Limits whose warning was issued in this period."""
    buckets: dict[str, Bucket] = msgspec.field(default_factory=dict)
    """Deployment id -> its per-minute rate buckets (only rate-limited ones; ``_rate``)."""
    held: dict[str, float] = msgspec.field(default_factory=dict)
    """Request id -> when its last quota event happened, for requests that reserved and
    whose end has not been folded: their request events count nothing (``_counting``)."""
    open: dict[str, OpenRequest] = msgspec.field(default_factory=dict)
    """Request id -> its start, for requests counted from their own events, until their
    end (a request's events are one batch, so this holds at most the one being folded)."""

    def reserved(self, scope: str) -> QuotaUsage:
        """The outstanding estimates counting in ``scope``."""
        requests = tokens = 0
        for reservation in self.reservations.values():
            if scope in reservation.scopes:
                requests += reservation.requests
                tokens += reservation.tokens
        return QuotaUsage(requests=requests, tokens=tokens)

    def committed(self, scope: str) -> QuotaUsage:
        """Settled plus reserved usage of ``scope``: what a new request must fit beside."""
        reserved = self.reserved(scope)
        return self.settled.get(scope, QuotaUsage()).plus(reserved.requests, reserved.tokens)


def evolve(state: LedgerState, event: Event | UnknownEvent) -> LedgerState:
    """Apply one event; pure and total.

    A request event counts the usage of a request that reserved nothing
    (``_counting``). Never raises: other events, ``UnknownEvent``,
    ``QuotaExceededRecorded`` and a ``QuotaPeriodStarted`` for the current or an
    earlier period leave the state unchanged; settling or releasing an unknown
    reservation is a no-op (a duplicate), and a warning of another period is ignored.

    Args:
        state: The ledger before the event.
        event: The event to apply.

    Returns:
        The ledger after it.
    """
    if not isinstance(event, QuotaEvent):
        return _count(state, event) if isinstance(event, RoutingEvent) else state
    replace = msgspec.structs.replace
    match event:
        case QuotaPeriodStarted() if state.period and event.period <= state.period:
            # Periods only move forward: a start for the current period is a duplicate
            # (the shell re-sends an unconfirmed start), one for an earlier period stale.
            return state
        case QuotaPeriodStarted():
            since = event.at - HELD_FOR
            return LedgerState(
                period=event.period,
                resets_at=event.resets_at,
                reservations=state.reservations,
                buckets=state.buckets,
                held=recent(state.held, since),
                open={k: v for k, v in state.open.items() if v.at >= since},
            )
        case QuotaReserved():
            reservation = Reservation(
                request_id=event.request_id,
                model=event.model,
                role=event.role,
                endpoint=event.endpoint,
                requests=max(event.requests, 0),
                tokens=max(event.tokens, 0),
                period=event.period,
                rated=event.rpm is not None or event.tpm is not None,
                at=event.at,
            )
            reservations = {**state.reservations, event.reservation_id: reservation}
            held = {**state.held, event.request_id: event.at}
            state = replace(state, reservations=reservations, held=held)
            if reservation.rated and reservation.deployment is not None:
                rate = RateLimit(rpm=event.rpm, tpm=event.tpm)
                state = take(state, reservation.deployment, event.at, rate, 1, reservation.tokens)
            return state
        case QuotaSettled():
            return _settle(state, event)
        case QuotaReleased() if event.reservation_id in state.reservations:
            reservation = state.reservations[event.reservation_id]
            held = {**state.held, reservation.request_id: event.at}
            state = replace(state, reservations=_without(state, event.reservation_id), held=held)
            return _correct(state, reservation, event.at, -reservation.tokens)
        case QuotaWarningIssued() if event.period in ("", state.period):
            return replace(state, warned=state.warned | {event.limit})
        case _:
            return state


def _settle(state: LedgerState, event: QuotaSettled) -> LedgerState:
    reservation = state.reservations.get(event.reservation_id)
    if reservation is None:
        return state
    tokens = max(event.tokens, 0)
    settled = dict(state.settled)
    for scope in reservation.scopes:
        settled[scope] = settled.get(scope, QuotaUsage()).plus(reservation.requests, tokens)
    endpoints = state.endpoints
    endpoint = event.endpoint or reservation.endpoint
    if endpoint is not None:
        current = endpoints.get(endpoint, QuotaUsage())
        endpoints = {**endpoints, endpoint: current.plus(reservation.requests, tokens)}
    state = msgspec.structs.replace(
        state,
        settled=settled,
        endpoints=endpoints,
        reservations=_without(state, event.reservation_id),
        held={**state.held, reservation.request_id: event.at},
    )
    return _correct(state, reservation, event.at, tokens - reservation.tokens)


def _count(state: LedgerState, event: RoutingEvent) -> LedgerState:
    """A request event: usage of a request that reserved nothing (``_counting``)."""
    rid = event.request_id
    replace = msgspec.structs.replace
    if rid in state.held:
        if isinstance(event, ENDS):  # counted by its quota events; the mark is done
            return replace(state, held={k: v for k, v in state.held.items() if k != rid})
        return state
    match event:
        case RequestStarted():
            opened = OpenRequest(role=event.role, prompt_chars=event.prompt_chars, at=event.at)
            return replace(state, open={**state.open, rid: opened})
        case AttemptSucceeded() | StreamInterrupted():
            opened = state.open.get(rid) or OpenRequest()
            return _charge(state, event, opened)
        case _ if isinstance(event, ENDS) and rid in state.open:
            return replace(state, open={k: v for k, v in state.open.items() if k != rid})
        case _:
            return state


def count_request(state: LedgerState, events: tuple[Event, ...]) -> LedgerState:
    """Fold one request's events (its batch, as recorded): the same as ``evolve`` over
    each, without the steps that cancel out (a request opened, then closed)."""
    first = events[0] if events else None
    last = events[-1] if events else None
    if (
        not isinstance(first, RequestStarted)
        or not isinstance(last, ENDS)
        or last.request_id != first.request_id
        or first.request_id in state.held
        or first.request_id in state.open
    ):
        for event in events:
            state = evolve(state, event)
        return state
    opened = OpenRequest(role=first.role, prompt_chars=first.prompt_chars, at=first.at)
    for event in events:
        if isinstance(event, AttemptSucceeded | StreamInterrupted):
            state = _charge(state, event, opened)
    return state


def fold_ledger(state: LedgerState, events: Sequence[Event | UnknownEvent]) -> LedgerState:
    """Fold ``events`` in order; equal to ``evolve`` applied to each in turn.

    A request's record as appended (its start, routing events of that request, its
    end: contiguous in a committed batch) is folded with ``count_request``, without
    the steps that cancel out; anything else event by event."""
    i, n = 0, len(events)
    while i < n:
        run = _request_run(events, i)
        if run is None:
            state = evolve(state, events[i])
            i += 1
        else:
            state = count_request(state, run)
            i += len(run)
    return state


def _request_run(events: Sequence[Event | UnknownEvent], start: int) -> tuple[Event, ...] | None:
    """The request record that starts at ``start`` (a start, that request's routing
    events, its end), or None."""
    first = events[start]
    if type(first) is not RequestStarted:
        return None
    rid = first.request_id
    run: list[Event] = [first]
    for j in range(start + 1, len(events)):
        event = events[j]
        if not isinstance(event, RoutingEvent) or event.request_id != rid:
            return None
        if type(event) is RequestStarted:  # a second start: ``evolve`` says what it does
            return None
        run.append(event)
        if isinstance(event, ENDS):
            return tuple(run)
    return None


def forget(state: LedgerState, events: tuple[Event, ...]) -> LedgerState:
    """``state`` without the marks of the requests that ``events`` end."""
    ended = {e.request_id for e in events if isinstance(e, ENDS)}
    if not ended & (state.held.keys() | state.open.keys()):
        return state
    return msgspec.structs.replace(
        state,
        held={k: v for k, v in state.held.items() if k not in ended},
        open={k: v for k, v in state.open.items() if k not in ended},
    )


def _charge(
    state: LedgerState, event: AttemptSucceeded | StreamInterrupted, opened: OpenRequest
) -> LedgerState:
    model, endpoint = split_deployment(event.deployment)
    tokens = attempt_tokens(event, opened.prompt_chars)
    settled = dict(state.settled)
    for scope in scopes_of(model, opened.role):
        settled[scope] = settled.get(scope, _NONE).plus(1, tokens)
    endpoints = {**state.endpoints, endpoint: state.endpoints.get(endpoint, _NONE).plus(1, tokens)}
    return msgspec.structs.replace(state, settled=settled, endpoints=endpoints)


def take(
    state: LedgerState,
    deployment: str,
    at: float,
    rate: RateLimit | None,
    requests: float,
    tokens: float,
) -> LedgerState:
    """Refill ``deployment``'s bucket to ``at`` (under ``rate``, default its own) and take
    ``requests`` and ``tokens`` from it (negative: give back); pure."""
    bucket = state.buckets.get(deployment)
    if bucket is None:
        if rate is None:
            return state
        bucket = Bucket.full(at, rate)
    else:
        bucket = bucket.refilled(at, rate)
    buckets = {**state.buckets, deployment: bucket.taken(requests, tokens)}
    return msgspec.structs.replace(state, buckets=buckets)


def _correct(state: LedgerState, reservation: Reservation, at: float, extra: int) -> LedgerState:
    """Charge ``extra`` tokens (negative: refund) to a rated reservation's bucket."""
    if not reservation.rated or reservation.deployment is None or not extra:
        return state
    if reservation.deployment not in state.buckets:
        return state
    return take(state, reservation.deployment, at, None, 0, extra)


def _without(state: LedgerState, reservation_id: str) -> dict[str, Reservation]:
    return {k: v for k, v in state.reservations.items() if k != reservation_id}
