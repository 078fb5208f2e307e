"""``RouterActor``: owns the round-robin and weighted cursors, retry budgets and counters.

Requests do not run inside the router: each runs its own pure machine in the caller's
task (``_machine``, driven by ``_driver``) and asks the router at a few points —
``PlanRoute`` when it starts, ``PlanFallback`` when it leaves a model,
``StartAttempt``/``EndAttempt`` around each call, ``EndRequest`` at the end. Every
handler is synchronous, so an idle router answers inline and concurrent requests are
never queued behind each other. Planning folds its own events (``RequestStarted``,
``FallbackSwitched``) into the cursors within the same turn, before the request awaits
anything: that is what makes concurrent requests alternate. A role with ``strategy:
performance`` (``PlanRoute.rank_models``) also has its chain's models ordered here, by
the windows the message carries (``actors.performance.order_models``); the order is
the logged ``RequestStarted.chain``, and a fallback follows it.

Restart. The cursors are a fold of the planning events, so the new instance rebuilds
them from the log (``restore``) before its first message. Retry budgets and in-flight
counts are not logged: they start full and empty again, and the end of an attempt
started before the restart is not counted twice below zero.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping

from actors._actor import Actor
from actors.performance import (
    OrderSettings,
    PerformanceState,
    kind_of,
    make_order,
    order_models,
)
from actors.router._messages import (
    EndAttempt,
    EndRequest,
    GetRouterState,
    GetRouterStatistics,
    PlanFallback,
    Planned,
    PlanRoute,
    RetryView,
    RouterMessage,
    RouterStatistics,
    StartAttempt,
)
from actors.router._plan_events import fallback_events, started_events
from actors.router._retry import RetryBudget, can_retry, on_failure, on_success
from actors.router._select import (
    ModelRoute,
    PerformanceOrder,
    Plan,
    RouterState,
    Unavailable,
    evolve,
    plan,
)
from actors.router._types import RetryPolicy
from events import Event

__all__ = ["RouterActor"]

Restore = Callable[[], Awaitable[RouterState]]
"""Rebuild the cursors from the log (snapshot + tail)."""

_COUNTS = (
    "requests", "succeeded", "failed", "rejected", "cancelled", "interrupted",
    "attempts", "retries", "fallbacks", "budget_refusals",
)  # fmt: skip


class RouterActor(Actor[RouterMessage]):
    """Chooses deployments for requests; see the module docstring."""

    def __init__(
        self,
        routes: Mapping[str, ModelRoute],
        policy: RetryPolicy,
        *,
        state: RouterState | None,
        restore: Restore,
        performance: OrderSettings | None = None,
    ) -> None:
        """Create the actor from the replayed cursors (None: ``restore`` them at start).

        Args:
            routes: Every configured model's deployments and strategy.
            policy: Budget size and refund ratio (the rest is the machine's).
            state: The replayed cursors, or None to rebuild them from the log.
            restore: Rebuilds the cursors from the log.
            performance: ``min_samples`` and ``explore_ratio`` of the ``performance``
                strategy.
        """
        self._routes = dict(routes)
        self._policy = policy
        self._state = state
        self._restore = restore
        self._performance = performance
        self._budgets: dict[str, RetryBudget] = {}
        self._exhausted: frozenset[str] = frozenset()
        self._view = RetryView()
        self._inflight: dict[str, int] = {}
        self._counts = dict.fromkeys(_COUNTS, 0)

    async def on_start(self) -> None:
        if self._state is None:
            self._state = await self._restore()

    def receive(self, message: RouterMessage) -> object:
        match message:
            case PlanRoute():
                return self._plan_route(message)
            case PlanFallback():
                return self._plan_fallback(message)
            case StartAttempt(deployment=did, retry=retry):
                counts = self._counts
                counts["attempts"] += 1
                if retry:
                    counts["retries"] += 1
                self._inflight[did] = self._inflight.get(did, 0) + 1
                return None
            case EndAttempt(deployment=did, outcome=outcome):
                if message.request is not None:
                    self._end_request(message.request, message.budget_refusals)
                return self._end_attempt(did, outcome)
            case EndRequest(outcome=outcome, budget_refusals=refusals):
                self._end_request(outcome, refusals)
                return None
            case GetRouterState():
                return self._cursors
            case GetRouterStatistics():
                return RouterStatistics(
                    **self._counts,
                    inflight={d: n for d, n in self._inflight.items() if n},
                    budget_tokens={d: b.tokens for d, b in self._budgets.items()},
                )

    @property
    def _cursors(self) -> RouterState:
        assert self._state is not None  # set by __init__ or on_start
        return self._state

    # --- planning -----------------------------------------------------------------------

    def _plan(
        self,
        chain: Iterable[str],
        blocked: Mapping[str, tuple[str, str]],
        unlisted: frozenset[str],
        performance: PerformanceState | None,
        kind: str | None,
        role: str | None,
        degraded: frozenset[str] = frozenset(),
        routes: Mapping[str, ModelRoute] | None = None,
    ) -> Plan:
        unavailable = {d: Unavailable(reason=r, detail=t) for d, (r, t) in blocked.items()}
        return plan(
            chain,
            {**routes, **self._routes} if routes else self._routes,  # configured ones win
            self._cursors,
            unavailable=unavailable,
            serves=(lambda m, e: f"{m}@{e}" not in unlisted) if unlisted else None,
            inflight=self._inflight,
            order_by_performance=self._order(performance, kind, role),
            degraded=degraded,
        )

    def _order(
        self, performance: PerformanceState | None, kind: str | None, role: str | None
    ) -> PerformanceOrder | None:
        if performance is None or self._performance is None:
            return None
        return make_order(lambda: performance, kind_of(kind, role), self._performance)

    def _chain(self, m: PlanRoute) -> tuple[str, ...]:
        """The chain to plan over: as configured, or for a role with ``strategy:
        performance`` its models by score for the request's kind (pure: the windows
        came with the message; the order is recorded as ``RequestStarted.chain``)."""
        if not m.rank_models or m.performance is None or self._performance is None:
            return m.chain
        return order_models(m.chain, m.performance, kind_of(m.kind, m.role), self._performance)

    def _plan_route(self, m: PlanRoute) -> Planned:
        planned = self._plan(
            self._chain(m),
            m.blocked,
            m.unlisted,
            m.performance,
            m.kind,
            m.role,
            m.degraded,
            m.routes,
        )
        events = started_events(
            planned, request_id=m.request_id, at=m.at, role=m.role, model=m.model,
            kind=m.kind, stream=m.stream, prompt_chars=m.prompt_chars,
            prompt_hash=m.prompt_hash, messages=m.messages, operation=m.operation,
        )  # fmt: skip
        self._fold(events)
        self._counts["requests"] += 1
        return Planned(plan=planned, events=events, view=self._view)

    def _plan_fallback(self, m: PlanFallback) -> Planned:
        planned = self._plan(
            m.rest, m.blocked, m.unlisted, m.performance, m.kind, m.role, m.degraded, m.routes
        )
        if planned.empty:
            return Planned(plan=planned, events=(), view=self._view)
        events = fallback_events(
            planned, request_id=m.request_id, at=m.at, from_model=m.from_model,
            reason=m.reason, detail=m.detail,
        )  # fmt: skip
        self._fold(events)
        self._counts["fallbacks"] += 1
        return Planned(plan=planned, events=events, view=self._view)

    def _fold(self, events: Iterable[Event]) -> None:
        state = self._cursors
        for event in events:
            state = evolve(state, event)
        self._state = state

    def _end_request(self, outcome: str, budget_refusals: int) -> None:
        self._counts[outcome] += 1
        self._counts["budget_refusals"] += budget_refusals

    # --- retry budgets ------------------------------------------------------------------

    def _end_attempt(self, did: str, outcome: str) -> RetryView:
        count = self._inflight.get(did, 0)
        if count > 1:
            self._inflight[did] = count - 1
        else:
            self._inflight.pop(did, None)  # never below zero (e.g. after a restart)
        if outcome == "ok":
            budget = self._budgets.get(did)
            if budget is not None:
                budget = on_success(budget)
                if budget.tokens >= budget.max_tokens:
                    del self._budgets[did]  # full again: the same as never having failed
                else:
                    self._budgets[did] = budget
                self._update_view(did, budget)
        elif outcome == "retryable":
            budget = self._budgets.get(did) or RetryBudget.full(
                self._policy.budget_max_tokens, self._policy.budget_ratio
            )
            self._budgets[did] = budget = on_failure(budget)
            self._update_view(did, budget)
        return self._view

    def _update_view(self, did: str, budget: RetryBudget) -> None:
        exhausted = not can_retry(budget)
        if exhausted != (did in self._exhausted):
            self._exhausted = self._exhausted ^ {did}
            self._view = RetryView(exhausted=self._exhausted)
