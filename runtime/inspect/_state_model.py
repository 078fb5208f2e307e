"""The replayed state as a report: health per deployment and model, quota usage, performance.

The states themselves come from the runtime's own projections (``HEALTH_PROJECTION``,
``QUOTA_PROJECTION``, ``performance_projection``) replayed to a position; this module
only reads them. Two things the ledger's fold does not keep are tallied here from the
period's quota events: prompt and completion tokens apart (the ledger keeps their sum)
and the warnings and refusals with their numbers (the ledger keeps only which limits
warned). A request reserved before the period began and settled in it counts in the
ledger's totals but not in the prompt/completion split.

The inspector has no config, so deployments are those the health fold has seen, and
quota limits are only known from the warnings and refusals that name them.

Pure: no I/O, no clock; the moment to compare deadlines with comes in as ``moment``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import msgspec

from actors.health import DeploymentHealth, aggregate
from actors.performance import PerformanceSummary
from actors.quota import GLOBAL_SCOPE, LedgerState, QuotaUsage
from events import (
    AttemptSucceeded,
    QuotaExceededRecorded,
    QuotaReleased,
    QuotaReserved,
    QuotaSettled,
    QuotaWarningIssued,
    StoredEvent,
    split_deployment,
)
from runtime.inspect._implausible import ImplausibleRow, implausible_rows

__all__ = [
    "HealthRow",
    "ModelHealthRow",
    "RefusalRow",
    "ScopeUsage",
    "StateReport",
    "UsageReport",
    "WarningRow",
    "health_rows",
    "model_rows",
    "usage_report",
]


class HealthRow(msgspec.Struct, frozen=True, kw_only=True):
    """The health of one deployment at the moment."""

    deployment: str
    model: str
    endpoint: str
    status: str
    reason: str = ""
    consecutive_failures: float = 0.0
    """Weighted failures since the last success."""
    failure_rate: float = 0.0
    """Weighted failure rate over the recent outcome window."""
    last_failure: str | None = None
    quarantine_count: int = 0
    """Quarantines since the deployment last stabilized."""
    quarantined_until: float | None = None
    quarantine_left_s: float | None = None
    """``quarantined_until - moment``: negative once the deadline has passed (the
    next request or health check then starts probing)."""
    last_change: float | None = None
    cooling_until: float | None = None
    """End of the deployment's cool-down (a 429's ``Retry-After``), if it is cooling
    down at the moment: every request skips it until then, whatever its status."""
    cooling_reason: str = ""


class ModelHealthRow(msgspec.Struct, frozen=True, kw_only=True):
    """A model's health: the best of its deployments' (as ``rt.health()`` computes it)."""

    model: str
    status: str
    deployments: tuple[str, ...]


class ScopeUsage(msgspec.Struct, frozen=True, kw_only=True):
    """Settled usage of one scope in the period."""

    scope: str
    """``all``, ``model``, ``role`` or ``endpoint``."""
    name: str
    requests: int
    tokens: int
    prompt_tokens: int | None = None
    """Reported prompt tokens (models only; None where not tallied)."""
    completion_tokens: int | None = None


class WarningRow(msgspec.Struct, frozen=True, kw_only=True):
    """A ``QuotaWarningIssued`` of the period."""

    at: float
    limit: str
    used: int
    limit_value: int
    ratio: float


class RefusalRow(msgspec.Struct, frozen=True, kw_only=True):
    """A ``QuotaExceededRecorded`` of the period: a request refused by a limit."""

    at: float
    limit: str
    used: int
    limit_value: int
    requested: int
    request_id: str
    model: str
    role: str | None


class UsageReport(msgspec.Struct, frozen=True, kw_only=True):
    """The quota ledger's current period."""

    period: str
    """``YYYY-MM-DD`` (the local date the period began), ``""`` if no quota event yet."""
    resets_at: float
    period_ended: bool
    """The moment is past ``resets_at``: the next request starts a new period."""
    usage: tuple[ScopeUsage, ...]
    """``all`` first, then models, roles and endpoints, each by name."""
    in_flight: int
    """Reservations outstanding (requests running, or cut off by a crash)."""
    reserved_tokens: int
    warnings: tuple[WarningRow, ...]
    refusals: tuple[RefusalRow, ...]
    implausible: tuple[ImplausibleRow, ...] = ()
    """Backend figures of the period above what the call could use, counted as their
    bound (``runtime.inspect._implausible``)."""


class StateReport(msgspec.Struct, frozen=True, kw_only=True):
    """Everything ``state`` shows (and prints with ``--json``)."""

    position: int
    """The state is as of this log position (inclusive)."""
    last_position: int
    time: float
    """The log timestamp of the event at ``position``."""
    moment: float
    """The moment deadlines are compared with: ``--at``'s time, else the event's time,
    else (no ``--at``) the current time."""
    asked: str
    """What was asked for: ``now``, ``position 12`` or the ``--at`` time."""
    health: tuple[HealthRow, ...]
    models: tuple[ModelHealthRow, ...]
    usage: UsageReport
    performance: PerformanceSummary


def health_rows(states: Mapping[str, DeploymentHealth], moment: float) -> tuple[HealthRow, ...]:
    """One row per deployment in ``states``, by name."""
    return tuple(_health_row(states[did], moment) for did in sorted(states))


def _health_row(health: DeploymentHealth, moment: float) -> HealthRow:
    model, _, endpoint = health.deployment.rpartition("@")
    window = health.window
    until, cooling = health.quarantined_until, health.cooling_until
    return HealthRow(
        deployment=health.deployment,
        model=model or health.deployment,
        endpoint=endpoint,
        status=health.status.value,
        reason=health.reason,
        consecutive_failures=health.consecutive_failures,
        failure_rate=math.fsum(window) / len(window) if window else 0.0,
        last_failure=health.last_failure,
        quarantine_count=health.quarantine_count,
        quarantined_until=until,
        quarantine_left_s=until - moment if until is not None else None,
        last_change=health.last_change,
        cooling_until=cooling if cooling is not None and cooling > moment else None,
        cooling_reason=health.cooling_reason if cooling is not None and cooling > moment else "",
    )


def model_rows(states: Mapping[str, DeploymentHealth]) -> tuple[ModelHealthRow, ...]:
    """Each model's status, aggregated over its deployments like ``rt.health()``."""
    by_model: dict[str, list[DeploymentHealth]] = {}
    for did in sorted(states):
        model = did.rpartition("@")[0] or did
        by_model.setdefault(model, []).append(states[did])
    return tuple(
        ModelHealthRow(
            model=model,
            status=aggregate(healths).value,
            deployments=tuple(h.deployment for h in healths),
        )
        for model, healths in sorted(by_model.items())
    )


def usage_report(
    ledger: LedgerState, period_events: Sequence[StoredEvent], moment: float
) -> UsageReport:
    """The ledger's period as a report, with the tallies only its events hold.

    Args:
        ledger: The replayed ledger.
        period_events: The ``quota/ledger`` events from the period's start to the
            state's position (others are ignored).
        moment: Compared with the period's end.
    """
    split, warnings, refusals = _tally(period_events, ledger.period)
    prompt = _total(p for p, _ in split.values())
    completion = _total(c for _, c in split.values())
    total = ledger.settled.get(GLOBAL_SCOPE, QuotaUsage())
    usage = [_scope("all", "all models", total, prompt, completion)]
    for prefix, scope in (("model:", "model"), ("role:", "role")):
        for key, used in sorted(ledger.settled.items()):
            if key.startswith(prefix):
                name = key.removeprefix(prefix)
                tokens = split.get(name, (None, None)) if scope == "model" else (None, None)
                usage.append(_scope(scope, name, used, *tokens))
    usage += [_scope("endpoint", name, used) for name, used in sorted(ledger.endpoints.items())]
    reserved = ledger.reserved(GLOBAL_SCOPE)
    return UsageReport(
        period=ledger.period,
        resets_at=ledger.resets_at,
        period_ended=bool(ledger.period) and 0 < ledger.resets_at <= moment,
        usage=tuple(usage),
        in_flight=len(ledger.reservations),
        reserved_tokens=reserved.tokens,
        warnings=tuple(warnings),
        refusals=tuple(refusals),
        implausible=implausible_rows(period_events),
    )


def _scope(
    scope: str,
    name: str,
    used: QuotaUsage,
    prompt: int | None = None,
    completion: int | None = None,
) -> ScopeUsage:
    return ScopeUsage(
        scope=scope,
        name=name,
        requests=used.requests,
        tokens=used.tokens,
        prompt_tokens=prompt,
        completion_tokens=completion,
    )


def _tally(
    events: Sequence[StoredEvent], period: str
) -> tuple[dict[str, tuple[int | None, int | None]], list[WarningRow], list[RefusalRow]]:
    """Prompt/completion tokens per model, and the period's warnings and refusals."""
    models: dict[str, str] = {}
    split: dict[str, tuple[int | None, int | None]] = {}
    warnings: list[WarningRow] = []
    refusals: list[RefusalRow] = []
    reserved: set[str] = set()
    for stored in events:
        match stored.event:
            case QuotaReserved(reservation_id=rid, model=model) as reservation:
                models[rid] = model
                reserved.add(reservation.request_id)
            case AttemptSucceeded(request_id=request) as attempt if request not in reserved:
                model = split_deployment(attempt.deployment)[0]
                prompt, completion = split.get(model, (None, None))
                split[model] = (
                    _add(prompt, attempt.prompt_tokens),
                    _add(completion, attempt.completion_tokens),
                )
            case QuotaSettled(reservation_id=rid) as settled if rid in models:
                model = models.pop(rid)
                prompt, completion = split.get(model, (None, None))
                split[model] = (
                    _add(prompt, settled.prompt_tokens),
                    _add(completion, settled.completion_tokens),
                )
            case QuotaReleased(reservation_id=rid):
                models.pop(rid, None)
            case QuotaWarningIssued() as warned if warned.period in ("", period):
                warnings.append(_warning(warned))
            case QuotaExceededRecorded() as refused if refused.period in ("", period):
                refusals.append(_refusal(refused))
    return split, warnings, refusals


def _total(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _add(total: int | None, value: int | None) -> int | None:
    if value is None:
        return total
    return (total or 0) + value


def _warning(event: QuotaWarningIssued) -> WarningRow:
    return WarningRow(
        at=event.at,
        limit=event.limit,
        used=event.used,
        limit_value=event.limit_value,
        ratio=event.ratio,
    )


def _refusal(event: QuotaExceededRecorded) -> RefusalRow:
    return RefusalRow(
        at=event.at,
        limit=event.limit,
        used=event.used,
        limit_value=event.limit_value,
        requested=event.requested,
        request_id=event.request_id,
        model=event.model,
        role=event.role,
    )
