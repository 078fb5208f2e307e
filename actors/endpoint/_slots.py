"""One endpoint's concurrency slots and counters, as pure logic.

``EndpointState`` is what the ``EndpointActor`` owns: how many calls hold a slot, which
calls wait for one (first come, first served) and the counters behind
``EndpointStatistics``. ``admit``/``end``/``abandon``/``resize`` are the only
transitions; none of them can lose a slot: ``end`` hands a freed slot straight to the
oldest waiter (unless a lowered limit is still over-subscribed), ``resize`` hands the
slots a raised limit adds to the waiters.

Pure: no clocks, no I/O. Nothing here is logged to the event log (the counters are
per process); a restarted actor starts from a fresh state.
"""

from __future__ import annotations

import msgspec

from actors.endpoint._metrics import EndpointStatistics

__all__ = ["EndpointState", "abandon", "admit", "end", "resize", "statistics"]


class EndpointState(msgspec.Struct, frozen=True, kw_only=True):
    """Slots and counters of one endpoint."""

    limit: int
    """Calls allowed to hold a slot at once (``max_concurrency``, >= 1)."""
    inflight: int = 0
    """Calls holding a slot."""
    waiting: tuple[int, ...] = ()
    """Ids of the calls waiting for a slot, oldest first."""
    requests: int = 0
    """Calls admitted or queued (chat, stream and list_models), whatever their outcome."""
    failures: dict[str, int] = msgspec.field(default_factory=dict)
    """Failure class value -> calls that ended with it."""
    bytes_received: int = 0
    """Response body bytes read."""

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.limit}")


def admit(state: EndpointState, call_id: int) -> tuple[EndpointState, bool]:
    """A call asks for a slot: granted now (True) or queued behind the waiters (False)."""
    if state.inflight < state.limit and not state.waiting:
        return msgspec.structs.replace(
            state, inflight=state.inflight + 1, requests=state.requests + 1
        ), True
    waiting = (*state.waiting, call_id)
    return msgspec.structs.replace(state, waiting=waiting, requests=state.requests + 1), False


def end(
    state: EndpointState, failure: str | None, bytes_received: int
) -> tuple[EndpointState, int | None]:
    """A call holding a slot ended; the id of the waiter the slot goes to, if any.

    Args:
        state: The endpoint now.
        failure: The failure class value if it failed (a cancellation is no failure).
        bytes_received: Body bytes it read.
    """
    failures = state.failures
    if failure is not None:
        failures = {**failures, failure: failures.get(failure, 0) + 1}
    waiting = state.waiting
    # After a lowered limit, calls beyond it run out before a waiter gets their slot.
    granted = waiting[0] if waiting and state.inflight <= state.limit else None
    inflight = state.inflight - (1 if granted is None else 0)
    return msgspec.structs.replace(
        state,
        inflight=max(0, inflight),
        waiting=waiting[1:] if granted is not None else waiting,
        failures=failures,
        bytes_received=state.bytes_received + bytes_received,
    ), granted


def resize(state: EndpointState, limit: int) -> tuple[EndpointState, tuple[int, ...]]:
    """A new slot count (e.g. discovered from the backend); the waiters that get a slot
    now, oldest first. Calls already holding a slot keep it when the limit drops.

    Raises:
        ValueError: ``limit`` below 1.
    """
    if limit < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {limit}")
    free = max(0, limit - state.inflight)
    granted = state.waiting[:free]
    return msgspec.structs.replace(
        state,
        limit=limit,
        inflight=state.inflight + len(granted),
        waiting=state.waiting[len(granted) :],
    ), granted


def abandon(state: EndpointState, call_id: int) -> EndpointState:
    """A waiting call gave up (deadline, cancellation): it leaves the queue."""
    if call_id not in state.waiting:
        return state
    return msgspec.structs.replace(state, waiting=tuple(c for c in state.waiting if c != call_id))


def statistics(state: EndpointState, *, name: str, url: str) -> EndpointStatistics:
    """The frozen record readers get."""
    return EndpointStatistics(
        name=name,
        url=url,
        inflight=state.inflight,
        max_concurrency=state.limit,
        waiting=len(state.waiting),
        requests=state.requests,
        failures=sum(state.failures.values()),
        failures_by_class=dict(state.failures),
        bytes_received=state.bytes_received,
    )
