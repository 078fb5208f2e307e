"""``PerformanceActor``: owns the live performance windows.

A request's driver tells it the request's routing events twice: ``RequestStarted``
right after planning (so the next plan's exploration counter already counts this
request), and every other event when the request ends — in the same order as the one
batch the request appends to the log. Folding in log order makes the live windows
exactly what a replay of the log rebuilds (the start events commute: they only count
and remember the request's kind).

The ``performance`` strategy reads the windows through ``GetPerformanceView``: the
reply is the state itself, an immutable value, which the router orders candidates by.

Folding is lazy: ``Observe`` only appends the events to a buffer (O(1) per request),
and the buffer is folded (``fold_events``, equal to folding each event eagerly) when
the windows are read — a view, a summary — or when it holds ``MAX_PENDING`` events, so
memory stays bounded however long nobody reads. A runtime that routes nothing by
performance thus never pays for windows per request.

After a supervised failure the new instance rebuilds its state from the log before
its first message (``restore``: latest snapshot plus the tail). The only gap: samples
of a request that was in flight across the restart lose their task kind (its
``RequestStarted`` is not in the log yet), so they feed the deployment's all-kinds
window only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from actors._actor import Actor
from actors._ask import Ask
from actors.performance._batch import fold_events
from actors.performance._logic import PerformanceState
from actors.performance._summary import PerformanceSummary, performance_summary
from events import Event

__all__ = [
    "MAX_PENDING",
    "GetPerformanceView",
    "Observe",
    "PerformanceActor",
    "PerformanceMessage",
    "SummarizePerformance",
]

MAX_PENDING = 1024
"""Events told and not yet folded at most: the buffer is folded when it gets this long."""

Restore = Callable[[], Awaitable[PerformanceState]]
"""Rebuild the state from the log (snapshot + tail), after committing what is queued."""


class Observe(Ask[None], frozen=True):
    """Fold these routing events, in order (anything else is ignored)."""

    events: tuple[Event, ...]


class GetPerformanceView(Ask[PerformanceState], frozen=True):
    """The windows now (an immutable value: what ordering by performance reads)."""


class SummarizePerformance(Ask[PerformanceSummary], frozen=True):
    """Windows, success rates, latency percentiles and scores (``rt.performance()``)."""


PerformanceMessage = Observe | GetPerformanceView | SummarizePerformance


class PerformanceActor(Actor[PerformanceMessage]):
    """Single owner of the live ``PerformanceState``; see the module docstring."""

    def __init__(self, state: PerformanceState | None, restore: Restore) -> None:
        """Start from ``state`` (the replayed one), or ``restore()`` it when None."""
        self._state = state
        self._restore = restore
        self._pending: list[Event] = []
        """Events told and not folded yet, in the order told."""

    async def on_start(self) -> None:
        if self._state is None:
            self._state = await self._restore()

    def receive(self, message: PerformanceMessage) -> object:
        if type(message) is Observe:
            pending = self._pending
            pending += message.events
            if len(pending) >= MAX_PENDING:
                self._folded()
            return None
        match message:
            case GetPerformanceView():
                return self._folded()
            case SummarizePerformance():
                return performance_summary(self._folded())
        return None

    def _folded(self) -> PerformanceState:
        """The state with every event told so far folded in."""
        state = self._state
        assert state is not None  # set by __init__ or on_start
        if self._pending:
            state = self._state = fold_events(state, self._pending)
            self._pending = []
        return state
