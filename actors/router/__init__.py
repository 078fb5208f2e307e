"""Routing: choosing a deployment, retrying, falling back.

Pure: candidate planning (``plan``, ``evolve_router`` in ``_select``), the retry
arithmetic (the retry budget and Retry-After capping in ``_retry``; the backoff is
``actors.backoff_delay``), the request machine (``start``, ``next_step``,
``on_outcome`` in ``_machine``, with its steps and outcomes in ``_steps``), the router
actor's messages (``_messages``), and the types and errors requests see.

Shells: ``RouterActor`` (``_actor``), the single owner of the cursors, retry budgets
and counters; ``Driver`` (``_driver``), which runs a request's machine in the caller's
task, for ``chat`` and ``stream`` alike, talking to the actors only by messages.
"""

from __future__ import annotations

from actors.router._actor import RouterActor
from actors.router._driver import Driver
from actors.router._errors import (
    AllCandidatesFailed,
    NoCandidates,
    RequestRejected,
    RoutingError,
    StreamBroken,
)
from actors.router._machine import (
    MachineSettings,
    RequestState,
    exhausted,
    next_step,
    on_outcome,
    start,
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
from actors.router._retry import (
    RetryBudget,
    can_retry,
    effective_retry_after,
    on_failure,
    on_success,
)
from actors.router._run import Refs
from actors.router._select import (
    ModelCandidates,
    ModelRoute,
    PerformanceOrder,
    Plan,
    RouterState,
    Skip,
    Strategy,
    Unavailable,
    plan,
)
from actors.router._select import evolve as evolve_router
from actors.router._types import (
    AttemptRecord,
    Embeddings,
    ModelSettings,
    Reply,
    RetryPolicy,
    RouteRequest,
    StreamChunk,
)

__all__ = [
    "ModelCandidates",
    "ModelRoute",
    "PerformanceOrder",
    "Plan",
    "RouterState",
    "Skip",
    "Strategy",
    "Unavailable",
    "evolve_router",
    "fallback_events",
    "plan",
    "started_events",
    "RetryBudget",
    "can_retry",
    "effective_retry_after",
    "on_failure",
    "on_success",
    "AllCandidatesFailed",
    "AttemptRecord",
    "Embeddings",
    "Driver",
    "EndAttempt",
    "EndRequest",
    "GetRouterState",
    "GetRouterStatistics",
    "MachineSettings",
    "ModelSettings",
    "NoCandidates",
    "PlanFallback",
    "PlanRoute",
    "Planned",
    "Refs",
    "Reply",
    "RequestRejected",
    "RequestState",
    "RetryPolicy",
    "RetryView",
    "RouteRequest",
    "RouterActor",
    "RouterMessage",
    "RouterStatistics",
    "RoutingError",
    "StartAttempt",
    "StreamChunk",
    "StreamBroken",
    "exhausted",
    "next_step",
    "on_outcome",
    "start",
]
