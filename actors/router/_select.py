"""Choosing deployments: the router's candidate plan and its round-robin state, as pure logic.

``plan`` turns plain data — a model chain, each model's deployments and strategy, which
deployments are admissible (health, quota), which endpoints serve which model (catalog),
in-flight counts — into an ordered ``Plan``: the primary model's admissible deployments
first, then each fallback's, in chain order, plus every deployment left out and why.

Strategy state (``RouterState``) is folded from events that are logged anyway, so no
cursor event exists and a replay reproduces the alternation after a restart:

* ``RequestStarted`` *enters* the model of its first candidate: that candidate becomes
  the model's round-robin cursor and, for a weighted model, the smooth weighted
  round-robin step is applied with the recorded weights.
* ``FallbackSwitched`` enters ``to_model`` the same way, with the order re-planned at
  the switch (call ``plan`` on the rest of the chain, then
  ``actors.router._plan_events.fallback_events``).

A model therefore advances once per request that actually *uses* it: a fallback model
that is never reached keeps its cursor, so traffic it serves as somebody's primary still
alternates exactly. The cursor moves at planning time, not at the first attempt, so that
concurrent requests alternate too — the ``RouterActor`` folds the planning event within
the turn that planned it. Retries inside a model do not move the cursor: the next
request starts after the deployment the previous request started on.

Pure: no clocks, no randomness, no I/O; time comes in as ``at``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import msgspec

from actors.router._demote import demote, waited
from events._base import Event, UnknownEvent
from events._routing import (
    FallbackSwitched,
    RequestStarted,
    deployment_id,
    split_deployment,
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
    "evolve",
    "plan",
]

Strategy = Literal["round_robin", "least_inflight", "weighted", "performance"]

PerformanceOrder = Callable[[Sequence[str]], Sequence[str]]
"""Orders one model's admissible deployment ids, best first (the performance tracker's
seam). Whatever it returns is sanitized: unknown ids are dropped, duplicates removed and
forgotten ids appended in config order, so it can never add or lose a candidate."""


class ModelRoute(msgspec.Struct, frozen=True, kw_only=True):
    """How one model is routed: its deployments and the strategy among them."""

    deployments: tuple[str, ...]
    """Endpoint names serving the model, in configured order (the tie-breaker)."""
    strategy: Strategy = "round_robin"
    """How the first deployment is picked among the admissible ones."""
    weights: dict[str, float] = msgspec.field(default_factory=dict)
    """Endpoint name -> weight (> 0) for ``weighted``; a missing endpoint weighs 1.0."""


class Unavailable(msgspec.Struct, frozen=True, kw_only=True):
    """Why a deployment may not be used now (the health/quota admission check's answer)."""

    reason: str
    """One of ``events.SKIP_REASONS``: ``quarantined``, ``failed``, ``quota``, ..."""
    detail: str = ""
    """Human-readable context for ``explain`` and error messages."""


class Skip(msgspec.Struct, frozen=True, kw_only=True):
    """A deployment left out of a plan."""

    deployment: str
    reason: str
    detail: str = ""


class ModelCandidates(msgspec.Struct, frozen=True, kw_only=True):
    """One model's admissible deployments, in the order to try them."""

    model: str
    deployments: tuple[str, ...]
    """Deployment ids (``model@endpoint``), never empty in a ``Plan``."""
    weights: tuple[float, ...] = ()
    """Parallel to ``deployments`` for a weighted model, else empty."""


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """The ordered candidates of a request, grouped by model, and what was skipped."""

    chain: tuple[str, ...]
    """The model chain planned over (duplicates removed)."""
    groups: tuple[ModelCandidates, ...]
    """Models with at least one admissible deployment, in chain order."""
    skipped: tuple[Skip, ...]
    """Every deployment of the chain left out, in chain and config order."""

    @property
    def candidates(self) -> tuple[str, ...]:
        """All candidate deployment ids, in the order to try them."""
        return tuple(d for group in self.groups for d in group.deployments)

    @property
    def weights(self) -> tuple[float, ...]:
        """Weights parallel to ``candidates`` (0.0 outside weighted models), or ``()``."""
        if not any(group.weights for group in self.groups):
            return ()
        return tuple(
            w for group in self.groups for w in (group.weights or (0.0,) * len(group.deployments))
        )

    @property
    def empty(self) -> bool:
        """Whether no deployment of the whole chain may be used."""
        return not self.groups


class RouterState(msgspec.Struct, frozen=True, kw_only=True):
    """What the router remembers between requests; a fold over routing events.

    The dicts are never mutated in place: ``evolve`` builds new ones.
    """

    last: dict[str, str] = msgspec.field(default_factory=dict)
    """Model -> endpoint the model's most recent request started on (round-robin cursor)."""
    current: dict[str, float] = msgspec.field(default_factory=dict)
    """Deployment id -> smooth weighted round-robin "current weight" (nginx)."""
    waiting: dict[str, int] = msgspec.field(default_factory=dict)
    """Deployment id -> requests of its model another deployment led since it led one
    (the share of a degraded deployment, see ``_demote``)."""


def plan(
    chain: Iterable[str],
    routes: Mapping[str, ModelRoute],
    state: RouterState,
    *,
    unavailable: Mapping[str, Unavailable] | None = None,
    serves: Callable[[str, str], bool] | None = None,
    inflight: Mapping[str, int] | None = None,
    order_by_performance: PerformanceOrder | None = None,
    degraded: frozenset[str] = frozenset(),
) -> Plan:
    """Plan the candidates of one request.

    Args:
        chain: Model names: the primary first, then fallbacks (repeats are ignored).
        routes: Every configured model's route, by name.
        state: The router's current state (cursors).
        unavailable: Deployment id -> why it is not admissible now; absent ids are.
        serves: ``serves(model, endpoint)`` is False when the endpoint's cached model
            list lacks the model (skip reason ``unknown_model``); None: assume served.
        inflight: Deployment id -> requests in flight (``least_inflight``).
        order_by_performance: The ``performance`` strategy's ordering; None keeps
            config order.
        degraded: Admissible deployment ids health calls degraded: tried after the
            others, except one request in ``DEGRADED_SHARE`` (``_demote``).

    Returns:
        The plan; ``plan.empty`` when nothing is admissible, with every skip reason.

    Raises:
        KeyError: A model of the chain is not in ``routes``.
    """
    blocked = unavailable or {}
    groups: list[ModelCandidates] = []
    skipped: list[Skip] = []
    models = tuple(dict.fromkeys(chain))
    for model in models:
        route = _route(routes, model)
        admissible: list[str] = []
        for endpoint in dict.fromkeys(route.deployments):
            skip = _check(model, endpoint, blocked, serves)
            if skip is None:
                admissible.append(endpoint)
            else:
                skipped.append(skip)
        if admissible:
            group = _order(model, route, admissible, state, inflight, order_by_performance)
            if degraded:
                ids, weights = demote(group.deployments, group.weights, degraded, state.waiting)
                group = ModelCandidates(model=model, deployments=ids, weights=weights)
            groups.append(group)
    return Plan(chain=models, groups=tuple(groups), skipped=tuple(skipped))


def _route(routes: Mapping[str, ModelRoute], model: str) -> ModelRoute:
    route = routes.get(model)
    if route is None:
        known = ", ".join(sorted(routes)) or "none"
        raise KeyError(f"model {model!r} is not configured; configured models: {known}")
    return route


def _check(
    model: str,
    endpoint: str,
    blocked: Mapping[str, Unavailable],
    serves: Callable[[str, str], bool] | None,
) -> Skip | None:
    did = deployment_id(model, endpoint)
    # The catalog comes first: a missing model stays missing whatever health says, and
    # "pull the model" is the more useful thing to tell the operator.
    if serves is not None and not serves(model, endpoint):
        detail = f"{endpoint}'s model list does not include {model!r}"
        return Skip(deployment=did, reason="unknown_model", detail=detail)
    why = blocked.get(did)
    if why is not None:
        return Skip(deployment=did, reason=why.reason, detail=why.detail)
    return None


def _order(
    model: str,
    route: ModelRoute,
    admissible: list[str],
    state: RouterState,
    inflight: Mapping[str, int] | None,
    order_by_performance: PerformanceOrder | None,
) -> ModelCandidates:
    """Order one model's admissible endpoints (given in config order) by its strategy."""
    ids = [deployment_id(model, e) for e in admissible]
    match route.strategy:
        case "round_robin":
            ordered = _round_robin(ids, route, model, state.last.get(model))
        case "least_inflight":
            load = inflight or {}
            ordered = sorted(ids, key=lambda d: load.get(d, 0))  # stable: ties in config order
        case "weighted":
            weights = {d: _weight(route, e) for d, e in zip(ids, admissible, strict=True)}
            score = {d: state.current.get(d, 0.0) + weights[d] for d in ids}
            ordered = sorted(ids, key=lambda d: -score[d])  # stable: ties in config order
            return ModelCandidates(
                model=model,
                deployments=tuple(ordered),
                weights=tuple(weights[d] for d in ordered),
            )
        case _:  # "performance"
            ordered = _sanitize(order_by_performance(ids), ids) if order_by_performance else ids
    return ModelCandidates(model=model, deployments=tuple(ordered))


def _round_robin(ids: list[str], route: ModelRoute, model: str, last: str | None) -> list[str]:
    """Config order rotated to start just after ``last``, keeping only admissible ids.

    Rotating the *configured* list (not the admissible one) is what keeps the others
    alternating when one is skipped: with A, B, C and B quarantined, A is followed by C
    (B is next but skipped) and C by A.
    """
    if len(route.deployments) == 1:
        return ids  # one configured, so one admissible: nothing to rotate
    configured = [deployment_id(model, e) for e in dict.fromkeys(route.deployments)]
    start = 0
    if last is not None and deployment_id(model, last) in configured:
        start = configured.index(deployment_id(model, last)) + 1
    admissible = set(ids)
    return [d for d in configured[start:] + configured[:start] if d in admissible]


def _weight(route: ModelRoute, endpoint: str) -> float:
    return route.weights.get(endpoint, 1.0)


def _sanitize(proposed: Sequence[str], ids: list[str]) -> list[str]:
    allowed = set(ids)
    ordered = [d for d in dict.fromkeys(proposed) if d in allowed]
    seen = set(ordered)
    return ordered + [d for d in ids if d not in seen]


def evolve(state: RouterState, event: Event | UnknownEvent) -> RouterState:
    """Fold one event into the router's state; total (other events leave it unchanged)."""
    match event:
        case RequestStarted(candidates=candidates, weights=weights):
            return _enter(state, candidates, weights)
        case FallbackSwitched(candidates=candidates, weights=weights):
            return _enter(state, candidates, weights)
        case _:
            return state


def _enter(
    state: RouterState, candidates: tuple[str, ...], weights: tuple[float, ...]
) -> RouterState:
    """Advance the strategy state of the model of ``candidates[0]``, which was picked."""
    if not candidates or "@" not in candidates[0]:
        return state
    model, endpoint = split_deployment(candidates[0])
    group = list(_prefix_of_model(candidates, model))
    group_weights = weights[: len(group)] if len(weights) == len(candidates) else ()
    usable = _usable_weights(group_weights)
    if (
        not usable
        and len(group) == 1
        and state.last.get(model) == endpoint
        and state.waiting.get(group[0]) == 0
    ):
        return state  # the same pick as last time, alone: nothing moves
    last = {**state.last, model: endpoint}
    waiting = waited(state.waiting, group)
    if not usable:
        return RouterState(last=last, current=state.current, waiting=waiting)
    # nginx smooth weighted round-robin: every admissible peer gains its weight, the
    # picked one pays the total. The pick is read from the log, not recomputed, so a
    # change of tie-breaking in a later release cannot make replay diverge.
    current = dict(state.current)
    for did, weight in zip(group, group_weights, strict=True):
        current[did] = current.get(did, 0.0) + weight
    current[group[0]] -= math.fsum(group_weights)
    return RouterState(last=last, current=current, waiting=waiting)


def _prefix_of_model(candidates: tuple[str, ...], model: str) -> Iterable[str]:
    for did in candidates:
        if did.rpartition("@")[0] != model:
            return
        yield did


def _usable_weights(weights: tuple[float, ...]) -> bool:
    return bool(weights) and all(math.isfinite(w) and w > 0 for w in weights)
