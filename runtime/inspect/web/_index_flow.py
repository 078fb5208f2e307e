"""Where the traffic of a span went: role -> model -> deployment, and the fallbacks.

For each request that started in the span:

- a ``route`` link from its role (``(none)`` when it asked for a model directly) to the
  model it asked for, or its role's primary model (``RequestRow.primary``);
- a ``fallback`` link for every ``FallbackSwitched`` it recorded (model -> model);
- a ``serve`` link from the model of the deployment that answered it (else the one
  tried last) to that deployment; a request that tried none has no serve link.

Links are counted, and sorted by kind, then count (descending), then names.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from runtime.inspect._requests_model import RequestRow
from runtime.inspect.web._views import FlowLink, FlowView, Span

__all__ = ["NO_ROLE", "UNKNOWN_MODEL", "flow_view"]

NO_ROLE = "(none)"
"""The role node of requests that asked for a model directly."""
UNKNOWN_MODEL = "(unknown)"
"""The model node of a request whose start the log no longer holds."""
_KINDS = ("route", "fallback", "serve")


def flow_view(
    span: Span,
    rows: Iterable[RequestRow],
    fallbacks: Mapping[str, Sequence[tuple[str, str]]],
) -> FlowView:
    """The flow of ``rows`` (the requests started in ``span``).

    Args:
        fallbacks: ``(from_model, to_model)`` switches by request id (only requests that
            fell back).
    """
    groups: dict[tuple[str | None, str | None, str | None], int] = {}
    switches: list[tuple[str, str]] = []
    for row in rows:  # one dict update a row: a page may hold 250,000 of them
        key = (row.role, row.primary or row.model, row.deployment)
        groups[key] = groups.get(key, 0) + 1
        if row.fallbacks:
            switches.extend(fallbacks.get(row.request_id, ()))
    counts: dict[tuple[str, str, str], int] = {}
    roles: set[str] = set()
    models: set[str] = set()
    deployments: set[str] = set()
    for (role_or_none, asked, deployment), n in groups.items():
        role = role_or_none if role_or_none is not None else NO_ROLE
        model = asked or UNKNOWN_MODEL
        roles.add(role)
        models.add(model)
        _count(counts, "route", role, model, n)
        if deployment is not None:
            served = deployment.rpartition("@")[0] or deployment
            models.add(served)
            deployments.add(deployment)
            _count(counts, "serve", served, deployment, n)
    for source, target in switches:
        models.update((source, target))
        _count(counts, "fallback", source, target, 1)
    links = sorted(
        counts.items(), key=lambda item: (_KINDS.index(item[0][0]), -item[1], item[0][1:])
    )
    return FlowView(
        span=span,
        roles=tuple(sorted(roles)),
        models=tuple(sorted(models)),
        deployments=tuple(sorted(deployments)),
        links=tuple(
            FlowLink(source=source, target=target, count=n, kind=kind)
            for (kind, source, target), n in links
        ),
    )


def _count(
    counts: dict[tuple[str, str, str], int], kind: str, source: str, target: str, n: int
) -> None:
    key = (kind, source, target)
    counts[key] = counts.get(key, 0) + n
