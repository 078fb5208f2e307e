"""Errors of the quota ledger.

The errors::

    QuotaError
     ├── QuotaExceeded     Reserve refused: a daily limit would be exceeded
     │    └── RateLimited  ... or a deployment's requests/tokens per minute
     └── QuotaUnavailable  a quota event could not be recorded: refused (fail closed)
"""

from __future__ import annotations

from events import LLMRuntimeError
from events._base import Event

__all__ = ["QuotaError", "QuotaExceeded", "QuotaUnavailable", "RateLimited"]


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


class RateLimited(QuotaExceeded):
    """A request was refused because a deployment's per-minute rate is used up.

    The router moves on to the next deployment of the model; when every one is over,
    it waits up to ``quota.wait_seconds`` for the soonest refill, else fails with this.
    ``limit`` is ``deployment:<model@endpoint>.rpm`` or ``.tpm``; ``resets_at`` is when
    the request would fit (wall-clock epoch seconds).

    Attributes:
        deployment: The deployment (``model@endpoint``).
        retry_after: Seconds from the refusal until the request would fit.
    """

    def __init__(
        self,
        message: str,
        *,
        deployment: str,
        retry_after: float,
        limit: str,
        used: int,
        limit_value: int,
        requested: int,
        resets_at: float,
        events: tuple[Event, ...] = (),
        refusals: tuple[QuotaExceeded, ...] = (),
    ) -> None:
        self.deployment = deployment
        self.retry_after = retry_after
        super().__init__(
            message, limit=limit, used=used, limit_value=limit_value, requested=requested,
            resets_at=resets_at, events=events, refusals=refusals,
        )  # fmt: skip
