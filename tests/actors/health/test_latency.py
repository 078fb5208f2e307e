"""The latency rule (``actors.health._latency``): slow successes make a deployment degraded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.health import (
    DeploymentHealth,
    HealthCommand,
    HealthPolicy,
    HealthStatus,
    RecordOutcome,
    decide,
    evolve,
)
from actors.health._latency import fast_again, judge, too_slow
from events import DeploymentDegraded, DeploymentRecovered, Event, HealthOutcomeRecorded, fold

NOW = 1_700_000_000.0
POLICY = HealthPolicy(degraded_latency_seconds=2.0)
S = HealthStatus
FAST = RecordOutcome(ok=True, latency=0.5)
SLOW = RecordOutcome(ok=True, latency=9.0)
FAIL = RecordOutcome(ok=False, failure="server_error", message="HTTP 500")


def run(
    *commands: HealthCommand, policy: HealthPolicy = POLICY
) -> tuple[DeploymentHealth, list[Event]]:
    state = DeploymentHealth(deployment="llama3@a")
    events: list[Event] = []
    for command in commands:
        new = decide(state, command, policy, NOW)
        events.extend(new)
        state = fold(evolve, state, new)
    return state, events


def test_judge_compares_with_the_threshold_only_when_one_is_set() -> None:
    assert judge(POLICY, 2.5) is True
    assert judge(POLICY, 2.0) is False  # "over" the threshold, not at it
    assert judge(POLICY, None) is None
    assert judge(HealthPolicy(), 100.0) is None


def test_three_slow_calls_of_five_degrade_a_healthy_deployment() -> None:
    state, _ = run(*[FAST] * 5, SLOW, SLOW)
    assert state.status is S.HEALTHY  # two slow calls: the median is still fast
    state, events = run(*[FAST] * 5, SLOW, SLOW, SLOW)
    assert state.status is S.DEGRADED
    degraded = [e for e in events if isinstance(e, DeploymentDegraded)]
    assert len(degraded) == 1 and degraded[0].latency == 9.0
    assert degraded[0].reason == (
        "slow: 3 of the last 5 successful calls took over 2 s (last: 9 s)"
    )


def test_one_cold_load_never_degrades() -> None:
    state, events = run(SLOW, *[FAST] * 3, SLOW, *[FAST] * 3, SLOW)
    assert state.status is S.HEALTHY
    assert not any(isinstance(e, DeploymentDegraded) for e in events)


def test_recovery_needs_four_fast_calls_of_five() -> None:
    slow, _ = run(*[SLOW] * 5)
    assert slow.status is S.DEGRADED
    still, _ = run(*[SLOW] * 5, *[FAST] * 3)  # 2 of 5 slow: under the median, not yet
    assert still.status is S.DEGRADED
    back, events = run(*[SLOW] * 5, *[FAST] * 4)
    assert back.status is S.HEALTHY
    assert isinstance(events[-1], DeploymentRecovered) and events[-1].previous == "degraded"


def test_a_clean_failure_window_does_not_lift_a_slow_degradation() -> None:
    state, _ = run(FAIL, *[SLOW] * 5)  # failure rate 1/6: clean, but slow
    assert state.status is S.DEGRADED and state.reason.startswith("1 consecutive")
    state, _ = run(FAIL, *[SLOW] * 5, *[FAST] * 4)
    assert state.status is S.HEALTHY


def test_without_a_threshold_latency_is_not_recorded_and_never_degrades() -> None:
    state, events = run(*[SLOW] * 10, policy=HealthPolicy())
    assert state.status is S.HEALTHY and state.slow == ()
    recorded = [e for e in events if isinstance(e, HealthOutcomeRecorded)]
    assert all(e.latency is None and e.slow is None for e in recorded)


def test_the_recorded_verdicts_replay_without_the_policy() -> None:
    live, events = run(*[SLOW] * 4, FAST, FAIL, SLOW)
    replayed = fold(evolve, DeploymentHealth(deployment="llama3@a"), events)
    assert replayed == live and len(live.slow) == 5


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_the_policy_rejects_a_bad_threshold(bad: float) -> None:
    with pytest.raises(ValueError, match="degraded_latency_seconds"):
        HealthPolicy(degraded_latency_seconds=bad)


latencies = st.lists(st.floats(min_value=0.0, max_value=10.0), min_size=1, max_size=40)


@given(latencies)
def test_status_follows_the_median_of_the_last_five_with_hysteresis(values: list[float]) -> None:
    state = DeploymentHealth(deployment="llama3@a")
    for latency in values:
        command = RecordOutcome(ok=True, latency=latency)
        state = fold(evolve, state, decide(state, command, POLICY, NOW))
        assert len(state.slow) <= 5
        if state.status is S.HEALTHY:
            assert not too_slow(state, POLICY)
        else:
            assert state.status is S.DEGRADED and not fast_again(state, POLICY)


@given(latencies)
def test_the_verdicts_are_the_last_five_judgements(values: list[float]) -> None:
    state, _ = run(*(RecordOutcome(ok=True, latency=v) for v in values))
    assert state.slow == tuple(v > 2.0 for v in values)[-5:]
    sorted_recent = sorted(values[-5:] + [0.0] * (5 - len(values[-5:])))
    assert too_slow(state, POLICY) == (sorted_recent[2] > 2.0)  # the median of five
