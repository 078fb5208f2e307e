"""``order_models``: a role's chain of models ordered by the (kind, model) windows."""

from __future__ import annotations

from actors.performance import PerformanceState, evolve, order_models
from events import fold
from events._base import Event
from runtime import PerformanceConfig
from tests.actors.performance._events import ok, started

SETTINGS = PerformanceConfig(window=10, min_samples=2, explore_ratio=0.0)


def served(state: PerformanceState, rid: str, deployment: str, latency: float) -> PerformanceState:
    """One request of kind ``chat`` answered by ``deployment`` in ``latency`` seconds."""
    events: list[Event] = [started(rid), ok(rid, deployment, latency)]
    return fold(evolve, state, events)


def test_warm_up_keeps_the_configured_order_then_the_best_score_leads() -> None:
    state = PerformanceState.empty(10)
    assert order_models(("slow", "fast"), state, "chat", SETTINGS) == ("slow", "fast")
    for i in range(2):
        state = served(state, f"s{i}", "slow@a", 2.0)
    # slow has its samples, fast has none: the under-sampled one is measured first
    assert order_models(("slow", "fast"), state, "chat", SETTINGS) == ("fast", "slow")
    for i in range(2):
        state = served(state, f"f{i}", "fast@b", 0.1)
    assert order_models(("slow", "fast"), state, "chat", SETTINGS) == ("fast", "slow")
    # windows are per kind: another kind knows nothing yet
    assert order_models(("slow", "fast"), state, "code", SETTINGS) == ("slow", "fast")


def test_samples_of_every_deployment_of_a_model_count_for_it() -> None:
    state = PerformanceState.empty(10)
    state = served(state, "1", "slow@a", 2.0)
    state = served(state, "2", "slow@b", 2.0)
    state = served(state, "3", "fast@a", 0.1)
    state = served(state, "4", "fast@b", 0.1)
    assert order_models(("slow", "fast"), state, "chat", SETTINGS) == ("fast", "slow")


def test_every_kth_request_explores_the_model_sampled_longest_ago() -> None:
    exploring = PerformanceConfig(window=10, min_samples=1, explore_ratio=0.5)
    state = PerformanceState.empty(10)
    state = served(state, "1", "slow@a", 2.0)
    state = served(state, "2", "fast@a", 0.1)
    state = served(state, "3", "fast@a", 0.1)
    # 3 requests started: the 4th is an exploring one (every 2nd), the 5th is not
    assert order_models(("slow", "fast"), state, "chat", exploring) == ("slow", "fast")
    state = fold(evolve, state, [started("4")])
    assert order_models(("slow", "fast"), state, "chat", exploring) == ("fast", "slow")


def test_repeats_are_dropped_and_a_single_model_is_left_alone() -> None:
    state = PerformanceState.empty(10)
    assert order_models(("a", "b", "a"), state, "chat", SETTINGS) == ("a", "b")
    assert order_models(("a",), state, "chat", SETTINGS) == ("a",)
    assert order_models((), state, "chat", SETTINGS) == ()
