"""Seed 000's three checks, against the runtime on chaos backends.

The seed configures ``fallback_after_attempts: 2``, a daily limit of 1000 requests
warned at 80 % and usage counted per day; its tests force two failures and expect the
fallback model in use, check the quota and read ``requests_today``/``tokens_today``.
Here: ``health.fallback_after_failures`` (the name for ``failure_threshold``), a
``QuotaWarningIssued`` at ``warn_ratio`` 0.8 and ``Runtime.usage()``.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from actors import ManualClock
from events import (
    AttemptStarted,
    CandidateSkipped,
    DeploymentQuarantined,
    FallbackSwitched,
    QuotaWarningIssued,
)
from runtime import (
    ConfigError,
    HealthConfig,
    ModelConfig,
    QuotaConfig,
    Runtime,
    RuntimeConfig,
)
from runtime._config_load import config_from_raw
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, read_events

Servers = tuple[ChaosServer, ChaosServer]
LOG = "events.sqlite3"


def seed_config(
    tmp_path: Path, servers: Servers, quota: QuotaConfig | None = None
) -> RuntimeConfig:
    """The seed's primary (llama3 on a) with its fallback model (qwen on b)."""
    a, b = servers
    base = config(
        tmp_path,
        {"a": a, "b": b},
        {"llama3": ("a",), "qwen": ("b",)},
        health=HealthConfig(check_interval_seconds=0, fallback_after_failures=2),
    )
    models = (
        ModelConfig(name="llama3", deployments=("a",), fallbacks=("qwen",)),
        ModelConfig(name="qwen", deployments=("b",)),
    )
    return msgspec.structs.replace(base, models=models, quota=quota or QuotaConfig())


async def test_two_failures_of_the_primary_put_the_fallback_model_in_use(
    tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="http_error", status=500), model="llama3")
    cfg = seed_config(tmp_path, servers)
    assert cfg.health.failure_threshold == 2  # the alias sets it
    async with Runtime.from_config(cfg) as rt:
        failing = [await rt.chat(MESSAGES, model="llama3") for _ in range(2)]
        afterwards = [await rt.chat(MESSAGES, model="llama3") for _ in range(3)]
    # each failure of the primary was answered by the fallback at once...
    assert [r.model for r in failing] == ["qwen", "qwen"]
    assert [[t.deployment for t in r.attempts] for r in failing] == [["llama3@a", "qwen@b"]] * 2
    switched = [e.event for e in await read_events(tmp_path / LOG, FallbackSwitched)]
    assert [(s.from_model, s.to_model) for s in switched if isinstance(s, FallbackSwitched)] == [
        ("llama3", "qwen")
    ] * 2
    # ...and after the second one the primary is out: the fallback is the model in use
    [quarantined] = [e.event for e in await read_events(tmp_path / LOG, DeploymentQuarantined)]
    assert isinstance(quarantined, DeploymentQuarantined)
    assert quarantined.deployment == "llama3@a"
    assert [r.model for r in afterwards] == ["qwen"] * 3
    assert all([t.deployment for t in r.attempts] == ["qwen@b"] for r in afterwards)
    assert a.requests_for(model="llama3", route="/api/chat") == 2
    attempts = [e.event for e in await read_events(tmp_path / LOG, AttemptStarted)]
    assert sum(isinstance(e, AttemptStarted) and e.model == "llama3" for e in attempts) == 2
    skips = [e.event for e in await read_events(tmp_path / LOG, CandidateSkipped)]
    assert {(s.deployment, s.reason) for s in skips if isinstance(s, CandidateSkipped)} == {
        ("llama3@a", "quarantined")
    }


async def test_a_quota_warning_at_80_percent_of_the_daily_requests(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    quota = QuotaConfig(daily_requests=10, warn_ratio=0.8)
    async with Runtime.from_config(seed_config(tmp_path, servers, quota), clock=clock) as rt:
        for _ in range(7):
            await rt.chat(MESSAGES, model="llama3")
        assert await read_events(tmp_path / LOG, QuotaWarningIssued) == []  # 70 %: not yet
        await rt.chat(MESSAGES, model="llama3")
        await rt.chat(MESSAGES, model="llama3")  # 90 %: warned once per period only
        await rt.flush_events()
        warnings = [e.event for e in await read_events(tmp_path / LOG, QuotaWarningIssued)]
    [warning] = warnings
    assert isinstance(warning, QuotaWarningIssued)
    assert warning.limit == "global.requests"
    assert (warning.used, warning.limit_value, warning.ratio) == (8, 10, 0.8)


async def test_usage_is_counted_per_day(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    async with Runtime.from_config(seed_config(tmp_path, servers), clock=clock) as rt:
        replies = [await rt.chat(MESSAGES, model="llama3") for _ in range(5)]
        today = rt.usage()
        await clock.advance(24 * 3600)  # the next day starts empty
        tomorrow = rt.usage()
    tokens = sum(r.usage.prompt_tokens + r.usage.completion_tokens for r in replies if r.usage)
    assert tokens > 0
    assert (today.total.requests, today.total.tokens) == (5, tokens)
    assert today.models["llama3"].requests == 5
    assert (tomorrow.total.requests, tomorrow.total.tokens) == (0, 0)
    assert tomorrow.period != today.period


def test_fallback_after_failures_is_another_name_for_failure_threshold() -> None:
    raw = {
        "endpoints": [{"name": "a", "url": "http://127.0.0.1:9"}],
        "models": [{"name": "llama3", "deployments": ["a"]}],
    }
    assert config_from_raw(raw).health.failure_threshold == 3  # the default
    aliased = config_from_raw({**raw, "health": {"fallback_after_failures": 2}})
    assert aliased.health.failure_threshold == 2
    both = {"health": {"fallback_after_failures": 2, "failure_threshold": 2}}
    assert config_from_raw({**raw, **both}).health == aliased.health
    with pytest.raises(ConfigError) as info:
        config_from_raw({**raw, "health": {"fallback_after_failures": 2, "failure_threshold": 4}})
    [problem] = info.value.problems
    assert problem.path == "health.fallback_after_failures"
    assert "differs from failure_threshold 4" in problem.message
    with pytest.raises(ConfigError) as info:
        config_from_raw({**raw, "health": {"fallback_after_failures": 0}})
    assert [p.path for p in info.value.problems] == ["health.fallback_after_failures"]
