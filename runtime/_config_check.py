"""Semantic checks of a configuration: ranges, names and references.

URLs are judged by ``_urls``; bounds, names and the event log path by ``_config_rules``
(the only I/O: a ``stat`` of the event log path and its directory).

The checks run on ``ConfigParts``: whatever converted cleanly, plus the names that
were written down even in items that failed to convert, so a type error in one
endpoint does not also show up as "model names a missing endpoint". They return
problems; they never raise and never stop at the first one.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runtime._config_fallbacks import model_choice_problems
from runtime._config_log import event_log_problems
from runtime._config_rates import rate_problems
from runtime._config_rules import (
    CHECK_INTERVAL,
    COUNT,
    DAILY_LIMIT,
    DAY,
    DRAIN,
    DURATION,
    LONG_DURATION,
    MAX_ATTEMPTS,
    POSITIVE,
    RATIO,
    UNIT,
    Range,
    name_problem,
    option_problem,
    secret_name_problem,
    shown_number,
)
from runtime._errors import ConfigProblem
from runtime._retention_policy import retain_problems
from runtime._urls import check_url, describe_base_url

if TYPE_CHECKING:
    from runtime._config import (
        EndpointConfig,
        EventLogConfig,
        HealthConfig,
        ModelConfig,
        PerformanceConfig,
        QuotaConfig,
        QuotaLimit,
        RetryConfig,
        RoleConfig,
        RuntimeConfig,
        ShutdownConfig,
    )

__all__ = ["ConfigParts", "check_parts", "config_notes", "key_path"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Cloud metadata services hand out credentials; an endpoint there is an SSRF risk.


def key_path(parent: str, key: str | int) -> str:
    """Append ``key`` to a key path: ``a.b``, ``a[0]``, or ``a["llama3.2:3b"]``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _IDENTIFIER.fullmatch(key):
        return f"{parent}.{key}" if parent else key
    body = key.replace("\\", "\\\\").replace('"', '\\"')
    # A control character in a key path would reach the terminal raw: show it escaped.
    quoted = '"' + "".join(c if c.isprintable() else ascii(c)[1:-1] for c in body) + '"'
    return f"{parent}[{quoted}]"


@dataclass(frozen=True)
class ConfigParts:
    """The sections of a config that converted, for the semantic checks.

    ``None`` (or a missing item) means the section or item had type errors, which
    were reported already; checks skip it rather than report the same thing twice.
    """

    endpoints: tuple[tuple[int, EndpointConfig], ...] = ()
    """(index in the file, endpoint) for every endpoint that converted."""
    models: tuple[tuple[int, ModelConfig], ...] = ()
    """(index in the file, model) for every model that converted."""
    roles: Mapping[str, RoleConfig] | None = None
    endpoint_names: frozenset[str] = frozenset()
    """Every endpoint name written, including in items that failed to convert."""
    model_names: frozenset[str] = frozenset()
    """Every model name and alias written, including in items that failed to convert."""
    role_names: frozenset[str] = frozenset()
    invalid_paths: frozenset[str] = frozenset()
    """Key paths already reported as invalid; checks comparing two fields skip them."""
    event_log: EventLogConfig | None = None
    health: HealthConfig | None = None
    retry: RetryConfig | None = None
    quota: QuotaConfig | None = None
    performance: PerformanceConfig | None = None
    shutdown: ShutdownConfig | None = None


class _Report:
    """Collects problems in the order they are found."""

    def __init__(self, invalid_paths: frozenset[str] = frozenset()) -> None:
        self.problems: list[ConfigProblem] = []
        self.invalid_paths = invalid_paths

    def valid(self, *paths: str) -> bool:
        """Whether none of ``paths`` had a type error (its value is then only a default)."""
        return not self.invalid_paths.intersection(paths)

    def add(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def number(self, path: str, value: float | None, allowed: Range) -> None:
        """Report ``value`` unless it is None or a finite number within ``allowed``."""
        if value is None:
            return
        if isinstance(value, float) and not math.isfinite(value):
            self.add(path, f"{value!r} is not a finite number; must be {allowed}")
        elif not allowed.contains(value):
            self.add(path, f"{shown_number(value)} is out of range; must be {allowed}")

    def name(self, path: str, problem: str | None) -> None:
        if problem is not None:
            self.add(path, problem)

    def fields(self, path: str, section: object, rules: Mapping[str, Range]) -> None:
        for name, allowed in rules.items():
            self.number(key_path(path, name), getattr(section, name), allowed)


def check_parts(parts: ConfigParts) -> list[ConfigProblem]:
    """Every semantic problem of ``parts``, in section order."""
    report = _Report(parts.invalid_paths)
    if parts.event_log is not None:
        snapshots = {"snapshot_every": Range(1, False, 10**9)}
        report.fields("event_log", parts.event_log, snapshots)
        report.problems.extend(event_log_problems(parts.event_log))
        report.problems.extend(retain_problems(parts.event_log.retain))
    _check_endpoints(report, parts)
    _check_models(report, parts)
    _check_roles(report, parts)
    report.problems.extend(model_choice_problems(parts))
    if parts.health is not None:
        _check_health(report, parts.health)
    if parts.retry is not None:
        _check_retry(report, parts.retry)
    if parts.quota is not None:
        _check_quota(report, parts.quota, parts)
    if parts.performance is not None:
        _check_performance(report, parts.performance)
    if parts.shutdown is not None:
        report.fields("shutdown", parts.shutdown, {"drain_seconds": DRAIN})
    return report.problems


def _check_duplicate(
    report: _Report, seen: dict[str, str], name: str, path: str, what: str
) -> None:
    if name in seen:
        report.add(path, f"duplicate {what} {name!r}; already used at {seen[name]}")
    else:
        seen[name] = path


def _known(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none configured"


def _check_endpoints(report: _Report, parts: ConfigParts) -> None:
    if not parts.endpoint_names and not parts.endpoints:
        report.add("endpoints", "at least one endpoint is required")
    seen: dict[str, str] = {}
    for index, endpoint in parts.endpoints:
        path = key_path("endpoints", index)
        if not endpoint.name.strip():
            report.add(key_path(path, "name"), "must not be empty")
        problem = name_problem(endpoint.name, "endpoint") or secret_name_problem(endpoint.name)
        report.name(key_path(path, "name"), problem)
        _check_duplicate(report, seen, endpoint.name, key_path(path, "name"), "endpoint name")
        problem = check_url(endpoint.url)
        if problem is not None:
            report.add(key_path(path, "url"), problem)
        env = endpoint.api_key_env
        if env is not None and not _ENV_NAME.fullmatch(env):
            # Don't echo the value: it may well be a key pasted in the wrong place.
            report.add(
                key_path(path, "api_key_env"),
                "is not an environment variable name; it names the variable that "
                "holds the key (e.g. api_key_env: OPENAI_API_KEY), never the key itself",
            )
        report.number(key_path(path, "max_concurrency"), endpoint.max_concurrency, COUNT)
        patterns = endpoint.models
        if isinstance(patterns, tuple) and not (patterns and all(p.strip() for p in patterns)):
            report.add(
                key_path(path, "models"),
                'needs non-empty glob patterns (e.g. ["qwen*"]), or auto for every model',
            )
        rules = dict.fromkeys(endpoint.timeouts.__struct_fields__, DURATION)
        report.fields(key_path(path, "timeouts"), endpoint.timeouts, rules)


def _check_models(report: _Report, parts: ConfigParts) -> None:
    discovers = any(e.models is not None for _, e in parts.endpoints)
    if not parts.model_names and not parts.models and not discovers:
        report.add("models", "at least one model is required (or an endpoint's models: auto)")
    seen: dict[str, str] = {}
    apis = {e.name: e.api for _, e in parts.endpoints}
    for index, model in parts.models:
        path = key_path("models", index)
        if not model.name.strip():
            report.add(key_path(path, "name"), "must not be empty")
        # A model name may hold '@' (an Ollama digest, name@sha256:...): deployment ids
        # split at the last '@'. An alias is only ours to choose, so it may not.
        report.name(key_path(path, "name"), name_problem(model.name, "model", at_sign=True))
        if model.alias is not None:
            report.name(key_path(path, "alias"), name_problem(model.alias, "alias"))
        _check_duplicate(report, seen, model.name, key_path(path, "name"), "model name")
        if model.alias is not None and model.alias != model.name:
            _check_duplicate(report, seen, model.alias, key_path(path, "alias"), "model name")
        _check_deployments(report, path, model, parts.endpoint_names)
        problem = option_problem(model.name, model.options, model.deployments, apis)
        if problem is not None:
            report.add(key_path(key_path(path, "options"), problem[0]), problem[1])
        report.number(key_path(path, "max_tokens"), model.max_tokens, Range(1, False, 10**8))
        report.number(
            key_path(path, "context_length"), model.context_length, Range(1, False, 10**8)
        )
        report.number(key_path(path, "temperature"), model.temperature, Range(0, False, 100))
        rules = dict.fromkeys(model.timeouts.__struct_fields__, DURATION)
        report.fields(key_path(path, "timeouts"), model.timeouts, rules)


def _check_deployments(
    report: _Report, path: str, model: ModelConfig, endpoints: frozenset[str]
) -> None:
    if not model.deployments:
        report.add(key_path(path, "deployments"), "lists no endpoint; name at least one")
    seen: dict[str, str] = {}
    for position, name in enumerate(model.deployments):
        item = key_path(key_path(path, "deployments"), position)
        _check_duplicate(report, seen, name, item, "deployment")
        if name not in endpoints:
            report.add(item, f"unknown endpoint {name!r}; endpoints: {_known(endpoints)}")
    weights_path = key_path(path, "weights")
    if model.strategy == "weighted" and not model.weights:
        report.add(weights_path, "strategy 'weighted' needs a weight per deployment")
    if model.strategy != "weighted" and model.weights:
        report.add(
            weights_path,
            f"weights are only used with strategy 'weighted', "
            f"not {model.strategy!r}; remove them or change the strategy",
        )
    for name, weight in model.weights.items():
        if name not in model.deployments:
            report.add(
                key_path(weights_path, name),
                f"{name!r} is not one of this model's deployments: {_known(model.deployments)}",
            )
        report.number(key_path(weights_path, name), weight, POSITIVE)


def _check_roles(report: _Report, parts: ConfigParts) -> None:
    # Aliases resolve to names so a chain naming one model twice is caught.
    canonical = {m.name: m.name for _, m in parts.models}
    canonical.update({m.alias: m.name for _, m in parts.models if m.alias is not None})
    for role, entry in (parts.roles or {}).items():
        path = key_path("roles", role)
        if not role.strip():
            report.add(path, "role name must not be empty")
        report.name(path, name_problem(role, "role", at_sign=True))
        if not entry.models:
            report.add(path, "lists no model; name the primary model, then any fallbacks")
        seen: dict[str, str] = {}
        for position, name in enumerate(entry.models):
            item = key_path(path, position)
            if name not in parts.model_names:
                report.add(item, f"unknown model {name!r}; models: {_known(parts.model_names)}")
            _check_duplicate(report, seen, canonical.get(name, name), item, "model in the chain")
        if entry.kind is not None and not entry.kind.strip():
            report.add(key_path(path, "kind"), "must not be empty; omit it to use the role name")
        if entry.kind is not None:
            report.name(key_path(path, "kind"), name_problem(entry.kind, "kind", at_sign=True))


def _check_health(report: _Report, health: HealthConfig) -> None:
    rules = {
        "failure_threshold": COUNT,
        "failure_rate_threshold": RATIO,
        "window_size": Range(1, False, 100_000),
        "min_calls": Range(1, False, 100_000),
        "quarantine_seconds": LONG_DURATION,
        "quarantine_backoff": Range(1, False, 1000),
        "quarantine_max_seconds": LONG_DURATION,
        "half_open_probes": COUNT,
        "check_interval_seconds": CHECK_INTERVAL,
        "degraded_latency_seconds": DURATION,
        **dict.fromkeys(("cool_down_seconds", "cool_down_max_seconds"), Range(0, False, 86_400)),
        "liveness_check_seconds": CHECK_INTERVAL,
    }
    report.fields("health", health, rules)
    compared = report.valid("health.window_size", "health.min_calls")
    if compared and health.window_size >= 1 and health.min_calls > health.window_size:
        report.add(
            "health.min_calls",
            f"{health.min_calls} exceeds window_size "
            f"{health.window_size}; the failure rate would never be judged",
        )
    compared = report.valid("health.quarantine_seconds", "health.quarantine_max_seconds")
    compared = compared and LONG_DURATION.contains(health.quarantine_seconds)
    if compared and 0 < health.quarantine_max_seconds < health.quarantine_seconds:
        report.add(
            "health.quarantine_max_seconds",
            f"{health.quarantine_max_seconds!r} is "
            f"below quarantine_seconds {health.quarantine_seconds!r}",
        )


def _check_retry(report: _Report, retry: RetryConfig) -> None:
    rules = {
        "max_attempts": MAX_ATTEMPTS,
        "backoff_base": Range(0, False, 3600),
        "backoff_cap": Range(0, False, DAY),
        "retry_budget_ratio": RATIO,
        "retry_budget_max_tokens": POSITIVE,
        "retry_after_cap_seconds": Range(0, False, DAY),
        "request_deadline_seconds": DURATION,
    }
    report.fields("retry", retry, rules)
    compared = report.valid("retry.backoff_base", "retry.backoff_cap")
    if compared and 0 <= retry.backoff_cap < retry.backoff_base:
        report.add(
            "retry.backoff_cap",
            f"{retry.backoff_cap!r} is below backoff_base {retry.backoff_base!r}",
        )


def _check_quota(report: _Report, quota: QuotaConfig, parts: ConfigParts) -> None:
    problem = _timezone_problem(quota.timezone)
    if problem is not None:
        report.add("quota.timezone", problem)
    report.number("quota.reset_hour", quota.reset_hour, Range(0, False, 23))
    report.number("quota.warn_ratio", quota.warn_ratio, RATIO)
    _check_limit(report, "quota", quota)
    for what, limits, known in (
        ("model", quota.per_model, parts.model_names),
        ("role", quota.per_role, parts.role_names),
    ):
        section = key_path("quota", f"per_{what}")
        for name, limit in limits.items():
            if name not in known:
                report.add(
                    key_path(section, name), f"unknown {what} {name!r}; {what}s: {_known(known)}"
                )
            _check_limit(report, key_path(section, name), limit)
    report.problems.extend(rate_problems(quota, parts))


def _check_limit(report: _Report, path: str, limit: QuotaLimit | QuotaConfig) -> None:
    report.number(key_path(path, "daily_requests"), limit.daily_requests, DAILY_LIMIT)
    report.number(key_path(path, "daily_tokens"), limit.daily_tokens, DAILY_LIMIT)


def _timezone_problem(name: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"{name!r} is not an IANA time zone; use a name like 'UTC' or 'Europe/Berlin'"
    return None


def _check_performance(report: _Report, performance: PerformanceConfig) -> None:
    window = Range(1, False, 1_000_000)
    rules = {"window": window, "min_samples": window, "explore_ratio": UNIT}
    report.fields("performance", performance, rules)
    compared = report.valid("performance.window", "performance.min_samples")
    if compared and performance.window >= 1 and performance.min_samples > performance.window:
        report.add(
            "performance.min_samples",
            f"{performance.min_samples} exceeds window "
            f"{performance.window}; scores would never be trusted",
        )


def config_notes(config: RuntimeConfig) -> tuple[str, ...]:
    """What the config check has to say that is not a problem: the form each
    endpoint's base URL took, e.g. ``endpoint 'local': base URL http://h:8080 (a
    trailing /v1 was removed; requests go to http://h:8080/v1/chat/completions)``."""
    return tuple(describe_base_url(e.name, e.url, e.api) for e in config.endpoints)
