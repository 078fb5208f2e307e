"""Discovered models: what an endpoint with ``models: auto`` (or patterns) serves.

An endpoint's ``Discovery`` rule says which models of its list are routable by name
without being configured: ``"auto"`` (every one) or glob patterns (``qwen*``,
``llama3*``; ``fnmatch`` rules, case-sensitive, matched against the name as the
endpoint lists it and against its ``match_key`` so ``llama3*`` finds ``llama3``).

The discovered set of an endpoint is a function of its list and its rule; the shell
records each change as ``ModelsDiscovered(endpoint, added, removed)`` and ``evolve``
folds it, so a replay yields the same discovered models. A configured model of the
same name wins: the runtime resolves configured names first (a discovered entry of
that name is kept, but never routed).

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Literal

from actors.catalog._logic import CatalogState, match_key
from events._catalog import ModelsDiscovered

__all__ = [
    "Discovery",
    "discover",
    "discovered_endpoints",
    "discovered_models",
    "discovery_change",
    "not_served",
]

Discovery = Literal["auto"] | tuple[str, ...]
"""``"auto"``: every listed model is discovered; a tuple: glob patterns."""


def discover(models: Sequence[str], rule: Discovery | None) -> tuple[str, ...]:
    """The models of ``models`` that ``rule`` discovers, in listing order."""
    if rule is None:
        return ()
    if rule == "auto":
        return tuple(dict.fromkeys(models))
    return tuple(
        dict.fromkeys(
            name
            for name in models
            if any(fnmatchcase(name, p) or fnmatchcase(match_key(name), p) for p in rule)
        )
    )


def discovery_change(
    state: CatalogState, endpoint: str, rule: Discovery | None, at: float
) -> ModelsDiscovered | None:
    """The event that brings ``endpoint``'s discovered models in line with its known
    list and ``rule``, or None when they already are (or its list was never fetched)."""
    entry = state.endpoints.get(endpoint)
    if entry is None or entry.models is None:
        wanted: tuple[str, ...] = () if rule is None else state.discovered.get(endpoint, ())
    else:
        wanted = discover(entry.models, rule)
    before = state.discovered.get(endpoint, ())
    if wanted == before:
        return None
    had, has = set(before), set(wanted)
    added = tuple(m for m in wanted if m not in had)
    removed = tuple(m for m in before if m not in has)
    if not added and not removed:
        return None  # the same names in another order: nothing to record
    return ModelsDiscovered(endpoint=endpoint, added=added, removed=removed, at=at)


def discovered_endpoints(
    state: CatalogState, model: str, order: Sequence[str] = ()
) -> dict[str, str]:
    """Endpoint -> the name it lists ``model`` under, for the endpoints discovering it.

    Args:
        state: The catalog.
        model: The name asked for (``llama3`` also finds ``llama3:latest``).
        order: Endpoint names in config order; the result follows it.
    """
    found = state.discovered_index.get(match_key(model))
    if not found:
        return {}
    if not order:
        return dict(found)
    return {e: found[e] for e in order if e in found}


def discovered_models(state: CatalogState, order: Sequence[str] = ()) -> dict[str, tuple[str, ...]]:
    """Every discovered model (named as its first endpoint lists it) -> its endpoints."""
    rank: Mapping[str, int] = {e: i for i, e in enumerate(order)}
    models: dict[str, tuple[str, ...]] = {}
    for found in state.discovered_index.values():
        endpoints = sorted(found, key=lambda e: rank.get(e, len(rank)))
        models[found[endpoints[0]]] = tuple(endpoints)
    return dict(sorted(models.items()))


def not_served(
    state: CatalogState, endpoint: str, models: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Which of ``models`` (configured on ``endpoint``) its known list lacks, and that
    list sorted; ``((), ())`` while the list is unknown (never fetched)."""
    entry = state.endpoints.get(endpoint)
    if entry is None or entry.models is None:
        return (), ()
    served = state.index
    missing = tuple(m for m in models if endpoint not in served.get(match_key(m), {}))
    return missing, tuple(sorted(entry.models))
