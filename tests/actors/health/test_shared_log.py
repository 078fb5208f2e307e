"""Health events from several runtimes sharing one log: stale decisions, folds."""

from __future__ import annotations

from actors.health import DeploymentHealth, HealthStatus, evolve
from actors.health._shared import fold_foreign
from events import (
    DeploymentDegraded,
    DeploymentQuarantined,
    DeploymentRecovered,
    HealthReset,
    StoredEvent,
)

D = "llama3@a"
NOW = 1_700_000_000.0


def quarantined(until: float = NOW + 600, count: int = 1) -> DeploymentHealth:
    event = DeploymentQuarantined(deployment=D, at=NOW, until=until, quarantine_count=count)
    return evolve(DeploymentHealth(deployment=D), event)


def stored(position: int, event: object) -> StoredEvent:
    return StoredEvent(
        position=position, stream=f"health/{D}", stream_version=position, timestamp=NOW,
        type=type(event).__name__, schema_version=1, idempotency_key=None,
        event=event,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_degradation_decided_before_the_quarantine_was_seen_does_not_lift_it() -> None:
    state = quarantined()
    stale = DeploymentDegraded(deployment=D, at=NOW + 1, reason="slow")
    assert evolve(state, stale) == state


def test_a_second_runtimes_quarantine_of_the_same_incident_is_one_quarantine() -> None:
    state = quarantined(until=NOW + 600)
    again = DeploymentQuarantined(deployment=D, at=NOW + 2, until=NOW + 602, quarantine_count=1)
    after = evolve(state, again)
    assert after.status is HealthStatus.QUARANTINED
    assert after.quarantine_count == 1
    assert after.quarantined_until == NOW + 602


def test_a_recovery_and_a_reset_still_move_a_quarantined_deployment() -> None:
    state = quarantined()
    recovered = evolve(state, DeploymentRecovered(deployment=D, at=NOW + 5))
    assert recovered.status is HealthStatus.HEALTHY
    assert evolve(state, HealthReset(deployment=D, at=NOW + 5)).status is HealthStatus.UNKNOWN


def test_fold_foreign_updates_tracked_deployments_and_remembers_the_others() -> None:
    states = {D: DeploymentHealth(deployment=D)}
    known: dict[str, DeploymentHealth] = {}
    quarantine = DeploymentQuarantined(deployment=D, at=NOW, until=NOW + 60, quarantine_count=1)
    other = DeploymentQuarantined(deployment="qwen@b", at=NOW, until=NOW + 60, quarantine_count=1)
    changed = fold_foreign(states, known, [stored(1, quarantine), stored(2, other)])
    assert changed == [D]
    assert states[D].status is HealthStatus.QUARANTINED
    assert known["qwen@b"].status is HealthStatus.QUARANTINED
    assert fold_foreign(states, known, [stored(3, quarantine)]) == []  # no change: not listed
