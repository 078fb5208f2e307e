"""Undoing events the ledger applied in memory but could not commit (``undo``).

The ledger shell applies a command's events to its state *synchronously*, at decision
time, so that concurrent requests see each other's reservations at once and can never
overshoot a limit together; the commit to the log is awaited afterwards. When that
commit fails the events are not in the log, and the in-memory state must not keep
them either (a restart would forget them). Other commands may have been applied in
between, so the state cannot simply be put back: each event is reversed on the state
as it is now. Reversals commute with every other reservation's events, because every
count is a sum over reservations.

Pure: no clocks, no I/O.
"""

from __future__ import annotations

import msgspec

from actors.quota._state import LedgerState, QuotaUsage, Reservation, take
from events._base import Event
from events._quota import QuotaReleased, QuotaReserved, QuotaSettled, QuotaWarningIssued

__all__ = ["undo"]


def undo(
    state: LedgerState,
    events: tuple[Event, ...],
    reservation: Reservation | None,
    period: str,
) -> LedgerState:
    """Reverse ``events`` (one command's, in order) on ``state``.

    Args:
        state: The ledger now.
        events: The events applied at decision time and not committed.
        reservation: The reservation a settle or release removed (to put back).
        period: The ledger's period when they were applied: a settle charged to a
            period that has ended since left nothing to take back (the counts were
            reset), and a warning of another period is no longer in ``warned``.

    Returns:
        The ledger as if the events had never been applied. ``QuotaPeriodStarted`` is
        never reversed: a period start is a fact of the clock, and the shell re-sends
        it with its next commit (``evolve`` ignores the duplicate).
    """
    for event in reversed(events):
        state = _undo_one(state, event, reservation, period == state.period)
    return state


def _undo_one(
    state: LedgerState, event: Event, reservation: Reservation | None, same_period: bool
) -> LedgerState:
    replace = msgspec.structs.replace
    match event:
        case QuotaReserved(reservation_id=rid):
            held = state.reservations.get(rid)
            reservations = {k: v for k, v in state.reservations.items() if k != rid}
            state = replace(state, reservations=reservations)
            state = replace(state, held=_unmark(state, event))
            return _unrate(state, held, -1, -(held.tokens if held else 0))
        case QuotaSettled() if reservation is not None:
            if same_period:
                state = _uncharge(state, event, reservation)
            state = _unrate(state, reservation, 0, reservation.tokens - max(event.tokens, 0))
            return _restore(state, event.reservation_id, reservation)
        case QuotaReleased(reservation_id=rid) if reservation is not None:
            state = _unrate(state, reservation, 0, reservation.tokens)
            return _restore(state, rid, reservation)
        case QuotaWarningIssued(limit=limit) if same_period:
            return replace(state, warned=state.warned - {limit})
        case _:
            return state


def _unmark(state: LedgerState, event: QuotaReserved) -> dict[str, float]:
    """The request's mark (``LedgerState.held``) without this reservation: gone unless
    another reservation of the request is outstanding. (A mark left by an earlier,
    settled attempt goes too: only replay counts by the marks; the live ledger under
    limits never counts a request from its own events.)"""
    request = event.request_id
    if any(r.request_id == request for r in state.reservations.values()):
        return state.held
    return {k: v for k, v in state.held.items() if k != request}


def _unrate(
    state: LedgerState, reservation: Reservation | None, requests: int, tokens: int
) -> LedgerState:
    """Take ``requests``/``tokens`` from a rated reservation's bucket without refilling
    it (negative: give back): the reverse of what its event did to the bucket."""
    if reservation is None or not reservation.rated or reservation.deployment is None:
        return state
    bucket = state.buckets.get(reservation.deployment)
    if bucket is None or (requests == 0 and tokens == 0):
        return state
    return take(state, reservation.deployment, bucket.at, None, requests, tokens)


def _restore(state: LedgerState, rid: str, reservation: Reservation) -> LedgerState:
    reservations = {**state.reservations, rid: reservation}
    return msgspec.structs.replace(state, reservations=reservations)


def _uncharge(state: LedgerState, event: QuotaSettled, reservation: Reservation) -> LedgerState:
    tokens = max(event.tokens, 0)
    settled = dict(state.settled)
    for scope in reservation.scopes:
        settled[scope] = _minus(settled.get(scope, QuotaUsage()), reservation.requests, tokens)
    endpoints = dict(state.endpoints)
    endpoint = event.endpoint or reservation.endpoint
    if endpoint is not None and endpoint in endpoints:
        endpoints[endpoint] = _minus(endpoints[endpoint], reservation.requests, tokens)
    return msgspec.structs.replace(state, settled=settled, endpoints=endpoints)


def _minus(usage: QuotaUsage, requests: int, tokens: int) -> QuotaUsage:
    return QuotaUsage(
        requests=max(usage.requests - requests, 0), tokens=max(usage.tokens - tokens, 0)
    )
