"""What the facade reads from the config and the runtime's summaries (pure).

Model names in requests: a role name wins over a model of the same name; then a
configured model name or alias. Anything else is 404 listing what is available.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from actors.performance import PerformanceSummary
from runtime._config import RuntimeConfig
from runtime._summary import HealthSummary
from runtime.serve._errors import HttpError

__all__ = [
    "USABLE",
    "Target",
    "catalog_entries",
    "default_max_tokens",
    "health_view",
    "performance_view",
    "resolve_target",
]

USABLE = frozenset({"healthy", "degraded", "unknown", "probing"})
"""Model statuses that can still serve a request (``/health`` is 200 if any model has
one); quarantined and failed cannot."""


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """What a request's ``model`` field names: exactly one of a role or a model."""

    role: str | None = None
    model: str | None = None


def catalog_entries(config: RuntimeConfig) -> list[tuple[str, str]]:
    """``(name, type)`` of every name a client may use: roles, models, then aliases."""
    entries = [(name, "role") for name in config.roles]
    entries.extend((m.name, "model") for m in config.models)
    entries.extend((m.alias, "alias") for m in config.models if m.alias is not None)
    return entries


def resolve_target(config: RuntimeConfig, name: str) -> Target:
    """The role or model ``name`` refers to.

    Raises:
        HttpError: 404 ``model_not_found`` listing the roles and models.
    """
    if name in config.roles:
        return Target(role=name)
    if any(name in (m.name, m.alias) for m in config.models):
        return Target(model=name)
    roles = ", ".join(config.roles) or "none"
    models = ", ".join(m.name for m in config.models)
    raise HttpError(
        404,
        f"model {name!r} not found; roles: {roles}; models: {models} (GET /v1/models or "
        "/api/tags lists them)",
        code="model_not_found",
        param="model",
    )


def default_max_tokens(config: RuntimeConfig, target: Target, cap: int) -> int | None:
    """``max_tokens`` for a request that set none: None when every model that may
    answer has its own default within ``cap``, else ``cap`` (replies stay bounded)."""
    chain = config.role_chain(target.role) if target.role else (target.model or "",)
    defaults = [config.model(name).max_tokens for name in chain]
    if all(d is not None and d <= cap for d in defaults):
        return None
    return cap


def health_view(summary: HealthSummary) -> tuple[int, dict[str, Any]]:
    """``/health``: 200 and ``status: ok`` if any model is usable and requests are
    accepted, else 503 (also while the event log fails under ``on_log_failure: refuse``)."""
    usable = any(m.status in USABLE for m in summary.models.values())
    log = summary.event_log
    if log is not None and log.status != "ok" and log.policy == "refuse":
        usable = False
    body = {"status": "ok" if usable else "unavailable", **msgspec.to_builtins(summary)}
    return (200 if usable else 503), body


def performance_view(
    summary: PerformanceSummary, kind: str | None, configured_kinds: Mapping[str, str]
) -> dict[str, Any]:
    """``/performance-metrics``: everything, or the windows of one task kind.

    Args:
        summary: ``rt.performance()``.
        kind: The ``kind`` (or ``agent_type``) query parameter, if any.
        configured_kinds: Role -> its task kind, so a configured kind with no traffic
            yet gives empty windows instead of 404.

    Raises:
        HttpError: 404 for a kind neither configured nor seen, listing the known ones.
    """
    if kind is None:
        return dict(msgspec.to_builtins(summary))
    seen = set(summary.requests) | {m.kind for m in summary.models}
    known = seen | set(configured_kinds.values())
    if kind not in known:
        listed = ", ".join(sorted(known)) or "none yet"
        raise HttpError(
            404,
            f"unknown task kind {kind!r}; known kinds: {listed}",
            code="kind_not_found",
            param="kind",
        )
    return {
        "kind": kind,
        "window": summary.window,
        "requests": summary.requests.get(kind, 0),
        "roles": sorted(r for r, k in configured_kinds.items() if k == kind),
        "models": msgspec.to_builtins([m for m in summary.models if m.kind == kind]),
        "deployments": msgspec.to_builtins([d for d in summary.kind_deployments if d.kind == kind]),
    }
