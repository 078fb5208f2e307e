"""The quota policy: daily limits per scope, the warning ratio and the reset clock.

Scopes are ``global`` (every request), ``model:<name>`` and ``role:<name>``; each has a
request limit and a token limit, named ``<scope>.requests`` and ``<scope>.tokens``. A
request is checked against every scope it belongs to.

Built from plain numbers; the runtime maps its ``QuotaConfig`` onto it (model aliases
resolved to the names ``Reserve`` uses).
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from actors.quota._rate import RateLimit

__all__ = [
    "GLOBAL_SCOPE",
    "DailyLimit",
    "QuotaLimits",
    "Unit",
    "limit_name",
    "scopes_of",
]

Unit = Literal["requests", "tokens"]
GLOBAL_SCOPE = "global"
"""The scope every request counts in."""


class DailyLimit(msgspec.Struct, frozen=True, kw_only=True):
    """Limits of one scope for one period; ``None`` means unlimited."""

    requests: int | None = None
    """Requests per period (>= 1)."""
    tokens: int | None = None
    """Prompt plus completion tokens per period (>= 1)."""

    def value(self, unit: Unit) -> int | None:
        """The limit for ``unit``."""
        return self.requests if unit == "requests" else self.tokens


class QuotaLimits(msgspec.Struct, frozen=True, kw_only=True):
    """The quota policy. Construction validates it (``ValueError``)."""

    daily_requests: int | None = None
    """Requests per period over all models; ``None``: unlimited."""
    daily_tokens: int | None = None
    """Tokens per period over all models; ``None``: unlimited."""
    per_model: dict[str, DailyLimit] = msgspec.field(default_factory=dict)
    """Canonical model name -> its limits."""
    per_role: dict[str, DailyLimit] = msgspec.field(default_factory=dict)
    """Role name -> its limits."""
    warn_ratio: float = 0.8
    """Warn once per period and limit when this share is used, in ``(0, 1]``."""
    reset_hour: int = 0
    """Local hour (0-23) at which a period starts."""
    timezone: str = "UTC"
    """IANA zone of ``reset_hour``, e.g. ``Europe/Berlin``."""
    model_rates: dict[str, RateLimit] = msgspec.field(default_factory=dict)
    """Canonical model name -> the rates of *each* of its deployments (``_rate``)."""
    deployment_rates: dict[str, RateLimit] = msgspec.field(default_factory=dict)
    """Deployment id (``model@endpoint``) -> its rates, over its model's field by field."""

    def __post_init__(self) -> None:
        problems = [*_limit_problems(self), *_rate_problems(self)]
        if not 0 < self.warn_ratio <= 1:
            problems.append(f"warn_ratio must be in (0, 1], got {self.warn_ratio}")
        if not 0 <= self.reset_hour <= 23:
            problems.append(f"reset_hour must be 0-23, got {self.reset_hour}")
        try:
            ZoneInfo(self.timezone)
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            problems.append(f"timezone {self.timezone!r} is not an IANA zone ({exc})")
        if problems:
            raise ValueError("invalid quota limits: " + "; ".join(problems))

    @property
    def zone(self) -> ZoneInfo:
        """The zone of the reset hour (``ZoneInfo`` caches instances)."""
        return ZoneInfo(self.timezone)

    def limits_for(self, scope: str) -> DailyLimit | None:
        """The limits of ``scope`` (``global``, ``model:x``, ``role:y``), if any."""
        if scope == GLOBAL_SCOPE:
            return DailyLimit(requests=self.daily_requests, tokens=self.daily_tokens)
        kind, _, name = scope.partition(":")
        table = self.per_model if kind == "model" else self.per_role if kind == "role" else {}
        return table.get(name)

    def rate_for(self, model: str, endpoint: str | None) -> RateLimit | None:
        """The rates of deployment ``model@endpoint``, if it is rate limited."""
        if endpoint is None:
            return None
        default = self.model_rates.get(model)
        own = self.deployment_rates.get(f"{model}@{endpoint}")
        rate = own.over(default) if own is not None else default
        return None if rate is None or rate.empty else rate

    @property
    def any_limit(self) -> bool:
        """Whether anything can be refused (a daily limit or a rate)."""
        return bool(self.configured()) or any(
            not r.empty for r in (*self.model_rates.values(), *self.deployment_rates.values())
        )

    def configured(self) -> tuple[tuple[str, Unit, int], ...]:
        """Every configured limit as ``(scope, unit, value)``: global, roles, models."""
        scopes = [
            GLOBAL_SCOPE,
            *(f"role:{name}" for name in sorted(self.per_role)),
            *(f"model:{name}" for name in sorted(self.per_model)),
        ]
        return _with_values(self, scopes)

    def applicable(self, model: str, role: str | None) -> tuple[tuple[str, Unit, int], ...]:
        """The limits a request for ``model``/``role`` must fit in, as ``configured()``.

        Order: global, role, model. The limits a fallback to another model cannot fix
        come first, so a refusal names the one that matters most to the router.
        """
        return _with_values(self, scopes_of(model, role))


def scopes_of(model: str, role: str | None) -> tuple[str, ...]:
    """The scopes a request counts in: global, its role (if any), its model."""
    if role is None:
        return (GLOBAL_SCOPE, f"model:{model}")
    return (GLOBAL_SCOPE, f"role:{role}", f"model:{model}")


def limit_name(scope: str, unit: Unit) -> str:
    """``<scope>.<unit>``, e.g. ``model:llama3.tokens``."""
    return f"{scope}.{unit}"


def _with_values(
    limits: QuotaLimits, scopes: list[str] | tuple[str, ...]
) -> tuple[tuple[str, Unit, int], ...]:
    found: list[tuple[str, Unit, int]] = []
    units: tuple[Unit, ...] = ("requests", "tokens")
    for scope in scopes:
        entry = limits.limits_for(scope)
        for unit in units:
            value = None if entry is None else entry.value(unit)
            if value is not None:
                found.append((scope, unit, value))
    return tuple(found)


def _limit_problems(limits: QuotaLimits) -> list[str]:
    entries = {
        "daily": DailyLimit(requests=limits.daily_requests, tokens=limits.daily_tokens),
        **{f"per_model[{k!r}]": v for k, v in limits.per_model.items()},
        **{f"per_role[{k!r}]": v for k, v in limits.per_role.items()},
    }
    problems = []
    for where, entry in entries.items():
        for unit, value in (("requests", entry.requests), ("tokens", entry.tokens)):
            if value is not None and value < 1:
                problems.append(f"{where} {unit} must be >= 1 or unlimited, got {value}")
    return problems


def _rate_problems(limits: QuotaLimits) -> list[str]:
    entries = {
        **{f"model_rates[{k!r}]": v for k, v in limits.model_rates.items()},
        **{f"deployment_rates[{k!r}]": v for k, v in limits.deployment_rates.items()},
    }
    problems = []
    for where, entry in entries.items():
        for unit, value in (("rpm", entry.rpm), ("tpm", entry.tpm)):
            if value is not None and value < 1:
                problems.append(f"{where} {unit} must be >= 1 or unlimited, got {value}")
    return problems
