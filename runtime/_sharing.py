"""Several runtimes on one log: other writers' events reach this runtime's actors.

The log tails what other runtimes (processes, machines) commit and hands it to the
commit hooks as foreign batches, in position order (``events._protocol``). The
runtime's one hook (``runtime._pipeline.feed_projectors``) folds every batch into the
projections — so a snapshot is only ever taken at a position up to which every event,
own or foreign, has been folded — and passes each foreign event a projection accepts
to the actor that owns that state, as a ``Fold`` message:

- health: outcomes, quarantines, recoveries, resets and cool-downs of another runtime
  hold here too;
- quota: the shared ledger (a reservation against a limit is appended at an expected
  stream version: ``actors.quota._actor``);
- performance: the latency and error windows count every runtime's requests;
- catalog: model lists another runtime fetched.

The router's round-robin cursors and the retry budgets stay per runtime (they are about
this runtime's own traffic).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from actors import ActorRef, Fold
from actors.performance import Observe
from actors.router import Refs
from events import QUOTA_LEDGER_STREAM, Event, EventLog, Projection, StoredEvent, get_logger
from runtime._build import CATALOG_PROJECTION, HEALTH_PROJECTION, QUOTA_PROJECTION

__all__ = ["ForeignFolds", "LedgerVersion"]

log = get_logger(__name__)


class ForeignFolds:
    """Hands other writers' events to the actors, by the projection that accepted them.

    Until ``attach`` (the actors are spawned after the projections start feeding),
    foreign events only reach the projections, from which the actors start anyway.
    """

    def __init__(self, names: dict[str, str]) -> None:
        self._names = names  # projection name -> "health" | "quota" | "performance" | ...
        self._refs: Refs | None = None
        self.folded = 0
        """Foreign events handed to actors (for statistics)."""

    @classmethod
    def of(cls, projections: Iterable[Projection[Any]]) -> ForeignFolds:
        """For the runtime's projections (the router's cursors stay per runtime)."""
        owners = {
            HEALTH_PROJECTION.name: "health",
            CATALOG_PROJECTION.name: "catalog",
            QUOTA_PROJECTION.name: "quota",
        }
        names = {p.name: owners[p.name] for p in projections if p.name in owners}
        for projection in projections:
            if projection.name.startswith("runtime.performance."):
                names[projection.name] = "performance"
        return cls(names)

    def attach(self, refs: Refs) -> None:
        """Start handing foreign events to these actors."""
        self._refs = refs

    def __call__(self, projection: str, events: tuple[StoredEvent, ...]) -> None:
        refs = self._refs
        if refs is None:
            return
        owner = self._names.get(projection)
        try:
            if owner == "performance":
                known = tuple(s.event for s in events if isinstance(s.event, Event))
                refs.performance.tell_nowait(Observe(known))
            elif owner is not None:
                ref: ActorRef[object] | None = getattr(refs, owner)
                if ref is not None:
                    ref.tell_nowait(Fold(events))
        except Exception as exc:  # a stopped actor (shutting down): its state goes with it
            log.debug("runtime.fold.dropped", projection=projection, error=repr(exc))
            return
        self.folded += len(events)


class LedgerVersion:
    """The quota ledger stream's version for the quota actor, read *before* its state.

    The first incarnation gets the version read before the projections replayed; a
    restarted one reads it again before its restore. Read early, it can only be behind
    the state (one conflict, then the true version), never ahead (an overshoot).
    """

    def __init__(self, event_log: EventLog, first: int) -> None:
        self._log = event_log
        self._first: int | None = first

    @classmethod
    async def read(cls, event_log: EventLog) -> LedgerVersion:
        """Read it now (before the projections start)."""
        return cls(event_log, await event_log.stream_version(QUOTA_LEDGER_STREAM))

    def getter(self) -> Callable[[], Awaitable[int]]:
        """What the quota actor calls at each start."""

        async def version() -> int:
            first, self._first = self._first, None
            if first is not None:
                return first
            return await self._log.stream_version(QUOTA_LEDGER_STREAM)

        return version
