"""Events the model catalog (which models each endpoint serves) is folded from.

Each endpoint's events go to stream ``catalog/<endpoint>``. ``at`` is wall-clock
seconds since the Unix epoch, for the timeline only: the catalog's freshness is measured
on the monotonic clock, which cannot be read back from the log, so a replayed catalog
knows the lists but treats them as stale (see ``actors.catalog``).
"""

from __future__ import annotations

import msgspec

from events._base import Event
from events._codec import default_registry

__all__ = [
    "CATALOG_STREAM_PREFIX",
    "ModelListFailed",
    "ModelListRefreshed",
    "ModelNotServed",
    "ModelsDiscovered",
]

CATALOG_STREAM_PREFIX = "catalog/"
"""The catalog events of endpoint ``e`` go to stream ``catalog/<e>``."""


class ModelListRefreshed(Event, frozen=True, kw_only=True):
    """An endpoint's model list was fetched."""

    endpoint: str
    """The endpoint's configured name."""
    models: tuple[str, ...]
    """The model names exactly as the endpoint lists them (e.g. ``llama3:latest``)."""
    at: float
    context_lengths: dict[str, int] = msgspec.field(default_factory=dict)
    """Model name (as listed) -> the context window the endpoint reported for it, in
    tokens (llama.cpp ``/props``, Ollama ``/api/show``, ``/v1/models`` metadata); models
    it said nothing about are absent."""
    """Wall-clock seconds since the Unix epoch."""


class ModelListFailed(Event, frozen=True, kw_only=True):
    """Fetching an endpoint's model list failed; the previous list (if any) is kept."""

    endpoint: str
    error: str
    """What went wrong (secrets redacted), e.g. ``connection refused``."""
    at: float


class ModelsDiscovered(Event, frozen=True, kw_only=True):
    """The models an endpoint with ``models: auto`` (or glob patterns) is discovered to
    serve changed: ``added`` became routable by name, ``removed`` no longer are.

    Folded by the catalog (replay yields the same discovered models); recorded only
    when the set changes.
    """

    endpoint: str
    added: tuple[str, ...] = ()
    """Model names as the endpoint lists them, newly discovered."""
    removed: tuple[str, ...] = ()
    """Model names discovered before that the endpoint's list (or its patterns) no
    longer include."""
    at: float


class ModelNotServed(Event, frozen=True, kw_only=True):
    """A warning: a configured model's endpoint has a known list without the model.

    Requests skip that deployment (``unknown_model``) until the list includes it. Not
    folded into any state: it only tells the operator (and ``inspect``).
    """

    model: str
    """The configured model name."""
    endpoint: str
    served: tuple[str, ...]
    """What the endpoint does serve (its list, sorted)."""
    at: float


for _cls in (ModelListRefreshed, ModelListFailed, ModelsDiscovered, ModelNotServed):
    default_registry.register(_cls)
