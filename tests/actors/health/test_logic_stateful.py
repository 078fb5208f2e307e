"""Random sequences of health commands: invariants, and replay equals live state."""

from __future__ import annotations

import math
from collections.abc import Iterable

import msgspec
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from actors.health import (
    TRANSITIONS,
    AcquirePermit,
    CatalogSawModel,
    DeploymentHealth,
    DeploymentUnavailable,
    HealthCommand,
    HealthPolicy,
    HealthStatus,
    ProbePermitGranted,
    RecordOutcome,
    ReleasePermit,
    Reset,
    Tick,
    admits,
    decide,
    durable,
    evolve,
    quarantine_duration,
    target_status,
)
from events import Event, UnknownEvent, default_registry
from events._health import (
    DeploymentQuarantined,
    DeploymentStabilized,
    HealthOutcomeRecorded,
    HealthReset,
)

FAILURES = ["timeout_connect", "connection", "server_error", "timeout_total", "bad_response"]

policies = st.builds(
    HealthPolicy,
    failure_threshold=st.integers(1, 4),
    failure_rate_threshold=st.sampled_from([0.25, 0.5, 1.0]),
    window_size=st.just(6),
    min_calls=st.integers(1, 6),
    quarantine_seconds=st.sampled_from([5.0, 30.0]),
    quarantine_backoff=st.sampled_from([1.0, 2.0, 3.0]),
    quarantine_max_seconds=st.sampled_from([30.0, 100.0]),
    half_open_probes=st.integers(1, 3),
)


class HealthMachine(RuleBasedStateMachine):
    """A deployment driven by an actor-like shell: decide, keep durable events, evolve."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = HealthPolicy()
        self.state = DeploymentHealth(deployment="llama3@local")
        self.now = 1_700_000_000.0
        self.emitted: list[Event] = []
        self.held: list[int] = []  # probe rounds of permits held by "requests"

    @initialize(policy=policies)
    def setup(self, policy: HealthPolicy) -> None:
        self.policy = policy

    def apply(self, command: HealthCommand) -> tuple[Event, ...]:
        before = self.state
        events = decide(before, command, self.policy, self.now)
        for event in events:
            target = target_status(event)
            if target is not None:
                assert target in TRANSITIONS[self.state.status]
            self.state = evolve(self.state, event)
        self.emitted.extend(events)
        return events

    # --- rules -------------------------------------------------------------------------

    @rule(
        ok=st.booleans(),
        failure=st.sampled_from(FAILURES),
        weight=st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, math.nan, -1.0]),
        permanent=st.sampled_from([False] * 15 + [True]),
    )
    def outcome(self, ok: bool, failure: str, weight: float, permanent: bool) -> None:
        events = self.apply(
            RecordOutcome(ok=ok, failure=failure, weight=weight, permanent=permanent)
        )
        if not ok and not permanent and (weight <= 0.0):
            assert events == ()  # the request's own fault changes nothing

    @rule(seconds=st.sampled_from([0.0, 1.0, 5.0, 29.0, 30.0, 100.0, 1000.0]))
    def tick(self, seconds: float) -> None:
        self.now += seconds
        self.apply(Tick())

    @rule(seconds=st.sampled_from([1.0, 60.0, 3600.0]))
    def wall_clock_steps_back(self, seconds: float) -> None:
        self.now -= seconds

    @rule()
    def acquire(self) -> None:
        allowed = admits(self.state, self.policy, self.now)
        try:
            events = self.apply(AcquirePermit())
        except DeploymentUnavailable:
            assert not allowed
            return
        assert allowed
        self.held += [e.probe_round for e in events if isinstance(e, ProbePermitGranted)]

    @precondition(lambda self: self.state.status is HealthStatus.PROBING)
    @rule()
    def a_thousand_concurrent_acquires(self) -> None:
        free = self.policy.half_open_probes - self.state.probes_in_flight
        granted = 0
        for _ in range(1000):
            try:
                events = self.apply(AcquirePermit())
            except DeploymentUnavailable:
                continue
            rounds = [e.probe_round for e in events if isinstance(e, ProbePermitGranted)]
            self.held += rounds
            granted += len(rounds)
        assert granted == free
        assert self.state.probes_in_flight == self.policy.half_open_probes

    @precondition(lambda self: bool(self.held))
    @rule(index=st.integers(0, 10))
    def release(self, index: int) -> None:
        probe_round = self.held.pop(index % len(self.held))
        self.apply(ReleasePermit(probe_round=probe_round))

    @rule(ok=st.booleans(), n=st.integers(1, 8))
    def streak(self, ok: bool, n: int) -> None:
        # Runs of equal outcomes reach quarantine and stabilization within a short run.
        for _ in range(n):
            self.apply(RecordOutcome(ok=ok, failure=None if ok else "server_error"))

    @rule(really=st.sampled_from([False] * 7 + [True]))
    def reset(self, really: bool) -> None:
        # Drawn as often as any rule but acting rarely, so resets do not mask long runs.
        if really:
            events = self.apply(Reset())
            assert self.state.status is HealthStatus.UNKNOWN and len(events) == 1

    @rule()
    def catalog_saw_model(self) -> None:
        was_failed = self.state.status is HealthStatus.FAILED
        self.apply(CatalogSawModel())
        assert (self.state.status is HealthStatus.UNKNOWN) if was_failed else True

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def status_is_a_known_state(self) -> None:
        assert self.state.status in set(HealthStatus)

    @invariant()
    def no_admission_while_quarantined_or_failed(self) -> None:
        s = self.state
        if s.status is HealthStatus.FAILED:
            assert not admits(s, self.policy, self.now)
        if s.status is HealthStatus.QUARANTINED:
            assert s.quarantined_until is not None and s.last_change is not None
            if s.last_change <= self.now < s.quarantined_until:
                assert not admits(s, self.policy, self.now)

    @invariant()
    def probes_are_bounded(self) -> None:
        assert 0 <= self.state.probes_in_flight <= self.policy.half_open_probes
        if self.state.status is not HealthStatus.PROBING:
            assert self.state.probes_in_flight == 0

    @invariant()
    def counters_are_consistent(self) -> None:
        s = self.state
        assert len(s.window) <= self.policy.window_size
        assert all(0.0 <= w <= 1.0 for w in s.window)
        assert math.isfinite(s.consecutive_failures) and s.consecutive_failures >= 0.0

    @invariant()
    def quarantines_grow_but_never_exceed_the_maximum(self) -> None:
        quarantines = [e for e in self.emitted if isinstance(e, DeploymentQuarantined)]
        p = self.policy
        for quarantine in quarantines:
            duration = quarantine.until - quarantine.at
            assert p.quarantine_seconds <= duration <= p.quarantine_max_seconds
            assert duration == quarantine_duration(p, quarantine.quarantine_count)
        # Between two quarantines with no reset or stabilization in between, the count
        # goes up by one and the duration does not shrink.
        previous: DeploymentQuarantined | None = None
        for event in self.emitted:
            if isinstance(event, HealthReset | DeploymentStabilized):
                previous = None
            elif isinstance(event, DeploymentQuarantined):
                if previous is None:
                    assert event.quarantine_count >= 1
                else:
                    assert event.quarantine_count == previous.quarantine_count + 1
                    assert event.until - event.at >= previous.until - previous.at
                previous = event

    @invariant()
    def replay_reproduces_the_live_state(self) -> None:
        initial = DeploymentHealth(deployment="llama3@local")
        assert fold(initial, self.emitted) == self.state
        # What a restart sees: only the durable events, through the codec. Everything
        # but the transient probe permits comes back; those start again at zero.
        stored = [default_registry.encode(event) for event in durable(self.emitted)]
        restored = fold(initial, [default_registry.decode(*row) for row in stored])
        assert restored == msgspec.structs.replace(self.state, probes_in_flight=0)

    @invariant()
    def weight_zero_failures_never_reach_the_log(self) -> None:
        for event in self.emitted:
            if isinstance(event, HealthOutcomeRecorded) and not event.ok:
                assert 0.0 < event.weight <= 1.0


def fold(state: DeploymentHealth, events: Iterable[Event | UnknownEvent]) -> DeploymentHealth:
    for event in events:
        state = evolve(state, event)
    return state


HealthMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestHealthMachine = HealthMachine.TestCase
