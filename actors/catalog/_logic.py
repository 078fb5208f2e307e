"""Which models each endpoint serves: a cached list per endpoint, as pure logic.

The state is folded from ``ModelListRefreshed``/``ModelListFailed``, and the models
discovered on endpoints with ``models: auto`` (or glob patterns) from
``ModelsDiscovered`` (see ``_discovery``). Freshness is
measured on the monotonic clock (a wall-clock step must not make a list look fresh or
stale), and a monotonic reading is meaningless after a restart, so it is not in the
events: the live shell passes ``now`` to ``evolve`` and gets ``fetched_at`` set, a replay
passes nothing and gets the lists *known but stale* — the first use after a restart
refreshes them, while validation can already answer from the replayed lists.

Name matching (``match_key``): a name without a tag means the ``latest`` tag, as in
Ollama, so ``llama3`` and ``llama3:latest`` are the same model; the tag is what follows
the last ``:`` after the last ``/`` (so ``host:5000/m`` has no tag). Everything else is
compared exactly, case included: OpenAI-compatible servers compare ids exactly, and a
looser rule here could accept a name the backend then rejects.

Pure: no clock, no I/O; ``validate`` is a couple of dict lookups on a precomputed index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from actors.catalog._errors import ModelNotFoundError
from events._base import Event, UnknownEvent
from events._catalog import ModelListFailed, ModelListRefreshed, ModelsDiscovered

__all__ = [
    "CatalogState",
    "DEFAULT_TTL",
    "EndpointModels",
    "available",
    "context_lengths",
    "evolve",
    "is_fresh",
    "match_key",
    "needs_refresh",
    "resolve",
    "served_name",
    "serves",
    "validate",
]

DEFAULT_TTL = 60.0
"""Seconds a fetched model list counts as fresh."""

DEFAULT_FAILURE_BACKOFF = 5.0
"""Seconds to wait after a failed fetch before trying again (no refresh storms)."""

_DEFAULT_TAG = ":latest"


class EndpointModels(msgspec.Struct, frozen=True, kw_only=True):
    """One endpoint's cached model list."""

    models: tuple[str, ...] | None = None
    """Names exactly as the endpoint lists them; None until a list was ever fetched."""
    fetched_at: float | None = None
    """Monotonic seconds of the last successful fetch in *this* process; None after a
    replay (stale until refreshed)."""
    error: str | None = None
    """The last fetch error, cleared by the next success."""
    failed_at: float | None = None
    """Monotonic seconds of the last failed fetch in this process."""
    context_lengths: dict[str, int] = msgspec.field(default_factory=dict)
    """Model name (as listed) -> its context window in tokens, as last reported."""


class CatalogState(msgspec.Struct, frozen=True, kw_only=True):
    """Every endpoint's model list and an index for cheap lookups (never mutated)."""

    endpoints: dict[str, EndpointModels] = msgspec.field(default_factory=dict)
    """Endpoint name -> its cached list."""
    index: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    """``match_key(name)`` -> endpoint -> the name as that endpoint lists it."""
    discovered: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    """Endpoint -> the models discovered on it (names as it lists them), routable by
    name without being configured."""
    discovered_index: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    """``match_key(name)`` -> endpoint -> the name as listed, for discovered models only."""


def match_key(name: str) -> str:
    """The form two model names are compared in: ``llama3`` -> ``llama3:latest``."""
    text = name.strip()
    if ":" in text.rpartition("/")[2]:
        return text
    return text + _DEFAULT_TAG


def evolve(
    state: CatalogState, event: Event | UnknownEvent, now: float | None = None
) -> CatalogState:
    """Fold one event into the catalog; total (other events leave it unchanged).

    Args:
        state: The catalog so far.
        event: Any event.
        now: Monotonic seconds when applying live; None when replaying, which leaves the
            list stale (``fetched_at`` None) because the log cannot tell its age.
    """
    match event:
        case ModelListRefreshed(endpoint=endpoint, models=models):
            entry = EndpointModels(
                models=tuple(dict.fromkeys(models)),
                fetched_at=now,
                context_lengths=event.context_lengths,
            )
            endpoints = {**state.endpoints, endpoint: entry}
            return msgspec.structs.replace(
                state, endpoints=endpoints, index=_build_index(endpoints)
            )
        case ModelListFailed(endpoint=endpoint, error=error):
            old = state.endpoints.get(endpoint, EndpointModels())
            # The previous list is kept: a backend that is briefly unreachable still
            # serves the same models, and health (not the catalog) tracks reachability.
            entry = msgspec.structs.replace(old, error=error, failed_at=now)
            return msgspec.structs.replace(state, endpoints={**state.endpoints, endpoint: entry})
        case ModelsDiscovered(endpoint=endpoint, added=added, removed=removed):
            gone = set(removed)
            kept = [m for m in state.discovered.get(endpoint, ()) if m not in gone]
            names = tuple(dict.fromkeys((*kept, *added)))
            discovered = {**state.discovered, endpoint: names}
            if not names:
                del discovered[endpoint]
            return msgspec.structs.replace(
                state,
                discovered=discovered,
                discovered_index=_build_index(
                    {e: EndpointModels(models=m) for e, m in discovered.items()}
                ),
            )
        case _:
            return state


def _build_index(endpoints: Mapping[str, EndpointModels]) -> dict[str, dict[str, str]]:
    index: dict[str, dict[str, str]] = {}
    for endpoint, entry in endpoints.items():
        for name in entry.models or ():
            # First listing wins when an endpoint lists both "m" and "m:latest".
            index.setdefault(match_key(name), {}).setdefault(endpoint, name)
    return index


def is_fresh(state: CatalogState, endpoint: str, now: float, ttl: float = DEFAULT_TTL) -> bool:
    """Whether ``endpoint``'s list was fetched by this process less than ``ttl`` ago.

    A reading from the future (``now`` before ``fetched_at``) is not fresh: monotonic
    clocks do not go back, so it can only be a mix-up of clocks, and refreshing is safe.
    """
    entry = state.endpoints.get(endpoint)
    if entry is None or entry.fetched_at is None:
        return False
    return 0.0 <= now - entry.fetched_at < ttl


def needs_refresh(
    state: CatalogState,
    endpoint: str,
    now: float,
    ttl: float = DEFAULT_TTL,
    failure_backoff: float = DEFAULT_FAILURE_BACKOFF,
) -> bool:
    """Whether the shell should fetch ``endpoint``'s list now.

    True when the list is not fresh, unless a fetch failed less than
    ``failure_backoff`` seconds ago (so a dead endpoint is not asked on every request).
    """
    if is_fresh(state, endpoint, now, ttl):
        return False
    entry = state.endpoints.get(endpoint)
    if entry is not None and entry.failed_at is not None:
        since = now - entry.failed_at
        fetched_after = entry.fetched_at is not None and entry.fetched_at >= entry.failed_at
        if 0.0 <= since < failure_backoff and not fetched_after:
            return False
    return True


def resolve(state: CatalogState, model: str) -> tuple[str, ...]:
    """Endpoints whose cached list includes ``model``, in the order they were first listed."""
    return tuple(state.index.get(match_key(model), {}))


def served_name(state: CatalogState, model: str, endpoint: str) -> str | None:
    """The name ``endpoint`` lists ``model`` under (``llama3`` -> ``llama3:latest``), or None."""
    return state.index.get(match_key(model), {}).get(endpoint)


def serves(state: CatalogState, model: str, endpoint: str) -> bool:
    """Whether ``endpoint`` may serve ``model``: False only if its known list lacks it.

    An endpoint whose list was never fetched is given the benefit of the doubt (the
    attempt itself will tell); this is the router's ``serves`` callable. That is the one
    rule for an unknown list, whenever it applies: the runtime's start waits (bounded)
    for every endpoint's first list, so a reachable endpoint's list is known from the
    first request on and "not served" does not depend on timing (``runtime._assembly``).
    """
    entry = state.endpoints.get(endpoint)
    if entry is None or entry.models is None:
        return True
    return endpoint in state.index.get(match_key(model), {})


def context_lengths(state: CatalogState, deployments: Iterable[str]) -> dict[str, int]:
    """Deployment id -> the context window its endpoint reported for its model (ids
    without a known window are absent)."""
    found: dict[str, int] = {}
    for did in deployments:
        model, _, endpoint = did.rpartition("@")
        entry = state.endpoints.get(endpoint)
        name = served_name(state, model, endpoint) if entry and entry.context_lengths else None
        window = entry.context_lengths.get(name) if entry is not None and name else None
        if window is not None:
            found[did] = window
    return found


def available(state: CatalogState, endpoints: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Sorted model names served by ``endpoints`` (default: every known endpoint)."""
    names = {
        name
        for endpoint, entry in state.endpoints.items()
        if endpoints is None or endpoint in endpoints
        for name in entry.models or ()
    }
    return tuple(sorted(names))


def validate(state: CatalogState, model: str, endpoints: Mapping[str, str]) -> None:
    """Check that one of ``endpoints`` serves ``model``, from the cached lists.

    The answer is from the cache whatever its age; the shell refreshes stale lists (and
    re-validates) before reporting a miss, so a model pulled a minute ago is found.

    Args:
        state: The catalog.
        model: The model name asked for.
        endpoints: Endpoint name -> URL of the model's configured deployments (the URLs
            only appear in the error message).

    Raises:
        ModelNotFoundError: Every one of ``endpoints`` has a known list and none of them
            includes ``model``. An endpoint with no list yet might serve it: no error.
    """
    served = state.index.get(match_key(model))
    if served is not None and any(endpoint in served for endpoint in endpoints):
        return
    entries = state.endpoints
    if not endpoints or any(
        (entry := entries.get(name)) is None or entry.models is None for name in endpoints
    ):
        return
    raise ModelNotFoundError(model, endpoints, available(state, tuple(endpoints)))
