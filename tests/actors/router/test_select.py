"""Candidate selection: strategies, chains and fallbacks, and the cursor fold."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import pytest

from actors.router._plan_events import fallback_events, started_events
from actors.router._select import (
    ModelRoute,
    Plan,
    RouterState,
    Unavailable,
    evolve,
    plan,
)
from events._base import Event, UnknownEvent
from events._codec import default_registry
from events._routing import (
    AttemptStarted,
    CandidateSkipped,
    FallbackSwitched,
    RequestStarted,
)

QUARANTINED = Unavailable(reason="quarantined", detail="3 consecutive timeouts")


def start(
    chain: Sequence[str],
    routes: Mapping[str, ModelRoute],
    state: RouterState,
    request_id: str = "r",
    unavailable: Mapping[str, Unavailable] | None = None,
) -> tuple[Plan, RouterState, tuple[Event, ...]]:
    """Plan one request and fold its start events, as the router shell does."""
    planned = plan(chain, routes, state, unavailable=unavailable)
    events = started_events(
        planned,
        request_id=request_id,
        at=1_700_000_000.0,
        role="generator",
        model=None,
        kind="code",
        stream=False,
        prompt_chars=12,
        prompt_hash="ab12",
    )
    for event in events:
        state = evolve(state, event)
    return planned, state, events


def first_picks(
    chain: Sequence[str],
    routes: Mapping[str, ModelRoute],
    n: int,
    unavailable: Mapping[str, Unavailable] | None = None,
) -> tuple[list[str], RouterState]:
    state = RouterState()
    picks = []
    for i in range(n):
        planned, state, _ = start(chain, routes, state, f"r{i}", unavailable)
        picks.append(planned.candidates[0])
    return picks, state


# --- round robin ------------------------------------------------------------------------


def test_round_robin_alternates_exactly_between_two_endpoints() -> None:
    routes = {"codellama": ModelRoute(deployments=("local", "remote"))}
    picks, _ = first_picks(["codellama"], routes, 100)
    assert picks == ["codellama@local", "codellama@remote"] * 50


def test_round_robin_keeps_the_other_endpoint_as_the_second_candidate() -> None:
    routes = {"m": ModelRoute(deployments=("a", "b"))}
    state = RouterState()
    for expected in (("m@a", "m@b"), ("m@b", "m@a"), ("m@a", "m@b")):
        planned, state, _ = start(["m"], routes, state)
        assert planned.candidates == expected


def test_round_robin_cycles_through_three_endpoints() -> None:
    routes = {"m": ModelRoute(deployments=("a", "b", "c"))}
    picks, state = first_picks(["m"], routes, 99)
    assert picks == ["m@a", "m@b", "m@c"] * 33
    assert state.last == {"m": "c"}


def test_a_quarantined_deployment_does_not_break_the_alternation_of_the_others() -> None:
    routes = {"m": ModelRoute(deployments=("a", "b", "c"))}
    blocked = {"m@b": QUARANTINED}
    picks, state = first_picks(["m"], routes, 100, unavailable=blocked)
    assert picks == ["m@a", "m@c"] * 50
    # b recovers: the rotation resumes after the last pick (c) without repeating anyone.
    after = []
    for i in range(6):
        planned, state, _ = start(["m"], routes, state, request_id=f"s{i}")
        after.append(planned.candidates[0])
    assert after == ["m@a", "m@b", "m@c"] * 2


def test_skipped_deployments_are_reported_with_their_reason() -> None:
    routes = {"m": ModelRoute(deployments=("a", "b"))}
    planned, _, events = start(["m"], routes, RouterState(), unavailable={"m@b": QUARANTINED})
    assert planned.candidates == ("m@a",)
    assert [(s.deployment, s.reason, s.detail) for s in planned.skipped] == [
        ("m@b", "quarantined", "3 consecutive timeouts")
    ]
    skipped = [e for e in events if isinstance(e, CandidateSkipped)]
    assert [(e.deployment, e.reason) for e in skipped] == [("m@b", "quarantined")]


def test_round_robin_is_per_model() -> None:
    routes = {"x": ModelRoute(deployments=("a", "b")), "y": ModelRoute(deployments=("a", "b"))}
    state = RouterState()
    picks = []
    for chain in (["x"], ["y"], ["x"], ["y"], ["x"]):
        planned, state, _ = start(chain, routes, state)
        picks.append(planned.candidates[0])
    assert picks == ["x@a", "y@a", "x@b", "y@b", "x@a"]


def test_a_cursor_naming_a_removed_endpoint_restarts_at_the_first() -> None:
    routes = {"m": ModelRoute(deployments=("a", "b"))}
    planned = plan(["m"], routes, RouterState(last={"m": "gone"}))
    assert planned.candidates == ("m@a", "m@b")


# --- least in flight, weighted, performance ---------------------------------------------


def test_least_inflight_orders_by_load_with_ties_in_config_order() -> None:
    routes = {"m": ModelRoute(deployments=("a", "b", "c"), strategy="least_inflight")}
    planned = plan(["m"], routes, RouterState(), inflight={"m@a": 3, "m@b": 1, "m@c": 1})
    assert planned.candidates == ("m@b", "m@c", "m@a")


def test_least_inflight_spreads_concurrent_requests_evenly() -> None:
    routes = {"m": ModelRoute(deployments=("a", "b", "c"), strategy="least_inflight")}
    inflight: Counter[str] = Counter()
    for _ in range(30):
        inflight[plan(["m"], routes, RouterState(), inflight=inflight).candidates[0]] += 1
    assert inflight == {"m@a": 10, "m@b": 10, "m@c": 10}


def test_weighted_three_to_one_is_exactly_75_25_over_400_picks() -> None:
    routes = {"m": ModelRoute(deployments=("a", "b"), strategy="weighted", weights={"a": 3.0})}
    picks, state = first_picks(["m"], routes, 400)
    assert Counter(picks) == {"m@a": 300, "m@b": 100}
    # Smooth: never more than three a's in a row, and the state returns to zero.
    assert picks[:4] == ["m@a", "m@a", "m@b", "m@a"]
    assert state.current == {"m@a": 0.0, "m@b": 0.0}


def test_weighted_follows_the_nginx_smooth_sequence() -> None:
    weights = {"a": 5.0, "b": 1.0, "c": 1.0}
    routes = {"m": ModelRoute(deployments=("a", "b", "c"), strategy="weighted", weights=weights)}
    picks, _ = first_picks(["m"], routes, 14)
    # The sequence documented for nginx's smooth weighted round-robin: a a b a c a a.
    expected = ["a", "a", "b", "a", "c", "a", "a"] * 2
    assert picks == [f"m@{e}" for e in expected]


def test_weighted_plan_records_the_weights_for_replay() -> None:
    routes = {"m": ModelRoute(deployments=("a", "b"), strategy="weighted", weights={"a": 3.0})}
    _, _, events = start(["m"], routes, RouterState())
    started = events[0]
    assert isinstance(started, RequestStarted)
    assert started.candidates == ("m@a", "m@b")
    assert started.weights == (3.0, 1.0)


def test_weighted_with_one_deployment_skipped_sends_everything_to_the_other() -> None:
    routes = {"m": ModelRoute(deployments=("a", "b"), strategy="weighted", weights={"a": 3.0})}
    picks, _ = first_picks(["m"], routes, 20, unavailable={"m@a": QUARANTINED})
    assert set(picks) == {"m@b"}


def test_performance_keeps_config_order_without_a_tracker() -> None:
    routes = {"m": ModelRoute(deployments=("a", "b", "c"), strategy="performance")}
    assert plan(["m"], routes, RouterState()).candidates == ("m@a", "m@b", "m@c")


def test_performance_uses_the_tracker_but_can_neither_add_nor_lose_candidates() -> None:
    routes = {"m": ModelRoute(deployments=("a", "b", "c"), strategy="performance")}

    def sloppy(ids: Sequence[str]) -> list[str]:
        return ["m@c", "m@zzz", "m@c", "m@a"]  # a stranger, a duplicate, b forgotten

    planned = plan(["m"], routes, RouterState(), order_by_performance=sloppy)
    assert planned.candidates == ("m@c", "m@a", "m@b")
    reverse = plan(["m"], routes, RouterState(), order_by_performance=lambda ids: ids[::-1])
    assert reverse.candidates == ("m@c", "m@b", "m@a")


# --- chains, fallbacks, catalog ---------------------------------------------------------


CHAIN_ROUTES = {
    "x": ModelRoute(deployments=("a", "b")),
    "y": ModelRoute(deployments=("a",)),
    "z": ModelRoute(deployments=("c", "a")),
}


def test_a_role_chain_groups_candidates_by_model_in_chain_order() -> None:
    planned = plan(["x", "y", "z"], CHAIN_ROUTES, RouterState())
    assert [g.model for g in planned.groups] == ["x", "y", "z"]
    assert planned.candidates == ("x@a", "x@b", "y@a", "z@c", "z@a")


def test_a_repeated_model_in_the_chain_is_planned_once() -> None:
    planned = plan(["x", "y", "x"], CHAIN_ROUTES, RouterState())
    assert planned.chain == ("x", "y")
    assert len(planned.candidates) == len(set(planned.candidates)) == 3


def test_an_unavailable_primary_starts_the_plan_at_the_first_usable_fallback() -> None:
    blocked = {"x@a": QUARANTINED, "x@b": Unavailable(reason="quota", detail="daily limit")}
    planned, state, _ = start(["x", "y"], CHAIN_ROUTES, RouterState(), unavailable=blocked)
    assert planned.candidates == ("y@a",)
    assert {s.deployment: s.reason for s in planned.skipped} == {
        "x@a": "quarantined",
        "x@b": "quota",
    }
    assert state.last == {"y": "a"}


def test_nothing_admissible_gives_an_empty_plan_with_every_reason() -> None:
    blocked = {
        "x@a": QUARANTINED,
        "x@b": Unavailable(reason="failed", detail="401 from b"),
        "y@a": Unavailable(reason="probing_full"),
    }
    planned, state, events = start(["x", "y"], CHAIN_ROUTES, RouterState(), unavailable=blocked)
    assert planned.empty and planned.candidates == () and planned.weights == ()
    assert [(s.deployment, s.reason) for s in planned.skipped] == [
        ("x@a", "quarantined"),
        ("x@b", "failed"),
        ("y@a", "probing_full"),
    ]
    assert state == RouterState()
    assert isinstance(events[0], RequestStarted) and events[0].candidates == ()
    assert len(events) == 4


def test_the_catalog_skips_endpoints_that_lack_the_model_before_health_does() -> None:
    def serves(model: str, endpoint: str) -> bool:
        return (model, endpoint) != ("x", "a")

    planned = plan(
        ["x"], CHAIN_ROUTES, RouterState(), serves=serves, unavailable={"x@a": QUARANTINED}
    )
    assert planned.candidates == ("x@b",)
    (skip,) = planned.skipped
    assert (skip.deployment, skip.reason) == ("x@a", "unknown_model")
    assert "'x'" in skip.detail


def test_an_unconfigured_model_is_a_helpful_key_error() -> None:
    with pytest.raises(KeyError, match=r"'nope' is not configured; configured models: x, y, z"):
        plan(["nope"], CHAIN_ROUTES, RouterState())


def test_a_fallback_model_advances_only_when_the_request_switches_to_it() -> None:
    routes = {"x": ModelRoute(deployments=("a",)), "y": ModelRoute(deployments=("a", "b"))}
    state = RouterState()
    for i in range(3):  # the primary answers: y is never entered
        _, state, _ = start(["x", "y"], routes, state, request_id=f"r{i}")
    assert "y" not in state.last
    picks = []
    for i in range(4):  # the primary fails every time: each request switches to y
        _, state, _ = start(["x", "y"], routes, state, request_id=f"f{i}")
        rest = plan(["y"], routes, state)
        events = fallback_events(
            rest, request_id=f"f{i}", at=0.0, from_model="x", reason="failure", detail="boom"
        )
        switched = events[0]
        assert isinstance(switched, FallbackSwitched) and switched.to_model == "y"
        picks.append(switched.candidates[0])
        for event in events:
            state = evolve(state, event)
    assert picks == ["y@a", "y@b", "y@a", "y@b"]


def test_fallback_events_record_skips_up_to_the_target_only() -> None:
    blocked = {"y@a": QUARANTINED, "z@a": QUARANTINED, "x@a": QUARANTINED}
    rest = plan(["y", "z", "x"], CHAIN_ROUTES, RouterState(), unavailable=blocked)
    events = fallback_events(rest, request_id="r", at=0.0, from_model="x", reason="failure")
    switched, *skips = events
    assert isinstance(switched, FallbackSwitched)
    assert switched.to_model == "z" and switched.candidates == ("z@c",)
    # x comes after the target: its skip is not a decision of this switch.
    assert [s.deployment for s in skips if isinstance(s, CandidateSkipped)] == ["y@a", "z@a"]


def test_falling_back_to_nothing_is_refused() -> None:
    empty = plan(["y"], CHAIN_ROUTES, RouterState(), unavailable={"y@a": QUARANTINED})
    with pytest.raises(ValueError, match="no admissible deployment"):
        fallback_events(empty, request_id="r", at=0.0, from_model="x", reason="failure")


# --- the fold ---------------------------------------------------------------------------


def test_evolve_ignores_unrelated_unknown_and_malformed_events() -> None:
    state = RouterState(last={"m": "a"}, current={"m@a": 1.0})
    unrelated = AttemptStarted(
        request_id="r", at=0.0, attempt=1, deployment="m@b", model="m", endpoint="b"
    )
    unknown = UnknownEvent(type="FromTheFuture", schema_version=1, payload=b"{}")
    malformed = RequestStarted(
        request_id="r",
        at=0.0,
        role=None,
        model="m",
        kind=None,
        stream=False,
        candidates=("no-at-sign",),
        weights=(1.0, 2.0),
        prompt_chars=0,
        prompt_hash="",
    )
    for event in (unrelated, unknown, malformed):
        assert evolve(state, event) == state


def test_replaying_the_logged_events_continues_the_alternation_after_a_restart() -> None:
    routes = {
        "m": ModelRoute(deployments=("a", "b", "c")),
        "w": ModelRoute(deployments=("a", "b"), strategy="weighted", weights={"a": 2.5}),
    }
    state, log = RouterState(), list[tuple[str, int, bytes]]()
    for i in range(7):
        for chain in (["m"], ["w"]):
            _, state, events = start(chain, routes, state, request_id=f"r{i}")
            log.extend(default_registry.encode(e) for e in events)
    replayed = RouterState()
    for name, version, payload in log:
        replayed = evolve(replayed, default_registry.decode(name, version, payload))
    assert replayed == state
    assert plan(["m"], routes, replayed).candidates[0] == "m@b"  # 7 picks: a b c a b c a
