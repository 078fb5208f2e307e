"""Cool-downs, panic probes and liveness checks: the pure rules and the actor's timers."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import pytest

from actors import ActorRef, ActorSystem, ManualClock
from actors.health import (
    AcquirePermit,
    AcquireProbe,
    Admitted,
    DeploymentHealth,
    DeploymentUnavailable,
    GetHealth,
    GetHealthStatistics,
    HealthActor,
    HealthCommand,
    HealthMessage,
    HealthPolicy,
    HealthStatus,
    Liveness,
    NotAdmitted,
    PanicProbe,
    RecordOutcome,
    ReportOutcome,
    Reset,
    ResetHealth,
    Revive,
    Screen,
    admits,
    cool_down_duration,
    decide,
    evolve,
    evolve_all,
    liveness_delay,
    panic_pick,
)
from events import (
    DeploymentCoolingDown,
    DeploymentPanicProbe,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    Event,
    default_registry,
    fold,
)

NOW = 1_700_000_000.0
D1, D2 = "llama3@a", "llama3@b"
POLICY = HealthPolicy(failure_threshold=1, quarantine_seconds=30.0)
S = HealthStatus


def rate_limited(retry_after: float | None = None) -> RecordOutcome:
    return RecordOutcome(
        ok=False, failure="rate_limited", weight=0.0, retry_after=retry_after, http_status=429
    )


def unavailable(retry_after: float | None) -> RecordOutcome:
    return RecordOutcome(
        ok=False, failure="server_error", weight=1.0, retry_after=retry_after, http_status=503
    )


REFUSED = RecordOutcome(ok=False, failure="connection", weight=1.0, message="refused")
BROKEN = RecordOutcome(ok=False, failure="server_error", weight=1.0, message="HTTP 500")


def run(
    state: DeploymentHealth, command: HealthCommand, now: float = NOW
) -> tuple[DeploymentHealth, tuple[Event, ...]]:
    events = decide(state, command, POLICY, now)
    for event in events:
        state = evolve(state, event)
    return state, events


def fresh(did: str = D1) -> DeploymentHealth:
    return DeploymentHealth(deployment=did)


# --- cool-downs -----------------------------------------------------------------------


def test_a_429_cools_down_for_its_retry_after_and_is_not_a_health_failure() -> None:
    state, events = run(fresh(), rate_limited(30.0))
    (cooled,) = events
    assert isinstance(cooled, DeploymentCoolingDown) and cooled.until == NOW + 30.0
    assert state.status is S.UNKNOWN and state.consecutive_failures == 0 and not state.window
    assert state.cooling_until == NOW + 30.0 and "Retry-After 30 s" in state.cooling_reason
    assert not admits(state, POLICY, NOW + 29.9) and admits(state, POLICY, NOW + 30.0)
    with pytest.raises(DeploymentUnavailable, match="cooling down for another 10 s"):
        decide(state, AcquirePermit(), POLICY, NOW + 20.0)
    assert decide(state, AcquirePermit(panic=True), POLICY, NOW + 20.0) == ()
    default_registry.encode(cooled)  # durable


def test_cool_down_length_default_cap_and_off() -> None:
    assert cool_down_duration(POLICY, None) == 5.0
    assert cool_down_duration(POLICY, float("nan")) == 5.0
    assert cool_down_duration(POLICY, 3600.0) == 60.0
    assert cool_down_duration(POLICY, -5.0) == 0.0
    off = HealthPolicy(cool_down_max_seconds=0.0)
    assert decide(fresh(), rate_limited(30.0), off, NOW) == ()  # no cool-down, no failure


def test_a_503_cools_down_only_with_a_retry_after() -> None:
    state, events = run(fresh(), unavailable(12.0))
    assert [type(e) for e in events] == [DeploymentCoolingDown]
    assert state.cooling_until == NOW + 12.0 and state.status is S.UNKNOWN
    state, events = run(fresh(), unavailable(None))
    assert state.status is S.QUARANTINED  # a plain 503 is a failure (threshold 1)


def test_a_shorter_cool_down_does_not_shorten_the_one_in_force() -> None:
    state, _ = run(fresh(), rate_limited(30.0))
    same, events = run(state, rate_limited(10.0), NOW + 1.0)
    assert events == () and same == state
    longer, events = run(state, rate_limited(60.0), NOW + 1.0)
    assert longer.cooling_until == NOW + 61.0 and len(events) == 1


def test_many_429s_never_quarantine() -> None:
    state = fresh()
    for n in range(50):
        state, _ = run(state, rate_limited(1.0), NOW + 2.0 * n)
    assert state.status is S.UNKNOWN and state.quarantine_count == 0


def test_a_reset_ends_the_cool_down() -> None:
    state, _ = run(fresh(), rate_limited(30.0))
    state, _ = run(state, Reset())
    assert state.cooling_until is None and admits(state, POLICY, NOW)


# --- panic probes ---------------------------------------------------------------------


def quarantined(did: str, at: float) -> DeploymentHealth:
    return run(fresh(did), BROKEN, at)[0]


def test_panic_picks_the_deployment_back_soonest() -> None:
    early, late = quarantined(D1, NOW), quarantined(D2, NOW + 5.0)
    assert panic_pick([late, early], POLICY, NOW + 10.0) == (D1, NOW + 30.0)
    cooling, _ = run(fresh(D2), rate_limited(10.0), NOW + 10.0)
    assert panic_pick([early, cooling], POLICY, NOW + 11.0) == (D2, NOW + 20.0)


def test_no_panic_while_a_candidate_is_usable_or_being_probed_or_when_off() -> None:
    out = quarantined(D1, NOW)
    assert panic_pick([out, fresh(D2)], POLICY, NOW + 1.0) is None
    assert panic_pick([out], HealthPolicy(panic_probe=False), NOW + 1.0) is None
    probing, _ = run(quarantined(D2, NOW), PanicProbe(out_until=NOW + 30.0), NOW + 1.0)
    busy = msgspec.structs.replace(probing, probes_in_flight=1)
    assert panic_pick([out, busy], POLICY, NOW + 1.0) is None
    failed, _ = run(fresh(D2), RecordOutcome(ok=False, failure="auth", permanent=True))
    assert panic_pick([out, failed], POLICY, NOW + 1.0) == (D1, NOW + 30.0)
    assert panic_pick([failed], POLICY, NOW + 1.0) is None


def test_a_panic_probe_of_a_quarantined_deployment_starts_probing() -> None:
    state, events = run(quarantined(D1, NOW), PanicProbe(out_until=NOW + 30.0), NOW + 2.0)
    panic, started = events
    assert isinstance(panic, DeploymentPanicProbe) and panic.status == "quarantined"
    assert isinstance(started, DeploymentProbingStarted) and started.reason == "panic probe"
    assert state.status is S.PROBING and admits(state, POLICY, NOW + 2.0)


# --- liveness -------------------------------------------------------------------------


def test_liveness_checks_double_up_to_the_quarantine() -> None:
    delays = [liveness_delay(POLICY, n, 30.0) for n in range(7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert liveness_delay(POLICY, 10_000, 300.0) == 300.0  # no overflow


def test_revive_moves_only_a_quarantine_to_probing() -> None:
    state, events = run(quarantined(D1, NOW), Revive(), NOW + 1.0)
    assert state.status is S.PROBING and state.reason == "the endpoint accepts connections again"
    assert [type(e) for e in events] == [DeploymentProbingStarted]
    assert run(fresh(), Revive())[1] == ()


# --- the actor ------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.records: list[Event] = []

    def record(self, stream: str, events: Sequence[Event]) -> None:
        for event in events:
            default_registry.encode(event)
        self.records.extend(events)


async def spawn(
    system: ActorSystem, sink: Sink, liveness: Liveness | None = None
) -> ActorRef[HealthMessage]:
    async def restore() -> dict[str, DeploymentHealth]:
        return fold(evolve_all, {}, sink.records)

    ref = system.spawn(
        lambda: HealthActor(
            POLICY, [D1, D2], states={}, restore=restore, record=sink.record,
            publish=lambda _: None, liveness=liveness,
        ),
        name="health",
    )  # fmt: skip
    await ref.ask(GetHealthStatistics())
    return ref


def status(ref: ActorRef[HealthMessage], did: str) -> HealthStatus:
    return ref.ask_nowait(GetHealth()).states[did].status


async def test_liveness_checks_run_on_the_clock_and_revive_at_the_first_success(
    system: ActorSystem, clock: ManualClock
) -> None:
    answers = [False, True]
    checked: list[float] = []

    async def alive(did: str) -> bool:
        assert did == D1
        checked.append(clock.monotonic())
        return answers.pop(0)

    sink = Sink()
    health = await spawn(system, sink, alive)
    start = clock.monotonic()
    await health.ask(ReportOutcome(D1, REFUSED))
    assert status(health, D1) is S.QUARANTINED
    await clock.advance(0.9)
    assert checked == []
    await clock.advance(0.1)  # 1 s: refused
    stats = await health.ask(GetHealthStatistics())
    assert checked == [start + 1.0] and status(health, D1) is S.QUARANTINED
    await clock.advance(2.0)  # 3 s: alive
    stats = await health.ask(GetHealthStatistics())
    assert checked == [start + 1.0, start + 3.0] and stats.liveness_checks == 2
    assert status(health, D1) is S.PROBING
    await clock.advance(60.0)
    assert len(checked) == 2  # no more checks once out of quarantine
    assert isinstance(await health.ask(AcquireProbe(D1)), Admitted)


async def test_no_liveness_checks_for_other_failures_or_after_a_reset(
    system: ActorSystem, clock: ManualClock
) -> None:
    checked: list[str] = []

    async def alive(did: str) -> bool:
        checked.append(did)
        return False

    health = await spawn(system, Sink(), alive)
    await health.ask(ReportOutcome(D2, BROKEN))  # a 500: the process answers already
    await health.ask(ReportOutcome(D1, REFUSED))
    await health.ask(ResetHealth((D1,)))
    await clock.advance(40.0)
    await health.ask(GetHealthStatistics())
    assert checked == []


async def test_screen_panics_once_for_cooling_candidates(
    system: ActorSystem, clock: ManualClock
) -> None:
    sink = Sink()
    health = await spawn(system, sink)
    await health.ask(ReportOutcome(D1, rate_limited(20.0)))
    await clock.advance(1.0)
    await health.ask(ReportOutcome(D2, rate_limited(10.0)))
    screened = await health.ask(Screen((D1, D2)))
    assert set(screened.blocked) == {D1} and screened.blocked[D1][0] == "cool_down"
    again = await health.ask(Screen((D1, D2)))  # the pass waits for its request
    assert set(again.blocked) == {D1}
    assert isinstance(await health.ask(AcquireProbe(D2)), Admitted)
    used = await health.ask(Screen((D1, D2)))  # in flight: no second panic probe
    assert set(used.blocked) == {D1, D2}
    refused = await health.ask(AcquireProbe(D2))
    assert isinstance(refused, NotAdmitted) and refused.reason == "cool_down"
    panics = [e for e in sink.records if isinstance(e, DeploymentPanicProbe)]
    assert [p.deployment for p in panics] == [D2]
    assert not any(isinstance(e, DeploymentQuarantined) for e in sink.records)


async def test_the_request_that_got_the_429_retries_after_its_own_wait(
    system: ActorSystem, clock: ManualClock
) -> None:
    health = await spawn(system, Sink())
    await health.ask(ReportOutcome(D1, rate_limited(None)))  # 5 s by default
    other = await health.ask(AcquireProbe(D1))
    assert isinstance(other, NotAdmitted) and other.reason == "cool_down"
    assert isinstance(await health.ask(AcquireProbe(D1, retrying=True)), Admitted)
    await clock.advance(5.0)
    assert isinstance(await health.ask(AcquireProbe(D1)), Admitted)
