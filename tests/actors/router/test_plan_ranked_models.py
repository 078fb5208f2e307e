"""The router actor orders a ranked role's models at planning (pure, recorded)."""

from __future__ import annotations

from actors.performance import PerformanceState
from actors.performance import evolve as evolve_performance
from actors.router import ModelRoute, RetryPolicy, RouterState
from actors.router._actor import RouterActor
from actors.router._messages import Planned, PlanRoute
from events import RequestStarted, fold
from runtime import PerformanceConfig
from tests.actors.performance._events import ok, started

ROUTES = {
    "slow": ModelRoute(deployments=("a", "b")),
    "fast": ModelRoute(deployments=("b",)),
}
SETTINGS = PerformanceConfig(window=10, min_samples=2, explore_ratio=0.0)


async def _no_restore() -> RouterState:
    return RouterState()


def router() -> RouterActor:
    return RouterActor(
        ROUTES, RetryPolicy(), state=RouterState(), restore=_no_restore, performance=SETTINGS
    )


def measured() -> PerformanceState:
    """Kind ``gen``: slow answered twice in 2 s, fast twice in 0.1 s."""
    events = [
        e
        for i, (did, latency) in enumerate(
            [("slow@a", 2.0), ("slow@b", 2.0), ("fast@b", 0.1), ("fast@b", 0.1)]
        )
        for e in (started(str(i), kind="gen"), ok(str(i), did, latency))
    ]
    return fold(evolve_performance, PerformanceState.empty(10), events)


def plan_route(actor: RouterActor, state: PerformanceState | None, *, rank: bool) -> Planned:
    reply = actor.receive(
        PlanRoute(
            request_id="r",
            chain=("slow", "fast"),
            at=0.0,
            role="gen",
            model=None,
            kind="gen",
            stream=False,
            prompt_chars=1,
            prompt_hash="",
            messages=1,
            blocked={},
            unlisted=frozenset(),
            performance=state,
            rank_models=rank,
        )
    )
    assert isinstance(reply, Planned)
    return reply


def test_a_ranked_chain_puts_the_best_model_first_and_records_that_order() -> None:
    planned = plan_route(router(), measured(), rank=True)
    assert planned.plan.chain == ("fast", "slow")
    assert planned.plan.candidates == ("fast@b", "slow@a", "slow@b")
    started_event = planned.events[0]
    assert isinstance(started_event, RequestStarted)
    assert started_event.chain == ("fast", "slow")
    assert started_event.candidates[0] == "fast@b"


def test_the_same_windows_give_the_same_order_on_replay() -> None:
    first = plan_route(router(), measured(), rank=True)
    again = plan_route(router(), measured(), rank=True)  # a restarted router, same log
    assert first.events == again.events


def test_an_unranked_chain_or_no_windows_keep_the_configured_order() -> None:
    assert plan_route(router(), measured(), rank=False).plan.chain == ("slow", "fast")
    assert plan_route(router(), None, rank=True).plan.chain == ("slow", "fast")


def test_models_without_enough_samples_go_first_in_configured_order() -> None:
    state = fold(
        evolve_performance,
        PerformanceState.empty(10),
        [started("1", kind="gen"), ok("1", "slow@a", 2.0)],
    )
    assert plan_route(router(), state, rank=True).plan.chain == ("slow", "fast")
