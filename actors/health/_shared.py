"""What other runtimes' health events do to this one's states (pure).

Several runtimes sharing a log each decide on their own traffic; the events they commit
(outcomes, quarantines, recoveries, resets, cool-downs) reach the others as ``Fold``
messages and are applied here with the same ``evolve`` replay uses. A fold never decides
anything itself, so it emits no events: each transition is logged once, by the runtime
that made it.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.health._messages import HealthStatistics
from actors.health._status import DeploymentHealth, evolve
from events import HealthEvent, StoredEvent

__all__ = ["fold_foreign", "health_statistics"]


def fold_foreign(
    states: dict[str, DeploymentHealth],
    known: dict[str, DeploymentHealth],
    events: Iterable[StoredEvent],
) -> list[str]:
    """Apply other writers' health events in place; the tracked deployments that changed.

    A deployment this runtime does not track yet (a discovered model nobody asked for
    here) is folded into ``known``, where tracking it later starts from.
    """
    changed: list[str] = []
    for stored in events:
        event = stored.event
        if not isinstance(event, HealthEvent):
            continue
        did = event.deployment
        before = states.get(did)
        if before is None:
            known[did] = evolve(known.get(did) or DeploymentHealth(deployment=did), event)
            continue
        after = evolve(before, event)
        if after != before:
            states[did] = after
            if did not in changed:
                changed.append(did)
    return changed


def health_statistics(
    states: Iterable[DeploymentHealth],
    *,
    transitions: int,
    outcomes: int,
    check_rounds: int,
    checks: int,
    liveness_checks: int,
) -> HealthStatistics:
    """The actor's counters and its deployments by status."""
    by_status: dict[str, int] = {}
    in_flight = count = 0
    for state in states:
        count += 1
        in_flight += state.probes_in_flight
        by_status[state.status.value] = by_status.get(state.status.value, 0) + 1
    return HealthStatistics(
        deployments=count,
        by_status=by_status,
        transitions=transitions,
        outcomes=outcomes,
        probes_in_flight=in_flight,
        check_rounds=check_rounds,
        checks=checks,
        liveness_checks=liveness_checks,
    )
