"""The quota actor's messages, its counters, and the orphan rule's constants."""

from __future__ import annotations

import msgspec

from actors._ask import Ask
from actors._fold import Fold
from actors.quota._logic import Release, Reserve, Settle
from actors.quota._state import LedgerState
from actors.quota._summary import UsageSummary
from events import Event

__all__ = [
    "ORPHAN_AFTER",
    "ORPHAN_SWEEP",
    "CountUsage",
    "EndCommit",
    "GetLedger",
    "GetQuotaStatistics",
    "GetUsage",
    "OrphansSettled",
    "QuotaMessage",
    "QuotaStatistics",
    "SettleOrphans",
]


class QuotaStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of the quota actor (this process)."""

    conflicts: int = 0
    """Reservations another runtime's commit overtook (decided again)."""
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
    actual: int | None = None
    """On a ``ConcurrencyConflict``: the stream's version then (another runtime went first)."""


class CountUsage(msgspec.Struct, frozen=True):
    """A request ended: its events, as recorded (stream ``request/<id>``), told before
    they are recorded. The ledger counts the usage of a request that reserved nothing
    from them (``actors.quota._counting``), as replay will; a request that reserved is
    counted by its quota events (this only ends its mark)."""

    events: tuple[Event, ...]


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
    """Settle, at their estimate, reservations a crashed process left: those older than
    ``ORPHAN_AFTER`` that this actor did not make (sent at start, then every minute)."""


ORPHAN_AFTER = 900.0
"""Seconds after which a reservation nobody here holds counts as left by a crashed
process. Another runtime on the same log may still be running it (a shared log has no
way to tell a live peer from a dead one), so this is longer than any request should
take; a request still running past it is charged its estimate, not what it used."""
ORPHAN_SWEEP = 60.0
"""Seconds between looks for orphans."""


QuotaMessage = (
    Reserve | Settle | Release | EndCommit | GetUsage | GetLedger | GetQuotaStatistics
) | (SettleOrphans | Fold | CountUsage)
