"""``HealthActor``: the single owner of every deployment's health, and its checks.

Turns. Every message is handled synchronously — ``decide``, then ``evolve``, then the
durable events handed to ``record`` — so requests asking it (``Screen`` at planning,
``AcquireProbe`` before a call, ``ReportOutcome`` after it) are answered inline in
their own task, never queued behind each other while the actor is idle.

Background checks are timer messages of this same actor: on ``RunChecks`` it lets
expired quarantines go probing, picks the deployments no real request has proven
healthy lately, takes their probe permits, and starts the checks in a background task
(the probes are I/O, which never runs inside a turn). Each check's result comes back
as ``RecordProbe``; a tick while a round is still running is skipped.

Events: each decision's durable events go to ``health/<deployment>`` and are
published. A success that leaves the state unchanged (healthy, window full of
successes) is not recorded: folding it would be a no-op, so live and replayed state
stay equal while the log is spared one event per request.

Restart. After a supervised failure the new instance rebuilds the health of every
deployment from the log (``restore``: queued events committed first, then snapshot +
tail) before its first message, so its state equals a full replay. Probe permits are
never logged: they start at zero again, and releases of older permits are void.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

import msgspec

from actors._actor import Actor
from actors._clock import TimerHandle
from actors._ref import ActorRef
from actors.health._latency import fast_again, judge
from actors.health._logic import (
    AcquirePermit,
    CatalogSawModel,
    HealthCommand,
    RecordOutcome,
    ReleasePermit,
    Reset,
    Tick,
    admits,
    decide,
    durable,
)
from actors.health._messages import (
    AcquireProbe,
    Admitted,
    EndCheckRound,
    GetHealth,
    GetHealthStatistics,
    HealthMessage,
    HealthReset,
    HealthStates,
    HealthStatistics,
    NotAdmitted,
    NoteListed,
    RecordProbe,
    ReleaseProbe,
    ReportOutcome,
    ResetHealth,
    RunChecks,
    Screen,
    Screened,
    Watch,
)
from actors.health._policy import HealthPolicy
from actors.health._status import (
    DeploymentHealth,
    HealthStatus,
    ProbePermitGranted,
    evolve,
    target_status,
)
from events import HEALTH_STREAM_PREFIX, Event, HealthOutcomeRecorded, get_logger

__all__ = ["HealthActor", "Probe"]

log = get_logger(__name__)

Record = Callable[[str, Sequence[Event]], None]
"""Persist events to a stream; must not block (the runtime uses the log's append_nowait)."""
Publish = Callable[[Event], None]
"""Tell subscribers about one event; must not block."""
Probe = Callable[[str], Awaitable[RecordOutcome | None]]
"""Check one deployment; the outcome to count, or None when there is nothing to count."""
Restore = Callable[[], Awaitable[dict[str, DeploymentHealth]]]
"""Rebuild every deployment's health from the log (snapshot + tail)."""

_S = HealthStatus
_SELECTABLE = frozenset({_S.UNKNOWN, _S.HEALTHY, _S.DEGRADED})
_ADMITTED = Admitted()
_NOTHING_BLOCKED = Screened(blocked={})
_SKIP_REASON = {_S.QUARANTINED: "quarantined", _S.PROBING: "probing_full", _S.FAILED: "failed"}


class HealthActor(Actor[HealthMessage]):
    """Owns the health of every configured deployment; see the module docstring."""

    def __init__(
        self,
        policy: HealthPolicy,
        deployments: Iterable[str],
        *,
        states: Mapping[str, DeploymentHealth] | None,
        restore: Restore,
        record: Record,
        publish: Publish,
        probe: Probe | None = None,
        check_interval: float = 0.0,
    ) -> None:
        """Create the actor from ``states`` (replayed), or ``restore()`` them at start.

        Args:
            policy: Thresholds and durations.
            deployments: Every deployment id (``model@endpoint``) to watch.
            states: Replayed health by deployment id; None to rebuild from the log.
            restore: Rebuilds the health from the log.
            record: Where durable events go (stream ``health/<deployment>``).
            publish: Where every durable event is announced.
            probe: Checks one deployment (background checks); None: no checks.
            check_interval: Seconds between rounds of checks; 0 disables them.
        """
        self._policy = policy
        self._deployments = tuple(dict.fromkeys(deployments))
        self._replayed = states
        self._restore = restore
        self._record = record
        self._publish = publish
        self._probe = probe
        self._interval = check_interval
        self._states: dict[str, DeploymentHealth] = {}
        self._known: Mapping[str, DeploymentHealth] = {}
        self._proven: dict[str, float] = {}
        self._steady: set[str] = set()
        self._transitions = self._outcomes = self._rounds = self._checks = 0
        self._checking = False
        self._timer: TimerHandle | None = None

    async def on_start(self) -> None:
        known = self._replayed if self._replayed is not None else await self._restore()
        self._replayed = None
        self._states = {did: _rehydrated(known.get(did), did) for did in self._deployments}
        self._known = dict(known)  # its own copy: the replayed map is the projector's
        if self._probe is not None and self._interval > 0:
            self._timer = self.tell_every(self._interval, RunChecks())

    async def on_stop(self) -> None:
        self._cancel_timer()

    async def on_failure(self, exc: Exception) -> None:
        self._cancel_timer()  # the restarted instance schedules its own

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def receive(self, message: HealthMessage) -> object:
        match message:
            case Screen(deployments=deployments):
                return self._screen(deployments)
            case AcquireProbe(deployment=did):
                return self._acquire(did)
            case ReleaseProbe(deployment=did, probe_round=probe_round):
                self._apply(did, ReleasePermit(probe_round=probe_round))
            case ReportOutcome(deployment=did, outcome=outcome, traffic=traffic):
                self._report(did, outcome, traffic)
            case ResetHealth(deployments=dids, reason=reason):
                for did in dids:
                    self._proven.pop(did, None)
                    self._apply(did, Reset(reason=reason))
                return HealthReset(deployments=dids)
            case NoteListed(deployments=dids):
                for did in dids:
                    if did in self._states:
                        self._apply(did, CatalogSawModel())
            case Watch(deployments=dids):
                for did in dids:
                    if did not in self._states:
                        self._states[did] = _rehydrated(self._known.get(did), did)
            case GetHealth():
                return HealthStates(states=dict(self._states))
            case GetHealthStatistics():
                return self._statistics()
            case RunChecks():
                self._start_round()
            case RecordProbe(deployment=did, probe_round=probe_round, outcome=outcome):
                if outcome is not None:
                    self._report(did, outcome, traffic=False)
                if probe_round is not None:
                    self._apply(did, ReleasePermit(probe_round=probe_round))
            case EndCheckRound():
                self._checking = False
        return None

    # --- queries ------------------------------------------------------------------------

    def _state(self, deployment: str) -> DeploymentHealth:
        try:
            return self._states[deployment]
        except KeyError:
            known = ", ".join(self._states) or "none"
            raise KeyError(f"unknown deployment {deployment!r}; known: {known}") from None

    def _screen(self, deployments: tuple[str, ...]) -> Screened:
        blocked: dict[str, tuple[str, str]] | None = None
        degraded: set[str] | None = None
        for did in deployments:
            if self._state(did).status is _S.DEGRADED and not fast_again(
                self._state(did), self._policy
            ):
                degraded = degraded or set()
                degraded.add(did)
                continue
            why = self._blocked(did)
            if why is not None:
                if blocked is None:
                    blocked = {}
                blocked[did] = why
        if blocked is None and degraded is None:
            return _NOTHING_BLOCKED
        return Screened(blocked=blocked or {}, degraded=frozenset(degraded or ()))

    def _blocked(self, deployment: str) -> tuple[str, str] | None:
        """Why a request may not use ``deployment`` now, as ``(skip_reason, detail)``."""
        state = self._state(deployment)
        if state.status in _SELECTABLE:
            return None
        now = self.clock.time()
        if admits(state, self._policy, now):
            return None
        if state.status is _S.QUARANTINED:
            left = (state.quarantined_until or now) - now
            return "quarantined", f"quarantined for another {left:.0f} s ({state.reason})"
        if state.status is _S.PROBING:
            return "probing_full", f"all {self._policy.half_open_probes} probe slot(s) in use"
        return "failed", state.reason or "permanent failure; reset its health when fixed"

    def _statistics(self) -> HealthStatistics:
        by_status: dict[str, int] = {}
        for state in self._states.values():
            by_status[state.status.value] = by_status.get(state.status.value, 0) + 1
        return HealthStatistics(
            deployments=len(self._states),
            by_status=by_status,
            transitions=self._transitions,
            outcomes=self._outcomes,
            probes_in_flight=sum(s.probes_in_flight for s in self._states.values()),
            check_rounds=self._rounds,
            checks=self._checks,
        )

    # --- commands -----------------------------------------------------------------------

    def _acquire(self, deployment: str) -> Admitted | NotAdmitted:
        state = self._state(deployment)
        if state.status in _SELECTABLE:
            return _ADMITTED  # decide would return no event: admitted without a permit
        why = self._blocked(deployment)
        if why is not None:
            return NotAdmitted(reason=_SKIP_REASON.get(state.status, why[0]), detail=why[1])
        for event in self._apply(deployment, AcquirePermit()):
            if isinstance(event, ProbePermitGranted):
                return Admitted(probe_round=event.probe_round)
        return _ADMITTED

    def _report(self, deployment: str, outcome: RecordOutcome, traffic: bool) -> None:
        self._outcomes += 1
        if outcome.ok:
            if traffic:
                self._proven[deployment] = self.clock.monotonic()
            if deployment in self._steady and not judge(self._policy, outcome.latency):
                return  # a (fast) success on a steady deployment folds to the same state
        self._apply(deployment, outcome)
        if outcome.ok and _is_steady(self._states[deployment], self._policy):
            self._steady.add(deployment)

    def _apply(self, deployment: str, command: HealthCommand) -> tuple[Event, ...]:
        before = self._state(deployment)
        events = decide(before, command, self._policy, self.clock.time())
        if not events:
            return events
        self._steady.discard(deployment)
        after = before
        for event in events:
            after = evolve(after, event)
        self._states[deployment] = after
        if after == before and all(isinstance(e, HealthOutcomeRecorded) for e in events):
            return events  # a no-op for the fold: nothing worth a log row
        kept = durable(events)
        for event in kept:
            self._publish(event)
            if target_status(event) is not None:
                self._transitions += 1
                _log_transition(event, after)
        if kept:
            self._record(HEALTH_STREAM_PREFIX + deployment, kept)
        return events

    # --- background checks --------------------------------------------------------------

    def _start_round(self) -> None:
        if self._checking or self._probe is None:
            return  # the previous round is still running: skip this tick
        for did in self._states:
            if self._states[did].status is _S.QUARANTINED:
                self._apply(did, Tick())
        due: list[tuple[str, int | None]] = []
        for did in self._states:
            if self._due_for_check(did):
                admitted = self._acquire(did)
                if isinstance(admitted, Admitted):
                    due.append((did, admitted.probe_round))
        self._rounds += 1
        self._checks += len(due)
        if due:
            self._checking = True
            self.run_in_background(_check(self.ref, self._probe, due), name="health-checks")
        log.debug("health.check.round.started", checks=len(due))

    def _due_for_check(self, deployment: str) -> bool:
        state = self._states[deployment]
        if state.status is _S.FAILED:
            return False
        if state.status is _S.HEALTHY and self._proven_within(deployment, self._interval):
            return False
        return self._blocked(deployment) is None

    def _proven_within(self, deployment: str, within: float) -> bool:
        when = self._proven.get(deployment)
        return when is not None and self.clock.monotonic() - when <= within


async def _check(
    ref: ActorRef[HealthMessage], probe: Probe, due: list[tuple[str, int | None]]
) -> None:
    """Run one round's checks concurrently; each result goes back as a message."""

    async def one(did: str, probe_round: int | None) -> None:
        outcome: RecordOutcome | None = None
        try:
            outcome = await probe(did)
        finally:
            await ref.ask(RecordProbe(did, probe_round, outcome), timeout=None)

    try:
        await asyncio.gather(*(one(did, r) for did, r in due))
    finally:
        await ref.ask(EndCheckRound(), timeout=None)


def _is_steady(state: DeploymentHealth, policy: HealthPolicy) -> bool:
    """Whether another success would leave ``state`` exactly as it is.

    Healthy, no failure in a full window, no quarantine history (else a success could
    still produce ``DeploymentStabilized``), and while latency is judged a full window of
    fast verdicts: folding a fast ``HealthOutcomeRecorded(ok=True)`` would append 0.0 to
    a full window of 0.0s, False to a full window of Falses and reset a zero failure
    count — a no-op, so ``decide`` need not even run. (A slow success is never skipped.)
    """
    fast = policy.degraded_latency_seconds is None or (
        len(state.slow) == policy.latency_window and not any(state.slow)
    )
    return (
        state.status is _S.HEALTHY
        and state.quarantine_count == 0
        and state.consecutive_failures == 0.0
        and len(state.window) == policy.window_size
        and not any(state.window)
        and fast
    )


def _rehydrated(state: DeploymentHealth | None, deployment: str) -> DeploymentHealth:
    if state is None:
        return DeploymentHealth(deployment=deployment)
    # Replay already yields no probe permits (they are never logged); a snapshot made
    # from a live state could hold some, and their requests died with that process.
    return msgspec.structs.replace(state, probes_in_flight=0)


def _log_transition(event: Event, after: DeploymentHealth) -> None:
    status = after.status.value
    fields = {"deployment": after.deployment, "status": status, "reason": after.reason}
    if after.status is _S.QUARANTINED:
        log.warning("health.deployment.quarantined", until=after.quarantined_until, **fields)
    elif after.status is _S.FAILED:
        log.error("health.deployment.failed", **fields)
    else:
        log.info("health.deployment.changed", event_type=type(event).__name__, **fields)
