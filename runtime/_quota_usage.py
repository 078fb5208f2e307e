"""Counting a request's usage when no quota limit is configured (no reservation).

With no limit nothing can be refused, so requests neither reserve nor settle quota
(``machine_settings(config, quota=...)`` is off) and the ledger appends no event per
request: the quota actor counts a request's usage from the events the request records
anyway, told to it (``CountUsage``) just *before* they are handed to the log, so that a
period start it appends then precedes them in the log, as replay must see them.
Under limits, the same message only ends the request's mark (its quota events count it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from actors import ActorRef
from actors.quota import CountUsage, QuotaMessage
from events import Event

__all__ = ["counting_record"]

Record = Callable[[str, Sequence[Event]], None]


def counting_record(record: Record, quota: ActorRef[QuotaMessage]) -> Record:
    """``record`` for the request driver: the quota actor counts, then the log records."""

    def counted(stream: str, events: Sequence[Event]) -> None:
        quota.notify(CountUsage(tuple(events)))
        record(stream, events)

    return counted
