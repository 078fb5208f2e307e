"""Deciding the health of one deployment: the commands, ``decide``, ``admits``, ``durable``.

The state and its fold (``evolve``) live in ``_status``; the thresholds in ``_policy``.

Pure: time comes in as ``now`` (wall-clock epoch seconds, see ``events._health`` for
why wall-clock), nothing here performs I/O. The actor shell calls ``decide``, appends
``durable(events)`` to the log, then folds *all* the events with ``evolve``.

Probe permits are transient: ``ProbePermitGranted``/``ProbePermitReleased`` keep live
state a fold of what ``decide`` returned, but are never appended (``durable`` drops them)
since a permit dies with its request's process. Replay yields the live state with
``probes_in_flight == 0``: a restart while probing re-enters it with every slot free.
Cool-downs, panic probes and liveness revivals: ``_rotation``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import msgspec

from actors.health import _rotation as rot
from actors.health._latency import fast_again, judge, slow_reason, too_slow
from actors.health._policy import HealthPolicy, quarantine_duration
from actors.health._status import (
    TRANSIENT_EVENTS,
    DeploymentHealth,
    DeploymentUnavailable,
    HealthStatus,
    ProbePermitGranted,
    ProbePermitReleased,
    check_transition,
    clamp_weight,
    evolve,
    target_status,
)
from events._base import Event
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

__all__ = [
    "AcquirePermit",
    "CatalogSawModel",
    "HealthCommand",
    "RecordOutcome",
    "ReleasePermit",
    "Reset",
    "Tick",
    "admits",
    "decide",
    "durable",
]

_S = HealthStatus
_EPSILON = 1e-9
"""Slack for comparing sums of float weights with integer thresholds (0.1 * 30 < 3)."""
_MESSAGE_LIMIT = 500


class RecordOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """Count the outcome of one request that used this deployment."""

    ok: bool
    failure: str | None = None
    """``FailureClass.value`` when not ok (``timeout_connect``, ``auth``, ...)."""
    weight: float = 1.0
    """The failure class's health weight; 0 = the request's own fault. Clamped to
    ``[0, 1]``; NaN counts as 1 (a broken weight must not hide a failure)."""
    permanent: bool = False
    """Waiting will not fix it (auth, model gone): the deployment goes ``failed``.
    Takes precedence over ``weight``, since a request cannot cause a permanent fault."""
    message: str = ""
    """What went wrong, for the transition's ``reason`` (redacted by the caller)."""
    latency: float | None = None
    """Seconds a successful call took (a stream: to its first chunk); judged against
    ``degraded_latency_seconds``. None for failures and background checks."""
    retry_after: float | None = None
    """The backend's raw ``Retry-After`` (seconds): a 429's or 503's cool-down."""
    http_status: int | None = None
    """The HTTP status of a failed call, when there was one."""


class Tick(msgspec.Struct, frozen=True, kw_only=True):
    """Time passed: a quarantine whose deadline is reached goes probing."""


class AcquirePermit(msgspec.Struct, frozen=True, kw_only=True):
    """May a request use this deployment now? Raises ``DeploymentUnavailable`` if not.

    Returns no event when no permit is needed (unknown/healthy/degraded); a
    ``ProbePermitGranted`` (after a ``DeploymentProbingStarted`` if the quarantine just
    expired) when the request is admitted as a probe; the caller then owes a
    ``ReleasePermit`` with that event's ``probe_round``.
    """

    panic: bool = False  # a panic pass (``_rotation``): a cool-down does not stop it


class ReleasePermit(msgspec.Struct, frozen=True, kw_only=True):
    """A probe request finished or was cancelled: give its slot back."""

    probe_round: int
    """The round from the ``ProbePermitGranted``; a permit of an older round is void."""


class Reset(msgspec.Struct, frozen=True, kw_only=True):
    """Forget everything (operator action): back to ``unknown``."""

    reason: str = "manual reset"


class CatalogSawModel(msgspec.Struct, frozen=True, kw_only=True):
    """The catalog listed the model on the endpoint again: a ``failed`` deployment resets."""


_Core = RecordOutcome | Tick | AcquirePermit | ReleasePermit | Reset | CatalogSawModel
HealthCommand = _Core | rot.Revive | rot.PanicProbe
"""Every command ``decide`` accepts."""


def durable(events: Iterable[Event]) -> tuple[Event, ...]:
    """The events to append to the log: all but the transient probe-permit events."""
    return tuple(event for event in events if not isinstance(event, TRANSIENT_EVENTS))


def admits(state: DeploymentHealth, policy: HealthPolicy, now: float, panic: bool = False) -> bool:
    """Whether ``AcquirePermit`` would succeed now (the router's filter; pure query).

    Args:
        state: The deployment's health.
        policy: The policy in force.
        now: Wall-clock epoch seconds.

    Returns:
        True for unknown/healthy/degraded; for quarantined only once the quarantine is
        over (the permit then starts probing); for probing while a probe slot is free;
        never for failed; never while cooling down (unless ``panic``: see ``AcquirePermit``).
    """
    if rot.cooling(state, now) and not panic:
        return False
    match state.status:
        case _S.UNKNOWN | _S.HEALTHY | _S.DEGRADED:
            return True
        case _S.QUARANTINED:
            return _quarantine_over(state, now)
        case _S.PROBING:
            return state.probes_in_flight < policy.half_open_probes
        case _:
            return False


def decide(
    state: DeploymentHealth, command: HealthCommand, policy: HealthPolicy, now: float
) -> tuple[Event, ...]:
    """Decide what happened in response to ``command``; pure.

    Args:
        state: The deployment's current health.
        command: What to decide on.
        policy: Thresholds and durations.
        now: Wall-clock epoch seconds.

    Returns:
        The events to apply, in order (possibly none).

    Raises:
        DeploymentUnavailable: ``AcquirePermit`` while not admitted (see ``admits``).
        IllegalTransition: The events would make a forbidden status change (a bug).
    """
    match command:
        case RecordOutcome():
            events = _on_outcome(state, command, policy, now)
        case Tick():
            events = _probing_started(state, now) if _quarantine_over(state, now) else ()
        case AcquirePermit():
            events = _on_acquire(state, policy, now, command.panic)
        case ReleasePermit():
            events = _on_release(state, command, now)
        case Reset():
            events = (HealthReset(deployment=state.deployment, at=now, reason=command.reason),)
        case CatalogSawModel():
            events = _on_catalog(state, now)
        case rot.Revive():
            events = rot.on_revive(state, command, now)
        case rot.PanicProbe():
            events = rot.on_panic(state, command, now)
        case _:
            raise TypeError(f"not a health command: {command!r}")
    _check_transitions(state, events)
    return events


def _on_outcome(
    state: DeploymentHealth, command: RecordOutcome, policy: HealthPolicy, now: float
) -> tuple[Event, ...]:
    name = state.deployment
    cooled = None if command.ok else rot.cool_down(state, policy, now, command)
    if cooled is not None and state.status is not _S.FAILED:
        return cooled  # the backend said when to come back: not a health failure
    if not command.ok and command.permanent:
        if state.status is _S.FAILED:
            return ()
        reason = _describe("permanent failure", command)
        return (DeploymentFailed(deployment=name, at=now, failure=command.failure, reason=reason),)
    weight = 0.0 if command.ok else clamp_weight(command.weight)
    # Weight 0 is the request's fault (context overflow...); late outcomes of requests
    # admitted before a quarantine must neither lift nor extend it: the deadline decides.
    if (not command.ok and weight == 0.0) or state.status in (_S.QUARANTINED, _S.FAILED):
        return ()
    slow = judge(policy, command.latency) if command.ok else None
    recorded = HealthOutcomeRecorded(
        deployment=name,
        at=now,
        ok=command.ok,
        failure=None if command.ok else command.failure,
        weight=weight,
        window_size=policy.window_size,
        latency=command.latency if slow is not None else None,
        slow=slow,
        latency_window=policy.latency_window,
    )
    after = evolve(state, recorded)
    verdict = _verdict(after, command, policy, now)
    return (recorded, *verdict, *_stabilized(_fold(after, verdict), policy, now))


def _verdict(
    state: DeploymentHealth, command: RecordOutcome, policy: HealthPolicy, now: float
) -> tuple[Event, ...]:
    """The status change (if any) an outcome causes, given the counters it produced."""
    name = state.deployment
    if state.status is _S.PROBING:
        # Any outcome counts as the verdict, a straggler's too (a request admitted before
        # the quarantine): a success is evidence the deployment serves again.
        if command.ok:
            return (DeploymentRecovered(deployment=name, at=now, previous=state.status.value),)
        return (_quarantine(state, policy, now, _describe("probe failed", command), command),)
    if not command.ok:
        tripped = _tripped(state, policy)
        if tripped is not None:
            return (_quarantine(state, policy, now, _describe(tripped, command), command),)
        if state.status is not _S.DEGRADED:
            reason = _describe(f"{state.consecutive_failures:g} consecutive failure(s)", command)
            return (DeploymentDegraded(deployment=name, at=now, reason=reason),)
        return ()
    if state.status in (_S.HEALTHY, _S.UNKNOWN) and too_slow(state, policy):
        reason = slow_reason(state, policy, command.latency)
        return (
            DeploymentDegraded(deployment=name, at=now, reason=reason, latency=command.latency),
        )
    # Hysteresis: back to healthy only once the window's failure rate is at most half the
    # quarantine threshold, so one success after one failure does not flap the status;
    # likewise for latency (``fast_again``), whichever made the deployment degraded.
    clean = _failure_rate(state) <= policy.failure_rate_threshold / 2 + _EPSILON
    if state.status is _S.DEGRADED:
        clean = clean and fast_again(state, policy)
    if state.status is not _S.HEALTHY and clean:
        return (DeploymentRecovered(deployment=name, at=now, previous=state.status.value),)
    return ()


def _tripped(state: DeploymentHealth, policy: HealthPolicy) -> str | None:
    """Why the counters call for a quarantine, or ``None`` if they do not."""
    if state.consecutive_failures >= policy.failure_threshold - _EPSILON:
        return f"{state.consecutive_failures:g} consecutive failures"
    rate = _failure_rate(state)
    if len(state.window) >= policy.min_calls and rate >= policy.failure_rate_threshold - _EPSILON:
        return f"failure rate {rate:.0%} over the last {len(state.window)} calls"
    return None


def _stabilized(state: DeploymentHealth, policy: HealthPolicy, now: float) -> tuple[Event, ...]:
    # The quarantine count survives a recovery, so a deployment that flaps (recovers,
    # fails again) gets ever longer quarantines; a full window of clean outcomes while
    # healthy is the proof of stability that lets the growth start over.
    if (
        state.status is _S.HEALTHY
        and state.quarantine_count > 0
        and len(state.window) >= policy.window_size
        and not any(state.window)
    ):
        return (DeploymentStabilized(deployment=state.deployment, at=now),)
    return ()


def _quarantine(
    state: DeploymentHealth, policy: HealthPolicy, now: float, reason: str, cmd: RecordOutcome
) -> DeploymentQuarantined:
    count = state.quarantine_count + (state.reason != rot.PANIC_REASON)  # a panic probe: no growth
    return DeploymentQuarantined(
        deployment=state.deployment,
        at=now,
        until=now + quarantine_duration(policy, count),
        quarantine_count=count,
        reason=reason,
        failure=cmd.failure,
    )


def _on_acquire(
    state: DeploymentHealth, policy: HealthPolicy, now: float, panic: bool
) -> tuple[Event, ...]:
    name = state.deployment
    if rot.cooling(state, now) and not panic:
        raise DeploymentUnavailable(name, state.status, rot.cooling_detail(state, now))
    match state.status:
        case _S.UNKNOWN | _S.HEALTHY | _S.DEGRADED:
            return ()
        case _S.QUARANTINED if _quarantine_over(state, now):
            started = _probing_started(state, now)
            permit = ProbePermitGranted(deployment=name, at=now, probe_round=state.probe_round + 1)
            return (*started, permit)
        case _S.QUARANTINED:
            left = (state.quarantined_until or now) - now
            detail = f"for another {left:.0f} s ({state.reason}); pick another deployment"
            raise DeploymentUnavailable(name, state.status, detail)
        case _S.PROBING if state.probes_in_flight < policy.half_open_probes:
            return (ProbePermitGranted(deployment=name, at=now, probe_round=state.probe_round),)
        case _S.PROBING:
            detail = f"all {policy.half_open_probes} probe slot(s) are in use; try another"
            raise DeploymentUnavailable(name, state.status, detail)
        case _:
            detail = (
                f"{state.reason or 'permanent failure'}; fix the cause and reset its "
                "health, or it comes back when the catalog lists the model again"
            )
            raise DeploymentUnavailable(name, state.status, detail)


def _on_release(state: DeploymentHealth, command: ReleasePermit, now: float) -> tuple[Event, ...]:
    # A release from an earlier round (or after probing ended) holds no slot of the
    # current round; honouring it would let one probe too many through.
    if (
        state.status is _S.PROBING
        and command.probe_round == state.probe_round
        and state.probes_in_flight > 0
    ):
        return (
            ProbePermitReleased(deployment=state.deployment, at=now, probe_round=state.probe_round),
        )
    return ()


def _on_catalog(state: DeploymentHealth, now: float) -> tuple[Event, ...]:
    if state.status is _S.FAILED:
        reason = "model seen in catalog again"
        return (HealthReset(deployment=state.deployment, at=now, reason=reason),)
    return ()


def _probing_started(state: DeploymentHealth, now: float) -> tuple[Event, ...]:
    round_ = state.probe_round + 1
    return (DeploymentProbingStarted(deployment=state.deployment, at=now, probe_round=round_),)


def _quarantine_over(state: DeploymentHealth, now: float) -> bool:
    """Whether a quarantine has run its course at ``now``; also when the wall clock is
    now *before* it began: the clock was stepped back, the time left is unknown, and
    ending early is the bounded risk (probing admits few requests), whereas waiting could
    last as long as the step."""
    if state.status is not _S.QUARANTINED or state.quarantined_until is None:
        return False
    started = state.last_change
    return now >= state.quarantined_until or (started is not None and now < started)


def _check_transitions(state: DeploymentHealth, events: tuple[Event, ...]) -> None:
    for event in events:
        target = target_status(event)
        if target is not None:
            check_transition(state.deployment, state.status, target)
        state = evolve(state, event)


def _fold(state: DeploymentHealth, events: Iterable[Event]) -> DeploymentHealth:
    for event in events:
        state = evolve(state, event)
    return state


def _failure_rate(state: DeploymentHealth) -> float:
    return math.fsum(state.window) / len(state.window) if state.window else 0.0


def _describe(what: str, command: RecordOutcome) -> str:
    last = command.failure or "unknown"
    if command.message:
        last = f"{last}: {command.message[:_MESSAGE_LIMIT]}"
    return f"{what} (last: {last})"
