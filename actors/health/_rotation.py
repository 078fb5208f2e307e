"""Out of rotation and back: cool-downs, panic probes and liveness (pure).

Three rules that decide when a deployment takes requests again, beside the circuit
breaker of ``_logic``:

* **Cool-down.** A backend answering 429 (or 503 with ``Retry-After``) is doing its job
  and said when to come back: every request skips the deployment until then
  (``DeploymentCoolingDown``). It is not a health failure: the status and the counters
  that lead to a quarantine do not move.
* **Panic probe.** When every deployment a request could use is out of rotation
  (quarantined or cooling down), failing the request without trying helps nobody once
  the backend is fixed: the one back the soonest takes this request as a probe
  (``DeploymentPanicProbe``, then probing if it was quarantined).
* **Liveness.** While a deployment is quarantined for a connection-level failure, a
  cheap check (TCP connect, then the model list; never a completion) runs on a growing
  interval (``liveness_delay``); the first success starts probing at once
  (``Revive``), so a restarted backend is back within seconds, not at the deadline.

Pure: time comes in as ``now``; the actor shell runs the timers and the checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import msgspec

from actors.health._policy import HealthPolicy, cool_down_duration
from actors.health._status import DeploymentHealth, HealthStatus
from events._base import Event
from events._health import DeploymentCoolingDown, DeploymentPanicProbe, DeploymentProbingStarted

__all__ = [
    "CONNECTION_FAILURES",
    "PANIC_REASON",
    "PanicProbe",
    "Revive",
    "cool_down",
    "cooling",
    "cooling_detail",
    "needs_liveness",
    "on_panic",
    "on_revive",
    "out_until",
    "panic_pick",
]

_S = HealthStatus
PANIC_REASON = "panic probe"
"""``DeploymentProbingStarted.reason`` of a panic probe; its failure re-quarantines for
as long as before, without growing (many requests may panic while a backend is down)."""
CONNECTION_FAILURES = frozenset({"connection", "timeout_connect"})
"""Failure classes that mean nothing answered at all: a liveness check can tell when
something answers again."""


class Revive(msgspec.Struct, frozen=True, kw_only=True):
    """A liveness check succeeded: a quarantined deployment goes probing now."""

    reason: str = "the endpoint accepts connections again"


class PanicProbe(msgspec.Struct, frozen=True, kw_only=True):
    """Every candidate of a request is out: let this one (back the soonest) be tried."""

    out_until: float
    candidates: tuple[str, ...] = ()


def cooling(state: DeploymentHealth, now: float) -> bool:
    """Whether the deployment is cooling down at ``now``."""
    return state.cooling_until is not None and now < state.cooling_until


class _Answer(Protocol):
    """What ``cool_down`` reads of a failed call (``RecordOutcome``)."""

    @property
    def failure(self) -> str | None: ...
    @property
    def http_status(self) -> int | None: ...
    @property
    def retry_after(self) -> float | None: ...


def cool_down(
    state: DeploymentHealth, policy: HealthPolicy, now: float, answer: _Answer
) -> tuple[Event, ...] | None:
    """The cool-down a failed call asks for; None when the failure is not one.

    A 429 (``rate_limited``) always cools down (``cool_down_seconds`` without a
    ``Retry-After``); a 503 only with a ``Retry-After``. Returns no event when the
    cool-down would not end later than the one in force (many callers hit the same 429)
    or cool-downs are off (``cool_down_max_seconds == 0``): the failure is still not a
    health failure.
    """
    failure, http_status, retry_after = answer.failure, answer.http_status, answer.retry_after
    rate_limited = failure == "rate_limited"
    if not rate_limited and not (http_status == 503 and retry_after is not None):
        return None
    seconds = cool_down_duration(policy, retry_after)
    until = now + seconds
    if seconds <= 0.0 or (state.cooling_until is not None and until <= state.cooling_until):
        return ()
    asked = "no Retry-After" if retry_after is None else f"Retry-After {retry_after:g} s"
    what = failure or "unavailable"
    reason = f"{what} (HTTP {http_status or 429}, {asked}): cooling down {seconds:g} s"
    event = DeploymentCoolingDown(
        deployment=state.deployment, at=now, until=until, reason=reason, failure=failure
    )
    return (event,)


def cooling_detail(state: DeploymentHealth, now: float) -> str:
    """Why a cooling deployment is skipped, for a ``CandidateSkipped`` detail."""
    left = (state.cooling_until or now) - now
    return f"cooling down for another {left:.0f} s ({state.cooling_reason})"


def out_until(state: DeploymentHealth, policy: HealthPolicy, now: float) -> float | None:
    """When a deployment that is out of rotation for a while is back; None otherwise.

    Quarantined (deadline not reached) or cooling down: the later of the two ends.
    Admissible, failed (no deadline) and probing with every slot taken (its verdict is
    coming) are not "out for a while": None.
    """
    ends: list[float] = []
    if state.status is _S.QUARANTINED and state.quarantined_until is not None:
        if now < state.quarantined_until:
            ends.append(state.quarantined_until)
    elif state.status is _S.FAILED or (
        state.status is _S.PROBING and state.probes_in_flight >= policy.half_open_probes
    ):
        return None
    if cooling(state, now) and state.cooling_until is not None:
        ends.append(state.cooling_until)
    return max(ends) if ends else None


def panic_pick(
    states: Iterable[DeploymentHealth], policy: HealthPolicy, now: float
) -> tuple[str, float] | None:
    """The deployment to panic-probe among a request's candidates, and when it would be
    back; None unless ``panic_probe`` is on and every candidate is out.

    "Out" means quarantined or cooling down. A failed candidate is ignored (waiting does
    not fix it); an admissible one, or one being probed right now (all slots taken),
    means there is no panic: the request has a way, or a verdict is on its way.
    """
    if not policy.panic_probe:
        return None
    best: tuple[str, float] | None = None
    for state in states:
        if state.status is _S.FAILED:
            continue
        until = out_until(state, policy, now)
        if until is None:
            return None
        if best is None or until < best[1]:
            best = (state.deployment, until)
    return best


def on_panic(state: DeploymentHealth, command: PanicProbe, now: float) -> tuple[Event, ...]:
    """Record the panic probe; a quarantined deployment goes probing for it."""
    name = state.deployment
    panic = DeploymentPanicProbe(
        deployment=name,
        at=now,
        out_until=command.out_until,
        status=state.status.value,
        candidates=command.candidates,
    )
    if state.status is not _S.QUARANTINED:
        return (panic,)
    started = DeploymentProbingStarted(
        deployment=name, at=now, probe_round=state.probe_round + 1, reason=PANIC_REASON
    )
    return (panic, started)


def on_revive(state: DeploymentHealth, command: Revive, now: float) -> tuple[Event, ...]:
    """A quarantined deployment answered a liveness check: probing starts now."""
    if state.status is not _S.QUARANTINED:
        return ()
    started = DeploymentProbingStarted(
        deployment=state.deployment, at=now, probe_round=state.probe_round + 1,
        reason=command.reason,
    )  # fmt: skip
    return (started,)


def needs_liveness(state: DeploymentHealth, policy: HealthPolicy) -> bool:
    """Whether liveness checks may bring this deployment back early."""
    return (
        policy.liveness_seconds > 0.0
        and state.status is _S.QUARANTINED
        and state.last_failure in CONNECTION_FAILURES
    )
