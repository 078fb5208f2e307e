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
- **no limits**: requests neither reserve nor settle; their usage is counted from
  their own events (``CountUsage``, told just before they are recorded; replay folds
  the same events: ``_counting``). Only a period start (or a command still sent) is
  appended, through ``record`` (the background path).

Periods. The ledger rolls into a new period when a command's wall-clock ``now`` is in
a later one (forward only: ``actors.quota._logic``); its ``QuotaPeriodStarted`` is
appended at once, alone and unchecked: one per period however many requests race at
its start. If that append fails, the next submission carries it (until one commits).
Another runtime's start folded first rolls this ledger instead; two rolling at the same
instant both append one, and ``evolve`` ignores the second.

Several runtimes on one log. A reservation against a limit is appended with
``expected_version`` on the ledger stream: the version the stream has when every event
this actor has folded (its own and, as ``Fold`` messages, other runtimes') and every own
event still in flight is in it (``_expected``). If another runtime appended in between,
the commit fails with ``ConcurrencyConflict``: the reservation is undone here, the
other runtime's events are folded (its commit delivered them first), and the request
asks again, deciding on the new state. So no limit is overshot by any number of
runtimes; settlements and releases are facts and are appended unconditionally.

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

from actors._actor import Actor
from actors._fold import Fold
from actors.quota._commits import Commits, Member, Submit, answer, tell_ended
from actors.quota._errors import QuotaExceeded
from actors.quota._limits import QuotaLimits
from actors.quota._logic import QuotaCommand, Release, Reserve, Settle, current, decide
from actors.quota._messages import (
    ORPHAN_AFTER,
    ORPHAN_SWEEP,
    CountUsage,
    EndCommit,
    GetLedger,
    GetQuotaStatistics,
    GetUsage,
    OrphansSettled,
    QuotaMessage,
    QuotaStatistics,
    SettleOrphans,
)
from actors.quota._period import next_reset
from actors.quota._replies import Refused, Reserved
from actors.quota._state import LedgerState, Reservation, count_request, evolve, forget
from actors.quota._summary import usage_summary
from actors.quota._undo import undo
from events import (
    QUOTA_LEDGER_STREAM,
    ConcurrencyConflict,
    Event,
    QuotaPeriodStarted,
    QuotaReserved,
    QuotaWarningIssued,
    StoredEvent,
    get_logger,
)

__all__ = [
    "CountUsage",
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

Record = Callable[[str, Sequence[Event]], None]
"""Queue events for a background commit nobody waits for."""
Publish = Callable[[Event], None]
Restore = Callable[[], Awaitable[LedgerState]]
"""Rebuild the ledger from the log (snapshot + tail), after committing what is queued."""
Version = Callable[[], Awaitable[int]]
"""The ledger stream's version, read before the state is rebuilt (so never ahead of it:
a stale value costs one conflict, never an overshoot)."""

_instances = itertools.count(1)


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
        version: Version | None = None,
    ) -> None:
        """Create the actor from the replayed ``state`` (None: ``restore`` it at start).

        Args:
            limits: The policy (aliases already resolved to model names).
            state: The replayed ledger, or None to rebuild it from the log.
            restore: Rebuilds the ledger from the log.
            submit: The awaited commit path (used when a limit is configured).
            record: The background path (used when none is).
            publish: Announces each committed event (``QuotaWarningIssued``...).
            version: The ledger stream's version, asked before ``restore`` (see
                ``Version``); None: a log nobody else writes, starting at 0.
        """
        self._limits = limits
        self._state = state
        self._restore = restore
        self._submit_fn = submit
        self._record = record
        self._publish = publish
        self._limited = limits.any_limit
        self._incarnation = next(_instances)
        self._unconfirmed: QuotaPeriodStarted | None = None
        self._quiet_until = float("-inf")
        """Until then the period of ``now`` is not later than the ledger's (no roll)."""
        ended = functools.partial(tell_ended, lambda: self.ref, self._incarnation)
        self._commits = Commits(submit, ended)
        self._reserved = self._refused = self._unrecorded = self._conflicts = 0
        self._version = version
        self._own: set[str] = set()
        """Reservations this instance made and has not settled or released."""

    async def on_start(self) -> None:
        if self._version is not None:
            self._commits.expected = await self._version()
        if self._state is None:
            self._state = await self._restore()
        self.tell_every(ORPHAN_SWEEP, SettleOrphans())

    async def on_stop(self) -> None:
        self._abandon()

    async def on_failure(self, exc: Exception) -> None:
        self._abandon()

    def _abandon(self) -> None:
        """Reservations still waiting to be appended never will be by this instance:
        their requests ask again (the next instance decides on the ledger it rebuilt
        from the log); those in flight learn their outcome from the log itself."""
        again = ConcurrencyConflict(QUOTA_LEDGER_STREAM, -1, self._commits.expected)
        answer(self._commits.take_waiting(), again)

    def receive(self, message: QuotaMessage) -> object:
        match message:
            case CountUsage(events=events):  # first: one per request
                self._count_usage(events)
                return None
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
                    conflicts=self._conflicts,
                )
            case SettleOrphans():
                return self._settle_orphans()
            case Fold(events=events):
                self._fold(events)
                return None

    @property
    def _ledger(self) -> LedgerState:
        assert self._state is not None  # set by __init__ or on_start
        return self._state

    def _reserve(self, command: Reserve) -> Reserved | Refused:
        try:
            reply = self._apply(command)
        except QuotaExceeded as exc:
            self._refused += 1
            self._record(QUOTA_LEDGER_STREAM, exc.events)  # explains the refusal later
            self._commits.expected += len(exc.events)
            return Refused(error=exc)
        self._reserved += 1
        return Reserved(commit=reply)

    def _settle_orphans(self) -> OrphansSettled:
        older = self.clock.time() - ORPHAN_AFTER
        orphans = [
            rid
            for rid, held in self._ledger.reservations.items()
            if rid not in self._own and held.at <= older
        ]
        for rid in orphans:
            self._apply(Settle(reservation_id=rid))
        if orphans:
            log.warning("quota.orphans_settled", reservations=len(orphans))
        return OrphansSettled(len(orphans))

    # --- deciding and submitting -------------------------------------------------------

    def _apply(self, command: QuotaCommand) -> asyncio.Future[None] | None:
        """Decide, apply in memory and submit ``command``; a reservation's commit to wait
        for, if any (``actors.quota._commits``).

        Raises:
            QuotaExceeded: From ``decide``; nothing was applied.
        """
        now = self.clock.time()
        state = self._roll(now)
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
        if isinstance(command, Reserve):
            self._own.add(command.reservation_id)
        else:
            self._own.discard(command.reservation_id)
        if not self._limited:
            # Nothing waits and nothing can fail here: record in the background and
            # announce now.
            self._record(QUOTA_LEDGER_STREAM, events)
            self._commits.expected += len(events)
            self._confirmed(events)
            return None
        prefix = self._prefix()
        if not isinstance(command, Reserve):
            self._commits.send((Member(events, before, period),), prefix, checked=False)
            return None
        reply: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._commits.reserve(Member(events, None, period, reply), prefix)
        return reply

    def _roll(self, now: float) -> LedgerState:
        """The ledger as of ``now``; a period that began since is started (once)."""
        state = self._ledger
        if now < self._quiet_until:
            return state  # ``now``'s period is not later than the ledger's
        rolled, started = current(state, self._limits, now)
        limits = self._limits
        self._quiet_until = next_reset(now, limits.zone, limits.reset_hour)
        if not started:
            return state
        self._state = rolled
        start = started[0]
        assert isinstance(start, QuotaPeriodStarted)
        log.info("quota.period.started", period=rolled.period, resets_at=rolled.resets_at)
        if not self._limited:
            self._record(QUOTA_LEDGER_STREAM, started)
            self._commits.expected += 1
            self._publish(start)
        else:
            self._unconfirmed = start
            self._commits.send((), (start,), checked=False)
        return rolled

    def _prefix(self) -> tuple[QuotaPeriodStarted, ...]:
        """The unconfirmed period start, unless an append in flight carries it."""
        start = self._unconfirmed
        if start is None or self._commits.carrying(start):
            return ()
        return (start,)

    def _count_usage(self, events: tuple[Event, ...]) -> None:
        """A request's events: count it if it reserved nothing (``_counting``); under
        limits every request reserved, and its events only end its mark."""
        if self._limited:
            self._state = forget(self._ledger, events)
            return
        self._state = count_request(self._roll(self.clock.time()), events)

    def _commit_ended(self, message: EndCommit) -> None:
        if message.incarnation != self._incarnation:
            return  # submitted by a failed instance: the replayed log already says
        commits = self._commits
        batch = commits.end(message.token)
        if batch is None:
            return
        if message.error is None:
            self._confirmed_start(batch.prefix)
            for member in batch.members:
                self._confirmed(member.events)
            self._send_waiting()
            return
        self._undo(batch.members)
        if message.actual is not None:  # another runtime went first: decide again
            self._conflicts += 1
            waiting = commits.take_waiting()  # decided on a state that held the undone
            self._undo(waiting)
            commits.expected = message.actual + commits.in_flight()
            answer(waiting, ConcurrencyConflict(QUOTA_LEDGER_STREAM, -1, message.actual))
            return
        commits.expected -= batch.size
        self._unrecorded += 1
        log.error(
            "quota.commit.failed",
            events=[type(e).__name__ for e in (*batch.prefix, *batch.events)],
            error=message.error,
        )
        self._send_waiting()

    def _undo(self, members: Sequence[Member]) -> None:
        state = self._ledger
        for member in reversed(members):
            state = undo(state, member.events, member.before, member.period)
            for event in member.events:
                if isinstance(event, QuotaReserved):
                    self._own.discard(event.reservation_id)  # not held: never committed
        self._state = state

    def _send_waiting(self) -> None:
        commits = self._commits
        if commits.waiting and commits.checking is None:
            commits.send(commits.take_waiting(), self._prefix(), checked=True)

    def _fold(self, events: tuple[StoredEvent, ...]) -> None:
        """Another runtime's ledger events: fold them; the stream is past them now."""
        state = self._ledger
        for stored in events:
            event = stored.event
            state = evolve(state, event)
            if stored.stream != QUOTA_LEDGER_STREAM:
                continue  # a request's events (its usage, if it reserved nothing)
            self._commits.expected = stored.stream_version + self._commits.in_flight()
            started = self._unconfirmed
            if isinstance(event, QuotaPeriodStarted) and started and event.period >= started.period:
                self._unconfirmed = None  # in the log already: not re-sent with ours
        self._state = state

    def _confirmed_start(self, prefix: tuple[QuotaPeriodStarted, ...]) -> None:
        if prefix and self._unconfirmed is prefix[0]:
            self._unconfirmed = None
            self._publish(prefix[0])

    def _confirmed(self, events: tuple[Event, ...]) -> None:
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
