"""The messages the catalog actor takes and the replies it gives (pure data)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping

import msgspec

from actors._ask import Ask
from actors._fold import Fold
from actors.catalog._errors import ModelNotFoundError
from actors.catalog._logic import CatalogState
from actors.endpoint import BackendError

__all__ = [
    "ApplyListing",
    "Discovered",
    "FindDiscovered",
    "CatalogMessage",
    "CatalogStatistics",
    "Fetches",
    "FindUnlisted",
    "GetCatalog",
    "GetCatalogStatistics",
    "Listed",
    "Refresh",
    "RefreshSoon",
    "RefreshStale",
    "Unlisted",
    "ValidateModel",
    "Validation",
]


class CatalogStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of the catalog actor."""

    fetches: int
    """Model lists fetched (or tried) by this actor."""
    rounds: int
    """Timer rounds of refreshing stale lists."""


class Unlisted(msgspec.Struct, frozen=True):
    """Deployment ids whose endpoint's list lacks their model."""

    deployments: frozenset[str] = frozenset()


class Fetches(msgspec.Struct, frozen=True):
    """The fetches a ``Refresh`` started or joined; each resolves to its error or None.

    Await them with ``wait_all``: a caller giving up must not cancel a fetch that
    others may wait for too.
    """

    waits: tuple[Awaitable[BackendError | None], ...]


class Listed(msgspec.Struct, frozen=True):
    """The deployments a freshly fetched list serves (health resets ``failed`` ones)."""

    deployments: tuple[str, ...] = ()


class Validation(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to ``ValidateModel``."""

    fetch: tuple[str, ...] = ()
    """Fetch these lists (``Refresh``), then ask again with ``stage + 1``."""
    error: ModelNotFoundError | None = None
    """Set when the model is not served and nothing is left to fetch."""


class ValidateModel(Ask[Validation], frozen=True):
    """Is ``model`` served by one of ``endpoints`` (name -> URL)? Cached, no I/O.

    ``stage`` 0: lists never fetched must be fetched first; 1: on a miss, lists older
    than the miss interval are worth one more fetch; 2: the answer is final.
    """

    model: str
    endpoints: Mapping[str, str]
    stage: int = 0


class Refresh(Ask[Fetches], frozen=True):
    """Fetch these lists now (joining fetches already running).

    ``first``: only the lists this process has not fetched (or tried) yet; the start
    waits for those.
    """

    endpoints: tuple[str, ...]
    first: bool = False


class RefreshSoon(Ask[None], frozen=True):
    """A backend said "no such model": fetch its list unless that was just done."""

    endpoint: str


class ApplyListing(Ask[Listed], frozen=True):
    """A fetch ended (from the fetch's own task); replies with the deployments served."""

    endpoint: str
    at: float
    """Wall-clock time the fetch started."""
    models: tuple[str, ...] | None = None
    error: str | None = None
    """The classified error's message when the fetch failed."""
    context_lengths: dict[str, int] = msgspec.field(default_factory=dict)
    """Model name (as listed) -> the context window the endpoint reported."""


class FindUnlisted(Ask[Unlisted], frozen=True):
    """Which of these deployment ids' endpoints have a list without their model."""

    deployments: tuple[str, ...]


class Surveyed(msgspec.Struct, frozen=True):
    """The answer to ``Survey``: ``FindUnlisted``'s answer and the known context windows."""

    unlisted: frozenset[str] = frozenset()
    """Deployment ids whose endpoint's list lacks their model."""
    lengths: Mapping[str, int] = msgspec.field(default_factory=dict)
    """Deployment id -> its discovered context window in tokens (unknown ones absent)."""


class Survey(Ask[Surveyed], frozen=True):
    """What planning needs of these deployment ids, in one ask (cached, no I/O): which
    are unlisted, and their discovered context windows."""

    deployments: tuple[str, ...]


class Discovered(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to ``FindDiscovered``."""

    found: Mapping[str, tuple[str, tuple[str, ...]]] = msgspec.field(default_factory=dict)
    """Name asked for -> (the name as the first endpoint lists it, the endpoints
    discovering it in config order); names not discovered are absent."""
    fetch: tuple[str, ...] = ()
    """A name was not found: fetch these lists (``Refresh``), then ask with ``stage + 1``."""


class FindDiscovered(Ask[Discovered], frozen=True):
    """Which endpoints discover these model names (cached, no I/O).

    ``stage`` 0: on a miss, the discovering endpoints' lists never fetched or older
    than the miss interval are worth one fetch; 1: the answer is final.
    """

    models: tuple[str, ...]
    stage: int = 0


class GetCatalog(Ask[CatalogState], frozen=True):
    """The lists (an immutable value)."""


class GetCatalogStatistics(Ask[CatalogStatistics], frozen=True):
    """The counters."""


class RefreshStale(msgspec.Struct, frozen=True):
    """Timer: refresh the stale lists."""


CatalogMessage = (
    ValidateModel
    | FindDiscovered
    | Refresh
    | RefreshSoon
    | ApplyListing
    | FindUnlisted
    | Survey
    | GetCatalog
    | GetCatalogStatistics
    | RefreshStale
    | Fold
)
