"""The health actor: the single owner of deployment health, its events and its checks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from actors import ActorRef, ActorSystem, ManualClock
from actors.health import (
    AcquireProbe,
    Admitted,
    DeploymentHealth,
    GetHealth,
    GetHealthStatistics,
    HealthActor,
    HealthMessage,
    HealthPolicy,
    HealthStatus,
    NotAdmitted,
    NoteListed,
    Probe,
    RecordOutcome,
    ReleaseProbe,
    ReportOutcome,
    ResetHealth,
    Screen,
    evolve_all,
)
from events import (
    DeploymentQuarantined,
    DeploymentRecovered,
    Event,
    HealthOutcomeRecorded,
    default_registry,
    fold,
)

D1, D2 = "llama3@a", "llama3@b"
FAIL = RecordOutcome(ok=False, failure="server_error", weight=1.0, message="HTTP 500")
OK = RecordOutcome(ok=True)
POLICY = HealthPolicy(failure_threshold=3, window_size=4, min_calls=4, quarantine_seconds=30)


class Sink:
    """Records what the actor hands to ``record`` and ``publish``."""

    def __init__(self) -> None:
        self.records: list[tuple[str, tuple[Event, ...]]] = []
        self.published: list[Event] = []

    def record(self, stream: str, events: Sequence[Event]) -> None:
        for event in events:
            default_registry.encode(event)  # durable events only: transient ones fail here
        self.records.append((stream, tuple(events)))

    def events(self) -> list[Event]:
        return [e for _, batch in self.records for e in batch]


async def spawn(
    system: ActorSystem,
    sink: Sink,
    policy: HealthPolicy = POLICY,
    *,
    states: dict[str, DeploymentHealth] | None = None,
    probe: Probe | None = None,
    interval: float = 0.0,
) -> ActorRef[HealthMessage]:
    async def restore() -> dict[str, DeploymentHealth]:
        return fold(evolve_all, {}, sink.events())

    first = [states if states is not None else {}]  # later incarnations restore()

    ref = system.spawn(
        lambda: HealthActor(
            policy, [D1, D2], states=first.pop() if first else None, restore=restore,
            record=sink.record, publish=sink.published.append, probe=probe,
            check_interval=interval,
        ),
        name="health",
    )  # fmt: skip
    await ref.ask(GetHealthStatistics())  # started
    return ref


def state(ref: ActorRef[HealthMessage], did: str) -> DeploymentHealth:
    return ref.ask_nowait(GetHealth()).states[did]


async def test_failures_quarantine_and_every_transition_is_recorded(
    system: ActorSystem, clock: ManualClock
) -> None:
    sink = Sink()
    health = await spawn(system, sink)
    for _ in range(3):
        await health.ask(ReportOutcome(D1, FAIL))
    now = state(health, D1)
    assert now.status is HealthStatus.QUARANTINED
    assert now.quarantined_until == clock.time() + 30
    assert {stream for stream, _ in sink.records} == {"health/llama3@a"}
    quarantines = [e for e in sink.events() if isinstance(e, DeploymentQuarantined)]
    assert len(quarantines) == 1 and sink.published == sink.events()
    screened = await health.ask(Screen((D1, D2)))
    assert screened.blocked == {D1: ("quarantined", f"quarantined for another 30 s ({now.reason})")}
    assert (await health.ask(GetHealthStatistics())).transitions == 2
    assert health.statistics().inline >= 4  # answered in this task, not queued


async def test_steady_successes_leave_no_trace_but_replay_still_matches(
    system: ActorSystem,
) -> None:
    sink = Sink()
    health = await spawn(system, sink)
    for _ in range(4):
        await health.ask(ReportOutcome(D1, OK))
    recorded = len(sink.events())
    for _ in range(50):
        await health.ask(ReportOutcome(D1, OK))
    assert len(sink.events()) == recorded  # no-op outcomes were not written
    assert fold(evolve_all, {}, sink.events())[D1] == state(health, D1)
    assert (await health.ask(GetHealthStatistics())).outcomes == 54


async def test_probe_permits_are_bounded_and_released(
    system: ActorSystem, clock: ManualClock
) -> None:
    sink = Sink()
    health = await spawn(system, sink)
    for _ in range(3):
        await health.ask(ReportOutcome(D1, FAIL))
    refused = await health.ask(AcquireProbe(D1))
    assert isinstance(refused, NotAdmitted) and refused.reason == "quarantined"
    assert await health.ask(AcquireProbe(D2)) == Admitted()  # no permit needed
    await clock.advance(31)
    permit = await health.ask(AcquireProbe(D1))
    assert isinstance(permit, Admitted) and permit.probe_round is not None
    assert state(health, D1).status is HealthStatus.PROBING
    assert (await health.ask(Screen((D1,)))).blocked == {
        D1: ("probing_full", "all 1 probe slot(s) in use")
    }
    full = await health.ask(AcquireProbe(D1))
    assert isinstance(full, NotAdmitted) and full.reason == "probing_full"
    await health.ask(ReleaseProbe(D1, permit.probe_round))
    assert (await health.ask(Screen((D1,)))).blocked == {}
    assert (await health.ask(GetHealthStatistics())).probes_in_flight == 0
    await health.ask(AcquireProbe(D1))
    await health.ask(ReportOutcome(D1, OK))
    assert state(health, D1).status is HealthStatus.HEALTHY
    assert isinstance(sink.events()[-1], DeploymentRecovered)


async def test_it_starts_from_the_replayed_state_without_probe_permits(
    system: ActorSystem,
) -> None:
    sink = Sink()
    first = await spawn(system, sink)
    for _ in range(3):
        await first.ask(ReportOutcome(D1, FAIL))
    replayed = fold(evolve_all, {}, sink.events())
    await system.stop(first)
    second = await spawn(system, Sink(), states=replayed)
    assert state(second, D1) == replayed[D1]
    await system.stop(second)
    held = {D1: DeploymentHealth(deployment=D1, probes_in_flight=2)}  # from a stale snapshot
    third = await spawn(system, Sink(), states=held)
    assert state(third, D1).probes_in_flight == 0


async def test_permanent_failures_wait_for_a_reset_or_the_catalog(system: ActorSystem) -> None:
    sink = Sink()
    health = await spawn(system, sink)
    auth = RecordOutcome(ok=False, failure="auth", permanent=True, message="401")
    await health.ask(ReportOutcome(D1, auth))
    assert (await health.ask(Screen((D1,)))).blocked[D1][0] == "failed"
    await health.ask(NoteListed((D1,)))
    assert state(health, D1).status is HealthStatus.UNKNOWN
    await health.ask(ReportOutcome(D2, FAIL))
    assert (await health.ask(ResetHealth((D2,), "operator"))).deployments == (D2,)
    assert state(health, D2).status is HealthStatus.UNKNOWN
    assert state(health, D2).reason == "operator"


async def test_a_handler_failure_restarts_it_from_the_log(
    system: ActorSystem, clock: ManualClock
) -> None:
    sink = Sink()
    health = await spawn(system, sink)
    for _ in range(3):
        await health.ask(ReportOutcome(D1, FAIL))
    try:
        await health.ask(ReportOutcome("nobody@nowhere", FAIL))  # KeyError: a bug, a crash
    except KeyError as exc:
        assert "unknown deployment 'nobody@nowhere'" in str(exc)
    later = asyncio.ensure_future(health.ask(GetHealth()))
    await clock.advance(1.0)  # past the restart backoff
    rebuilt = (await later).states
    assert rebuilt == fold(evolve_all, {}, sink.events()) | {D2: DeploymentHealth(deployment=D2)}
    assert health.statistics().restarts == 1


outcomes = st.lists(
    st.tuples(
        st.sampled_from([D1, D2]),
        st.booleans(),
        st.sampled_from([0.0, 0.5, 1.0]),
        st.floats(min_value=0, max_value=40),
    ),
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(outcomes)
def test_replayed_health_equals_live_health(steps: list[tuple[str, bool, float, float]]) -> None:
    async def run() -> None:
        clock = ManualClock()
        sink = Sink()
        async with ActorSystem(clock=clock) as system:
            health = await spawn(system, sink)
            for did, ok, weight, wait in steps:
                clock.set_wall_time(clock.time() + wait)
                admitted = await health.ask(AcquireProbe(did))
                if not ok or isinstance(admitted, Admitted):
                    outcome = OK if ok else RecordOutcome(ok=False, failure="x", weight=weight)
                    await health.ask(ReportOutcome(did, outcome))
                if isinstance(admitted, Admitted) and admitted.probe_round is not None:
                    await health.ask(ReleaseProbe(did, admitted.probe_round))
            live = (await health.ask(GetHealth())).states
        await clock.aclose()
        replayed = fold(evolve_all, {}, sink.events())
        for did in (D1, D2):
            assert replayed.get(did, DeploymentHealth(deployment=did)) == live[did]
        recorded = [e for e in sink.events() if isinstance(e, HealthOutcomeRecorded)]
        assert all(e.window_size == 4 for e in recorded)

    asyncio.run(run())


async def test_checks_are_timer_messages_and_skip_what_traffic_proved(
    system: ActorSystem, clock: ManualClock
) -> None:
    sink = Sink()
    checked: list[str] = []

    async def probe(did: str) -> RecordOutcome | None:
        checked.append(did)
        return OK

    policy = HealthPolicy(failure_threshold=1, quarantine_seconds=15)
    health = await spawn(system, sink, policy, probe=probe, interval=10.0)
    await clock.advance(10)
    await health.ask(GetHealthStatistics())  # the round's results are queued first
    assert checked == [D1, D2] and state(health, D1).status is HealthStatus.HEALTHY
    await health.ask(ReportOutcome(D1, OK))  # real traffic proves D1
    await health.ask(ReportOutcome(D2, FAIL))  # D2 quarantined for 15 s
    await clock.advance(10)
    assert checked == [D1, D2]  # D1 proven, D2 still in quarantine
    await clock.advance(10)  # 20 s after the quarantine began: D2's check is a probe
    stats = await health.ask(GetHealthStatistics())
    assert checked == [D1, D2, D1, D2]
    assert state(health, D2).status is HealthStatus.HEALTHY
    assert stats.probes_in_flight == 0 and stats.check_rounds == 3 and stats.checks == 4


async def test_slow_successes_degrade_and_screen_reports_it_then_it_recovers(
    system: ActorSystem,
) -> None:
    sink = Sink()
    policy = HealthPolicy(
        failure_threshold=3, window_size=4, min_calls=4, degraded_latency_seconds=1.0
    )
    health = await spawn(system, sink, policy)
    fast, slow = RecordOutcome(ok=True, latency=0.1), RecordOutcome(ok=True, latency=5.0)
    for _ in range(5):
        await health.ask(ReportOutcome(D1, fast))
    recorded = len(sink.events())
    for _ in range(20):
        await health.ask(ReportOutcome(D1, fast))
    assert len(sink.events()) == recorded  # fast successes on a steady deployment: no rows
    for _ in range(3):
        await health.ask(ReportOutcome(D1, slow))
    assert state(health, D1).status is HealthStatus.DEGRADED
    screened = await health.ask(Screen((D1, D2)))
    assert screened.blocked == {} and screened.degraded == {D1}
    assert isinstance(await health.ask(AcquireProbe(D1)), Admitted)  # less traffic, not none
    for _ in range(4):
        await health.ask(ReportOutcome(D1, fast))
    assert state(health, D1).status is HealthStatus.HEALTHY
    assert (await health.ask(Screen((D1, D2)))).degraded == frozenset()
    assert fold(evolve_all, {}, sink.events())[D1] == state(health, D1)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([D1, D2]), st.floats(0.0, 3.0)), max_size=40))
def test_replayed_latency_health_equals_live(steps: list[tuple[str, float]]) -> None:
    policy = HealthPolicy(window_size=4, min_calls=4, degraded_latency_seconds=1.0)

    async def run() -> None:
        sink, clock = Sink(), ManualClock()
        async with ActorSystem(clock=clock) as system:
            health = await spawn(system, sink, policy)
            for did, latency in steps:
                await health.ask(ReportOutcome(did, RecordOutcome(ok=True, latency=latency)))
            live = (await health.ask(GetHealth())).states
        await clock.aclose()
        replayed = fold(evolve_all, {}, sink.events())
        for did in (D1, D2):
            assert replayed.get(did, DeploymentHealth(deployment=did)) == live[did]

    asyncio.run(run())
