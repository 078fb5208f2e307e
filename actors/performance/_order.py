"""Ordering candidates by measured performance, with deterministic exploration.

The rule (``order``), for the candidates of one request and its task kind:

1. **Warm-up first.** A candidate with fewer than ``min_samples`` samples has no score
   worth trusting, so it is measured before anything is decided: under-sampled
   candidates come first, in their configured order. While nothing is measured this is
   exactly the configured order (the "default order until enough data"); afterwards it
   costs at most ``min_samples`` attempts per candidate and kind.
2. **Then by score.** Measured candidates follow, best efficiency score first
   (``actors.performance._score``); equal scores keep the configured order.
3. **Exploration.** The router only tries the first candidate unless it fails, so a
   candidate ranked second would never be measured again and could never win back
   traffic after it recovers. On every ``k``-th request of a kind, with
   ``k = round(1 / explore)``, the candidate that has gone longest without a sample
   (never sampled first; then fewest samples; then configured order) is moved to the
   front, among all but the one that would have been first. ``explore=0`` disables it.
   No randomness: the request counter is the number of ``RequestStarted`` events of the
   kind folded into the state, so a replay makes the same choices. With two candidates
   the runner-up therefore gets exactly one request in ``k`` (``explore``, rounded); a
   recovered one regains the lead once its window's median latency has turned, i.e.
   after about ``window / 2`` explorations (``window / (2 * explore)`` requests).

``order`` always returns a permutation of its input (duplicates included), so it can
never add or lose a candidate.

Pure: no clocks, no randomness, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Protocol

from actors.performance._logic import PerformanceState
from actors.performance._score import Window, score

__all__ = [
    "Level",
    "OrderSettings",
    "PerformanceOrder",
    "exploration_period",
    "make_order",
    "order",
    "order_models",
]

Level = Literal["deployment", "model"]
"""Which windows candidates are looked up in: deployment ids or model names."""

PerformanceOrder = Callable[[Sequence[str]], Sequence[str]]
"""The router's seam (``actors.router._select.PerformanceOrder``): orders one model's
admissible deployment ids, best first."""


class OrderSettings(Protocol):
    """What ordering needs from the configuration (``runtime.PerformanceConfig`` fits)."""

    @property
    def min_samples(self) -> int:
        """Samples a candidate needs before its score is trusted."""
        ...

    @property
    def explore_ratio(self) -> float:
        """Share of requests that explore, in [0, 1]."""
        ...


def exploration_period(explore: float) -> int | None:
    """Explore every ``k``-th request: ``k = round(1 / explore)`` (at least 1).

    Returns None (never explore) for ``explore <= 0`` or a non-finite value.
    """
    if not math.isfinite(explore) or explore <= 0:
        return None
    return max(1, round(1 / min(explore, 1.0)))


def order(
    candidates: Sequence[str],
    state: PerformanceState,
    *,
    kind: str,
    min_samples: int,
    explore: float,
    level: Level = "deployment",
) -> list[str]:
    """Order ``candidates`` (given in configured order) for the next request of ``kind``.

    Call it *before* folding the request's ``RequestStarted``: the exploration counter
    is the number of requests of ``kind`` already started.

    Args:
        candidates: Deployment ids (``level="deployment"``) or model names
            (``level="model"``), in configured order.
        state: The tracker's state.
        kind: The request's task kind (``kind_of(kind, role)``).
        min_samples: Samples before a candidate's score is trusted (below 1 counts as 1:
            an empty window has nothing to trust).
        explore: Share of requests that explore (see the module docstring).
        level: Which windows ``candidates`` name.

    Returns:
        A permutation of ``candidates``, the one to try first at index 0.
    """
    windows = _windows(state, kind, level)
    empty = Window()
    looked_up = [windows.get(c, empty) for c in candidates]
    need = max(1, min_samples)
    scores = [score(w) if len(w.samples) >= need else None for w in looked_up]
    positions = sorted(
        range(len(candidates)),
        # Under-sampled first (False < True), by configured position; measured by score.
        key=lambda i: (scores[i] is not None, -(scores[i] or 0.0), i),
    )
    if len(positions) > 1 and _explores(state.started.get(kind, 0), explore):
        stalest = min(
            positions[1:],
            key=lambda i: (looked_up[i].last_seq, len(looked_up[i].samples), i),
        )
        positions.remove(stalest)
        positions.insert(0, stalest)
    return [candidates[i] for i in positions]


def _explores(started: int, explore: float) -> bool:
    """Whether the request after ``started`` ones is an exploring one (every k-th)."""
    period = exploration_period(explore)
    return period is not None and started % period == period - 1


def _windows(state: PerformanceState, kind: str, level: Level) -> Mapping[str, Window]:
    if level == "model":
        return state.models.get(kind, {})
    return state.kind_deployments.get(kind, {})


def make_order(
    state_getter: Callable[[], PerformanceState], kind: str, settings: OrderSettings
) -> PerformanceOrder:
    """The router's ``order_by_performance`` for one request of ``kind``.

    ``plan`` calls it once per model group whose strategy is ``performance``, with that
    model's admissible deployment ids in configured order; the state is read at each
    call, so a re-plan at a fallback sees the samples of the attempts made meanwhile.

    Args:
        state_getter: Returns the tracker's current state.
        kind: The request's task kind (``kind_of(kind, role)``).
        settings: ``min_samples`` and ``explore_ratio`` (e.g. ``PerformanceConfig``).
    """

    def by_performance(ids: Sequence[str]) -> Sequence[str]:
        return order(
            ids,
            state_getter(),
            kind=kind,
            min_samples=settings.min_samples,
            explore=settings.explore_ratio,
            level="deployment",
        )

    return by_performance


def order_models(
    chain: Sequence[str], state: PerformanceState, kind: str, settings: OrderSettings
) -> tuple[str, ...]:
    """A role's model chain (``strategy: performance``) ordered for one request of
    ``kind``: ``order`` at the ``model`` level — the same warm-up, score and
    exploration rules as among deployments, read from the (kind, model) windows.

    Call it before the request's ``RequestStarted`` is folded. Repeats in ``chain`` are
    dropped (first kept); the result is a permutation of what is left.
    """
    models = tuple(dict.fromkeys(chain))
    if len(models) < 2:
        return models
    ordered = order(
        models,
        state,
        kind=kind,
        min_samples=settings.min_samples,
        explore=settings.explore_ratio,
        level="model",
    )
    return tuple(ordered)
