"""Label values for the Prometheus metrics, clamped to a bounded set (pure).

Every label value comes from the configuration (model, endpoint, role and quota limit
names) or from a closed vocabulary (failure classes, skip and fallback reasons, outcomes); a
value outside it becomes ``other``. Request ids, task kinds and user text never reach
a label, so the number of series stays bounded whatever the traffic (a model name a
client or the backend invents, or a failure class from a newer release, cannot grow
it): at most (configured names + 1) per label.
"""

from __future__ import annotations

from actors.endpoint import FailureClass
from actors.health import HealthStatus
from actors.quota import limit_name
from events import FALLBACK_REASONS, SKIP_REASONS
from runtime._build import quota_limits
from runtime._config import RuntimeConfig

__all__ = ["NONE", "OTHER", "OUTCOMES", "Labels"]

OTHER = "other"
"""The value of a label whose real value is outside the known set."""

NONE = ""
"""The value of a label that does not apply (``role`` of a request for a model)."""

OUTCOMES = ("succeeded", "failed", "cancelled", "interrupted")
"""Values of the ``outcome`` label of ``llmrt_requests_total``."""

_FAILURES = frozenset(f.value for f in FailureClass)
_STATUSES = tuple(s.value for s in HealthStatus)


class Labels:
    """Maps names seen in events to bounded label values for one configuration."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.models = frozenset(m.name for m in config.models)
        self.endpoints = frozenset(e.name for e in config.endpoints)
        self.roles = frozenset(config.roles)
        self.limits = frozenset(
            limit_name(scope, unit) for scope, unit, _ in quota_limits(config).configured()
        )
        self.statuses = _STATUSES

    def model(self, name: str | None) -> str:
        """A configured model's name; ``""`` for None; ``other`` otherwise."""
        if name is None:
            return NONE
        return name if name in self.models else OTHER

    def endpoint(self, name: str | None) -> str:
        """A configured endpoint's name; ``""`` for None; ``other`` otherwise."""
        if name is None:
            return NONE
        return name if name in self.endpoints else OTHER

    def role(self, name: str | None) -> str:
        """A configured role's name; ``""`` when no role was asked; ``other`` otherwise."""
        if name is None:
            return NONE
        return name if name in self.roles else OTHER

    def deployment(self, did: str) -> tuple[str, str]:
        """``(model, endpoint)`` labels of a ``model@endpoint`` id, each clamped."""
        model, sep, endpoint = did.rpartition("@")
        if not sep:
            return OTHER, OTHER
        return self.model(model), self.endpoint(endpoint)

    def limit(self, name: str) -> str:
        """A configured quota limit's name (``model:llama3.tokens``...), or ``other``."""
        return name if name in self.limits else OTHER

    def outcome(self, value: str) -> str:
        """A request outcome (``succeeded``, ``failed``...), or ``other``."""
        return value if value in OUTCOMES else OTHER

    def failure(self, value: str | None) -> str:
        """A failure class value (``timeout_idle``...), or ``other``."""
        return value if value in _FAILURES else OTHER

    def skip_reason(self, value: str) -> str:
        """A ``CandidateSkipped`` reason, or ``other``."""
        return value if value in SKIP_REASONS else OTHER

    def fallback_reason(self, value: str) -> str:
        """A ``FallbackSwitched`` reason, or ``other``."""
        return value if value in FALLBACK_REASONS else OTHER
