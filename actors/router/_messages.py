"""The messages the router actor takes and the replies it gives (pure data)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import msgspec

from actors._ask import Ask
from actors.performance import PerformanceState
from actors.router._select import ModelRoute, Plan, RouterState
from events import Event

__all__ = [
    "EndAttempt",
    "EndRequest",
    "GetRouterState",
    "GetRouterStatistics",
    "PlanFallback",
    "PlanRoute",
    "Planned",
    "RequestOutcome",
    "RetryView",
    "RouterMessage",
    "RouterStatistics",
    "StartAttempt",
]

RequestOutcome = Literal["succeeded", "failed", "rejected", "cancelled", "interrupted"]
"""How a request ended, for the router's counters."""


class RouterStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of the router (for ``statistics()`` and ``/metrics``)."""

    requests: int
    succeeded: int
    failed: int
    rejected: int
    cancelled: int
    interrupted: int
    attempts: int
    """Calls made to deployments."""
    retries: int
    """Attempts after the first of their request."""
    fallbacks: int
    """``FallbackSwitched`` decisions."""
    budget_refusals: int
    """Retries the retry budget refused."""
    inflight: dict[str, int]
    """Deployment id -> calls in flight now (only non-zero entries)."""
    budget_tokens: dict[str, float]
    """Deployment id -> retry budget tokens left (only deployments with failures)."""


class RetryView(msgspec.Struct, frozen=True):
    """What a request's machine needs from the router's retry budgets."""

    exhausted: frozenset[str] = frozenset()
    """Deployments whose retry budget is at or below half: no retry may go there."""


class Planned(msgspec.Struct, frozen=True, kw_only=True):
    """A plan, the events that record it (already folded into the cursors), the view."""

    plan: Plan
    events: tuple[Event, ...]
    """``RequestStarted`` (or ``FallbackSwitched``) then its ``CandidateSkipped``s; empty
    for a fallback plan that found nothing."""
    view: RetryView


class PlanRoute(Ask[Planned], frozen=True, kw_only=True):
    """Plan a new request over ``chain`` and record its start (the cursor moves now).

    ``blocked``, ``unlisted`` and ``performance`` are what health, the catalog and the
    performance windows said just before (the request's driver asked them).
    """

    request_id: str
    chain: tuple[str, ...]
    at: float
    role: str | None
    model: str | None
    kind: str | None
    stream: bool
    prompt_chars: int
    prompt_hash: str
    messages: int
    blocked: Mapping[str, tuple[str, str]]
    unlisted: frozenset[str]
    performance: PerformanceState | None = None
    degraded: frozenset[str] = frozenset()
    """Deployments health calls degraded: they get less traffic (``_demote``)."""
    routes: Mapping[str, ModelRoute] | None = None
    """Routes of models of the chain that are not configured (discovered ones, as the
    catalog listed them at planning)."""
    operation: str = "chat"
    """``chat`` or ``embed``."""
    rank_models: bool = False
    """Order ``chain``'s models by performance first (``RouteRequest.rank_models``);
    the order decided is the recorded ``RequestStarted.chain``."""


class PlanFallback(Ask[Planned], frozen=True, kw_only=True):
    """Re-plan the rest of a request's chain and, if anything is left, switch to it."""

    request_id: str
    rest: tuple[str, ...]
    at: float
    role: str | None
    kind: str | None
    from_model: str
    reason: str
    detail: str
    blocked: Mapping[str, tuple[str, str]]
    unlisted: frozenset[str]
    performance: PerformanceState | None = None
    degraded: frozenset[str] = frozenset()
    """Deployments health calls degraded: they get less traffic (``_demote``)."""
    routes: Mapping[str, ModelRoute] | None = None
    """Routes of models of the chain that are not configured (discovered ones, as the
    catalog listed them at planning)."""


class StartAttempt(Ask[None], frozen=True):
    """A call to ``deployment`` starts (``retry``: not the request's first attempt)."""

    deployment: str
    retry: bool


class EndAttempt(Ask[RetryView], frozen=True):
    """A call to ``deployment`` ended: ``ok``, ``retryable`` (spends budget) or ``other``.

    ``request`` is set when that attempt also ended its request (saving an
    ``EndRequest``).
    """

    deployment: str
    outcome: Literal["ok", "retryable", "other"]
    request: RequestOutcome | None = None
    budget_refusals: int = 0


class EndRequest(Ask[None], frozen=True):
    """A request ended."""

    outcome: RequestOutcome
    budget_refusals: int = 0
    """Retries its machine refused because of a drained budget."""


class GetRouterState(Ask[RouterState], frozen=True):
    """The cursors (an immutable value: a fold of the planning events)."""


class GetRouterStatistics(Ask[RouterStatistics], frozen=True):
    """The counters."""


RouterMessage = (
    PlanRoute
    | PlanFallback
    | StartAttempt
    | EndAttempt
    | EndRequest
    | GetRouterState
    | GetRouterStatistics
)
