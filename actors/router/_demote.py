"""Less traffic for ``degraded`` deployments: who leads a model's candidates.

A deployment degraded for being slow (``actors.health._latency``; health's ``Screen``
reports those) is still admissible, but the router prefers the others: within its
model's candidates it is moved **behind every non-degraded deployment**, so it serves a
request only when they fail — except that it **leads one in ``DEGRADED_SHARE`` (4) of
its model's requests**. That share keeps evidence coming in, which is how a slow
deployment is seen to be fast again and recovers (background checks list models, they
do not measure answer latency). When every admissible deployment of a model is
degraded the strategy's order stands.

The share is counted by ``waiting``, part of the router's state and, like the cursors,
a fold of the planning events that are logged anyway (``RequestStarted`` and
``FallbackSwitched`` record the final order): for each deployment, how many requests of
its model were led by another deployment since it last led one. No extra event, and a
replay reproduces it. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DEGRADED_SHARE", "demote", "waited"]

DEGRADED_SHARE = 4
"""A degraded deployment leads one in this many requests of its model (when it is the
only degraded one); the others it is tried after every non-degraded deployment."""


def demote(
    ids: tuple[str, ...],
    weights: tuple[float, ...],
    degraded: frozenset[str],
    waiting: Mapping[str, int],
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """One model's candidates (strategy order) reordered for its degraded deployments.

    Args:
        ids: The model's admissible deployment ids, in the strategy's order.
        weights: Parallel to ``ids`` (weighted models), or empty.
        degraded: Deployment ids that health reports degraded.
        waiting: Deployment id -> requests of its model led by another since it led one.

    Returns:
        ``(ids, weights)`` reordered, the weights kept parallel.
    """
    slow = [d for d in ids if d in degraded]
    if not slow or len(slow) == len(ids):
        return ids, weights
    owed = [d for d in slow if waiting.get(d, 0) >= DEGRADED_SHARE - 1]
    lead = owed[:1]
    ordered = (
        *lead,
        *(d for d in ids if d not in degraded),
        *(d for d in slow if d not in lead),
    )
    if not weights:
        return ordered, weights
    weight_of = dict(zip(ids, weights, strict=True))
    return ordered, tuple(weight_of[d] for d in ordered)


def waited(waiting: Mapping[str, int], group: list[str]) -> dict[str, int]:
    """``waiting`` after a request of one model was planned with candidates ``group``.

    The first candidate led (its count restarts at 0); every other one waited once more.
    Counts stop at ``DEGRADED_SHARE - 1``, so the state stays small and bounded.
    """
    counts = dict(waiting)
    top = DEGRADED_SHARE - 1
    for did in group[1:]:
        counts[did] = min(counts.get(did, 0) + 1, top)
    counts[group[0]] = 0
    return counts
