"""The usage summary ``rt.usage()`` returns: this period's usage and what is left."""

from __future__ import annotations

import msgspec

from actors.quota._limits import GLOBAL_SCOPE, QuotaLimits, limit_name
from actors.quota._logic import current
from actors.quota._state import LedgerState, QuotaUsage

__all__ = ["LimitStatus", "UsageSummary", "usage_summary"]


class LimitStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One configured limit in the current period."""

    limit: str
    """Its name, e.g. ``model:llama3.tokens``."""
    used: int
    """Settled usage."""
    reserved: int
    """Outstanding estimates of requests in flight."""
    limit_value: int
    """The limit."""
    left: int
    """``limit_value - used - reserved``, never negative."""
    ratio: float
    """``(used + reserved) / limit_value``; above 1 when settling overshot the limit."""


class UsageSummary(msgspec.Struct, frozen=True, kw_only=True):
    """This period's usage per model and endpoint, and every limit's status."""

    period: str
    """The period key (``YYYY-MM-DD``, the local date it started on)."""
    resets_at: float
    """When the period ends, wall-clock epoch seconds."""
    resets_in: float
    """Seconds until then from the caller's ``now`` (never negative)."""
    timezone: str
    """The zone of the reset hour."""
    total: QuotaUsage
    """Settled usage over all models."""
    models: dict[str, QuotaUsage]
    """Model -> settled usage."""
    roles: dict[str, QuotaUsage]
    """Role -> settled usage."""
    endpoints: dict[str, QuotaUsage]
    """Endpoint -> settled usage."""
    in_flight: int
    """Outstanding reservations."""
    limits: tuple[LimitStatus, ...]
    """Every configured limit: global, then roles, then models."""


def usage_summary(state: LedgerState, limits: QuotaLimits, now: float) -> UsageSummary:
    """Summarize the ledger as of ``now`` (a period that began since counts as empty).

    Args:
        state: The ledger.
        limits: The policy in force.
        now: Wall-clock epoch seconds.

    Returns:
        The summary; pure, emits nothing (the next command records the period start).
    """
    rolled, _ = current(state, limits, now)
    statuses = []
    for scope, unit, value in limits.configured():
        used = rolled.settled.get(scope, QuotaUsage()).get(unit)
        reserved = rolled.reserved(scope).get(unit)
        statuses.append(
            LimitStatus(
                limit=limit_name(scope, unit),
                used=used,
                reserved=reserved,
                limit_value=value,
                left=max(value - used - reserved, 0),
                ratio=(used + reserved) / value,
            )
        )
    return UsageSummary(
        period=rolled.period,
        resets_at=rolled.resets_at,
        resets_in=max(rolled.resets_at - now, 0.0),
        timezone=limits.timezone,
        total=rolled.settled.get(GLOBAL_SCOPE, QuotaUsage()),
        models=_scoped(rolled, "model:"),
        roles=_scoped(rolled, "role:"),
        endpoints=dict(rolled.endpoints),
        in_flight=len(rolled.reservations),
        limits=tuple(statuses),
    )


def _scoped(state: LedgerState, prefix: str) -> dict[str, QuotaUsage]:
    return {
        scope.removeprefix(prefix): usage
        for scope, usage in sorted(state.settled.items())
        if scope.startswith(prefix)
    }
