"""Health of deployments: status, quarantine and half-open probing.

Pure: ``decide``/``evolve`` over the events in ``events._health`` (``_logic``,
``_status``, ``_policy``) and the actor's messages (``_messages``). The shell is
``HealthActor`` (``_actor``): the single owner of every deployment's health, which also
runs the background checks on its own timer; it only calls the pure functions.
"""

from __future__ import annotations

from actors.health._actor import HealthActor, Probe
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
    CheckDue,
    CheckRoundFinished,
    GetHealth,
    GetHealthStatistics,
    HealthMessage,
    HealthStatistics,
    NotAdmitted,
    NoteListed,
    ProbeFinished,
    ReleaseProbe,
    ReportOutcome,
    ResetHealth,
    Screen,
    Screened,
)
from actors.health._policy import HealthPolicy, quarantine_duration
from actors.health._status import (
    TRANSITIONS,
    DeploymentHealth,
    DeploymentUnavailable,
    HealthError,
    HealthStatus,
    IllegalTransition,
    ProbePermitGranted,
    ProbePermitReleased,
    aggregate,
    check_transition,
    evolve,
    evolve_all,
    target_status,
)

__all__ = [
    "AcquirePermit",
    "CatalogSawModel",
    "DeploymentHealth",
    "DeploymentUnavailable",
    "HealthCommand",
    "HealthError",
    "HealthPolicy",
    "HealthStatus",
    "IllegalTransition",
    "ProbePermitGranted",
    "ProbePermitReleased",
    "RecordOutcome",
    "ReleasePermit",
    "Reset",
    "TRANSITIONS",
    "Tick",
    "admits",
    "aggregate",
    "check_transition",
    "decide",
    "durable",
    "evolve",
    "quarantine_duration",
    "target_status",
    "evolve_all",
    "AcquireProbe",
    "Admitted",
    "CheckDue",
    "CheckRoundFinished",
    "GetHealth",
    "GetHealthStatistics",
    "HealthActor",
    "HealthMessage",
    "HealthStatistics",
    "NotAdmitted",
    "NoteListed",
    "Probe",
    "ProbeFinished",
    "ReleaseProbe",
    "ReportOutcome",
    "ResetHealth",
    "Screen",
    "Screened",
]
