"""``QuotaActor``: the single owner of the quota ledger, and its durability rules.

Concurrency. Every command is decided and applied to the in-memory ``LedgerState``
within one synchronous turn (usually inline, in the asking request's task), so a
reservation counts for every request decided after it, before its commit has even
started: a burst of concurrent requests can never overshoot a limit together.

Durability (chosen by the policy, not per call):

- **limits configured** (daily or per-minute): a command's events go through ``submit`` — the log's
  ``append_nowait(urgent=True)``: ordered with every other event of the runtime,
  committed at once (no linger). ``Reserve`` answers
  ``Reserved(commit=...)`` and the request awaits that commit *outside* the turn
  before calling the backend. When a commit ends, its outcome comes back as an
  ``EndCommit`` message (an actor turn): on failure the command's events are reversed on the state
  as it is by then (``_undo``) and the waiting request gets ``QuotaUnavailable``, so
  the backend is never called: quotas fail closed.
- **no limits**: nothing can be refused, so nothing waits; the events are handed to
  ``record`` (the background path) only to keep ``usage()`` counting and replayable.

Periods. The ledger rolls into a new period when a command's wall-clock ``now`` is in
a later one (forward only: see ``actors.quota._logic``). The ``QuotaPeriodStarted`` is
prepended to every submission until one of them commits, so a failed commit cannot
leave the log without the start of the period its later events belong to.

Restart. After a supervised failure the new instance rebuilds the ledger from the log
(``restore``: queued events committed first, then snapshot + tail) before its first
message, so reservations of requests still in flight are held again and can still be
settled; a commit outcome addressed to the failed instance is ignored (the replay
already reflects it). ``SettleOrphans`` settles, at their estimate, reservations left
by a previous *process* (a crash): they may have run, and charging the upper bound is
the fail-closed side.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Awaitable, Callable, Sequence

import msgspec

from actors._actor import Actor
from actors._ask import Ask
from actors._ref import ActorRef
from actors.quota._errors import QuotaExceeded
from actors.quota._limits import QuotaLimits
from actors.quota._logic import QuotaCommand, Release, Reserve, Settle, current, decide
from actors.quota._replies import Refused, Reserved
from actors.quota._state import LedgerState, Reservation, evolve
from actors.quota._summary import UsageSummary, usage_summary
from actors.quota._undo import undo
from events import QUOTA_LEDGER_STREAM, Event, QuotaPeriodStarted, QuotaWarningIssued, get_logger

__all__ = [
    "EndCommit",
    "GetLedger",
    "GetQuotaStatistics",
    "GetUsage",
    "OrphansSettled",
    "QuotaActor",
    "QuotaMessage",
    "QuotaStatistics",
    "SettleOrphans",
]

log = get_logger(__name__)

Submit = Callable[[str, Sequence[Event]], "asyncio.Future[tuple[int, ...]]"]
"""Queue events for an ordered, immediate commit; the future says whether it committed."""
Record = Callable[[str, Sequence[Event]], None]
"""Queue events for a background commit nobody waits for."""
Publish = Callable[[Event], None]
Restore = Callable[[], Awaitable[LedgerState]]
"""Rebuild the ledger from the log (snapshot + tail), after committing what is queued."""

_instances = itertools.count(1)


class QuotaStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of the quota actor (this process)."""

    reserved: int
    """Reservations admitted."""
    refused: int
    """Reservations refused by a limit."""
    unrecorded: int
    """Commits of quota events that failed (their events were undone in memory)."""
    outstanding: int
    """Reservations held now."""


class EndCommit(msgspec.Struct, frozen=True):
    """Close a submitted command's commit: confirmed, or undone (told by its callback)."""

    incarnation: int
    """Which instance submitted it: another instance ignores it (it replayed the log)."""
    token: int
    error: str | None = None
    """None when committed; else what failed."""


class GetUsage(Ask[UsageSummary], frozen=True):
    """This period's usage and every limit's status (``rt.usage()``)."""


class GetLedger(Ask[LedgerState], frozen=True):
    """The ledger itself (an immutable value)."""


class GetQuotaStatistics(Ask[QuotaStatistics], frozen=True):
    """The counters."""


class OrphansSettled(msgspec.Struct, frozen=True):
    """How many reservations of a previous process were settled at their estimate."""

    count: int


class SettleOrphans(Ask[OrphansSettled], frozen=True):
    """Settle, at their estimate, reservations a previous process left."""


QuotaMessage = (
    Reserve | Settle | Release | EndCommit | GetUsage | GetLedger | GetQuotaStatistics
) | SettleOrphans


class _Pending(msgspec.Struct, frozen=True):
    """What to undo (or announce) when a submitted command's commit ends."""

    events: tuple[Event, ...]
    before: Reservation | None
    period: str
    prefix: tuple[QuotaPeriodStarted, ...]


class QuotaActor(Actor[QuotaMessage]):
    """Reserves, settles and releases quota; see the module docstring."""

    def __init__(
        self,
        limits: QuotaLimits,
        *,
        state: LedgerState | None,
        restore: Restore,
        submit: Submit,
        record: Record,
        publish: Publish,
    ) -> None:
        """Create the actor from the replayed ``state`` (None: ``restore`` it at start).

        Args:
            limits: The policy (aliases already resolved to model names).
            state: The replayed ledger, or None to rebuild it from the log.
            restore: Rebuilds the ledger from the log.
            submit: The awaited commit path (used when a limit is configured).
            record: The background path (used when none is).
            publish: Announces each committed event (``QuotaWarningIssued``...).
        """
        self._limits = limits
        self._state = state
        self._restore = restore
        self._submit_fn = submit
        self._record = record
        self._publish = publish
        self._limited = limits.any_limit
        self._incarnation = next(_instances)
        self._tokens = itertools.count(1)
        self._unconfirmed: QuotaPeriodStarted | None = None
        self._pending: dict[int, _Pending] = {}
        self._futures: dict[int, asyncio.Future[tuple[int, ...]]] = {}
        self._reserved = self._refused = self._unrecorded = 0

    async def on_start(self) -> None:
        if self._state is None:
            self._state = await self._restore()

    def receive(self, message: QuotaMessage) -> object:
        match message:
            case Reserve():
                return self._reserve(message)
            case Settle() | Release():
                self._apply(message)
                return None
            case EndCommit():
                self._commit_ended(message)
                return None
            case GetUsage():
                return usage_summary(self._ledger, self._limits, self.clock.time())
            case GetLedger():
                return self._ledger
            case GetQuotaStatistics():
                return QuotaStatistics(
                    reserved=self._reserved,
                    refused=self._refused,
                    unrecorded=self._unrecorded,
                    outstanding=len(self._ledger.reservations),
                )
            case SettleOrphans():
                return self._settle_orphans()

    @property
    def _ledger(self) -> LedgerState:
        assert self._state is not None  # set by __init__ or on_start
        return self._state

    def _reserve(self, command: Reserve) -> Reserved | Refused:
        try:
            token = self._apply(command)
        except QuotaExceeded as exc:
            self._refused += 1
            self._record(QUOTA_LEDGER_STREAM, exc.events)  # explains the refusal later
            return Refused(error=exc)
        self._reserved += 1
        if token is None:
            return Reserved()
        return Reserved(commit=self._futures[token])

    def _settle_orphans(self) -> OrphansSettled:
        orphans = list(self._ledger.reservations)
        for rid in orphans:
            self._apply(Settle(reservation_id=rid))
        if orphans:
            log.warning("quota.orphans_settled", reservations=len(orphans))
        return OrphansSettled(len(orphans))

    # --- deciding and submitting -------------------------------------------------------

    def _apply(self, command: QuotaCommand) -> int | None:
        """Decide, apply in memory and submit ``command``; the commit's token, if any.

        Raises:
            QuotaExceeded: From ``decide``; nothing was applied.
        """
        now = self.clock.time()
        state = self._ledger
        rolled, started = current(state, self._limits, now)
        if started:
            state = self._state = rolled
            assert isinstance(started[0], QuotaPeriodStarted)
            self._unconfirmed = started[0]
            log.info("quota.period.started", period=rolled.period, resets_at=rolled.resets_at)
        before: Reservation | None = None
        if not isinstance(command, Reserve):
            before = state.reservations.get(command.reservation_id)
        events = decide(state, command, self._limits, now)
        if not events:
            return None
        period = state.period
        for event in events:
            state = evolve(state, event)
        self._state = state
        prefix = (self._unconfirmed,) if self._unconfirmed is not None else ()
        if not self._limited:
            # Nothing waits and nothing can fail here: record in the background and
            # announce now.
            self._record(QUOTA_LEDGER_STREAM, (*prefix, *events))
            self._confirmed(events, prefix)
            return None
        token = next(self._tokens)
        future = self._submit_fn(QUOTA_LEDGER_STREAM, (*prefix, *events))
        self._futures[token] = future
        self._pending[token] = _Pending(events, before, period, prefix)
        future.add_done_callback(functools.partial(_tell_ended, self.ref, self._incarnation, token))
        return token

    def _commit_ended(self, message: EndCommit) -> None:
        if message.incarnation != self._incarnation:
            return  # submitted by a failed instance: the replayed log already says
        pending = self._pending.pop(message.token, None)
        self._futures.pop(message.token, None)
        if pending is None:
            return
        if message.error is None:
            self._confirmed(pending.events, pending.prefix)
            return
        self._unrecorded += 1
        self._state = undo(self._ledger, pending.events, pending.before, pending.period)
        log.error(
            "quota.commit.failed",
            events=[type(e).__name__ for e in pending.events],
            error=message.error,
        )

    def _confirmed(self, events: tuple[Event, ...], prefix: tuple[QuotaPeriodStarted, ...]) -> None:
        if prefix and self._unconfirmed is prefix[0]:
            self._unconfirmed = None
            self._publish(prefix[0])
        for event in events:
            if isinstance(event, QuotaWarningIssued):
                log.warning(
                    "quota.warning",
                    limit=event.limit,
                    used=event.used,
                    limit_value=event.limit_value,
                    ratio=round(event.ratio, 4),
                    period=event.period,
                )
            self._publish(event)


def _tell_ended(
    ref: ActorRef[QuotaMessage],
    incarnation: int,
    token: int,
    future: asyncio.Future[tuple[int, ...]],
) -> None:
    """The commit's callback: hand its outcome to the actor as a message."""
    error = None
    if future.cancelled():
        error = "CancelledError: the commit was cancelled"
    elif (exc := future.exception()) is not None:
        error = f"{type(exc).__name__}: {exc}"
    try:
        ref.tell_nowait(EndCommit(incarnation, token, error))
    except Exception as exc:  # stopped: nothing is left to undo or announce
        log.debug("quota.commit.outcome_dropped", error=repr(exc))
