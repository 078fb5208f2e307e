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

Out of rotation and back (``_rotation``): a 429's cool-down makes ``Screen`` and
``AcquireProbe`` skip the deployment; when a request's every candidate is out, ``Screen``
lets the one back soonest through as a panic probe; a deployment quarantined for a
connection failure gets liveness checks on a growing timer (``_checks.LivenessTimers``).

Restart. After a supervised failure the new instance rebuilds the health of every
deployment from the log (``restore``: queued events committed first, then snapshot +
tail) before its first message, so its state equals a full replay. Probe permits are
never logged: they start at zero again, and releases of older permits are void.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from actors._actor import Actor
from actors._clock import TimerHandle
from actors._fold import Fold
from actors.health._checks import (
    Liveness,
    LivenessTimers,
    Probe,
    check_liveness,
    is_steady,
    rehydrated,
    run_round,
)  # fmt: skip
from actors.health._checks import log_transition as _log_transition
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
    CheckLiveness,
    EndCheckRound,
    GetHealth,
    GetHealthStatistics,
    HealthMessage,
    HealthReset,
    HealthStates,
    HealthStatistics,
    LivenessChecked,
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
from actors.health._rotation import PanicProbe, Revive, cooling, cooling_detail, panic_pick
from actors.health._shared import fold_foreign, health_statistics
from actors.health._status import (
    DeploymentHealth,
    HealthStatus,
    ProbePermitGranted,
    evolve,
    target_status,
)
from events import HEALTH_STREAM_PREFIX, Event, HealthOutcomeRecorded, StoredEvent, get_logger

__all__ = ["HealthActor", "Probe"]

log = get_logger(__name__)

Record = Callable[[str, Sequence[Event]], None]
"""Persist events to a stream; must not block (the runtime uses the log's append_nowait)."""
Publish = Callable[[Event], None]
"""Tell subscribers about one event; must not block."""
Restore = Callable[[], Awaitable[dict[str, DeploymentHealth]]]
"""Rebuild every deployment's health from the log (snapshot + tail)."""

_S = HealthStatus
_SELECTABLE = frozenset({_S.UNKNOWN, _S.HEALTHY, _S.DEGRADED})
_ADMITTED = Admitted()
_NOTHING_BLOCKED = Screened(blocked={})
_SKIP_REASON = {_S.QUARANTINED: "quarantined", _S.PROBING: "probing_full", _S.FAILED: "failed"}
_PANIC_HOLD = 10.0
"""Seconds a panic pass of a cooling deployment waits for its request's outcome before
another request may take a new one (a request may never use the pass it was given)."""


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
        liveness: Liveness | None = None,
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
            liveness: Cheap liveness check of a deployment's endpoint; None: none.
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
        self._known: dict[str, DeploymentHealth] = {}
        self._proven: dict[str, float] = {}
        self._steady: set[str] = set()
        self._transitions = self._outcomes = self._rounds = self._checks = 0
        self._checking = False
        self._timer: TimerHandle | None = None
        self._liveness = liveness
        self._lively = LivenessTimers(policy, liveness is not None)
        self._panics: dict[str, tuple[float, bool]] = {}
        """Deployment -> (monotonic grant time, used) of a panic pass while cooling."""

    async def on_start(self) -> None:
        known = self._replayed if self._replayed is not None else await self._restore()
        self._replayed = None
        self._states = {did: rehydrated(known.get(did), did) for did in self._deployments}
        self._known = dict(known)  # its own copy: the replayed map is the projector's
        if self._probe is not None and self._interval > 0:
            self._timer = self.tell_every(self._interval, RunChecks())
        for state in self._states.values():
            self._lively.follow(self.ref, self.clock, state, 0)

    async def on_stop(self) -> None:
        self._cancel_timer()

    async def on_failure(self, exc: Exception) -> None:
        self._cancel_timer()  # the restarted instance schedules its own

    def _cancel_timer(self) -> None:
        self._lively.cancel_all()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def receive(self, message: HealthMessage) -> object:
        match message:
            case Screen(deployments=deployments):
                return self._screen(deployments)
            case AcquireProbe(deployment=did, retrying=retrying):
                return self._acquire(did, retrying)
            case ReleaseProbe(deployment=did, probe_round=probe_round):
                self._apply(did, ReleasePermit(probe_round=probe_round))
            case ReportOutcome(deployment=did, outcome=outcome, traffic=traffic):
                self._panics.pop(did, None)
                self._report(did, outcome, traffic)
            case ResetHealth(deployments=dids, reason=reason):
                for did in dids:
                    self._proven.pop(did, None)
                    self._panics.pop(did, None)
                    self._apply(did, Reset(reason=reason))
                return HealthReset(deployments=dids)
            case NoteListed(deployments=dids):
                for did in dids:
                    if did in self._states:
                        self._apply(did, CatalogSawModel())
            case Watch(deployments=dids):
                for did in dids:
                    if did not in self._states:
                        self._states[did] = rehydrated(self._known.get(did), did)
            case GetHealth():
                return HealthStates(states=dict(self._states))
            case GetHealthStatistics():
                return self._statistics()
            case Fold(events=events):
                self._fold(events)
            case RunChecks():
                self._start_round()
            case RecordProbe(deployment=did, probe_round=probe_round, outcome=outcome):
                if outcome is not None:
                    self._report(did, outcome, traffic=False)
                if probe_round is not None:
                    self._apply(did, ReleasePermit(probe_round=probe_round))
            case EndCheckRound():
                self._checking = False
            case CheckLiveness(deployment=did, since=since) if self._liveness is not None:
                if did in self._states and self._lively.current(self._states[did], since):
                    work = check_liveness(self.ref, self._liveness, message)
                    self.run_in_background(work, name="health-liveness")
            case LivenessChecked(deployment=did, since=since, attempt=attempt, alive=alive):
                state, self._lively.checked = self._states.get(did), self._lively.checked + 1
                if state is not None and self._lively.current(state, since):
                    if alive:
                        self._apply(did, Revive())
                    else:
                        self._lively.follow(self.ref, self.clock, state, attempt + 1)
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
            why = self._blocked(did)
            if why is not None:
                blocked = blocked or {}
                blocked[did] = why
            elif self._state(did).status is _S.DEGRADED and not fast_again(
                self._state(did), self._policy
            ):
                degraded = degraded or set()
                degraded.add(did)
        if blocked is not None and degraded is None and len(blocked) == len(set(deployments)):
            self._panic(deployments, blocked)
        if not blocked and degraded is None:
            return _NOTHING_BLOCKED
        return Screened(blocked=blocked or {}, degraded=frozenset(degraded or ()))

    def _panic(self, deployments: tuple[str, ...], blocked: dict[str, tuple[str, str]]) -> None:
        """Every candidate is out: unblock the one back soonest for this request."""
        if any(d in self._panics and self._recent(self._panics[d][0]) for d in blocked):
            return  # a panic probe of these is on its way already
        states = [self._states[did] for did in dict.fromkeys(deployments)]
        picked = panic_pick(states, self._policy, self.clock.time())
        if picked is None:
            return
        did, until = picked
        self._apply(did, PanicProbe(out_until=until, candidates=tuple(blocked)))
        self._panics[did] = (self.clock.monotonic(), False)
        del blocked[did]

    def _blocked(self, deployment: str, retrying: bool = False) -> tuple[str, str] | None:
        """Why a request may not use ``deployment`` now, as ``(skip_reason, detail)``."""
        state = self._state(deployment)
        now = self.clock.time()
        passed = retrying or self._holds_pass(deployment)
        if cooling(state, now) and not passed:
            return "cool_down", cooling_detail(state, now)
        if state.status in _SELECTABLE or admits(state, self._policy, now, panic=passed):
            return None
        if state.status is _S.QUARANTINED:
            left = (state.quarantined_until or now) - now
            return "quarantined", f"quarantined for another {left:.0f} s ({state.reason})"
        if state.status is _S.PROBING:
            return "probing_full", f"all {self._policy.half_open_probes} probe slot(s) in use"
        return "failed", state.reason or "permanent failure; reset its health when fixed"

    def _holds_pass(self, deployment: str) -> bool:
        """Whether a panic pass of ``deployment`` is waiting for its request."""
        found = self._panics.get(deployment)
        return found is not None and not found[1] and self._recent(found[0])

    def _recent(self, granted: float) -> bool:
        return self.clock.monotonic() - granted < _PANIC_HOLD

    def _statistics(self) -> HealthStatistics:
        return health_statistics(
            self._states.values(), transitions=self._transitions, outcomes=self._outcomes,
            check_rounds=self._rounds, checks=self._checks, liveness_checks=self._lively.checked,
        )  # fmt: skip

    def _fold(self, events: tuple[StoredEvent, ...]) -> None:
        """Another runtime's health events: fold them, follow the changed deployments."""
        for did in fold_foreign(self._states, self._known, events):
            self._steady.discard(did)
            self._lively.follow(self.ref, self.clock, self._states[did], 0)

    # --- commands -----------------------------------------------------------------------

    def _acquire(self, deployment: str, retrying: bool = False) -> Admitted | NotAdmitted:
        state = self._state(deployment)
        why = self._blocked(deployment, retrying)
        if why is not None:
            reason = why[0] if why[0] == "cool_down" else _SKIP_REASON.get(state.status, why[0])
            return NotAdmitted(reason=reason, detail=why[1])
        panic = self._holds_pass(deployment)
        if panic:
            self._panics[deployment] = (self._panics[deployment][0], True)  # the pass is used
        if state.status in _SELECTABLE:
            return _ADMITTED  # decide would return no event: admitted without a permit
        for event in self._apply(deployment, AcquirePermit(panic=panic or retrying)):
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
        if outcome.ok and is_steady(self._states[deployment], self._policy):
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
        self._lively.follow(self.ref, self.clock, after, 0)
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
            self.run_in_background(run_round(self.ref, self._probe, due), name="health-checks")
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
