"""The model catalog: which models each endpoint serves, cached with a TTL.

Pure: ``_logic`` (``evolve`` over ``events._catalog``, lookups, validation), the
actor's messages (``_messages``) and ``_errors``. The shell is ``CatalogActor``
(``_actor``), the single owner of the lists: it answers lookups inline, fetches lists
in background tasks (on its own timer, on a miss, on request) and applies what they
bring back.
"""

from __future__ import annotations

from actors.catalog._actor import CatalogActor, Fetch, FetchWindows, OnListed
from actors.catalog._client import ensure_served, find_discovered, wait_all
from actors.catalog._discovery import (
    Discovery,
    discover,
    discovered_endpoints,
    discovered_models,
    discovery_change,
    not_served,
)
from actors.catalog._errors import CatalogError, ModelNotFoundError
from actors.catalog._logic import (
    DEFAULT_TTL,
    CatalogState,
    EndpointModels,
    available,
    context_lengths,
    evolve,
    is_fresh,
    match_key,
    needs_refresh,
    resolve,
    served_name,
    serves,
    validate,
)
from actors.catalog._messages import (
    ApplyListing,
    CatalogMessage,
    CatalogStatistics,
    Discovered,
    Fetches,
    FindDiscovered,
    FindUnlisted,
    GetCatalog,
    GetCatalogStatistics,
    Listed,
    Refresh,
    RefreshSoon,
    RefreshStale,
    Survey,
    Surveyed,
    Unlisted,
    ValidateModel,
    Validation,
)

__all__ = [
    "CatalogError",
    "Discovered",
    "Discovery",
    "FindDiscovered",
    "discover",
    "discovered_endpoints",
    "discovered_models",
    "discovery_change",
    "find_discovered",
    "not_served",
    "CatalogState",
    "DEFAULT_TTL",
    "EndpointModels",
    "ModelNotFoundError",
    "available",
    "context_lengths",
    "FetchWindows",
    "Survey",
    "Surveyed",
    "evolve",
    "is_fresh",
    "match_key",
    "needs_refresh",
    "resolve",
    "served_name",
    "serves",
    "validate",
    "ApplyListing",
    "CatalogActor",
    "CatalogMessage",
    "CatalogStatistics",
    "Fetch",
    "Fetches",
    "FindUnlisted",
    "GetCatalog",
    "GetCatalogStatistics",
    "Listed",
    "OnListed",
    "Refresh",
    "RefreshStale",
    "RefreshSoon",
    "Unlisted",
    "ValidateModel",
    "Validation",
    "ensure_served",
    "wait_all",
]
