"""The quota actor's commits in flight, and the reservations waiting behind one.

A reservation against a limit is decided on the ledger as this runtime knows it and
appended with ``expected_version``: if another runtime appended to the ledger stream
meanwhile, the append fails and the reservation is decided again. That check counts
events, so it is only sound if the expected version assumes nothing that can still
fail: a reservation is therefore never *chained* on another checked one in flight.
Callers learn their commit's outcome from the log's future (not from this actor, which
may fail meanwhile). While one checked commit is in flight, later reservations are
decided (and held in memory, so concurrent requests never overshoot together) and wait
here; when it
commits they go together, as one checked append. When it conflicts, they are undone
with it (they were decided on a state that included it) and their requests decide
again. Settlements and releases are facts: appended at once, unchecked.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from actors._ref import ActorRef
from actors.quota._messages import EndCommit, QuotaMessage
from actors.quota._state import Reservation
from events import (
    QUOTA_LEDGER_STREAM,
    ConcurrencyConflict,
    Event,
    EventLogError,
    QuotaPeriodStarted,
    get_logger,
)

__all__ = ["Batch", "Commits", "Member", "Submit", "answer", "tell_ended"]

log = get_logger(__name__)

Submit = Callable[[str, Sequence[Event], int | None], "asyncio.Future[tuple[int, ...]]"]
"""Queue events for an ordered, immediate commit (at an expected stream version, if
given); the future says whether it committed."""


@dataclass(frozen=True, slots=True)
class Member:
    """One command's events in a commit, and what undoing them needs."""

    events: tuple[Event, ...]
    before: Reservation | None
    """The reservation a settle or release removed (to put back on undo)."""
    period: str
    reply: asyncio.Future[None] | None = None
    """A reservation's caller waits on it: resolved when the commit ends."""


@dataclass(frozen=True, slots=True)
class Batch:
    """One submitted append: its members' events after the period-start prefix."""

    members: tuple[Member, ...]
    prefix: tuple[QuotaPeriodStarted, ...]
    checked: bool

    @property
    def events(self) -> tuple[Event, ...]:
        """The members' events, in order (after the prefix)."""
        return tuple(event for member in self.members for event in member.events)

    @property
    def size(self) -> int:
        return len(self.prefix) + sum(len(m.events) for m in self.members)


class Commits:
    """Appends in flight, the checked one, the reservations waiting, the version."""

    def __init__(self, submit: Submit, ended: Callable[[int, asyncio.Future[object]], None]):
        self._submit = submit
        self._ended = ended
        self._tokens = itertools.count(1)
        self.pending: dict[int, Batch] = {}
        self.waiting: list[Member] = []
        self.checking: int | None = None
        """The checked append in flight (at most one)."""
        self.expected = 0
        """The ledger stream's version once everything folded and in flight is in."""

    def in_flight(self) -> int:
        """Own ledger events submitted and not yet committed or failed."""
        return sum(batch.size for batch in self.pending.values())

    def send(
        self,
        members: Sequence[Member],
        prefix: tuple[QuotaPeriodStarted, ...],
        *,
        checked: bool,
    ) -> None:
        """Append ``members`` (after ``prefix``) now; checked: at the expected version."""
        events = (*prefix, *(event for member in members for event in member.events))
        expected = self.expected if checked else None
        self.expected += len(events)
        token = next(self._tokens)
        future = self._submit(QUOTA_LEDGER_STREAM, events, expected)
        self.pending[token] = Batch(tuple(members), prefix, checked)
        if checked:
            self.checking = token
        future.add_done_callback(functools.partial(self._ended, token))
        # The callers learn the outcome from the log itself, even if this actor fails
        # before it hears of it (a restarted one rebuilds from what was committed).
        future.add_done_callback(functools.partial(_answer_from, tuple(members)))

    def reserve(self, member: Member, prefix: tuple[QuotaPeriodStarted, ...]) -> None:
        """Send a reservation now, or hold it until the checked append in flight ends."""
        if self.checking is None:
            self.send((member,), prefix, checked=True)
        else:
            self.waiting.append(member)

    def end(self, token: int) -> Batch | None:
        """The batch whose commit ended (None: unknown, e.g. a previous instance's)."""
        batch = self.pending.pop(token, None)
        if batch is not None and batch.checked:
            self.checking = None
        return batch

    def take_waiting(self) -> list[Member]:
        """The waiting reservations, removed."""
        waiting, self.waiting = self.waiting, []
        return waiting

    def carrying(self, start: QuotaPeriodStarted) -> bool:
        """Whether an append in flight carries ``start`` (it may still fail)."""
        return any(start in batch.prefix for batch in self.pending.values())

    def members(self) -> Iterator[Member]:
        """Every member in flight or waiting."""
        for batch in self.pending.values():
            yield from batch.members
        yield from self.waiting


def _answer_from(members: tuple[Member, ...], future: asyncio.Future[object]) -> None:
    if future.cancelled():
        answer(members, EventLogError("the quota commit was cancelled"))
    else:
        answer(members, future.exception())


def answer(members: Sequence[Member], error: BaseException | None = None) -> None:
    """Resolve the members' callers: done, or failed with (a copy of) ``error``."""
    for member in members:
        reply = member.reply
        if reply is None or reply.done():
            continue
        if error is None:
            reply.set_result(None)
        else:
            reply.set_exception(_copy(error))


def _copy(error: BaseException) -> BaseException:
    # One instance per caller: a shared one would collect every caller's traceback.
    copy = type(error).__new__(type(error))
    copy.__dict__.update(error.__dict__)
    copy.args = error.args
    return copy


def tell_ended(
    ref: Callable[[], ActorRef[QuotaMessage]],
    incarnation: int,
    token: int,
    future: asyncio.Future[object],
) -> None:
    """The commit's callback: hand its outcome to the actor as a message."""
    error = actual = None
    if future.cancelled():
        error = "CancelledError: the commit was cancelled"
    elif (exc := future.exception()) is not None:
        error = f"{type(exc).__name__}: {exc}"
        actual = exc.actual if isinstance(exc, ConcurrencyConflict) else None
    try:
        ref().tell_nowait(EndCommit(incarnation, token, error, actual))
    except Exception as exc:  # stopped: nothing is left to undo or announce
        log.debug("quota.commit.outcome_dropped", error=repr(exc))
