"""What the facade reads from the runtime's listing and summaries (pure).

Model names in requests are looked up in ``rt.list_models()``: a role name wins over a
model of the same name; then a model name or alias (configured or discovered).
Anything else is 404 listing what is available.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from actors.performance import PerformanceSummary
from runtime._listing import ListedModel
from runtime._summary import HealthSummary
from runtime.serve._errors import HttpError

__all__ = [
    "USABLE",
    "Target",
    "catalog_entries",
    "health_view",
    "performance_view",
    "resolve_target",
]

_SHOWN = 50
"""Most model names a 404 message lists."""

USABLE = frozenset({"healthy", "degraded", "unknown", "probing"})
"""Model statuses that can still serve a request (``/health`` is 200 if any model has
one); quarantined and failed cannot."""


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """What a request's ``model`` field names: exactly one of a role or a model."""

    role: str | None = None
    model: str | None = None


def catalog_entries(listing: Sequence[ListedModel]) -> list[tuple[str, str]]:
    """``(name, type)`` of every name a client may use, as ``rt.list_models()`` lists
    them (roles, models, aliases, then models discovered on backends)."""
    return [(m.name, m.type) for m in listing]


def resolve_target(listing: Sequence[ListedModel], name: str, *, defer: bool = False) -> Target:
    """The role or model ``name`` refers to, among ``rt.list_models()``.

    With ``defer``, a name not listed is passed on as a model: the runtime then looks it
    up in the endpoints' model lists, refreshing them first, so a model an endpoint with
    ``models: auto`` loaded a moment ago is found (and an unknown one gets the runtime's
    404, listing what the backends serve).

    Raises:
        HttpError: 404 ``model_not_found`` listing the roles and models.
    """
    if any(m.name == name and m.type == "role" for m in listing):
        return Target(role=name)
    if defer or any(m.name == name for m in listing):
        return Target(model=name)
    roles = ", ".join(m.name for m in listing if m.type == "role") or "none"
    models = [m.name for m in listing if m.type in ("model", "discovered")]
    shown = ", ".join(models[:_SHOWN]) + (
        f" and {len(models) - _SHOWN} more" if len(models) > _SHOWN else ""
    )
    raise HttpError(
        404,
        f"model {name!r} not found; roles: {roles}; models: {shown or 'none'} (GET "
        "/v1/models or /api/tags lists them)",
        code="model_not_found",
        param="model",
    )


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
