"""``rt.health()``: a per-model, per-deployment status summary (plain frozen data)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec

from actors.health import DeploymentHealth, aggregate
from events import deployment_id
from runtime._config import RuntimeConfig
from runtime._log_guard import EventLogHealth

__all__ = ["DeploymentStatus", "HealthSummary", "ModelStatus", "summarize"]


class DeploymentStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The health of one deployment (one model on one endpoint)."""

    deployment: str
    """``model@endpoint``."""
    model: str
    endpoint: str
    status: str
    """``unknown``, ``healthy``, ``degraded``, ``quarantined``, ``probing`` or ``failed``."""
    reason: str = ""
    """Why it is in this status (empty when healthy or unknown)."""
    quarantined_until: float | None = None
    """Wall-clock deadline (epoch seconds) of a quarantine."""
    consecutive_failures: float = 0.0
    """Weighted failures since the last success."""
    failure_rate: float = 0.0
    """Weighted failure rate over the recent window."""
    last_failure: str | None = None
    """Failure class of the latest counted failure."""
    last_change: float | None = None
    """When the status last changed (epoch seconds)."""
    slow_calls: int = 0
    """Of the recent successful calls (up to 5), how many were slower than
    ``health.degraded_latency_seconds``; 3 or more make a deployment degraded."""
    cooling_until: float | None = None
    """While the deployment cools down (the backend answered 429, or 503 with
    ``Retry-After``): when that ends (epoch seconds); every request skips it until then,
    whatever its status. None when it is not cooling down."""
    cooling_reason: str = ""
    """What the backend answered, while cooling down."""


class ModelStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A model's health: the best of its deployments'."""

    model: str
    status: str
    deployments: tuple[DeploymentStatus, ...]


class HealthSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Every configured model's health, with each deployment's."""

    models: dict[str, ModelStatus]
    """Model name -> its status."""
    event_log: EventLogHealth | None = None
    """Whether the event log writes, and what was refused or unrecorded meanwhile."""

    def status(self, model: str) -> str:
        """The aggregated status of ``model``.

        Raises:
            KeyError: Not a configured model (the message lists them).
        """
        return self._model(model).status

    def deployment(self, deployment: str) -> DeploymentStatus:
        """The status of ``model@endpoint``.

        Raises:
            KeyError: Not a configured deployment.
        """
        for model in self.models.values():
            for entry in model.deployments:
                if entry.deployment == deployment:
                    return entry
        raise KeyError(f"unknown deployment {deployment!r}; known: {', '.join(self._all())}")

    def _model(self, model: str) -> ModelStatus:
        try:
            return self.models[model]
        except KeyError:
            known = ", ".join(self.models) or "none"
            raise KeyError(f"unknown model {model!r}; configured models: {known}") from None

    def _all(self) -> list[str]:
        return [e.deployment for m in self.models.values() for e in m.deployments]

    def __str__(self) -> str:
        lines = []
        for model in self.models.values():
            lines.append(f"{model.model}: {model.status}")
            for entry in model.deployments:
                why = f" ({entry.reason})" if entry.reason else ""
                if entry.cooling_reason:
                    why += f" [cooling down: {entry.cooling_reason}]"
                lines.append(f"  {entry.endpoint}: {entry.status}{why}")
        return "\n".join(lines)


def summarize(
    config: RuntimeConfig,
    states: Mapping[str, DeploymentHealth],
    event_log: EventLogHealth | None = None,
    *,
    now: float | None = None,
) -> HealthSummary:
    """Build the summary from the health actor's states, in config order; ``now``
    (epoch seconds) tells which cool-downs are in force (None: every recorded one)."""
    models: dict[str, ModelStatus] = {}
    for model in config.models:
        healths = [
            states.get(d) or DeploymentHealth(deployment=d)
            for d in (deployment_id(model.name, e) for e in model.deployments)
        ]
        models[model.name] = ModelStatus(
            model=model.name,
            status=aggregate(healths).value,
            deployments=tuple(_entry(h, now) for h in healths),
        )
    return HealthSummary(models=models, event_log=event_log)


def _entry(health: DeploymentHealth, now: float | None) -> DeploymentStatus:
    model, _, endpoint = health.deployment.rpartition("@")
    cooling = health.cooling_until
    if cooling is not None and now is not None and cooling <= now:
        cooling = None
    window = health.window
    return DeploymentStatus(
        deployment=health.deployment,
        model=model,
        endpoint=endpoint,
        status=health.status.value,
        reason=health.reason,
        quarantined_until=health.quarantined_until,
        consecutive_failures=health.consecutive_failures,
        failure_rate=math.fsum(window) / len(window) if window else 0.0,
        last_failure=health.last_failure,
        last_change=health.last_change,
        slow_calls=sum(health.slow),
        cooling_until=cooling,
        cooling_reason=health.cooling_reason if cooling is not None else "",
    )
