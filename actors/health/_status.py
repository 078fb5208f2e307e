"""The health state of a deployment, its statuses and transitions, and ``evolve``.

``evolve`` is the fold: pure and total. The allowed status changes are a table checked by
``decide`` (an illegal one is a bug), not by ``evolve``, which applies what the log says.

The errors::

    HealthError
     ├── DeploymentUnavailable   AcquirePermit refused: quarantined, failed, or no probe slot
     └── IllegalTransition       decide produced a transition the table forbids (a bug)
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable

import msgspec

from events import LLMRuntimeError
from events._base import Event, UnknownEvent
from events._health import (
    DeploymentCoolingDown,
    DeploymentDegraded,
    DeploymentFailed,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    DeploymentStabilized,
    HealthEvent,
    HealthOutcomeRecorded,
    HealthReset,
)

__all__ = [
    "DeploymentHealth",
    "DeploymentUnavailable",
    "HealthError",
    "HealthStatus",
    "IllegalTransition",
    "ProbePermitGranted",
    "ProbePermitReleased",
    "TRANSIENT_EVENTS",
    "TRANSITIONS",
    "aggregate",
    "check_transition",
    "clamp_weight",
    "evolve",
    "evolve_all",
    "target_status",
]


class HealthStatus(enum.StrEnum):
    """Where a deployment stands; the router selects by it."""

    UNKNOWN = "unknown"
    """No evidence yet (new, or just reset): selectable, so that evidence can arrive."""
    HEALTHY = "healthy"
    """Recent requests succeed."""
    DEGRADED = "degraded"
    """Some recent requests failed, but fewer than the quarantine thresholds, or recent
    successful calls were slow (``_latency``): selectable; while slow, the router tries
    it last in most requests of its model (it gets less traffic)."""
    QUARANTINED = "quarantined"
    """Removed from selection until a wall-clock deadline; then it goes probing."""
    PROBING = "probing"
    """Half-open: at most ``half_open_probes`` requests at a time test it; the first
    verdict decides (success -> healthy, failure -> quarantined for longer)."""
    FAILED = "failed"
    """A permanent problem (auth, model gone): out until reset or the catalog sees the
    model again. No timer brings it back, because waiting does not fix a bad key."""


_S = HealthStatus

TRANSITIONS: dict[HealthStatus, frozenset[HealthStatus]] = {
    _S.UNKNOWN: frozenset({_S.HEALTHY, _S.DEGRADED, _S.QUARANTINED, _S.FAILED, _S.UNKNOWN}),
    _S.HEALTHY: frozenset({_S.DEGRADED, _S.QUARANTINED, _S.FAILED, _S.UNKNOWN}),
    _S.DEGRADED: frozenset({_S.HEALTHY, _S.QUARANTINED, _S.FAILED, _S.UNKNOWN}),
    _S.QUARANTINED: frozenset({_S.PROBING, _S.FAILED, _S.UNKNOWN}),
    _S.PROBING: frozenset({_S.HEALTHY, _S.QUARANTINED, _S.FAILED, _S.UNKNOWN}),
    _S.FAILED: frozenset({_S.UNKNOWN}),
}
"""Allowed ``from -> to`` status changes.

Every state may go to ``unknown`` (a reset). ``healthy``/``unknown`` may jump straight to
``quarantined`` (e.g. ``failure_threshold=1``). ``quarantined`` only leaves by its
deadline (to ``probing``), a permanent failure, or a reset: stragglers' outcomes do not
lift or extend it. ``failed`` has no timer: only a reset (manual or by the catalog).
"""


class HealthError(LLMRuntimeError):
    """Root of the errors raised by the health logic."""


class DeploymentUnavailable(HealthError):
    """``AcquirePermit`` was refused: the router must pick another deployment."""

    def __init__(self, deployment: str, status: HealthStatus, detail: str) -> None:
        self.deployment = deployment
        self.status = status
        super().__init__(f"deployment {deployment!r} is {status.value}: {detail}")


class IllegalTransition(HealthError):
    """``decide`` produced a status change that ``TRANSITIONS`` forbids: a bug in decide."""

    def __init__(self, deployment: str, source: HealthStatus, target: HealthStatus) -> None:
        self.deployment = deployment
        self.source = source
        self.target = target
        super().__init__(
            f"illegal health transition {source.value} -> {target.value} for deployment "
            f"{deployment!r}; allowed from {source.value}: "
            f"{sorted(s.value for s in TRANSITIONS[source])} (this is a bug in decide)"
        )


def check_transition(deployment: str, source: HealthStatus, target: HealthStatus) -> None:
    """Raise ``IllegalTransition`` unless ``source -> target`` is in ``TRANSITIONS``."""
    if target not in TRANSITIONS[source]:
        raise IllegalTransition(deployment, source, target)


class DeploymentHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The health of one deployment: a pure fold of its ``health/<deployment>`` stream."""

    deployment: str
    """The deployment's name; ``evolve`` ignores events of other deployments."""
    status: HealthStatus = HealthStatus.UNKNOWN
    consecutive_failures: float = 0.0
    """Sum of failure weights since the last success."""
    window: tuple[float, ...] = ()
    """Recent outcomes, oldest first: 0.0 for a success, the failure weight otherwise.
    Floats rather than bools so that a half-weight failure (say, rate limited) counts half."""
    quarantine_count: int = 0
    """Quarantines since the last stabilization; drives the duration's growth."""
    quarantined_until: float | None = None
    """Wall-clock deadline (epoch seconds) while quarantined, else ``None``. Wall-clock,
    not monotonic, because it must mean the same thing after a restart."""
    probe_round: int = 0
    """Number of probing rounds ever started; a permit is valid only in its own round."""
    probes_in_flight: int = 0
    """Probe permits held right now (transient: always 0 after a replay)."""
    last_failure: str | None = None
    """Failure class of the most recent counted failure."""
    slow: tuple[bool, ...] = ()
    """Verdicts of recent successful calls, oldest first: True when one was slower than
    ``degraded_latency_seconds`` (only kept while latency is judged; see ``_latency``)."""
    reason: str = ""
    """Why the deployment is in its current status (empty when healthy or unknown)."""
    last_change: float | None = None
    """When the status last changed (epoch seconds)."""
    cooling_until: float | None = None
    """Wall-clock end of the last cool-down (a 429's ``Retry-After``): every request
    skips the deployment before it. Independent of the status, which it does not change;
    a past value means nothing (kept so that an older cool-down is not shortened)."""
    cooling_reason: str = ""
    """What the backend answered that started the cool-down."""


class ProbePermitGranted(HealthEvent, frozen=True, kw_only=True):
    """Transient: a probe request was admitted while probing (never appended)."""

    probe_round: int


class ProbePermitReleased(HealthEvent, frozen=True, kw_only=True):
    """Transient: a probe request finished or was cancelled (never appended)."""

    probe_round: int


TRANSIENT_EVENTS = (ProbePermitGranted, ProbePermitReleased)


def target_status(event: Event) -> HealthStatus | None:
    """The status an event moves to, or ``None`` if it is not a status change."""
    match event:
        case DeploymentRecovered():
            return _S.HEALTHY
        case DeploymentDegraded():
            return _S.DEGRADED
        case DeploymentQuarantined():
            return _S.QUARANTINED
        case DeploymentProbingStarted():
            return _S.PROBING
        case DeploymentFailed():
            return _S.FAILED
        case HealthReset():
            return _S.UNKNOWN
        case _:
            return None


def clamp_weight(weight: float) -> float:
    """A failure weight clamped to ``[0, 1]``; NaN counts fully (it must not hide a failure)."""
    if math.isnan(weight):
        return 1.0
    return min(1.0, max(0.0, weight))


def evolve(state: DeploymentHealth, event: Event | UnknownEvent) -> DeploymentHealth:
    """Apply one event; pure and total.

    Never raises: events of other deployments, non-health events and ``UnknownEvent``
    leave the state unchanged, and every health event is applied as the log says, even
    one ``decide`` would not have produced (the log is the truth on replay).

    Args:
        state: The health before the event.
        event: The event to apply.

    Returns:
        The health after it.
    """
    if not isinstance(event, HealthEvent) or event.deployment != state.deployment:
        return state
    replace = msgspec.structs.replace
    match event:
        case HealthOutcomeRecorded():
            return _apply_outcome(state, event)
        case DeploymentStabilized():
            return replace(state, quarantine_count=0)
        case DeploymentCoolingDown():
            return replace(state, cooling_until=event.until, cooling_reason=event.reason)
        case ProbePermitGranted() if _same_round(state, event.probe_round):
            return replace(state, probes_in_flight=state.probes_in_flight + 1)
        case ProbePermitReleased() if _same_round(state, event.probe_round):
            return replace(state, probes_in_flight=max(0, state.probes_in_flight - 1))
        case _:
            return _apply_transition(state, event)


def _apply_transition(state: DeploymentHealth, event: HealthEvent) -> DeploymentHealth:
    """Apply a status-change event; anything else leaves ``state`` unchanged."""
    match event:
        case DeploymentRecovered():
            # From probing the window still holds the failures that caused the quarantine;
            # keeping them would re-trip the rate threshold on the next failure.
            window = () if state.status is _S.PROBING else state.window
            return _moved(state, event, _S.HEALTHY, consecutive_failures=0.0, window=window)
        case DeploymentDegraded() if state.status in _OUT:
            # Decided by a runtime that had not yet seen the quarantine (several runtimes
            # share a log): it does not bring the deployment back.
            return state
        case DeploymentDegraded():
            return _moved(state, event, _S.DEGRADED, reason=event.reason)
        case DeploymentQuarantined() if state.status is _S.QUARANTINED:
            # Another runtime quarantined it too, before it saw this quarantine: one
            # incident, one quarantine (the later deadline, not a longer second one).
            return msgspec.structs.replace(
                state,
                quarantined_until=max(state.quarantined_until or 0.0, event.until),
                quarantine_count=max(state.quarantine_count, event.quarantine_count),
            )
        case DeploymentQuarantined():
            return _moved(
                state,
                event,
                _S.QUARANTINED,
                quarantined_until=event.until,
                quarantine_count=max(event.quarantine_count, 0),
                reason=event.reason,
                last_failure=event.failure or state.last_failure,
            )
        case DeploymentProbingStarted():
            # Rounds only ever go up, so a permit of an earlier round can never match.
            probe_round = max(state.probe_round, event.probe_round)
            return _moved(state, event, _S.PROBING, probe_round=probe_round, reason=event.reason)
        case DeploymentFailed():
            return _moved(state, event, _S.FAILED, reason=event.reason, last_failure=event.failure)
        case HealthReset():
            return DeploymentHealth(
                deployment=state.deployment,
                probe_round=state.probe_round,
                reason=event.reason,
                last_change=event.at,
            )
        case _:
            return state


_OUT = frozenset({_S.QUARANTINED, _S.PROBING, _S.FAILED})
"""Out of rotation: only a recovery, a probe, a new quarantine or a reset moves it."""


def _same_round(state: DeploymentHealth, probe_round: int) -> bool:
    return state.status is _S.PROBING and probe_round == state.probe_round


def _apply_outcome(state: DeploymentHealth, event: HealthOutcomeRecorded) -> DeploymentHealth:
    size = max(event.window_size, 1)
    if event.ok:
        window = (*state.window, 0.0)[-size:]
        slow = state.slow
        if event.slow is not None:
            slow = (*slow, event.slow)[-max(event.latency_window, 1) :]
        return msgspec.structs.replace(state, consecutive_failures=0.0, window=window, slow=slow)
    weight = clamp_weight(event.weight)
    return msgspec.structs.replace(
        state,
        consecutive_failures=state.consecutive_failures + weight,
        window=(*state.window, weight)[-size:],
        last_failure=event.failure,
    )


def _moved(
    state: DeploymentHealth, event: HealthEvent, status: HealthStatus, **changes: object
) -> DeploymentHealth:
    """``state`` in ``status``: every status change resets the transient and the deadline."""
    base: dict[str, object] = {
        "status": status,
        "last_change": event.at,
        "probes_in_flight": 0,
        "quarantined_until": None,
        "reason": "",
    }
    base.update(changes)
    return msgspec.structs.replace(state, **base)


# A model is as available as its best deployment, because the router may use any of them.
# Degraded ranks above unknown: it has served requests, an unknown one has not shown it can.
# Probing ranks above quarantined: it takes (a few) requests now.
_AGGREGATE_ORDER = (
    _S.HEALTHY,
    _S.DEGRADED,
    _S.UNKNOWN,
    _S.PROBING,
    _S.QUARANTINED,
    _S.FAILED,
)


def aggregate(states: Iterable[DeploymentHealth]) -> HealthStatus:
    """The health of a model from the health of its deployments.

    The best status wins, in the order healthy > degraded > unknown > probing >
    quarantined > failed: the model is healthy if any deployment is, failed only if all
    are. A model with no deployments is ``unknown``.

    Args:
        states: The health of each of the model's deployments.

    Returns:
        The model's status.
    """
    present = {state.status for state in states}
    for status in _AGGREGATE_ORDER:
        if status in present:
            return status
    return HealthStatus.UNKNOWN


def evolve_all(
    states: dict[str, DeploymentHealth], event: Event | UnknownEvent
) -> dict[str, DeploymentHealth]:
    """Fold one event into the health of every deployment (the health projection); total."""
    if not isinstance(event, HealthEvent):
        return states
    name = event.deployment
    before = states.get(name) or DeploymentHealth(deployment=name)
    after = evolve(before, event)
    if after is before:
        return states
    return {**states, name: after}
