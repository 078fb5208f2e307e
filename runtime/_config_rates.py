"""The config checks of the per-minute rate limits (``quota.per_model[*].rpm``/``tpm``,
``quota.per_deployment``, ``quota.wait_seconds``), beside ``_config_check``'s others."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec

from runtime._config_rules import Range, shown_number
from runtime._errors import ConfigProblem

if TYPE_CHECKING:
    from runtime._config import QuotaConfig, QuotaLimit
    from runtime._config_check import ConfigParts

__all__ = ["RATE_LIMIT", "WAIT", "RateLimitConfig", "rate_problems"]

RATE_LIMIT = Range(1, False, 10**12)
"""Requests or tokens per minute."""
WAIT = Range(0, False, 3600)
"""``wait_seconds``: 0 (fail at once) to an hour."""


class RateLimitConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-minute limits of one deployment (``quota.per_deployment``); ``None``: its
    model's (``quota.per_model[*].rpm``/``tpm``), or unlimited."""

    rpm: int | None = None
    """Requests per minute (>= 1)."""
    tpm: int | None = None
    """Prompt plus completion tokens per minute (>= 1)."""


def rate_problems(quota: QuotaConfig, parts: ConfigParts) -> list[ConfigProblem]:
    """Every problem of the quota section's rate limits, in file order."""
    from runtime._config_check import key_path  # (at call time: it imports this module)

    problems: list[ConfigProblem] = []

    def number(path: str, value: float | None, allowed: Range) -> None:
        if value is None:
            return
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(ConfigProblem(path, f"{value!r} is not a finite number"))
        elif not allowed.contains(value):
            problems.append(
                ConfigProblem(path, f"{shown_number(value)} is out of range; must be {allowed}")
            )

    number("quota.wait_seconds", quota.wait_seconds, WAIT)
    limit: QuotaLimit | RateLimitConfig
    for name, limit in quota.per_model.items():
        for unit in ("rpm", "tpm"):
            number(
                key_path(key_path("quota.per_model", name), unit), getattr(limit, unit), RATE_LIMIT
            )
    for name, limit in quota.per_role.items():
        for unit in ("rpm", "tpm"):
            if getattr(limit, unit) is not None:
                problems.append(
                    ConfigProblem(
                        key_path(key_path("quota.per_role", name), unit),
                        f"{unit} limits a deployment, not a role; set it under "
                        "quota.per_model or quota.per_deployment",
                    )
                )
    served = _deployments(parts)
    for did, limit in quota.per_deployment.items():
        path = key_path("quota.per_deployment", did)
        for unit in ("rpm", "tpm"):
            number(key_path(path, unit), getattr(limit, unit), RATE_LIMIT)
        model, at, endpoint = did.rpartition("@")
        if not at or not model or not endpoint:
            problems.append(ConfigProblem(path, f"{did!r} is not a deployment: use model@endpoint"))
        elif served is not None and (model, endpoint) not in served:
            known = ", ".join(sorted(f"{m}@{e}" for m, e in served)) or "none configured"
            problems.append(
                ConfigProblem(path, f"no model {model!r} is served by endpoint {endpoint!r}; "
                              f"deployments: {known}")
            )  # fmt: skip
    return problems


def _deployments(parts: ConfigParts) -> frozenset[tuple[str, str]] | None:
    """Every (model name or alias, endpoint) configured; None if a model failed to convert."""
    found: set[tuple[str, str]] = set()
    names: set[str] = set()
    for _, model in parts.models:
        for name in (model.name, model.alias):
            if name is not None:
                names.add(name)
                found.update((name, endpoint) for endpoint in model.deployments)
    return frozenset(found) if names >= parts.model_names else None
