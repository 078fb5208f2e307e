"""Events the quota ledger is folded from (one stream: ``quota/ledger``).

The ledger counts requests and tokens per daily *period* and per scope (everything, a
model, a role). A request first *reserves* its estimated usage, so that concurrent
requests see each other before any of them has finished; when it finishes the estimate is
*settled* (replaced by the real usage) or, if it failed, *released* (nothing consumed).

Times (``at``, ``resets_at``) are wall-clock seconds since the Unix epoch: the period a
request belongs to is a matter of the local calendar, which only the wall clock knows. The
ledger guards against clock steps itself (periods only move forward, see
``actors.quota``).

``QuotaExceededRecorded`` changes no state: it records a refusal so that a request can
be explained later ("refused: model 'llama3' had used 10,412 of 10,000 tokens").
"""

from __future__ import annotations

from events._base import Event
from events._codec import default_registry

__all__ = [
    "QUOTA_LEDGER_STREAM",
    "QUOTA_STREAM_PREFIX",
    "QuotaEvent",
    "QuotaExceededRecorded",
    "QuotaPeriodStarted",
    "QuotaReleased",
    "QuotaReserved",
    "QuotaSettled",
    "QuotaWarningIssued",
]

QUOTA_STREAM_PREFIX = "quota/"
"""Quota events go to streams under ``quota/``."""
QUOTA_LEDGER_STREAM = "quota/ledger"
"""The one stream of the ledger: all scopes share it, so one fold sees every limit."""


class QuotaEvent(Event, frozen=True, kw_only=True):
    """Base of every quota event (not registered itself)."""

    at: float
    """When the decision was taken: wall-clock seconds since the Unix epoch."""


class QuotaPeriodStarted(QuotaEvent, frozen=True, kw_only=True):
    """A new daily period began: settled counts and issued warnings start from zero.

    Outstanding reservations carry over: their requests are still running, and they are
    charged to the period in which they settle.
    """

    period: str
    """The period's key: the local date (``YYYY-MM-DD``) on which it started."""
    resets_at: float = 0.0
    """When the period ends (the next reset), wall-clock epoch seconds."""
    previous: str = ""
    """The period it replaced (``""`` for the ledger's first period)."""


class QuotaReserved(QuotaEvent, frozen=True, kw_only=True):
    """A request was admitted and holds its estimated usage until settled or released."""

    reservation_id: str
    """Identifies the reservation for its ``Settle``/``Release``."""
    request_id: str
    """The request it belongs to (several attempts may reserve separately)."""
    model: str
    """The model the request goes to (canonical name, not an alias)."""
    role: str | None = None
    """The role the request was made for, if any."""
    endpoint: str | None = None
    """The endpoint, if known when reserving (it may only be known at settle)."""
    requests: int = 1
    """Requests it counts for."""
    tokens: int = 0
    """Estimated tokens (prompt plus completion ceiling); replaced when settled."""
    period: str = ""
    """The period key in force when it was admitted."""
    rpm: int | None = None
    """The deployment's requests-per-minute limit in force, if any: with ``tpm`` what
    replay needs to rebuild its token buckets (no event is written per refill)."""
    tpm: int | None = None
    """The deployment's tokens-per-minute limit in force, if any."""


class QuotaSettled(QuotaEvent, frozen=True, kw_only=True):
    """A request finished: its estimate is replaced by what it used."""

    reservation_id: str
    """The reservation being settled."""
    prompt_tokens: int | None = None
    """Prompt tokens as reported (clamped to a sane range), ``None`` if not reported."""
    completion_tokens: int | None = None
    """Completion tokens as reported (clamped), ``None`` if not reported."""
    tokens: int = 0
    """Tokens charged: the reported total, or at least the estimate when a part is missing."""
    endpoint: str | None = None
    """The endpoint that served the request (for per-endpoint usage)."""


class QuotaReleased(QuotaEvent, frozen=True, kw_only=True):
    """A request failed or was cancelled before using anything: its reservation is void.

    A released reservation consumes nothing, not even a request.
    """

    reservation_id: str
    """The reservation given back."""
    reason: str = ""
    """Why, e.g. ``failed: timeout_connect`` or ``cancelled``."""


class QuotaWarningIssued(QuotaEvent, frozen=True, kw_only=True):
    """A limit's usage crossed the warning ratio; issued once per period and limit."""

    limit: str
    """The limit's name: ``global.tokens``, ``model:llama3.requests``, ``role:x.tokens``."""
    used: int
    """Settled plus reserved usage when it was crossed."""
    limit_value: int
    """The limit in force."""
    ratio: float
    """``used / limit_value``."""
    period: str = ""
    """The period key it belongs to."""


class QuotaExceededRecorded(QuotaEvent, frozen=True, kw_only=True):
    """A request was refused because a limit would be exceeded (no state change)."""

    limit: str
    """The limit that refused: the same names as in ``QuotaWarningIssued``."""
    used: int
    """Settled plus reserved usage at the refusal."""
    limit_value: int
    """The limit in force."""
    requested: int = 0
    """What the request asked for in that limit's unit (1 request, or its token estimate)."""
    request_id: str = ""
    """The refused request."""
    model: str = ""
    """Its model."""
    role: str | None = None
    """Its role, if any."""
    period: str = ""
    """The period key."""
    resets_at: float = 0.0
    """When the limit resets, wall-clock epoch seconds."""


for _cls in (
    QuotaPeriodStarted,
    QuotaReserved,
    QuotaSettled,
    QuotaReleased,
    QuotaWarningIssued,
    QuotaExceededRecorded,
):
    default_registry.register(_cls)
