"""Less traffic for degraded deployments (``actors.router._demote``) through ``plan``."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from actors.router._demote import DEGRADED_SHARE, demote, waited
from actors.router._plan_events import started_events
from actors.router._select import ModelRoute, RouterState, evolve, plan
from events._base import Event

A, B, C = "llama3@a", "llama3@b", "llama3@c"


def leaders(
    route: ModelRoute, degraded: frozenset[str], n: int
) -> tuple[list[str], RouterState, list[Event]]:
    """Plan ``n`` requests of llama3 as the router does; who led each, the state, the log."""
    state, log, firsts = RouterState(), [], []
    for i in range(n):
        planned = plan(["llama3"], {"llama3": route}, state, degraded=degraded)
        events = started_events(
            planned, request_id=f"r{i}", at=0.0, role=None, model="llama3", kind=None,
            stream=False, prompt_chars=1, prompt_hash="h",
        )  # fmt: skip
        for event in events:
            state = evolve(state, event)
        log.extend(events)
        firsts.append(planned.candidates[0])
    return firsts, state, log


def test_a_degraded_deployment_is_tried_last_and_leads_one_request_in_four() -> None:
    firsts, _, _ = leaders(ModelRoute(deployments=("a", "b")), frozenset({A}), 40)
    assert Counter(firsts) == {B: 30, A: 10}
    assert firsts[:4] == [B, B, B, A]  # it waited three requests, then it leads one


def test_without_degraded_deployments_round_robin_alternates_as_before() -> None:
    firsts, _, _ = leaders(ModelRoute(deployments=("a", "b")), frozenset(), 6)
    assert firsts == [A, B, A, B, A, B]


def test_when_all_are_degraded_the_strategy_order_stands() -> None:
    firsts, _, _ = leaders(ModelRoute(deployments=("a", "b")), frozenset({A, B}), 4)
    assert firsts == [A, B, A, B]


def test_weights_stay_parallel_to_the_reordered_candidates() -> None:
    ids, weights = demote((A, B, C), (3.0, 2.0, 1.0), frozenset({A}), {})
    assert ids == (B, C, A) and weights == (2.0, 1.0, 3.0)
    ids, weights = demote((A, B, C), (3.0, 2.0, 1.0), frozenset({A}), {A: DEGRADED_SHARE - 1})
    assert ids == (A, B, C) and weights == (3.0, 2.0, 1.0)


def test_waiting_counts_are_bounded() -> None:
    counts: dict[str, int] = {}
    for _ in range(100):
        counts = waited(counts, [B, A])
    assert counts == {B: 0, A: DEGRADED_SHARE - 1}


@given(
    strategy=st.sampled_from(["round_robin", "weighted", "least_inflight"]),
    degraded=st.sets(st.sampled_from([A, B, C])),
    n=st.integers(1, 40),
)
def test_replaying_the_planning_events_gives_the_same_state(
    strategy: str, degraded: set[str], n: int
) -> None:
    route = ModelRoute(deployments=("a", "b", "c"), strategy=strategy)  # type: ignore[arg-type]
    firsts, live, log = leaders(route, frozenset(degraded), n)
    replayed = RouterState()
    for event in log:
        replayed = evolve(replayed, event)
    assert replayed == live
    if degraded and len(degraded) < 3:
        # A degraded deployment leads at most one request in DEGRADED_SHARE, rounded up.
        for did in degraded:
            assert firsts.count(did) <= -(-n // DEGRADED_SHARE)
