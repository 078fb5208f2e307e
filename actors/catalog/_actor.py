"""``CatalogActor``: the single owner of every endpoint's cached model list.

Turns. Lookups (``Survey`` at planning, cached per state; ``ValidateModel`` for a per-call
``model=``) are a couple of dict lookups on an immutable state, answered inline in the
asking request's task. Fetching a list is I/O and never runs inside a turn: the turn
that decides a fetch (``Refresh``, ``RefreshSoon`` or the timer's ``RefreshStale``)
starts it in a background task, and the fetched list comes back as ``ApplyListing``.
Fetches are single-flight per endpoint: a ``Refresh`` joins the one running.

Events: a fetched list is recorded (``ModelListRefreshed`` to ``catalog/<endpoint>``)
only when it differs from the known one, and a failure (``ModelListFailed``) only when
its error differs from the last one: replaying the changes yields the same lists, and
a 60-second poll does not write a row a minute per endpoint for nothing.

Discovery (``_discovery``): an endpoint with a ``Discovery`` rule (``auto`` or glob
patterns) makes the models of its list that match routable by name. Each change is
recorded as ``ModelsDiscovered`` with the list's change, and folded; at start the
discovered sets are brought in line with the rules in force (a changed config).

Not served: once an endpoint's list is known in this process, each configured model
of that endpoint the list lacks is a warning, ``ModelNotServed`` (recorded, published,
logged), once per process until the list includes the model again.

Restart: the new instance rebuilds the lists from the log (``restore``) before its
first message; a fetch started by the failed instance still reports to the new one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import cast

from actors._actor import Actor
from actors._clock import TimerHandle
from actors._fold import Fold
from actors._ref import ActorRef
from actors.catalog._discovery import (
    Discovery,
    discovered_endpoints,
    discovery_change,
    not_served,
)
from actors.catalog._errors import ModelNotFoundError
from actors.catalog._logic import (
    DEFAULT_FAILURE_BACKOFF,
    DEFAULT_TTL,
    CatalogState,
    EndpointModels,
    evolve,
    needs_refresh,
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
    ValidateModel,
    Validation,
)
from actors.catalog._shared import Served, Surveys, unlisted
from actors.endpoint import BackendError
from events import (
    CATALOG_STREAM_PREFIX,
    Event,
    ModelListFailed,
    ModelListRefreshed,
    ModelNotServed,
    get_logger,
)

__all__ = ["CatalogActor", "Fetch", "FetchWindows", "OnListed"]

log = get_logger(__name__)

Fetch = Callable[[str], Awaitable[tuple[str, ...]]]
"""Fetch one endpoint's model list by endpoint name; raises ``BackendError``."""
FetchWindows = Callable[[str, tuple[str, ...]], Awaitable[dict[str, int]]]
"""An endpoint's context windows for its fresh list (name -> tokens; never raises)."""
OnListed = Callable[[tuple[str, ...]], Awaitable[None]]
"""Told the deployment ids a fresh list serves (health resets ``failed`` ones)."""
Restore = Callable[[], Awaitable[CatalogState]]
"""Rebuild the lists from the log (snapshot + tail)."""


_NONE_LISTED = Listed()


class CatalogActor(Actor[CatalogMessage]):
    """Every endpoint's cached model list; see the module docstring."""

    def __init__(
        self,
        endpoints: Sequence[str],
        deployments: Sequence[str],
        fetch: Fetch,
        *,
        state: CatalogState | None,
        restore: Restore,
        record: Callable[[str, Sequence[Event]], None],
        publish: Callable[[Event], None],
        on_listed: OnListed | None = None,
        ttl: float = DEFAULT_TTL,
        failure_backoff: float = DEFAULT_FAILURE_BACKOFF,
        miss_refresh_interval: float = 1.0,
        refresh_interval: float = 0.0,
        discovery: Mapping[str, Discovery] | None = None,
        fetch_windows: FetchWindows | None = None,
    ) -> None:
        """Create the actor from the replayed ``state`` (None: ``restore`` it at start).

        Args:
            endpoints: Every endpoint name.
            deployments: Every deployment id (``model@endpoint``), for ``on_listed``.
            fetch: Fetches one endpoint's list.
            state: The replayed lists (stale), or None to rebuild them from the log.
            restore: Rebuilds the lists from the log.
            record: Where events go (stream ``catalog/<endpoint>``).
            publish: Where events are announced.
            on_listed: Told the deployments a freshly fetched list serves.
            ttl: Seconds a fetched list counts as fresh.
            failure_backoff: Seconds after a failed fetch before the next try.
            miss_refresh_interval: A list younger than this is not re-fetched on a miss.
            refresh_interval: Seconds between timer rounds (0: no timer); the first
                round runs at start.
            discovery: Endpoint -> its discovery rule (``auto`` or glob patterns);
                endpoints absent discover nothing.
            fetch_windows: Asks an endpoint, after each list fetched, for its models'
                context windows (recorded with the list); None: none are discovered.
        """
        self._endpoints = tuple(endpoints)
        self._deployments = tuple(d.rpartition("@")[::2] for d in deployments)
        self._fetch = fetch
        self._fetch_windows = fetch_windows
        self._state = state
        self._restore = restore
        self._record = record
        self._publish = publish
        self._on_listed = on_listed
        self._ttl = ttl
        self._failure_backoff = failure_backoff
        self._miss_interval = miss_refresh_interval
        self._interval = refresh_interval
        self._fetching: dict[str, Awaitable[BackendError | None]] = {}
        self._timer: TimerHandle | None = None
        self._fetches = self._rounds = 0
        self._surveys, self._served = Surveys(), Served()
        rules = discovery or {}
        self._discovery = {e: rules[e] for e in self._endpoints if e in rules}
        self._configured: dict[str, list[str]] = {}
        for model, where in self._deployments:
            self._configured.setdefault(where, []).append(model)
        self._warned: set[str] = set()

    async def on_start(self) -> None:
        if self._state is None:
            self._state = await self._restore()
        for endpoint in self._endpoints:  # the rules in force may differ from the log's
            change = discovery_change(
                self._lists, endpoint, self._discovery.get(endpoint), self.clock.time()
            )
            if change is not None:
                self._note(endpoint, [change])
        if self._interval > 0:
            # now=True: fill the cache at start-up without waiting a whole interval.
            self._timer = self.tell_every(self._interval, RefreshStale(), now=True)

    async def on_stop(self) -> None:
        self._cancel_timer()

    async def on_failure(self, exc: Exception) -> None:
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def _lists(self) -> CatalogState:
        assert self._state is not None  # set by __init__ or on_start
        return self._state

    def receive(self, message: CatalogMessage) -> object:
        match message:
            case Survey(deployments=dids):
                return self._surveys.answer(self._lists, dids)
            case FindUnlisted(deployments=dids):
                return unlisted(self._lists, dids)
            case ValidateModel():
                return self._validate(message)
            case FindDiscovered():
                return self._find_discovered(message)
            case Refresh(endpoints=endpoints, first=first):
                if first:  # running fetches are joined; finished ones are not repeated
                    endpoints = tuple(e for e in endpoints if self._untried(e))
                return Fetches(tuple(self._refresh(e) for e in endpoints))
            case RefreshSoon(endpoint=endpoint):
                if endpoint not in self._fetching and self._due_on_miss(endpoint):
                    self._refresh(endpoint)
                return None
            case ApplyListing():
                return self._apply_listing(message)
            case GetCatalog():
                return self._lists
            case GetCatalogStatistics():
                return CatalogStatistics(fetches=self._fetches, rounds=self._rounds)
            case RefreshStale():
                self._rounds += 1
                now = self.clock.monotonic()
                for endpoint in self._endpoints:
                    if needs_refresh(self._lists, endpoint, now, self._ttl, self._failure_backoff):
                        self._refresh(endpoint)
            case Fold(events=events):  # another runtime's lists: as fresh as if fetched here
                for stored in events:
                    self._state = evolve(self._lists, stored.event, now=self.clock.monotonic())
        return None

    # --- lookups ------------------------------------------------------------------------

    def _validate(self, message: ValidateModel) -> Validation:
        endpoints, model = message.endpoints, message.model
        if self._served.known(self._lists, model, endpoints):
            return _SERVED
        if message.stage == 0:
            unknown = tuple(e for e in endpoints if self._never_fetched(e))
            if unknown:
                return Validation(fetch=unknown)
        try:
            validate(self._lists, model, endpoints)
            self._served.note(self._lists, model, endpoints)
            return _SERVED
        except ModelNotFoundError as exc:
            if message.stage < 2:
                again = tuple(e for e in endpoints if self._due_on_miss(e))
                if again:
                    return Validation(fetch=again)
            return Validation(error=exc)

    def _find_discovered(self, message: FindDiscovered) -> Discovered:
        found: dict[str, tuple[str, tuple[str, ...]]] = {}
        for name in message.models:
            where = discovered_endpoints(self._lists, name, self._endpoints)
            if where:
                found[name] = (next(iter(where.values())), tuple(where))
        if len(found) < len(message.models) and message.stage == 0:
            again = tuple(e for e in self._discovery if self._due_on_miss(e))
            if again:
                return Discovered(found=found, fetch=again)
        return Discovered(found=found)

    def _entry(self, endpoint: str) -> EndpointModels:
        return self._lists.endpoints.get(endpoint) or EndpointModels()

    def _untried(self, endpoint: str) -> bool:
        entry = self._entry(endpoint)
        tried = entry.fetched_at is not None or entry.failed_at is not None
        return endpoint in self._fetching or not tried

    def _never_fetched(self, endpoint: str) -> bool:
        entry = self._entry(endpoint)
        return entry.models is None and self._backoff_over(entry)

    def _due_on_miss(self, endpoint: str) -> bool:
        entry = self._entry(endpoint)
        now = self.clock.monotonic()
        young = entry.fetched_at is not None and 0 <= now - entry.fetched_at < self._miss_interval
        return not young and self._backoff_over(entry)

    def _backoff_over(self, entry: EndpointModels) -> bool:
        if entry.failed_at is None:
            return True
        since = self.clock.monotonic() - entry.failed_at
        recovered = entry.fetched_at is not None and entry.fetched_at >= entry.failed_at
        return recovered or not 0 <= since < self._failure_backoff

    # --- fetching -----------------------------------------------------------------------

    def _refresh(self, endpoint: str) -> Awaitable[BackendError | None]:
        running = self._fetching.get(endpoint)
        if running is None:
            self._fetches += 1
            fetchers = (self._fetch, self._fetch_windows)
            work = _fetch_one(self.ref, fetchers, endpoint, self.clock.time(), self._on_listed)
            task = self.run_in_background(work, name=f"fetch {endpoint}")
            # The task's result is _fetch_one's: the fetch's error, or None.
            running = self._fetching[endpoint] = cast(Awaitable[BackendError | None], task)
        return running

    def _apply_listing(self, message: ApplyListing) -> Listed:
        endpoint, at = message.endpoint, message.at
        self._fetching.pop(endpoint, None)
        before = self._entry(endpoint)
        event: ModelListRefreshed | ModelListFailed
        if message.models is None:
            event = ModelListFailed(endpoint=endpoint, error=message.error or "", at=at)
            changed = event.error != before.error
        else:
            event = ModelListRefreshed(
                endpoint=endpoint, models=message.models, at=at,
                context_lengths=message.context_lengths,
            )  # fmt: skip
            changed = (
                before.models is None
                or before.error is not None
                or tuple(dict.fromkeys(event.models)) != before.models
                or event.context_lengths != before.context_lengths
            )
        self._state = evolve(self._lists, event, now=self.clock.monotonic())
        events: list[Event] = [event] if changed else []
        if message.models is None:
            self._note(endpoint, events)
            return _NONE_LISTED
        change = discovery_change(self._lists, endpoint, self._discovery.get(endpoint), at)
        if change is not None:
            events.append(change)
        events.extend(self._not_served(endpoint, at))
        self._note(endpoint, events)
        state = self._lists
        return Listed(
            tuple(
                f"{model}@{where}"
                for model, where in self._deployments
                if where == endpoint and serves(state, model, endpoint)
            )
        )

    def _note(self, endpoint: str, events: Sequence[Event]) -> None:
        """Fold (those not folded yet), publish and record ``events`` of ``endpoint``."""
        for event in events:
            if not isinstance(event, ModelListRefreshed | ModelListFailed):
                self._state = evolve(self._lists, event)
            self._publish(event)
        if events:
            self._record(CATALOG_STREAM_PREFIX + endpoint, tuple(events))

    def _not_served(self, endpoint: str, at: float) -> list[ModelNotServed]:
        """Warnings for configured models ``endpoint``'s list newly lacks (see above)."""
        models = self._configured.get(endpoint, ())
        missing, served = not_served(self._lists, endpoint, models)
        warnings: list[ModelNotServed] = []
        for model in models:
            did = f"{model}@{endpoint}"
            if model not in missing:
                self._warned.discard(did)
            elif did not in self._warned:
                self._warned.add(did)
                warnings.append(
                    ModelNotServed(model=model, endpoint=endpoint, served=served, at=at)
                )
                log.warning(
                    "catalog.model_not_served", model=model, endpoint=endpoint,
                    served=", ".join(served[:20]) + (", ..." if len(served) > 20 else ""),
                )  # fmt: skip
        return warnings


_SERVED = Validation()


async def _fetch_one(
    ref: ActorRef[CatalogMessage],
    fetchers: tuple[Fetch, FetchWindows | None],
    endpoint: str,
    at: float,
    on_listed: OnListed | None,
) -> BackendError | None:
    """Fetch one list and its windows outside any turn; the result is ``ApplyListing``."""
    fetch, fetch_windows = fetchers
    try:
        models = await fetch(endpoint)
    except BackendError as exc:
        log.warning("catalog.refresh.failed", endpoint=endpoint, failure=exc.failure.value)
        await ref.ask(ApplyListing(endpoint, at, error=exc.message), timeout=None)
        return exc
    windows = await fetch_windows(endpoint, models) if fetch_windows is not None else {}
    apply = ApplyListing(endpoint, at, models=models, context_lengths=windows)
    listed = await ref.ask(apply, timeout=None)
    log.debug("catalog.refresh.complete", endpoint=endpoint, models=len(models))
    if listed.deployments and on_listed is not None:
        await on_listed(listed.deployments)
    return None
