"""What a ``Runtime`` lets its host read and watch: routable names, usage, performance,
events as they happen, commits, counters."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from actors.catalog import CatalogState, GetCatalog
from actors.performance import PerformanceSummary, SummarizePerformance
from actors.quota import GetUsage, UsageSummary
from events import Event
from runtime._assembly import Parts
from runtime._config import RuntimeConfig
from runtime._listing import ListedModel, listing
from runtime._notify import Callback, Subscription
from runtime._statistics import RuntimeStatistics, collect_statistics, read

__all__ = ["Observing"]

_NO_CATALOG = CatalogState()


class Observing:
    """The reading half of ``Runtime`` (a base class: it needs ``_running``)."""

    _running: Callable[[], Parts]  # Runtime's: the parts while open or closing
    _config: RuntimeConfig

    # --- notifications ------------------------------------------------------------------

    def subscribe(self, types: Iterable[type[Event]] = (), *, maxsize: int = 1_000) -> Subscription:
        """An async iterator over events of ``types`` (all events if empty).

        Example: ``async for event in rt.subscribe(types=[FallbackSwitched]): ...``.
        It ends when the runtime closes; ``close()`` it to stop earlier.
        """
        return self._running().notifier.subscribe(types, maxsize=maxsize)

    def on(self, event_type: type[Event], callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for every event of ``event_type`` (or a subclass).

        The callback runs soon after the event, never inside a request; a coroutine
        function is run as a task. Returns a function that removes the callback.
        """
        return self._running().notifier.on(event_type, callback)

    def on_append(self, callback: Callable[[float, int], None]) -> Callable[[], None]:
        """Call ``callback(seconds, events)`` after each commit of the event log.

        ``seconds`` runs from handing the batch to storage to its commit; ``events``
        is how many events it carried. The callback runs in the log's writer task: keep
        it cheap (its exceptions are logged). Returns a function that removes it.
        """
        return self._running().log.on_commit(
            lambda batch: callback(batch.seconds, len(batch.events))
        )

    def statistics(self) -> RuntimeStatistics:
        """Counters of the router, health, quota, event log, endpoints and actors."""
        return collect_statistics(self._running())

    def list_models(self) -> tuple[ListedModel, ...]:
        """Every name a call may use: roles (``role=``), configured models and aliases,
        and the models endpoints discover (``models: auto`` or patterns), all ``model=``.

        With discovery on, the discovered models come from the catalog actor, so the
        runtime must be open (``RuntimeNotRunning`` otherwise)."""
        if not any(e.models is not None for e in self._config.endpoints):
            return listing(self._config, _NO_CATALOG)
        return listing(self._config, read(self._running().refs.catalog, GetCatalog()))

    def usage(self) -> UsageSummary:
        """Today's (this quota period's) requests and tokens per model, role and
        endpoint, every configured limit with what is left, and the reset time."""
        quota = self._running().refs.quota
        assert quota is not None  # the runtime always runs a quota actor
        return read(quota, GetUsage())

    def performance(self) -> PerformanceSummary:
        """Windows and scores per (task kind, model), per deployment and per
        (task kind, deployment) — what the ``performance`` strategy orders by."""
        return read(self._running().refs.performance, SummarizePerformance())

    async def flush_events(self) -> None:
        """Wait until every event recorded so far is committed to the log."""
        await self._running().log.flush()
