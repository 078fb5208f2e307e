"""How the runtime's parts hand events to the log (the only event queue) and feed the
live projections from its commits.

Durability choice. Routine events — a request's events (with no quota limit, usage is
counted from them), health outcomes — go through ``append_nowait`` and *linger* (50 ms)
so that the requests finishing meanwhile share one commit; a request never waits for a
disk commit.
A state transition (quarantine, recovery, reset, a changed model list) is ``urgent``: it
cuts the linger, so a restart right after it still sees it. Quota events under a limit
are urgent too, and their request awaits the commit (quotas fail closed). What a crash
can lose: the routine events of the last ~50 ms still queued, and the events of
requests still in flight (a request's events are appended when it ends).

Nothing is dropped: a full queue makes a new request wait for room (bounded: it then
fails with ``EventLogBacklogged``), counted in ``statistics().event_log``. If the log
fails (disk full, locked), the failure is logged and counted and the runtime keeps
serving; the in-memory state is then ahead of the log until a restart rebuilds it from
what was committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from events import (
    CommittedBatch,
    Event,
    EventLog,
    EventLogError,
    HealthOutcomeRecorded,
    Projector,
    QuotaReleased,
    QuotaReserved,
    QuotaSettled,
    RoutingEvent,
    StoredEvent,
    get_logger,
)
from runtime._errors import EventLogFailing

__all__ = ["Appender", "acknowledged", "feed_projectors"]

if TYPE_CHECKING:
    from runtime._assembly import Parts

log = get_logger(__name__)

_ROUTINE = (RoutingEvent, HealthOutcomeRecorded, QuotaReserved, QuotaSettled, QuotaReleased)
"""Events that may linger before their commit; any other is urgent."""


class Appender:
    """The ``record`` and ``submit`` functions the actors and the driver are given."""

    def __init__(
        self,
        event_log: EventLog,
        publish: Callable[[Event], None],
        watch: Callable[[str, asyncio.Future[tuple[int, ...]]], None],
    ) -> None:
        self._log = event_log
        self._publish = publish
        self._watch = watch
        self.refused = 0
        """Events handed in after the log closed (logged; a shutdown-ordering bug)."""

    def record(self, stream: str, events: Sequence[Event]) -> None:
        """Append in the background; never waits, never raises."""
        if not events:
            return
        urgent = False
        for event in events:  # a loop, not all(...): no generator per record
            if not isinstance(event, _ROUTINE):
                urgent = True
                break
        try:
            self._watch(stream, self._log.append_nowait(stream, events, urgent=urgent))
        except EventLogError as exc:
            self.refused += 1
            log.error("runtime.events.refused", stream=stream, events=len(events), error=str(exc))

    async def record_and_publish(self, stream: str, events: Sequence[Event]) -> None:
        """``record``, then publish each event to the runtime's subscribers (escalation)."""
        self.record(stream, events)
        for event in events:
            self._publish(event)

    def submit(
        self, stream: str, events: Sequence[Event], expected_version: int | None = None
    ) -> asyncio.Future[tuple[int, ...]]:
        """Append now (urgent, in order with everything recorded; at ``expected_version``
        of the stream, if given); the future says whether it committed (it fails at once
        if the log is closed)."""
        try:
            return self._log.append_nowait(
                stream, events, urgent=True, expected_version=expected_version
            )
        except EventLogError as exc:
            future: asyncio.Future[tuple[int, ...]] = asyncio.get_running_loop().create_future()
            future.set_exception(exc)
            return future


async def acknowledged(parts: Parts) -> None:
    """Before a call hands back its result: with ``acknowledge: after_commit``, wait
    until everything queued so far — the request's own events included — is committed
    (concurrent requests share the commit); with ``background``, nothing.

    Raises:
        EventLogFailing: The commit failed and ``on_log_failure`` is ``refuse``.
    """
    section = parts.config.event_log
    if not section.after_commit:
        return
    await parts.log.flush()
    failing = parts.log.pipeline_statistics()
    if failing.failing_since is not None and section.on_log_failure == "refuse":
        raise EventLogFailing(
            f"the request was answered but its events could not be committed "
            f"({failing.last_error}); with acknowledge: after_commit and on_log_failure: "
            "refuse an unrecorded answer is not handed out"
        )


def feed_projectors(
    event_log: EventLog,
    projectors: Sequence[Projector[Any]],
    fold: Callable[[str, tuple[StoredEvent, ...]], None],
) -> Callable[[], None]:
    """Feed every committed batch — own and other writers' — to ``projectors``, in
    position order, and hand ``fold(projection name, events)`` the foreign events each
    projection takes in (``runtime._sharing``); returns a function that stops it."""

    def feed(batch: CommittedBatch) -> None:
        for projector in projectors:
            if not batch.foreign:
                projector.feed(batch.events)
                continue
            projection, after = projector.projection, projector.position
            projector.feed(batch.events)
            taken = tuple(s for s in batch.events if s.position > after and projection.accepts(s))
            if taken:
                fold(projection.name, taken)

    return event_log.on_commit(feed)
