"""The quota ledger: daily request and token limits per model, role and overall, and
per-minute rates per deployment (token buckets, ``_rate``), as pure logic.

Pure: ``decide``/``evolve`` over the events in ``events._quota`` (stream
``quota/ledger``), period maths in ``_period``, limits, summaries, undo. A request
reserves its estimated usage (``Reserve``), then settles it with the real usage
(``Settle``) or releases it on failure (``Release``): these commands are also the
messages of the shell, ``QuotaActor`` (``_actor``), the single owner of the live ledger.
With no limit configured nothing reserves: a request's usage is counted from its own
events (``CountUsage`` live, ``evolve`` on replay: ``_counting``).
"""

from __future__ import annotations

from actors.quota._actor import (
    CountUsage,
    EndCommit,
    GetLedger,
    GetQuotaStatistics,
    GetUsage,
    OrphansSettled,
    QuotaActor,
    QuotaMessage,
    QuotaStatistics,
    SettleOrphans,
)
from actors.quota._counting import COUNTED_TYPES, LEDGER_TYPES
from actors.quota._errors import QuotaError, QuotaExceeded, QuotaUnavailable, RateLimited
from actors.quota._limits import (
    GLOBAL_SCOPE,
    DailyLimit,
    QuotaLimits,
    Unit,
    limit_name,
    scopes_of,
)
from actors.quota._logic import (
    DEFAULT_COMPLETION_TOKENS,
    MAX_REPORTED_TOKENS,
    QuotaCommand,
    Release,
    Reserve,
    Settle,
    current,
    decide,
    estimate_tokens,
    settled_tokens,
    would_admit,
)
from actors.quota._period import (
    format_duration,
    format_reset,
    next_reset,
    period_bounds,
    period_key,
    period_start,
)
from actors.quota._plausible import (
    MAX_REPLY_TOKENS,
    PlausibleUsage,
    UsageBounds,
    plausible_usage,
    usage_bounds,
)
from actors.quota._rate import Bucket, RateLimit, rate_limit_name
from actors.quota._replies import Refused, Reserved, ReserveReply
from actors.quota._state import LedgerState, QuotaUsage, Reservation, evolve, fold_ledger
from actors.quota._summary import LimitStatus, UsageSummary, usage_summary

__all__ = [
    "COUNTED_TYPES",
    "LEDGER_TYPES",
    "Bucket",
    "RateLimit",
    "RateLimited",
    "rate_limit_name",
    "DEFAULT_COMPLETION_TOKENS",
    "GLOBAL_SCOPE",
    "MAX_REPORTED_TOKENS",
    "MAX_REPLY_TOKENS",
    "DailyLimit",
    "LedgerState",
    "LimitStatus",
    "QuotaCommand",
    "QuotaError",
    "QuotaExceeded",
    "QuotaActor",
    "QuotaMessage",
    "QuotaStatistics",
    "CountUsage",
    "EndCommit",
    "GetLedger",
    "GetQuotaStatistics",
    "GetUsage",
    "OrphansSettled",
    "SettleOrphans",
    "Refused",
    "ReserveReply",
    "Reserved",
    "QuotaLimits",
    "QuotaUnavailable",
    "Release",
    "Reservation",
    "Reserve",
    "Settle",
    "Unit",
    "UsageSummary",
    "QuotaUsage",
    "PlausibleUsage",
    "UsageBounds",
    "current",
    "decide",
    "estimate_tokens",
    "evolve",
    "fold_ledger",
    "format_duration",
    "format_reset",
    "limit_name",
    "next_reset",
    "period_bounds",
    "period_key",
    "period_start",
    "plausible_usage",
    "scopes_of",
    "settled_tokens",
    "usage_bounds",
    "usage_summary",
    "would_admit",
]
