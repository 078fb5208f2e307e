"""The health actor's I/O: background check rounds and liveness checks (shell).

The decisions stay pure (``_logic``, ``_rotation``, ``liveness_delay``); this module
runs the I/O outside the actor's turns and tells the results back as messages:

* ``run_round``: one round of background checks (``Probe``), each result as
  ``RecordProbe``, then ``EndCheckRound``.
* ``LivenessTimers``: while a deployment is quarantined for a connection-level failure,
  a timer per deployment on the actor's clock tells ``CheckLiveness`` after 1 s, 2 s,
  4 s... (``liveness_delay``); the actor then runs ``check_liveness`` (TCP connect and
  the model list, see the runtime's ``Liveness``), whose verdict comes back as
  ``LivenessChecked``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import msgspec

from actors._clock import Clock, TimerHandle
from actors._errors import ActorDeadError, MailboxFull
from actors._ref import ActorRef
from actors.health._logic import RecordOutcome
from actors.health._messages import (
    CheckLiveness,
    EndCheckRound,
    HealthMessage,
    LivenessChecked,
    RecordProbe,
)
from actors.health._policy import HealthPolicy, liveness_delay
from actors.health._rotation import needs_liveness
from actors.health._status import DeploymentHealth, HealthStatus
from events import Event, get_logger

__all__ = [
    "Liveness",
    "LivenessTimers",
    "Probe",
    "check_liveness",
    "is_steady",
    "log_transition",
    "rehydrated",
    "run_round",
]

log = get_logger(__name__)

Probe = Callable[[str], Awaitable[RecordOutcome | None]]
"""Check one deployment; the outcome to count, or None when there is nothing to count."""
Liveness = Callable[[str], Awaitable[bool]]
"""Is the deployment's endpoint alive (accepts connections, lists models)? Cheap: never
a completion. Raising counts as not alive."""


async def run_round(
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


async def check_liveness(
    ref: ActorRef[HealthMessage], liveness: Liveness, message: CheckLiveness
) -> None:
    """Run one liveness check; its verdict goes back as ``LivenessChecked``."""
    alive = False
    try:
        alive = await liveness(message.deployment)
    except Exception as exc:  # a check that cannot run says "not alive", nothing more
        log.debug("health.liveness.error", deployment=message.deployment, error=repr(exc))
    finally:
        verdict = LivenessChecked(message.deployment, message.since, message.attempt, alive)
        await ref.ask(verdict, timeout=None)


class LivenessTimers:
    """One liveness timer per deployment quarantined for a connection-level failure."""

    def __init__(self, policy: HealthPolicy, enabled: bool) -> None:
        self._policy = policy
        self._enabled = enabled
        self._timers: dict[str, tuple[float | None, TimerHandle]] = {}
        self.checked = 0
        """Checks that reported (the actor counts them here, for its statistics)."""

    def follow(
        self, ref: ActorRef[HealthMessage], clock: Clock, state: DeploymentHealth, attempt: int
    ) -> None:
        """Schedule check ``attempt`` of ``state``'s quarantine, or stop following it.

        ``attempt`` 0 starts following a new quarantine (a no-op if this quarantine is
        followed already); a later one is the next check after a failed one.
        """
        did = state.deployment
        if not self._enabled or not needs_liveness(state, self._policy):
            self.forget(did)
            return
        current = self._timers.get(did)
        if attempt == 0 and current is not None and current[0] == state.last_change:
            return
        self.forget(did)
        length = (state.quarantined_until or 0.0) - (state.last_change or 0.0)
        delay = liveness_delay(self._policy, attempt, max(length, self._policy.liveness_seconds))
        message = CheckLiveness(did, state.last_change, attempt)

        def tell() -> None:
            with contextlib.suppress(MailboxFull, ActorDeadError):
                ref.tell_nowait(message)

        self._timers[did] = (state.last_change, clock.schedule_once(delay, tell))

    def current(self, state: DeploymentHealth, since: float | None) -> bool:
        """Whether a check of the quarantine that began at ``since`` still matters."""
        return self._enabled and needs_liveness(state, self._policy) and state.last_change == since

    def forget(self, deployment: str) -> None:
        """Stop following ``deployment``."""
        found = self._timers.pop(deployment, None)
        if found is not None:
            found[1].cancel()

    def cancel_all(self) -> None:
        """Cancel every timer (the actor stops or fails)."""
        for did in tuple(self._timers):
            self.forget(did)


def log_transition(event: Event, after: DeploymentHealth) -> None:
    """Log one status change at a level that fits it."""
    status = after.status.value
    fields = {"deployment": after.deployment, "status": status, "reason": after.reason}
    if after.status is HealthStatus.QUARANTINED:
        log.warning("health.deployment.quarantined", until=after.quarantined_until, **fields)
    elif after.status is HealthStatus.FAILED:
        log.error("health.deployment.failed", **fields)
    else:
        log.info("health.deployment.changed", event_type=type(event).__name__, **fields)


def is_steady(state: DeploymentHealth, policy: HealthPolicy) -> bool:
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
        state.status is HealthStatus.HEALTHY
        and state.quarantine_count == 0
        and state.consecutive_failures == 0.0
        and len(state.window) == policy.window_size
        and not any(state.window)
        and fast
    )


def rehydrated(state: DeploymentHealth | None, deployment: str) -> DeploymentHealth:
    if state is None:
        return DeploymentHealth(deployment=deployment)
    # Replay already yields no probe permits (they are never logged); a snapshot made
    # from a live state could hold some, and their requests died with that process.
    return msgspec.structs.replace(state, probes_in_flight=0)
