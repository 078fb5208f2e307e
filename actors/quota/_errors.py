"""Errors of the quota ledger.

The errors::

    QuotaError
     ├── QuotaExceeded     Reserve refused: a daily limit would be exceeded
     └── QuotaUnavailable  a quota event could not be recorded: refused (fail closed)
"""

from __future__ import annotations

from events import LLMRuntimeError
from events._base import Event

__all__ = ["QuotaError", "QuotaExceeded", "QuotaUnavailable"]


class QuotaError(LLMRuntimeError):
    """Root of the errors raised by the quota logic."""


class QuotaExceeded(QuotaError):
    """A request was refused because a daily limit would be exceeded.

    Attributes:
        limit: The limit's name, e.g. ``model:llama3.tokens`` or ``global.requests``.
        used: Settled plus reserved usage when refused.
        limit_value: The limit in force.
        requested: What the request needed in the limit's unit.
        resets_at: When the limit resets, wall-clock epoch seconds.
        events: Events the shell should append before re-raising: a period start the
            refusal observed (if any) and a ``QuotaExceededRecorded`` for explaining the
            request. Appending them is optional: neither moves a counter.
        refusals: When the router refused a whole chain, each model's own refusal
            (this error then describes the first); otherwise empty.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        used: int,
        limit_value: int,
        requested: int,
        resets_at: float,
        events: tuple[Event, ...] = (),
        refusals: tuple[QuotaExceeded, ...] = (),
    ) -> None:
        self.limit = limit
        self.used = used
        self.limit_value = limit_value
        self.requested = requested
        self.resets_at = resets_at
        self.events = events
        self.refusals = refusals
        super().__init__(message)


class QuotaUnavailable(QuotaError):
    """A quota event could not be committed to the log, so the request was refused.

    Quotas fail closed: a reservation that is not durably recorded would let a restart
    forget the usage, so no backend is called without one. The cause (disk full, log
    closed...) is chained as ``__cause__``.
    """
