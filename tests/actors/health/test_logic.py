"""Unit tests of the pure health logic: every rule and every transition, at a fixed time."""

from __future__ import annotations

import math

import msgspec
import pytest

from actors.health import (
    TRANSITIONS,
    AcquirePermit,
    CatalogSawModel,
    DeploymentHealth,
    DeploymentUnavailable,
    HealthCommand,
    HealthPolicy,
    HealthStatus,
    IllegalTransition,
    ProbePermitGranted,
    ProbePermitReleased,
    RecordOutcome,
    ReleasePermit,
    Reset,
    Tick,
    admits,
    aggregate,
    check_transition,
    decide,
    durable,
    evolve,
    quarantine_duration,
    target_status,
)
from events import ActorStopped, Event, UnknownEvent, default_registry
from events._health import (
    DeploymentDegraded,
    DeploymentFailed,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    DeploymentStabilized,
    HealthOutcomeRecorded,
    HealthReset,
)

NOW = 1_700_000_000.0
POLICY = HealthPolicy()
S = HealthStatus
OK = RecordOutcome(ok=True)
FAIL = RecordOutcome(ok=False, failure="timeout_connect", message="connect timed out")


def fresh() -> DeploymentHealth:
    return DeploymentHealth(deployment="llama3@local")


def step(
    state: DeploymentHealth,
    command: HealthCommand,
    *,
    policy: HealthPolicy = POLICY,
    now: float = NOW,
) -> tuple[DeploymentHealth, tuple[Event, ...]]:
    events = decide(state, command, policy, now)
    for event in events:
        state = evolve(state, event)
    return state, events


def run(
    state: DeploymentHealth,
    *commands: HealthCommand,
    policy: HealthPolicy = POLICY,
    now: float = NOW,
) -> DeploymentHealth:
    for command in commands:
        state, _ = step(state, command, policy=policy, now=now)
    return state


def kinds(events: tuple[Event, ...]) -> list[type[Event]]:
    return [type(event) for event in events]


def quarantined(policy: HealthPolicy = POLICY) -> DeploymentHealth:
    return run(fresh(), *[FAIL] * policy.failure_threshold, policy=policy)


def probing(policy: HealthPolicy = POLICY) -> DeploymentHealth:
    state = quarantined(policy)
    assert state.quarantined_until is not None
    return run(state, Tick(), policy=policy, now=state.quarantined_until)


# --- closed states: unknown, healthy, degraded -------------------------------------------


def test_a_new_deployment_is_unknown_and_selectable() -> None:
    state = fresh()
    assert state.status is S.UNKNOWN
    assert admits(state, POLICY, NOW)
    assert decide(state, AcquirePermit(), POLICY, NOW) == ()


def test_first_success_makes_it_healthy() -> None:
    state, events = step(fresh(), OK)
    assert kinds(events) == [HealthOutcomeRecorded, DeploymentRecovered]
    assert state.status is S.HEALTHY
    assert state.window == (0.0,)
    assert state.last_change == NOW


def test_a_failure_short_of_the_thresholds_degrades() -> None:
    state, events = step(run(fresh(), OK), FAIL)
    assert kinds(events) == [HealthOutcomeRecorded, DeploymentDegraded]
    assert state.status is S.DEGRADED
    assert state.consecutive_failures == 1.0
    assert state.last_failure == "timeout_connect"
    assert "timeout_connect: connect timed out" in state.reason
    assert admits(state, POLICY, NOW)


def test_a_second_failure_while_degraded_only_counts() -> None:
    state, events = step(run(fresh(), FAIL), FAIL)
    assert kinds(events) == [HealthOutcomeRecorded]
    assert (state.status, state.consecutive_failures) == (S.DEGRADED, 2.0)


def test_consecutive_failures_at_the_threshold_quarantine() -> None:
    state, events = step(run(fresh(), OK, FAIL, FAIL), FAIL)
    assert kinds(events) == [HealthOutcomeRecorded, DeploymentQuarantined]
    quarantine = events[1]
    assert isinstance(quarantine, DeploymentQuarantined)
    assert quarantine.until == NOW + 300.0
    assert quarantine.quarantine_count == 1
    assert quarantine.failure == "timeout_connect"
    assert "3 consecutive failures" in quarantine.reason
    assert state.status is S.QUARANTINED
    assert state.quarantined_until == NOW + 300.0


def test_threshold_one_quarantines_a_healthy_deployment_directly() -> None:
    policy = HealthPolicy(failure_threshold=1)
    state, events = step(run(fresh(), OK, policy=policy), FAIL, policy=policy)
    assert kinds(events) == [HealthOutcomeRecorded, DeploymentQuarantined]
    assert state.status is S.QUARANTINED


def test_failure_rate_over_the_window_quarantines_once_min_calls_reached() -> None:
    policy = HealthPolicy(failure_threshold=100, window_size=10, min_calls=4)
    state = run(fresh(), OK, FAIL, OK, policy=policy)  # 3 calls: rate not evaluated yet
    assert state.status is S.DEGRADED
    state, events = step(state, FAIL, policy=policy)  # 4 calls, 2 failed: 50 %
    assert kinds(events) == [HealthOutcomeRecorded, DeploymentQuarantined]
    assert "failure rate 50% over the last 4 calls" in state.reason


def test_the_failure_rate_is_not_evaluated_below_min_calls() -> None:
    policy = HealthPolicy(failure_threshold=100, window_size=10, min_calls=10)
    state = run(fresh(), *[FAIL, OK] * 4, FAIL, policy=policy)  # 9 calls, 5 failed
    assert state.status is S.DEGRADED


def test_the_window_is_bounded_by_window_size() -> None:
    policy = HealthPolicy(window_size=5, min_calls=5)
    state = run(fresh(), *[OK] * 12, policy=policy)
    assert state.window == (0.0,) * 5


def test_degraded_recovers_only_when_the_window_is_clean_enough() -> None:
    state = run(fresh(), OK, OK, OK, FAIL)
    assert state.status is S.DEGRADED
    state, events = step(state, OK)  # 1 failure in 5 = 20 % <= 25 % (half of 50 %)
    assert kinds(events) == [HealthOutcomeRecorded, DeploymentRecovered]
    assert state.status is S.HEALTHY


def test_degraded_stays_degraded_while_the_window_is_dirty() -> None:
    state = run(fresh(), FAIL, OK)  # 1 failure in 2 = 50 % > 25 %
    assert state.status is S.DEGRADED
    assert state.consecutive_failures == 0.0
    state = run(state, OK, OK)  # 1 in 4 = 25 %: clean enough
    assert state.status is S.HEALTHY


# --- weights ------------------------------------------------------------------------------


@pytest.mark.parametrize("status_setup", [(), (OK,), (FAIL,), (FAIL,) * 3])
def test_weight_zero_outcomes_change_nothing(status_setup: tuple[RecordOutcome, ...]) -> None:
    state = run(fresh(), *status_setup)
    overflow = RecordOutcome(ok=False, failure="context_overflow", weight=0.0)
    assert decide(state, overflow, POLICY, NOW) == ()


def test_weights_scale_how_much_a_failure_counts() -> None:
    half = RecordOutcome(ok=False, failure="timeout_total", weight=0.5)
    state = run(fresh(), *[half] * 5)
    assert state.consecutive_failures == 2.5
    assert state.status is S.DEGRADED
    state, events = step(state, half)
    assert DeploymentQuarantined in kinds(events)


def test_tenths_add_up_to_the_threshold_despite_float_rounding() -> None:
    tenth = RecordOutcome(ok=False, failure="server_error", weight=0.1)
    state = run(fresh(), *[tenth] * 30, policy=HealthPolicy(window_size=40, min_calls=40))
    assert state.status is S.QUARANTINED


@pytest.mark.parametrize(("weight", "counted"), [(math.nan, 1.0), (7.0, 1.0), (-3.0, None)])
def test_weights_are_clamped(weight: float, counted: float | None) -> None:
    state, events = step(fresh(), RecordOutcome(ok=False, failure="unknown", weight=weight))
    if counted is None:
        assert events == ()
    else:
        assert state.consecutive_failures == counted
        assert state.window == (counted,)


# --- failed --------------------------------------------------------------------------------


def auth_failure() -> RecordOutcome:
    return RecordOutcome(ok=False, failure="auth", permanent=True, message="401 Unauthorized")


@pytest.mark.parametrize("setup", [(), (OK,), (FAIL,), (FAIL,) * 3])
def test_a_permanent_failure_fails_the_deployment_from_any_state(
    setup: tuple[RecordOutcome, ...],
) -> None:
    state, events = step(run(fresh(), *setup), auth_failure())
    assert kinds(events) == [DeploymentFailed]
    assert state.status is S.FAILED
    assert state.last_failure == "auth"
    assert "401 Unauthorized" in state.reason
    assert not admits(state, POLICY, NOW)


def test_permanent_wins_over_a_zero_weight() -> None:
    gone = RecordOutcome(ok=False, failure="model_not_found", permanent=True, weight=0.0)
    state, _ = step(fresh(), gone)
    assert state.status is S.FAILED


def test_a_failed_deployment_refuses_permits_with_an_actionable_message() -> None:
    state = run(fresh(), auth_failure())
    with pytest.raises(DeploymentUnavailable, match=r"failed: permanent failure.*reset"):
        decide(state, AcquirePermit(), POLICY, NOW)
    assert not admits(state, POLICY, NOW + 10**9)  # no timer brings it back


def test_outcomes_and_ticks_do_not_move_a_failed_deployment() -> None:
    state = run(fresh(), auth_failure())
    for command in (OK, FAIL, auth_failure(), Tick(), ReleasePermit(probe_round=0)):
        assert decide(state, command, POLICY, NOW + 10**6) == ()


def test_the_catalog_seeing_the_model_resets_a_failed_deployment() -> None:
    state, events = step(run(fresh(), auth_failure()), CatalogSawModel())
    assert kinds(events) == [HealthReset]
    assert state.status is S.UNKNOWN
    assert state.reason == "model seen in catalog again"
    assert admits(state, POLICY, NOW)


@pytest.mark.parametrize("setup", [(), (OK,), (FAIL,), (FAIL,) * 3])
def test_the_catalog_seeing_the_model_leaves_other_states_alone(
    setup: tuple[RecordOutcome, ...],
) -> None:
    assert decide(run(fresh(), *setup), CatalogSawModel(), POLICY, NOW) == ()


# --- quarantined -> probing -----------------------------------------------------------------


def test_a_quarantined_deployment_is_not_admitted_before_its_deadline() -> None:
    state = quarantined()
    assert not admits(state, POLICY, NOW + 299.0)
    with pytest.raises(DeploymentUnavailable, match="quarantined: for another 299 s"):
        decide(state, AcquirePermit(), POLICY, NOW + 1.0)
    assert decide(state, Tick(), POLICY, NOW + 299.0) == ()


def test_outcomes_of_stragglers_neither_lift_nor_extend_a_quarantine() -> None:
    state = quarantined()
    assert decide(state, OK, POLICY, NOW + 1) == ()
    assert decide(state, FAIL, POLICY, NOW + 1) == ()


def test_a_tick_at_the_deadline_starts_probing() -> None:
    state, events = step(quarantined(), Tick(), now=NOW + 300.0)
    assert kinds(events) == [DeploymentProbingStarted]
    assert state.status is S.PROBING
    assert (state.probe_round, state.probes_in_flight, state.quarantined_until) == (1, 0, None)
    assert state.quarantine_count == 1


def test_a_permit_after_the_deadline_starts_probing_and_is_the_probe() -> None:
    state = quarantined()
    assert admits(state, POLICY, NOW + 300.0)
    state, events = step(state, AcquirePermit(), now=NOW + 300.0)
    assert kinds(events) == [DeploymentProbingStarted, ProbePermitGranted]
    assert (state.status, state.probe_round, state.probes_in_flight) == (S.PROBING, 1, 1)
    assert durable(events) == events[:1]


def test_a_wall_clock_stepped_back_before_the_quarantine_ends_it() -> None:
    state, events = step(quarantined(), Tick(), now=NOW - 3600.0)
    assert kinds(events) == [DeploymentProbingStarted]
    assert state.status is S.PROBING


@pytest.mark.parametrize("probes", [1, 3])
def test_a_thousand_concurrent_permits_admit_only_the_allowed_probes(probes: int) -> None:
    policy = HealthPolicy(half_open_probes=probes)
    state = probing(policy)
    admitted = refused = 0
    for _ in range(1000):
        try:
            state, _ = step(state, AcquirePermit(), policy=policy)
        except DeploymentUnavailable as exc:
            assert "probe slot(s) are in use" in str(exc)
            refused += 1
        else:
            admitted += 1
    assert (admitted, refused, state.probes_in_flight) == (probes, 1000 - probes, probes)
    assert not admits(state, policy, NOW)


def test_releasing_a_permit_frees_its_slot() -> None:
    state = run(probing(), AcquirePermit())
    assert not admits(state, POLICY, NOW)
    state, events = step(state, ReleasePermit(probe_round=state.probe_round))
    assert kinds(events) == [ProbePermitReleased]
    assert durable(events) == ()
    assert state.probes_in_flight == 0
    assert admits(state, POLICY, NOW)


def test_stale_or_spurious_releases_free_nothing() -> None:
    state = run(probing(), AcquirePermit())
    assert decide(state, ReleasePermit(probe_round=state.probe_round - 1), POLICY, NOW) == ()
    idle = probing()
    assert decide(idle, ReleasePermit(probe_round=idle.probe_round), POLICY, NOW) == ()
    assert decide(fresh(), ReleasePermit(probe_round=0), POLICY, NOW) == ()


def test_a_probe_success_recovers_and_clears_the_window() -> None:
    state = run(probing(), AcquirePermit())
    state, events = step(state, OK)
    assert kinds(events) == [HealthOutcomeRecorded, DeploymentRecovered]
    assert state.status is S.HEALTHY
    assert (state.window, state.consecutive_failures, state.probes_in_flight) == ((), 0.0, 0)
    assert state.quarantine_count == 1  # kept until a full clean window: growth survives
    # The probe's late release belongs to a finished round and changes nothing.
    assert decide(state, ReleasePermit(probe_round=state.probe_round), POLICY, NOW) == ()


def test_a_probe_failure_quarantines_again_for_longer() -> None:
    state, events = step(run(probing(), AcquirePermit()), FAIL, now=NOW + 400.0)
    assert kinds(events) == [HealthOutcomeRecorded, DeploymentQuarantined]
    assert state.status is S.QUARANTINED
    assert state.quarantine_count == 2
    assert state.quarantined_until == NOW + 400.0 + 600.0
    assert "probe failed" in state.reason


def test_quarantine_durations_grow_geometrically_up_to_the_maximum() -> None:
    state, durations = quarantined(), []
    for _ in range(8):
        assert state.quarantined_until is not None and state.last_change is not None
        durations.append(state.quarantined_until - state.last_change)
        now = state.quarantined_until
        state = run(state, AcquirePermit(), FAIL, now=now)
    assert durations == [300.0, 600.0, 1200.0, 2400.0, 3600.0, 3600.0, 3600.0, 3600.0]


@pytest.mark.parametrize(
    ("count", "expected"), [(-5, 300.0), (0, 300.0), (1, 300.0), (4, 2400.0), (10**9, 3600.0)]
)
def test_quarantine_duration_is_bounded_for_any_count(count: int, expected: float) -> None:
    assert quarantine_duration(POLICY, count) == expected


def test_a_full_clean_window_after_recovery_resets_the_growth() -> None:
    policy = HealthPolicy(window_size=4, min_calls=2)
    # The probe's own success recovers it and clears the window; four more fill it.
    state = run(probing(policy), AcquirePermit(), OK, OK, OK, OK, policy=policy)
    assert state.quarantine_count == 1
    state, events = step(state, OK, policy=policy)
    assert kinds(events) == [HealthOutcomeRecorded, DeploymentStabilized]
    assert state.quarantine_count == 0
    assert decide(state, OK, policy, NOW)[1:] == ()  # only once


# --- reset, evolve, codec -------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [fresh(), run(fresh(), OK), run(fresh(), FAIL), quarantined(), probing()],
    ids=["unknown", "healthy", "degraded", "quarantined", "probing"],
)
def test_reset_returns_any_state_to_unknown(state: DeploymentHealth) -> None:
    state, events = step(state, Reset(reason="operator"))
    assert kinds(events) == [HealthReset]
    expected = DeploymentHealth(
        deployment="llama3@local", probe_round=state.probe_round, reason="operator", last_change=NOW
    )
    assert state == expected


def test_reset_keeps_the_probe_round_so_old_permits_stay_void() -> None:
    state = run(probing(), AcquirePermit(), Reset())
    assert state.probe_round == 1
    state = run(state, *[FAIL] * 3)
    assert state.quarantined_until is not None
    state = run(state, Tick(), now=state.quarantined_until)
    assert state.probe_round == 2


def test_evolve_ignores_unknown_foreign_and_other_deployments_events() -> None:
    state = run(fresh(), FAIL)
    unknown = UnknownEvent(type="HealthFromTheFuture", schema_version=9, payload=b"{}")
    other = DeploymentFailed(deployment="mistral@remote", at=NOW, failure="auth")
    stopped = ActorStopped(actor="health", reason="stopped")
    for event in (unknown, other, stopped):
        assert evolve(state, event) is state


def test_evolve_applies_whatever_the_log_says() -> None:
    failed = run(fresh(), auth_failure())
    recovered = evolve(failed, DeploymentRecovered(deployment="llama3@local", at=NOW))
    assert recovered.status is S.HEALTHY  # illegal for decide, but replay must not fail


def test_durable_events_round_trip_through_the_registry() -> None:
    state, log = fresh(), list[Event]()
    commands: list[HealthCommand] = [OK, FAIL, FAIL, FAIL, Tick(), AcquirePermit(), OK]
    commands += [auth_failure(), CatalogSawModel(), Reset()]
    for command in commands:
        events = decide(state, command, POLICY, NOW + 300.0 * (command == Tick()))
        log.extend(durable(events))
        for event in events:
            state = evolve(state, event)
    decoded = [default_registry.decode(*default_registry.encode(event)) for event in log]
    assert decoded == log
    assert {type(e) for e in log} >= {DeploymentQuarantined, DeploymentProbingStarted}


def test_transient_permit_events_cannot_be_appended() -> None:
    permit = ProbePermitGranted(deployment="llama3@local", at=NOW, probe_round=1)
    with pytest.raises(ValueError, match="not registered"):
        default_registry.encode(permit)


def test_the_state_round_trips_as_json_for_snapshots() -> None:
    state = run(probing(), AcquirePermit())
    raw = msgspec.json.encode(state)
    assert msgspec.json.decode(raw, type=DeploymentHealth) == state


def test_decide_rejects_what_is_not_a_command() -> None:
    with pytest.raises(TypeError, match="not a health command"):
        decide(fresh(), "Tick", POLICY, NOW)  # type: ignore[arg-type]


# --- transition table, aggregate, policy ----------------------------------------------------


def test_the_transition_table_is_checked() -> None:
    assert all(S.UNKNOWN in targets for targets in TRANSITIONS.values())
    assert TRANSITIONS[S.FAILED] == {S.UNKNOWN}
    assert S.HEALTHY not in TRANSITIONS[S.QUARANTINED]
    check_transition("d", S.PROBING, S.HEALTHY)
    with pytest.raises(IllegalTransition, match=r"failed -> healthy.*bug"):
        check_transition("d", S.FAILED, S.HEALTHY)


def test_every_status_event_names_its_target() -> None:
    d = "llama3@local"
    assert target_status(DeploymentRecovered(deployment=d, at=NOW)) is S.HEALTHY
    assert target_status(DeploymentDegraded(deployment=d, at=NOW)) is S.DEGRADED
    quarantine = DeploymentQuarantined(deployment=d, at=NOW, until=NOW, quarantine_count=1)
    assert target_status(quarantine) is S.QUARANTINED
    assert target_status(DeploymentProbingStarted(deployment=d, at=NOW, probe_round=1)) is (
        S.PROBING
    )
    assert target_status(DeploymentFailed(deployment=d, at=NOW)) is S.FAILED
    assert target_status(HealthReset(deployment=d, at=NOW)) is S.UNKNOWN
    assert target_status(HealthOutcomeRecorded(deployment=d, at=NOW, ok=True)) is None


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((), S.UNKNOWN),
        ((S.FAILED, S.HEALTHY, S.QUARANTINED), S.HEALTHY),
        ((S.UNKNOWN, S.DEGRADED), S.DEGRADED),
        ((S.FAILED, S.UNKNOWN), S.UNKNOWN),
        ((S.QUARANTINED, S.PROBING), S.PROBING),
        ((S.FAILED, S.QUARANTINED), S.QUARANTINED),
        ((S.FAILED, S.FAILED), S.FAILED),
    ],
)
def test_a_model_is_as_healthy_as_its_best_deployment(
    statuses: tuple[HealthStatus, ...], expected: HealthStatus
) -> None:
    states = (DeploymentHealth(deployment=f"m@{i}", status=s) for i, s in enumerate(statuses))
    assert aggregate(states) is expected


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"failure_rate_threshold": 1.5}, "failure_rate_threshold"),
        ({"failure_rate_threshold": 0.0}, "failure_rate_threshold"),
        ({"window_size": 0}, "window_size"),
        ({"min_calls": 21}, "min_calls"),
        ({"quarantine_seconds": -1.0}, "quarantine_seconds"),
        ({"quarantine_seconds": math.inf}, "quarantine_seconds"),
        ({"quarantine_backoff": 0.5}, "quarantine_backoff"),
        ({"quarantine_max_seconds": 10.0}, "quarantine_max_seconds"),
        ({"half_open_probes": 0}, "half_open_probes"),
    ],
)
def test_the_policy_rejects_values_out_of_range(changes: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=f"health policy: {field} "):
        HealthPolicy(**changes)  # type: ignore[arg-type]


def test_the_policy_is_validated_when_decoded_from_config() -> None:
    with pytest.raises(msgspec.ValidationError, match="min_calls"):
        msgspec.convert({"window_size": 5, "min_calls": 6}, HealthPolicy)
