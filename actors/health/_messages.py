"""The messages the health actor takes and the replies it gives (pure data)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from actors._ask import Ask
from actors._fold import Fold
from actors.health._logic import RecordOutcome
from actors.health._status import DeploymentHealth

__all__ = [
    "AcquireProbe",
    "Admitted",
    "CheckLiveness",
    "LivenessChecked",
    "RunChecks",
    "EndCheckRound",
    "GetHealth",
    "GetHealthStatistics",
    "HealthMessage",
    "HealthReset",
    "HealthStates",
    "HealthStatistics",
    "NoteListed",
    "Watch",
    "NotAdmitted",
    "RecordProbe",
    "ReleaseProbe",
    "ReportOutcome",
    "ResetHealth",
    "Screen",
    "Screened",
]


class HealthStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of the health actor (for ``statistics()`` and ``/metrics``)."""

    deployments: int
    by_status: dict[str, int]
    """Status value -> deployments in it."""
    transitions: int
    """Status changes decided by this process."""
    outcomes: int
    """Outcomes counted (recorded or not)."""
    probes_in_flight: int
    check_rounds: int = 0
    """Rounds of background checks started."""
    checks: int = 0
    """Deployments checked in those rounds."""
    liveness_checks: int = 0
    """Liveness checks that reported (of deployments out for a connection failure)."""


class Screened(msgspec.Struct, frozen=True):
    """The deployments a request may not use now, and why."""

    blocked: Mapping[str, tuple[str, str]]
    """Deployment id -> ``(skip_reason, detail)``; absent ids are admissible."""
    degraded: frozenset[str] = frozenset()
    """Admissible deployments that are ``degraded`` for being slow (``_latency``): the
    router gives them less traffic. One degraded by a few failures keeps its share, so
    that its failure counters reach a quarantine decision without delay."""


class Admitted(msgspec.Struct, frozen=True):
    """The request may use the deployment."""

    probe_round: int | None = None
    """A half-open probe's permit, to give back with ``ReleaseProbe``; None otherwise."""


class NotAdmitted(msgspec.Struct, frozen=True):
    """The deployment is out of selection (quarantined, failed, probe slots full)."""

    reason: str
    """The skip reason: ``quarantined``, ``probing_full``, ``failed``."""
    detail: str


class HealthStates(msgspec.Struct, frozen=True):
    """Every watched deployment's health."""

    states: dict[str, DeploymentHealth]
    """Deployment id -> its health (a copy: the actor's own dict never leaves it)."""


class HealthReset(msgspec.Struct, frozen=True):
    """The deployments whose health was reset."""

    deployments: tuple[str, ...]


class Screen(Ask[Screened], frozen=True):
    """Which of ``deployments`` are out of selection now (planning's health filter)."""

    deployments: tuple[str, ...]


class AcquireProbe(Ask[Admitted | NotAdmitted], frozen=True):
    """Admit one request on ``deployment`` now (a probe permit when half-open)."""

    deployment: str
    retrying: bool = False
    """The request tried this deployment already: it retries after its own wait for the
    backend's ``Retry-After`` (or its backoff), so a cool-down does not stop it."""


class ReleaseProbe(Ask[None], frozen=True):
    """A probe request finished or was cancelled: give its permit back."""

    deployment: str
    probe_round: int


class ReportOutcome(Ask[None], frozen=True):
    """Count the outcome of one call on ``deployment``."""

    deployment: str
    outcome: RecordOutcome
    traffic: bool = True
    """False for a background check's outcome (it does not prove real traffic)."""


class ResetHealth(Ask[HealthReset], frozen=True):
    """Forget the health of these deployments (operator action); replies with them."""

    deployments: tuple[str, ...]
    reason: str = "manual reset"


class NoteListed(Ask[None], frozen=True):
    """The catalog lists these deployments' models again: ``failed`` ones reset."""

    deployments: tuple[str, ...]


class Watch(Ask[None], frozen=True):
    """Watch these deployments too (models discovered after start); known ones stay."""

    deployments: tuple[str, ...]


class GetHealth(Ask[HealthStates], frozen=True):
    """Every watched deployment's health (a copy)."""


class GetHealthStatistics(Ask[HealthStatistics], frozen=True):
    """The counters."""


class RunChecks(msgspec.Struct, frozen=True):
    """Timer: let expired quarantines go probing, and check idle deployments."""


class RecordProbe(Ask[None], frozen=True):
    """Count a background check of ``deployment`` (told by the check's own task)."""

    deployment: str
    probe_round: int | None
    outcome: RecordOutcome | None
    """What to count; None when there is nothing to count."""


class EndCheckRound(Ask[None], frozen=True):
    """End the round of checks: every check of it has reported."""


class CheckLiveness(msgspec.Struct, frozen=True):
    """Timer: run liveness check ``attempt`` of the quarantine that began at ``since``."""

    deployment: str
    since: float | None
    attempt: int


class LivenessChecked(Ask[None], frozen=True):
    """The verdict of a liveness check (told by the check's own task)."""

    deployment: str
    since: float | None
    attempt: int
    alive: bool


HealthMessage = (
    Screen
    | AcquireProbe
    | ReleaseProbe
    | ReportOutcome
    | ResetHealth
    | NoteListed
    | Watch
    | GetHealth
    | GetHealthStatistics
    | RunChecks
    | RecordProbe
    | EndCheckRound
    | CheckLiveness
    | LivenessChecked
    | Fold
)
